"""Write small test files by hand: valid PDFs (lines of text per page, split on "\\n", or no text at
all; or text placed at given positions, for tables), scans of a PDF (its pages rendered to images, put in
a PDF with no text layer), and a DOCX decompression bomb."""

from __future__ import annotations


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_layout_pdf(lines: list[list[tuple[float, str]]]) -> bytes:
    """One page whose lines are pieces of text placed at x positions (points from the left edge): a table's
    cells stand in columns as a typeset paper's do. Lines are 14 points apart from the top."""
    shown = " ".join(f"1 0 0 1 {x:.1f} {740 - 14 * i} Tm ({_escape(text)}) Tj"
                     for i, line in enumerate(lines) for x, text in line)
    return _pdf([f"BT /F1 10 Tf {shown} ET".encode()])


def make_pdf(pages: list[str], *, break_xref: bool = False, pad: int = 0) -> bytes:
    """`pad` spaces appended to each page's content stream, Flate-compressed (a small file, a huge stream)."""
    import zlib

    streams = []
    for text in pages:
        lines = [_escape(t) for t in text.split("\n")]
        shown = " ".join(f"({t}) Tj 0 -16 Td" for t in lines)  # one line of text per "\n"
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET".encode() if text else b""
        streams.append(zlib.compress(stream + b" " * pad, 9) if pad else stream)
    return _pdf(streams, flate=bool(pad), break_xref=break_xref)


def _pdf(streams: list[bytes], *, flate: bool = False, break_xref: bool = False) -> bytes:
    """A PDF with one page per content stream, in Helvetica."""
    objs: list[bytes] = []
    n_pages = len(streams)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    font_id = 3 + 2 * n_pages
    for i, stream in enumerate(streams):
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
                    f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode())
        filt = b" /Filter /FlateDecode" if flate else b""
        objs.append(b"<< /Length %d%s >>\nstream\n" % (len(stream), filt) + stream + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{(off + 7) if break_xref else off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref + (3 if break_xref else 0)}\n%%EOF\n"\
        .encode()
    return bytes(out)


def scanned_lines(lines: list[str], font: str, *, dpi: int = 200) -> bytes:
    """An image-only PDF of one A4 page with `lines` typeset at 12 points in the TrueType `font` (for scripts
    Helvetica cannot show: Cyrillic, Chinese), as a scanner makes one."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(font, size=round(12 / 72 * dpi))
    image = Image.new("L", (round(8.27 * dpi), round(11.69 * dpi)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((dpi, dpi + i * round(0.3 * dpi)), line, font=face, fill=0)
    buf = io.BytesIO()
    image.save(buf, "PDF", resolution=dpi)
    return buf.getvalue()


def scanned(pdf: bytes, *, dpi: int = 200, pages: list[int] | None = None, noise: float = 0.0,
            skew: float = 0.0) -> bytes:
    """An image-only PDF of `pdf`'s pages (0-based `pages`, default all), as a scanner makes one: each page
    rendered at `dpi` in grey, JPEG-compressed. `noise` (standard deviation, grey levels) and `skew` (degrees)
    make a worse scan."""
    import io

    import numpy as np
    import pypdfium2 as pdfium
    from PIL import Image

    doc = pdfium.PdfDocument(pdf)
    rng = np.random.default_rng(0)
    images = []
    for i in pages if pages is not None else range(len(doc)):
        image = doc[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
        if skew:
            image = image.rotate(skew, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
        if noise:
            grey = np.asarray(image, dtype=np.float32) + rng.normal(0, noise, (image.height, image.width))
            image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
        images.append(image)
    doc.close()
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out.getvalue()


def damaged(pdf: bytes) -> bytes:
    """`pdf` with every image stream's data zeroed after its first two bytes (lengths and offsets unchanged): a
    scan whose image cannot be decoded, which PDFium draws as nothing."""
    import re

    out = bytearray(pdf)
    for m in re.finditer(rb"/Subtype\s*/Image[^>]*>>\s*stream\r?\n", pdf):
        end = pdf.index(b"endstream", m.end())
        out[m.end() + 2:end] = bytes(end - m.end() - 2)
    return bytes(out)


def with_scans(pdf: bytes, scans: dict[int, bytes]) -> bytes:
    """`pdf` with some pages replaced: {0-based page: a one-page PDF (a scan) that takes its place}."""
    import io

    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(pdf)
    out = pdfium.PdfDocument.new()
    for i in range(len(src)):
        if i in scans:
            out.import_pages(pdfium.PdfDocument(scans[i]), [0])
        else:
            out.import_pages(src, [i])
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


def docx_bomb(megabytes: int = 400) -> bytes:
    """A valid .docx whose word/document.xml unpacks to `megabytes` MB (under 1 MB on disk)."""
    import io
    import zipfile

    import docx

    buf = io.BytesIO()
    d = docx.Document()
    d.add_paragraph("The bomb says hello.")
    d.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename != "word/document.xml":
                z.writestr(info, data)
                continue
            head, tail = data.split(b"</w:body>")
            with z.open(info.filename, "w", force_zip64=True) as f:
                f.write(head)
                for _ in range(megabytes):
                    f.write(b" " * (1 << 20))
                f.write(b"</w:body>" + tail)
    return out.getvalue()
