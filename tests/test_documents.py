import io

import pytest

from qa.errors import DocumentError
from qa.ingest.documents import Limits, parse
from tests.conftest import ROOT
from tests.pdfgen import make_pdf


def test_utf8_with_and_without_bom_and_crlf():
    a = parse("Caf\u00e9 ol\u00e9.\r\nSecond line.".encode(), "a.txt")
    b = parse(b"\xef\xbb\xbf" + "Caf\u00e9 ol\u00e9.\r\nSecond line.".encode(), "b.txt")
    assert a.text == b.text == "Caf\u00e9 ol\u00e9.\nSecond line."
    assert a.sha256 != b.sha256  # hash of the bytes, so a BOM change is a change


def test_utf16_with_bom():
    doc = parse("\ufeffHello world from UTF-16.".encode("utf-16"), "u.txt")
    assert doc.text == "Hello world from UTF-16."


def test_cp1252_is_detected_and_decoded():
    text = "Les \u00e9l\u00e8ves fran\u00e7ais \u00e9tudient \u00e0 l'\u00e9cole. " * 20
    assert parse(text.encode("cp1252"), "f.txt").text.startswith("Les \u00e9l\u00e8ves")


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"), (b"  \n\t \n", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256)) * 4, "binary"),
    (b"text with a \x00 NUL byte", "binary"),
])
def test_bad_text_files_get_a_clear_error(data, reason):
    with pytest.raises(DocumentError, match=reason) as e:
        parse(data, "bad.txt")
    assert "bad.txt" in str(e.value) and "\n" not in str(e.value)


def test_lone_surrogate_bytes_are_rejected_or_decoded_cleanly():
    data = b"Valid start \xed\xa0\x80 broken surrogate."
    try:
        doc = parse(data, "s.txt")
    except DocumentError as e:
        assert "s.txt" in str(e)
    else:
        doc.text.encode("utf-8")  # whatever was decoded is valid text


def test_markdown_title_from_heading():
    assert parse(b"# My Title\n\nBody.", "x.md").title == "My Title"


def test_html_main_text_without_navigation_or_scripts():
    html = b"""<html><head><title>Page T</title><script>var secret = 1;</script><style>p{}</style></head>
    <body><nav>Home | About</nav><header>Site header</header><main><h1>Heading</h1><p>The real
    content is here.</p><p>Second paragraph.</p></main><footer>Copyright footer</footer></body></html>"""
    doc = parse(html, "p.html")
    assert doc.title == "Page T"
    assert "The real content is here." in " ".join(doc.text.split())
    for junk in ("secret", "Home | About", "Site header", "Copyright footer"):
        assert junk not in doc.text


def test_pdf_pages_are_kept():
    doc = parse(make_pdf(["First page says hello.", "Second page says goodbye."]), "d.pdf")
    assert "hello" in doc.text and "goodbye" in doc.text
    assert len(doc.pages) == 2
    assert doc.page_of(doc.text.index("goodbye")) == 2 and doc.page_of(doc.text.index("hello")) == 1


def test_pdf_without_text_layer_is_rejected():
    with pytest.raises(DocumentError, match="no text layer"):
        parse(make_pdf(["", ""]), "scan.pdf")


def test_pdf_with_broken_xref_is_recovered_or_rejected_clearly():
    try:
        doc = parse(make_pdf(["Recovered text here."], break_xref=True), "broken.pdf")
    except DocumentError as e:
        assert "broken.pdf" in str(e)
    else:
        assert "Recovered text" in doc.text


def test_garbage_pdf_is_rejected():
    with pytest.raises(DocumentError, match="broken.pdf"):
        parse(b"%PDF-1.4\nthis is not a pdf at all", "broken.pdf")


def test_docx_paragraphs_and_tables():
    import docx

    d = docx.Document()
    d.core_properties.title = "Doc Title"
    d.add_paragraph("First paragraph of the docx.")
    d.add_paragraph("Second paragraph.")
    t = d.add_table(rows=1, cols=2)
    t.rows[0].cells[0].text = "cell A"
    t.rows[0].cells[1].text = "cell B"
    buf = io.BytesIO()
    d.save(buf)
    doc = parse(buf.getvalue(), "w.docx")
    assert doc.title == "Doc Title"
    assert "First paragraph of the docx.\n\nSecond paragraph." in doc.text and "cell A | cell B" in doc.text


def test_unsupported_suffix():
    with pytest.raises(DocumentError, match="unsupported file type .exe"):
        parse(b"MZ", "x.exe")


def test_html_keeps_sentences_whole_and_marks_lists_tables_and_headings():
    html = b"""<html><head><title>Tools</title></head><body><nav>menu</nav><main><h2>Running tools</h2>
    <p>The agent can <b>additionally</b> support running tools like:</p>
    <ul><li>a <code>shell</code> command</li><li>a Python interpreter</li></ul>
    <table><tr><th>Option</th><th>Default</th></tr><tr><td>timeout</td><td>30 s</td></tr></table>
    <div>Loose text <span>here</span>.</div></main></body></html>"""
    text = parse(html, "t.html").text
    assert "## Running tools" in text
    assert "The agent can additionally support running tools like:\n\n- a shell command\n- a Python interpreter" in text
    assert "Option: timeout | Default: 30 s" in text and "Loose text here." in text and "menu" not in text
    assert "Option | Default" not in text  # the header row is carried by every row instead


def test_html_table_rows_carry_their_headers_and_sphinx_headings_survive():
    html = b"""<html><body><table summary="Navigation header"><tr><td>Prev</td><td>Up</td></tr></table>
    <h3><a class="toc-backref" href="#id1">Is there a curses package?</a><a class="headerlink"
      href="#c">\xc2\xb6</a></h3>
    <p>Yes, in the standard library.</p>
    <table><thead><tr><th>Name</th><th colspan="2">Size and range</th></tr></thead>
    <tbody><tr><td>smallint</td><td>2 bytes</td><td>-32768 to +32767</td></tr></tbody></table></body></html>"""
    text = parse(html, "t.html").text
    assert "### Is there a curses package?" in text and "\xb6" not in text and "Prev" not in text
    assert "Name: smallint | Size and range: 2 bytes | Size and range: -32768 to +32767" in text


def test_docx_keeps_tables_where_they_stand_with_their_headers(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Limits", level=1)
    d.add_paragraph("The limits are these:")
    table = d.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Setting", "Default"), ("max_length", "1000000"), ("page_size", "4096")]):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    d.add_paragraph("Both can be changed at run time.")
    d.save(tmp_path / "limits.docx")
    text = parse((tmp_path / "limits.docx").read_bytes(), "limits.docx").text
    assert text == ("# Limits\n\nThe limits are these:\n\nSetting: max_length | Default: 1000000\n"
                    "Setting: page_size | Default: 4096\n\nBoth can be changed at run time.")


def test_a_markdown_title_comes_from_front_matter_not_its_dashes():
    doc = parse(b"---\ntitle: CommonMark Spec\nversion: 0.30\n---\n\n# Introduction\n\nText.", "spec.md")
    assert doc.title == "CommonMark Spec"
    assert parse(b"---\nauthor: x\n---\n\n# Introduction\n\nText.", "s.md").title == "Introduction"


def test_pdf_words_are_spaced_by_position():
    """The Debian Policy PDF, whose words pypdf ran together ("Thesefieldsallhaveauniformsyntax")."""
    doc = parse((ROOT / "bench/real/tune/h1-policy-relationships.pdf").read_bytes(), "policy.pdf")
    assert "These fields all have a uniform syntax." in doc.text and len(doc.pages) == 10


def test_pdf_running_headers_footers_and_page_numbers_are_removed():
    pages = ["ACME Manual v2\n1 Introduction\nThis document describes the pump.\nPage 1 of 3",
             "ACME Manual v2\n2.1 Running the pump\nThe pump runs at 50 Hz.\nPage 2 of 3",
             "ACME Manual v2\nThe valve opens at 3 bar.\n3"]
    doc = parse(make_pdf(pages), "m.pdf")
    assert "ACME" not in doc.text and "Page" not in doc.text and not doc.text.rstrip().endswith("3")
    assert "1 Introduction\n\nThis document describes the pump." in doc.text  # heading is its own paragraph
    assert "2.1 Running the pump\n\nThe pump runs at 50 Hz." in doc.text
    assert doc.text[doc.pages[1]:].lstrip().startswith("2.1 Running")  # page offsets follow the cleaned text


def test_lines_that_recur_on_few_pages_are_kept():
    from qa.ingest.documents import strip_running_lines

    pages = ["Safety first.\nThe pump runs.", "Other text.\nThe valve opens.", "More.\nThe end."]
    assert strip_running_lines(pages) == pages


# --- decompression bombs and oversized text: refused within seconds, with one line naming the limit ---

def test_docx_bomb_is_refused_before_unpacking():
    import time

    from tests.pdfgen import docx_bomb

    data = docx_bomb(400)
    assert len(data) < 1_000_000
    t0 = time.perf_counter()
    with pytest.raises(DocumentError, match=r"bomb.docx: unpacks to 4\d\d MB, over the 50 MB limit") as e:
        parse(data, "bomb.docx")
    assert "\n" not in str(e.value) and time.perf_counter() - t0 < 5


def test_pdf_with_a_huge_compressed_stream_is_refused():
    from tests.pdfgen import make_pdf

    data = make_pdf(["Hello there."], pad=120_000_000)
    assert len(data) < 1_000_000
    with pytest.raises(DocumentError, match=r"huge.pdf: a PDF stream expands beyond 50 MB"):
        parse(data, "huge.pdf")
    assert parse(make_pdf(["Hello there."], pad=10_000), "small.pdf").text.startswith("Hello there.")


def test_text_just_over_the_extracted_text_limit_is_refused():
    limits = Limits()
    line = "The caravan rested at the oasis before crossing the desert. "
    text = (line * (limits.text_chars // len(line) + 1))[: limits.text_chars + 1]
    with pytest.raises(DocumentError, match=r"big.txt: over 10 million characters of text"):
        parse(text.encode(), "big.txt")
    assert len(parse(text[:-2].encode(), "fits.txt").text) == limits.text_chars - 1


def test_html_over_the_text_limit_is_refused():
    small = Limits(text_chars=1000)
    html = b"<html><body>" + b"<p>Words in a paragraph of the page.</p>" * 100 + b"</body></html>"
    with pytest.raises(DocumentError, match="page.html: over 0.001 million characters"):
        parse(html, "page.html", small)
