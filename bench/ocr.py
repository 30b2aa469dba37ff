"""OCR of scanned pages: Tesseract beside RapidOCR, on the same scans made from known text, in one run.

    python bench/ocr.py [--threads 2] [--dpi 200] [--no-record]

The known text: three PDFs typeset with reportlab from prose the project already holds (the seed article in
Times 11 pt, the XZ Utils FAQ in Helvetica 10 pt, the Mosh README in Courier 9 pt), two full pages each. Each
page is rendered at `--dpi` in grey and put, as a JPEG image, into a PDF with no text layer (tests/pdfgen.py
`scanned`): a clean scan, and a worse one (grey noise of 12 levels, 0.7° skew). Both engines read the same
images, rendered back from the scan with pypdfium2 as `qa` renders them. The reference is the page's own text
layer read by PDFium, as `qa` reads text PDFs.

Character accuracy = 1 - CER, CER = Levenshtein distance / reference length (rapidfuzz), summed over pages,
after both texts are reduced the same way: whitespace runs to one space (line breaks differ by engine),
curly quotes and dashes to ASCII. Speed: pages per minute of wall time with `--threads` cores, and CPU
seconds per page (every thread and child process counted; steadier than wall time on a shared machine).
The engine is loaded before the clock starts (its load and first page are their own column), and so are
the images.

Engines: Tesseract 5 (Debian `tesseract-ocr` + `tesseract-ocr-eng`, the CLI, LSTM), run as `qa` runs it,
one process per page with one thread, `--threads` pages at a time, and once the other way, one page at a
time with `--threads` OpenMP threads; RapidOCR 3 (PyPI `rapidocr`: PP-OCRv6 small detection and
recognition, ONNX, inside the wheel) both ways too: `--threads` engines side by side with one onnxruntime
thread each, and one engine with `--threads` intra-op threads.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pdfgen import scanned  # noqa: E402

SOURCES = [  # (file, font, size in points)
    ("corpus/china-central-asia-cooperation.md", "Times-Roman", 11),
    ("bench/real/tune/h3-xz-utils-faq.txt", "Helvetica", 10),
    ("bench/real/tune/h2-mosh-readme.txt", "Courier", 9),
]
SCANS = {"clean": {}, "noisy, skewed": {"noise": 12.0, "skew": 0.7}}


def paragraphs(path: Path) -> list[str]:
    """Prose paragraphs: blank-line separated blocks joined into one line, Markdown marks and links dropped."""
    text = path.read_text(encoding="utf-8")
    out = []
    for block in re.split(r"\n\s*\n", text):
        line = " ".join(block.split())
        line = re.sub(r"\[!\[.*?\]\(.*?\)\]\(.*?\)|^#+ |^=+$|^-+$", "", line).strip()
        if len(line) > 3 and not set(line) <= set("=-"):
            out.append(line)
    return out


def text_pdf(path: Path, font: str, size: int, pages: int = 2) -> bytes:
    """`path`'s paragraphs typeset on letter pages, cut to `pages` full pages."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    style = ParagraphStyle("body", fontName=font, fontSize=size, leading=size * 1.3)
    story = []
    for p in paragraphs(path) * 3:  # enough for two full pages
        story += [Paragraph(escape(p), style), Spacer(0, size * 0.6)]
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=letter, leftMargin=72, rightMargin=72, topMargin=72, bottomMargin=72).build(story)
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(buf.getvalue())
    out = pdfium.PdfDocument.new()
    out.import_pages(doc, list(range(min(pages, len(doc)))))
    cut = io.BytesIO()
    out.save(cut)
    return cut.getvalue()


def page_texts(pdf: bytes) -> list[str]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]


def render(pdf: bytes, dpi: int) -> list:
    """The scan's pages as `qa` renders them: PIL images in grey at `dpi`."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    return [doc[i].render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for i in range(len(doc))]


_FOLD = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\ufb01": "fi", "\ufb02": "fl"})


def normal(text: str) -> str:
    return " ".join(text.translate(_FOLD).split())


class Tesseract:
    """The CLI, one process per page: `pages` pages at a time, each with `omp` OpenMP threads."""

    def __init__(self, pages: int, omp: int, dpi: int) -> None:
        self.pages, self.env, self.dpi = pages, {**os.environ, "OMP_THREAD_LIMIT": str(omp)}, dpi
        version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=True)
        self.name = (f"Tesseract {version.stdout.split()[1]} (eng, LSTM), {pages} page{'s' * (pages > 1)} at a "
                     f"time × {omp} thread{'s' * (omp > 1)}")

    def one(self, image) -> str:
        buf = io.BytesIO()
        image.save(buf, "PNG")
        r = subprocess.run(["tesseract", "stdin", "stdout", "-l", "eng", "--dpi", str(self.dpi)],
                           input=buf.getvalue(), capture_output=True, env=self.env, check=True)
        return r.stdout.decode()

    def read(self, images: list) -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.pages) as pool:
            return list(pool.map(self.one, images))


class Rapid:
    """`pages` engines reading side by side, each with `threads` onnxruntime intra-op threads."""

    def __init__(self, pages: int, threads: int, dpi: int) -> None:
        from importlib.metadata import version

        import numpy as np
        from rapidocr import RapidOCR

        self.np = np
        self.engines = [RapidOCR(params={"Global.log_level": "warning",
                                         "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                                         "EngineConfig.onnxruntime.inter_op_num_threads": 1}) for _ in range(pages)]
        self.name = (f"RapidOCR {version('rapidocr')} (PP-OCRv6 small, onnxruntime {version('onnxruntime')}), "
                     f"{pages} page{'s' * (pages > 1)} at a time × {threads} thread{'s' * (threads > 1)}")

    def read(self, images: list) -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        def one(k: int) -> list[tuple[int, str]]:  # engine k reads every len(engines)-th page
            engine = self.engines[k]
            return [(i, "\n".join(engine(self.np.asarray(images[i].convert("RGB"))).txts or ()))
                    for i in range(k, len(images), len(self.engines))]

        with ThreadPoolExecutor(len(self.engines)) as pool:
            done = dict(pair for part in pool.map(one, range(len(self.engines))) for pair in part)
        return [done[i] for i in range(len(images))]


def cpu_seconds() -> float:
    """This process's CPU time and its finished children's (Tesseract), every thread counted."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(make, scans: dict[str, tuple[list, list[str]]]) -> list[dict]:
    from rapidfuzz.distance import Levenshtein

    t = time.perf_counter()
    engine = make()
    engine.read(scans["clean"][0][:1])  # the first call loads the models
    load = time.perf_counter() - t
    rows = []
    for kind, (images, refs) in scans.items():
        dist = chars = 0
        t, cpu = time.perf_counter(), cpu_seconds()
        texts = engine.read(images)
        seconds, cpu = time.perf_counter() - t, cpu_seconds() - cpu
        for ref, hyp in zip(refs, texts, strict=True):
            dist += Levenshtein.distance(normal(ref), normal(hyp))
            chars += len(normal(ref))
        rows.append({"engine": engine.name, "scan": kind, "pages": len(images), "chars": chars,
                     "accuracy": 100 * (1 - dist / chars), "ppm": 60 * len(images) / seconds,
                     "s_page": seconds / len(images), "cpu_page": cpu / len(images), "load": load})
        print(f"  {engine.name}, {kind}: {rows[-1]['accuracy']:.2f}% in {seconds:.1f} s", file=sys.stderr)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| engine | scan | pages (chars) | character accuracy | pages / min | CPU s / page | load + first page |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['scan']} | {r['pages']} ({r['chars']:,}) | {r['accuracy']:.2f}% | "
                     f"{r['ppm']:.1f} | {r['cpu_page']:.1f} | {r['load']:.1f} s |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dpi", type=int, default=200)
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = ap.parse_args()
    texts = [text_pdf(ROOT / f, font, size) for f, font, size in SOURCES]
    scans: dict[str, tuple[list, list[str]]] = {}
    for kind, degrade in SCANS.items():
        images, refs = [], []
        for pdf in texts:
            images += render(scanned(pdf, dpi=args.dpi, **degrade), args.dpi)
            refs += page_texts(pdf)
        scans[kind] = (images, refs)
    n, dpi = args.threads, args.dpi
    rows = measure(lambda: Tesseract(n, 1, dpi), scans)
    rows += measure(lambda: Tesseract(1, n, dpi), {"clean": scans["clean"]})  # OpenMP inside one page instead
    rows += measure(lambda: Rapid(n, 1, dpi), scans)
    rows += measure(lambda: Rapid(1, n, dpi), {"clean": scans["clean"]})
    out = table(rows)
    print(out)
    if not args.no_record:
        head = (f"\n## {time.strftime('%Y-%m-%d %H:%M')} — OCR of scanned pages (`bench/ocr.py`, {args.threads} "
                f"threads, {args.dpi} dpi)\n\n"
                "Scans made from known text (three typeset PDFs: Times 11 pt, Helvetica 10 pt, Courier 9 pt; two "
                "full pages each), rendered to grey JPEG images; character accuracy = 1 - CER against the pages' "
                "text layer, whitespace runs as one space.\n\n")
        with open(ROOT / "bench/RESULTS.md", "a", encoding="utf-8") as f:
            f.write(head + out + "\n")


if __name__ == "__main__":
    main()
