"""The answering flow: a question in, an `Answer` with verified citations (or a refusal) out.

    retrieval.py      dense + BM25 over the store, fused by reciprocal rank -> Passages
    citations.py      evidence sentences, answer scores, claims, citation numbering and exact quotes
    answerability.py  the answer rules: which sentence answers, what the model reads, or a refusal
    context.py        the evidence windows the model reads (neighbours, lists, headings), within a budget
    prompting.py      the draft, judge and phrase prompts
    verification.py   the one verifier: each draft sentence tied to the span that supports it, or dropped
    overview.py       "what is this about?": a document's sections and their lead sentences
    spelling.py       misspelt question words corrected against the documents' words
    translation.py    questions in other languages: answered and verified in the sources' language, translated
    phrase.py         a quoted sentence cut to the phrase of it that answers (the model points, the code checks)
    pipeline.py       `ask` / `ask_stream`: a question's `Run`, whose methods are the stages above, in order

The flow reads the index through `qa.store`'s Reader and writes with `qa.generation`'s Generator; it
never imports the indexing flow's orchestration (`qa.ingest.indexing`).
"""
