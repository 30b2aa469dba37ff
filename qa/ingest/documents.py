"""Read files into Documents: plain text, Markdown, HTML, PDF and DOCX.

A Document's `text` is the extracted text that every chunk and citation offset points into.
PDF page boundaries are kept as offsets so a citation can name its page; a PDF's scanned pages are
read by OCR (`ocr`), and the Document names them so a citation can say so. This module only reads;
it never decides what is indexed (see `indexing`).

`Limits` bound what a small file may expand into: the unpacked size of a DOCX's zip members, the
decompressed size of each PDF stream, and the extracted text of any file. A file over a limit is
refused within seconds with one line naming the limit (a 1 MB DOCX can unpack to 400 MB).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DocumentError
from ..store.base import page_at
from .pdftables import label_rows

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
SUFFIXES = TEXT_SUFFIXES | {".html", ".htm", ".pdf", ".docx"}


@dataclass(frozen=True)
class Limits:
    unpacked_bytes: int = 50_000_000  # DOCX zip members together; each PDF stream once decompressed
    text_chars: int = 10_000_000  # extracted text of one file (about 4,000 pages)

    @classmethod
    def of(cls, settings: object) -> Limits:
        return cls(int(settings.max_unpacked_mb * 1e6), int(settings.max_text_mb * 1e6))  # type: ignore[attr-defined]


def _too_much_text(name: str, chars: int, limits: Limits) -> DocumentError:
    return DocumentError(f"{name}: over {limits.text_chars / 1e6:g} million characters of text "
                         f"({chars / 1e6:.1f} M or more; limit QA_MAX_TEXT_MB); split it into smaller files")


@dataclass(frozen=True)
class Reading:
    """How files are read beyond their format: OCR of scanned PDF pages ("auto": when Tesseract is installed;
    "off"), the pages OCR'd at a time, `on_page(done, total)` as each scanned page is finished, and the
    scans' languages (Tesseract's names: "eng+rus")."""

    ocr: str = "auto"
    threads: int = 1
    on_page: Callable[[int, int], None] | None = None
    languages: str = "eng"

    @classmethod
    def of(cls, settings: object, on_page: Callable[[int, int], None] | None = None) -> Reading:
        return cls(settings.ocr, settings.threads, on_page, settings.ocr_languages)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Document:
    path: str
    title: str
    text: str
    sha256: str
    pages: tuple[int, ...] = ()  # start offset of each page (PDF only)
    ocr_pages: tuple[int, ...] = ()  # 1-based numbers of the pages whose text was read by OCR
    problems: tuple[str, ...] = ()  # one line per page that could not be read (the rest is in `text`)

    def page_of(self, offset: int) -> int | None:
        """1-based page holding `offset`, or None for documents without pages."""
        return page_at(self.pages, offset)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_text(data: bytes, name: str) -> str:
    """Decode bytes of a text file: UTF-8 (BOM or not), UTF-16 with BOM, else a detected 8-bit code page."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _clean(data.decode("utf-16"), name)
        except UnicodeDecodeError as e:
            raise DocumentError(f"{name}: invalid UTF-16 text ({e.reason})") from e
    if b"\x00" in data[:65536]:
        raise DocumentError(f"{name}: binary content (NUL bytes), not a text file")
    try:
        return _clean(data.decode("utf-8"), name)
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[:1_000_000]))
    if not matches or matches[0].encoding in ("utf_8", "utf_16", "utf_32") or matches[0].chaos > 0.2:
        raise DocumentError(f"{name}: not valid UTF-8 and no reliable encoding detected; convert it to UTF-8")
    # Single-byte code pages often tie; the most common one (Windows-1252) wins a tie.
    tied = [m.encoding for m in matches if m.chaos <= matches[0].chaos + 0.01]
    encoding = "cp1252" if "cp1252" in tied else matches[0].encoding
    try:
        return _clean(data.decode(encoding), name)
    except (UnicodeDecodeError, LookupError) as e:
        raise DocumentError(f"{name}: could not decode as {encoding}") from e


def _clean(text: str, name: str) -> str:
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise DocumentError(f"{name}: binary content (NUL characters), not a text file")
    if not text.strip():
        raise DocumentError(f"{name}: empty (no text)")
    return text


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def _title_from_text(text: str, fallback: str) -> str:
    """The first heading or line; a YAML front matter block ("---" … "---") is skipped, its `title:` used."""
    if m := _FRONT_MATTER.match(text):
        if named := re.search(r"(?m)^title:[ \t]*['\"]?(.+?)['\"]?[ \t]*$", m.group(1)):
            return named.group(1)[:120]
        text = text[m.end():]
    for line in text.splitlines()[:20]:
        line = line.strip()
        if line.startswith("#"):
            return line.lstrip("#").strip() or fallback
        if line:
            return line[:120] if len(line) <= 120 else fallback
    return fallback


_BLOCK = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "pre", "blockquote", "dt", "dd", "div", "section",
          "article", "main", "body", "figcaption", "caption", "table", "ul", "ol", "dl", "td", "th", "header",
          "address", "details", "summary"}
_CELL = {"td", "th"}


_CHROME = re.compile(r"(^|[-_ ])(menu|menubar|navbar|nav|navheader|navfooter|navigation|sidebar|breadcrumbs?|toc|"
                     r"search|searchmenu|tagline|skip-?link|cookie|headerlink)s?($|[-_ ])", re.IGNORECASE)
_INLINE = {"a", "span", "code", "em", "strong", "b", "i", "tt", "kbd", "samp", "var", "cite", "abbr", "sup", "sub"}


def _is_chrome(tag) -> bool:
    """Site menus, navigation bars and tables, tables of contents, permalink marks (Sphinx's "¶"). A link
    inside a heading is not chrome: Sphinx wraps FAQ headings in a `toc-backref` link."""
    if tag.name in ("html", "body", "main", "article") or getattr(tag, "attrs", None) is None:
        return False
    if tag.name in _INLINE and "headerlink" not in tag.get("class", []):
        return False
    names = " ".join([*tag.get("class", []), tag.get("id", "") or "", tag.get("role", "") or "",
                      tag.get("summary", "") or ""])
    return bool(names) and bool(_CHROME.search(names))


def _label_table_rows(soup) -> None:
    """Each row of a table with a header row carries its column names ("Name: smallint | Storage Size: 2
    bytes"), so a row alone can be retrieved, read and cited; the header row itself is then left out."""
    from bs4 import NavigableString

    for table in soup.find_all("table"):
        rows = [r for r in table.find_all("tr") if r.find_parent("table") is table]
        if len(rows) < 2:
            continue
        head = rows[0].find_all(["td", "th"], recursive=False)
        if not head or not all(c.name == "th" for c in head) and rows[0].find_parent("thead") is None:
            continue
        names = [n for c in head for n in [" ".join(c.get_text(" ").split())] * _span(c)]
        if sum(bool(n) for n in names) < 2:
            continue
        for row in rows[1:]:
            col = 0
            for cell in row.find_all(["td", "th"], recursive=False):
                if col < len(names) and names[col] and cell.get_text(strip=True):
                    cell.insert(0, NavigableString(f"{names[col]}: "))
                col += _span(cell)
        rows[0].decompose()


def _span(cell) -> int:
    try:
        return max(1, min(50, int(cell.get("colspan", 1))))
    except ValueError:
        return 1


def _html_blocks(root) -> list[tuple[str, str]]:
    """(kind, text) per block of the page in reading order: inline markup joined into its paragraph,
    list items as "- item", headings as "# heading", table rows as "cell | cell"."""
    from bs4 import NavigableString

    blocks: list[tuple[object, list[str]]] = []
    for string in root.find_all(string=True):
        if not isinstance(string, NavigableString) or type(string).__name__ in ("Comment", "Doctype"):
            continue
        parent = string.parent
        cell = None
        while parent is not None and (parent.name not in _BLOCK or parent.name in _CELL):
            if parent.name in _CELL and cell is None:
                cell = parent
            parent = parent.parent
        text = re.sub(r"\s+", " ", str(string))
        if not blocks or blocks[-1][0] is not parent:
            blocks.append((parent, [], None))
        block, parts, last_cell = blocks[-1]
        if cell is not None and last_cell is not None and cell is not last_cell and parts:
            parts.append(" | ")
        parts.append(text)
        blocks[-1] = (block, parts, cell if cell is not None else last_cell)
    out = []
    for block, parts, _ in blocks:
        text = " ".join("".join(parts).split())
        if not text:
            continue
        name = getattr(block, "name", "")
        if name == "li":
            text = f"- {text}"
        elif name in ("h1", "h2", "h3", "h4", "h5", "h6"):
            text = f"{'#' * int(name[1])} {text}"
        out.append((name, text))
    return out


def _read_html(data: bytes, name: str) -> tuple[str, str | None]:
    import warnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():  # XHTML pages (DocBook, Debian's manuals) read fine as HTML
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(data, "lxml")
    title = soup.title.get_text(strip=True) if soup.title else None
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template"]):
        tag.decompose()
    for tag in soup.find_all(_is_chrome):  # menus, tables of contents, breadcrumbs: site chrome, not content
        tag.decompose()
    _label_table_rows(soup)
    root = soup.find("main") or soup.find("article") or soup.body or soup
    parts: list[str] = []
    prev = ""
    for kind, text in _html_blocks(root):
        # consecutive list items and table rows stay together; other blocks are paragraphs
        sep = "\n" if kind == prev and kind in ("li", "tr") else "\n\n"
        parts.append((sep if parts else "") + text)
        prev = kind
    return _clean("".join(parts), name), title


# A numbered section heading on its own line ("2.1 Installing the pump") becomes its own paragraph, so it
# is recognised as a heading instead of running into the first sentence below it.
_SECTION = re.compile(r"(?m)^(\d{1,2}(?:\.\d{1,2})*\.?[ \t]+[A-Z][^.!?:\n]{0,80})$(?=\n\S)")
_LEADER = re.compile(r"(?:[ \t]*\.){4,}[ \t]*\d*")  # table-of-contents dot leaders ". . . . 12"
_PAGE_NUMBER = re.compile(r"^\s*(page\s*)?[-–]?\s*\d{1,4}\s*[-–]?\s*(/\s*\d{1,4}|of\s+\d{1,4})?\s*$", re.IGNORECASE)


def strip_running_lines(pages: list[str], edge: int = 2) -> list[str]:
    """Remove page headers and footers: lines among the first or last `edge` of a page that recur (digits
    aside) on at least half of the pages, and lines that are only a page number. Without this a header
    runs into the page's first sentence ("1 1 Introduction This document describes…")."""
    def key(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(line.split()).lower())

    lines = [p.split("\n") for p in pages]
    counts: dict[str, int] = {}
    for page in lines:
        body = [i for i, t in enumerate(page) if t.strip()]
        for k in {key(page[i]) for i in body[:edge] + body[-edge:]}:
            counts[k] = counts.get(k, 0) + 1
    # a running line recurs on half of a short document's pages, or on a few pages of a long one
    # (a chapter's own header), always at the top or bottom of the page
    need = max(2, (len(pages) + 1) // 2) if len(pages) < 6 else max(3, len(pages) // 20)
    running = {k for k, n in counts.items() if len(pages) >= 2 and n >= need}
    out = []
    for page in lines:
        body = [i for i, t in enumerate(page) if t.strip()]
        edges = set(body[:edge] + body[-edge:])
        out.append("\n".join(t for i, t in enumerate(page)
                             if not (i in edges and (key(t) in running or _PAGE_NUMBER.match(t)))))
    return out


def _guard_pdf(data: bytes, name: str, limits: Limits) -> tuple[int, str | None]:
    """(pages, metadata title) once every page's content stream has been decoded within the limits: PDFium, which
    reads the text, has no cap on how far a stream may expand, so pypdf (capped) decodes them first."""
    import io
    import logging

    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    n = limits.unpacked_bytes
    try:
        with apply_configuration(zlib_maximum_output_length=n, lzw_maximum_output_length=n,
                                 run_length_maximum_output_length=n, brotli_maximum_output_length=n,
                                 array_based_stream_maximum_output_length=n, maximum_declared_stream_length=n,
                                 stream_decoding_work_maximum_length=n):
            reader = PdfReader(io.BytesIO(data), strict=False)
            for page in reader.pages:
                contents = page.get_contents()
                if contents is not None:
                    contents.get_data()
            meta_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
            return len(reader.pages), str(meta_title) if meta_title else None
    except LimitReachedError as e:
        raise DocumentError(f"{name}: a PDF stream expands beyond {n / 1e6:g} MB (limit QA_MAX_UNPACKED_MB); "
                            "a decompression bomb or a damaged file") from e
    except Exception as e:  # pypdf raises many types on broken files
        raise DocumentError(f"{name}: unreadable PDF ({type(e).__name__}: {e})".splitlines()[0][:200]) from e


def _pdf_pages(data: bytes, name: str, limits: Limits, reading: Reading) -> tuple[list[str], list[int], list[str]]:
    """Each page's text, read by PDFium: it spaces words by their positions, where pypdf ran many PDFs' words
    together ("Thesefieldsallhave…", 81 run-on words per 1,000 in the Debian Policy PDF; PDFium 0) and was
    5-10x slower (bench/RESULTS.md). Scanned pages are read by OCR (see `ocr`): (texts, 1-based OCR'd pages,
    one line per page or pages that could not be read)."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise DocumentError(f"{name}: unreadable PDF ({e})".splitlines()[0][:200]) from e
    pages, chars = [], 0
    try:
        for i in range(len(pdf)):
            textpage = pdf[i].get_textpage()
            text = label_rows(textpage.get_text_range(), textpage.get_charbox)  # numeric tables' rows named
            pages.append(text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").replace("\ufffe", "-"))
            chars += len(pages[-1])
            if chars > limits.text_chars:
                raise _too_much_text(name, chars, limits)
        return _ocr(pdf, pages, name, reading)
    finally:
        pdf.close()


def _ocr(pdf, pages: list[str], name: str, reading: Reading) -> tuple[list[str], list[int], list[str]]:
    """`pages` with the scans' text read by OCR, where it can be: (texts, 1-based OCR'd pages, problems)."""
    from . import ocr

    scans = ocr.scans(pdf, pages)
    if not scans:
        return pages, [], []
    why = "OCR is off (QA_OCR=off)" if reading.ocr == "off" else ocr.missing(reading.languages)
    if why is not None:
        if "".join(pages).strip():
            return pages, [], [f"{name}, {_page_list(scans)}: scanned, not read; {why}"]
        raise DocumentError(f"{name}: PDF has no text layer (scanned images?) and {why}")
    read, failed = ocr.read_scans(pdf, scans, threads=reading.threads, on_page=reading.on_page,
                                  languages=reading.languages)
    for i, text in read.items():
        pages[i] = text
    problems = [f"{name}, page {i + 1}: {why}; the other pages are indexed" for i, why in failed.items()]
    if not "".join(pages).strip():
        raise DocumentError(f"{name}: no text found, not even by OCR of its {len(scans)} scanned page(s) "
                            f"(page {min(failed) + 1}: {failed[min(failed)]})")
    return pages, sorted(i + 1 for i in read), problems


def _page_list(pages: list[int]) -> str:
    """0-based page numbers as 1-based ranges: "page 3", "pages 1-4, 7"."""
    runs: list[list[int]] = []
    for p in pages:
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    spans = ", ".join(f"{a + 1}" if a == b else f"{a + 1}-{b + 1}" for a, b in runs)
    return f"page{'s' * (len(pages) > 1)} {spans}"


def _read_pdf(data: bytes, name: str, limits: Limits, reading: Reading) -> tuple[str, tuple[int, ...], str | None,
                                                                                 list[int], list[str]]:
    _, meta_title = _guard_pdf(data, name, limits)
    pages_text, ocr_pages, problems = _pdf_pages(data, name, limits, reading)
    if not "".join(pages_text).strip():
        raise DocumentError(f"{name}: PDF has no text layer and no scanned pages (empty pages?)")
    pages_text = [_SECTION.sub(r"\1\n", _LEADER.sub(" ", p)) for p in strip_running_lines(pages_text)]
    starts, parts, pos = [], [], 0
    for t in pages_text:
        starts.append(pos)
        parts.append(t)
        pos += len(t) + 2
    return "\n\n".join(parts), tuple(starts), meta_title, ocr_pages, problems


def _check_zip(data: bytes, name: str, limits: Limits) -> None:
    """Refuse an archive whose members unpack beyond the limit, before anything is unpacked. The sizes
    are the declared ones; zipfile never inflates a member beyond its declared size (CRC error instead)."""
    import io
    import zipfile

    try:
        total = sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DocumentError(f"{name}: unreadable DOCX (not a valid zip archive)") from e
    if total > limits.unpacked_bytes:
        raise DocumentError(f"{name}: unpacks to {total / 1e6:.0f} MB, over the {limits.unpacked_bytes / 1e6:g} MB "
                            "limit (QA_MAX_UNPACKED_MB); a decompression bomb?")


def _read_docx(data: bytes, name: str, limits: Limits) -> tuple[str, str | None]:
    import io

    import docx

    _check_zip(data, name, limits)
    try:
        d = docx.Document(io.BytesIO(data))
    except Exception as e:
        raise DocumentError(f"{name}: unreadable DOCX ({type(e).__name__})") from e
    return _clean(_docx_text(d), name), d.core_properties.title or None


def _docx_text(d) -> str:
    """Paragraphs and tables in reading order: headings as "# …", list paragraphs as "- …", and each table row
    with its column names ("Name: … | Size: …") when the table has a header row, as HTML tables are read."""
    from docx.table import Table

    blocks: list[tuple[str, str]] = []  # (kind, text)
    for item in d.iter_inner_content():
        if isinstance(item, Table):
            rows = [[" ".join(c.text.split()) for c in row.cells] for row in item.rows]
            head = rows[0] if len(rows) > 1 and sum(bool(h) for h in rows[0]) >= 2 else []
            for row in rows[1:] if head else rows:
                cells = [f"{h}: {c}" if h and c else c for h, c in zip(head or [""] * len(row), row, strict=False)]
                blocks.append(("tr", " | ".join(dict.fromkeys(c for c in cells if c))))  # merged cells once
            continue
        text, style = item.text.strip(), (item.style.name if item.style is not None else "") or ""
        if not text:
            continue
        if m := re.match(r"Heading (\d)", style):
            blocks.append(("h", "#" * int(m.group(1)) + " " + text))
        elif style.startswith("List") or item._p.pPr is not None and item._p.pPr.numPr is not None:
            blocks.append(("li", "- " + text))
        else:
            blocks.append(("p", text))
    out, prev = [], ""
    for kind, text in blocks:
        out.append(("\n" if kind == prev and kind in ("li", "tr") else "\n\n") if out else "")
        out.append(text)
        prev = kind
    return "".join(out)


def parse(data: bytes, path: str, limits: Limits = Limits(), reading: Reading = Reading()  # noqa: B008 (frozen)
          ) -> Document:
    """Parse the bytes of the file at `path` (its suffix picks the format) into a Document."""
    name = Path(path).name
    suffix = Path(path).suffix.lower()
    pages: tuple[int, ...] = ()
    ocr_pages: list[int] = []
    problems: list[str] = []
    title: str | None = None
    if suffix in TEXT_SUFFIXES:
        text = decode_text(data, name)
    elif suffix in (".html", ".htm"):
        text, title = _read_html(data, name)
    elif suffix == ".pdf":
        text, pages, title, ocr_pages, problems = _read_pdf(data, name, limits, reading)
    elif suffix == ".docx":
        text, title = _read_docx(data, name, limits)
    else:
        raise DocumentError(f"{name}: unsupported file type {suffix or '(none)'}; use {', '.join(sorted(SUFFIXES))}")
    if len(text) > limits.text_chars:
        raise _too_much_text(name, len(text), limits)
    return Document(path=path, title=title or _title_from_text(text, Path(path).stem), text=text,
                    sha256=sha256_bytes(data), pages=pages, ocr_pages=tuple(ocr_pages), problems=tuple(problems))


def read_document(path: Path, limits: Limits = Limits(), reading: Reading = Reading()  # noqa: B008 (frozen)
                  ) -> Document:
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise DocumentError(f"{path.name}: vanished before it could be read") from e
    except OSError as e:
        raise DocumentError(f"{path.name}: cannot read ({e.strerror})") from e
    return parse(data, str(path), limits, reading)
