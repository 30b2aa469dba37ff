"""The indexing flow: files in, a published index out.

    documents.py     read files into Documents: text, Markdown, HTML, PDF (page offsets), DOCX; limits
    ocr.py           Tesseract for a PDF's scanned pages
    chunking.py      sentence spans and sentence-aware chunks with exact character offsets (table rows too)
    indexing.py      `update_index`: what changed, parse, chunk, embed, write one store version and publish it
    indexing_ray.py  the same parse, chunk and embed on Ray Data (workers import this module by its path)

Everything here writes through `qa.store`'s Writer and embeds with `qa.embedding`; nothing here answers.
`qa.build_index`, `add_documents` and `remove_documents` are the public way in.
"""
