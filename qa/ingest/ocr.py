"""Read the scanned pages of a PDF with Tesseract: each page rendered by PDFium, one `tesseract` per page.

A page is a scan when an image covers a quarter of it or more and its text layer has fewer than
`MIN_TEXT_CHARS` characters (a stamped page number does not make a scan a text page). It is rendered at
its scan's own resolution (150-300 dpi), so nothing is resampled twice.

Tesseract 5 (Debian `tesseract-ocr` and `tesseract-ocr-eng`; `make tesseract` installs them) was chosen
over RapidOCR (PP-OCRv6 inside its PyPI wheel) by bench/ocr.py: on scans made from known text at 200 dpi
it read 99% of the characters right where RapidOCR read 90% (it dropped whole lines), with less CPU a
page. Each process runs one thread and `threads` pages are read side by side: OpenMP threads inside one
page cost about ten times the CPU on a busy machine (measured there).

The scans' languages are a setting (`ocr_languages`, Tesseract's names joined by "+": "eng+rus"); each
needs its Debian package, and a missing one is named in one line.

Leaves out: detecting a scan's language by itself, page orientation detection, images inside text pages (figures),
and writing a text layer back into the PDF.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)

MIN_TEXT_CHARS = 20  # non-space characters of a page's text layer below which a page with an image is a scan
MIN_IMAGE_SHARE = 0.25  # ... and the share of the page that image must cover
MIN_WORDS = 3  # a scan read as fewer words (of two or more letters or digits) is reported as unreadable
DPI_RANGE = (150, 300)  # render at the scan's own resolution, within these bounds
MAX_PIXELS = 40_000_000  # a huge page is rendered smaller rather than filling memory
PAGE_TIMEOUT = 300  # seconds Tesseract may spend on one page
_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) +(?=[{_CJK}])")  # Tesseract spaces Chinese characters apart
_WORD = re.compile(r"(?<!\w)[^\W\d_]{2,}(?!\w)|(?<!\w)\d{2,}(?!\w)")


@functools.cache
def missing(languages: str = "eng") -> str | None:
    """Why OCR of `languages` ("eng+rus") cannot run on this machine (one line), or None when it can."""
    exe = shutil.which("tesseract")
    if exe is None:
        return "Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng, or `make tesseract`)"
    try:
        langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.SubprocessError) as e:
        return f"Tesseract does not run ({type(e).__name__})"
    absent = [lang for lang in languages.split("+") if lang not in langs]
    if not absent:
        return None
    packages = " ".join(f"tesseract-ocr-{lang.replace('_', '-')}" for lang in absent)
    return f"Tesseract has no data for {', '.join(absent)} (apt-get install {packages})"


def scans(pdf, texts: Sequence[str]) -> list[int]:
    """0-based numbers of the pages of `pdf` (a pypdfium2 PdfDocument) that are scans, given their text layers:
    next to no text, and an image over a quarter of the page (a title page with a logo is not a scan)."""
    return [i for i, text in enumerate(texts)
            if len("".join(text.split())) < MIN_TEXT_CHARS and _largest_image(pdf[i])[0] >= MIN_IMAGE_SHARE]


def _largest_image(page) -> tuple[float, float]:
    """(share of the page its largest image covers, that image's resolution in dpi or 0 when unknown)."""
    import pypdfium2.raw as raw

    width, height = page.get_size()
    best, dpi = 0.0, 0.0
    for obj in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        area = (min(right, width) - max(left, 0)) * (min(top, height) - max(bottom, 0))
        if area > best:
            best, dpi = area, obj.get_metadata().horizontal_dpi
    return best / max(width * height, 1.0), dpi


def read_text(png: bytes, dpi: int, languages: str = "eng") -> str:
    """The text Tesseract reads in one page image; raises RuntimeError with one line when it fails."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        r = subprocess.run(["tesseract", "stdin", "stdout", "-l", languages, "--dpi", str(dpi)], input=png,
                           capture_output=True, env=env, timeout=PAGE_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"OCR took over {PAGE_TIMEOUT} s") from e
    if r.returncode != 0:
        why = next((ln for ln in r.stderr.decode(errors="replace").splitlines() if ln.strip()), "no message")
        raise RuntimeError(f"Tesseract failed ({why.strip()[:120]})")
    lines = r.stdout.decode("utf-8", errors="replace").replace("\f", "").splitlines()
    return "\n".join(_CJK_SPACE.sub("", line.rstrip()) for line in lines).strip()


def _render(page) -> tuple[bytes, int]:
    """The page as a grey PNG, at the resolution of its largest image, and that resolution."""
    import io

    dpi = _largest_image(page)[1] or 200.0
    dpi = min(max(dpi, DPI_RANGE[0]), DPI_RANGE[1])
    width, height = page.get_size()
    scale = min(dpi / 72, (MAX_PIXELS / max(width * height, 1.0)) ** 0.5)
    image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
    buf = io.BytesIO()
    image.save(buf, "PNG", dpi=(round(scale * 72),) * 2)
    return buf.getvalue(), round(scale * 72)


def read_scans(pdf, pages: Sequence[int], *, threads: int = 1, on_page: Callable[[int, int], None] | None = None,
               languages: str = "eng") -> tuple[dict[int, str], dict[int, str]]:
    """OCR the 0-based `pages` of `pdf`: ({page: text} for the pages read, {page: why} for those that could not be).

    PDFium renders in this thread (it is not thread-safe); Tesseract reads `threads` pages at a time.
    `on_page(done, total)` is called as each page is finished, in page order."""
    texts: dict[int, str] = {}
    failed: dict[int, str] = {}
    done = 0

    def finish(i: int, job: Future | None) -> None:
        nonlocal done
        try:
            text = job.result() if job is not None else ""
        except RuntimeError as e:
            failed[i] = str(e)
        else:
            if i not in failed and len(_WORD.findall(text)) < MIN_WORDS:
                failed[i] = "no text found by OCR (a blank or unreadable scan)"
            elif i not in failed:
                texts[i] = text
        done += 1
        if on_page is not None:
            on_page(done, len(pages))

    with ThreadPoolExecutor(max(1, threads)) as pool:
        running: deque[tuple[int, Future | None]] = deque()
        for i in pages:
            try:
                png, dpi = _render(pdf[i])
                running.append((i, pool.submit(read_text, png, dpi, languages)))
            except Exception as e:  # PDFium raises its own errors and others on damaged pages
                failed[i] = f"cannot be rendered ({type(e).__name__}: {e})".splitlines()[0][:160]
                running.append((i, None))
            while len(running) > max(1, threads):  # a few rendered pages in memory, not the whole document
                finish(*running.popleft())
        while running:
            finish(*running.popleft())
    log.info("OCR: %d pages read, %d unreadable", len(texts), len(failed))
    return texts, failed
