"""Scanned PDFs, read by the real Tesseract: scans made from known text at 200 dpi, page numbers kept, a
citation that names its scanned page, an unreadable page reported while the rest is indexed, QA_OCR=off."""

from __future__ import annotations

import pytest
from rapidfuzz.distance import Levenshtein

from qa.answer.pipeline import ask
from qa.config import Settings
from qa.errors import DocumentError, InputError
from qa.ingest.documents import Reading, parse
from qa.ingest.indexing import update_index
from tests.pdfgen import damaged, make_pdf, scanned, scanned_lines, with_scans

PAGES = [
    "Annual report of the Mountain Water Institute\n"
    "The institute measures the rivers, lakes and glaciers of the region every spring.\n"
    "Its field teams visited forty stations between March and June 2024.\n"
    "Every station reports the water level, the temperature and the ice cover.",
    "Glaciers\n"
    "The Abramov glacier lost 12 metres of ice in 2023, the most since records began.\n"
    "Its snout has retreated 340 metres since 1990, about nine metres a year.\n"
    "Meltwater from the glacier feeds the Koksu river until late September.",
    "Lakes\n"
    "Lake Issyk-Kul holds 1,738 cubic kilometres of water and never freezes in winter.\n"
    "Its salinity is about six grams per litre, a sixth of the ocean's.\n"
    "The lake level rose by 18 centimetres between 2010 and 2024.",
]
TEXT = make_pdf(PAGES)
BROKEN = damaged(scanned(make_pdf(PAGES[1:2])))  # a scan whose image data is damaged: nothing can be read


def _accuracy(expected: str, got: str) -> float:
    a, b = " ".join(expected.split()), " ".join(got.split())
    return 1 - Levenshtein.distance(a, b) / len(a)


@pytest.fixture(scope="module")
def scan() -> bytes:
    """All three pages scanned at 200 dpi: a PDF with no text layer."""
    return scanned(TEXT, dpi=200)


@pytest.fixture(scope="module")
def scan_doc(scan):
    return parse(scan, "scan.pdf", reading=Reading(threads=2))


def test_a_scan_is_read_with_95_percent_character_accuracy(scan, scan_doc):
    import pypdfium2 as pdfium

    assert not "".join(pdfium.PdfDocument(scan)[i].get_textpage().get_text_range() for i in range(3)).strip()
    ends = [*scan_doc.pages[1:], len(scan_doc.text)]
    for i, (start, end) in enumerate(zip(scan_doc.pages, ends, strict=True)):
        accuracy = _accuracy(PAGES[i], scan_doc.text[start:end])
        assert accuracy >= 0.95, f"page {i + 1}: {accuracy:.3f}\n{scan_doc.text[start:end]}"


def test_scanned_page_numbers_are_kept_and_marked(scan_doc):
    assert len(scan_doc.pages) == 3 and scan_doc.ocr_pages == (1, 2, 3) and not scan_doc.problems
    assert scan_doc.page_of(scan_doc.text.index("Abramov")) == 2
    assert scan_doc.page_of(scan_doc.text.index("Issyk")) == 3


@pytest.mark.parametrize("store", ["local", "milvus-lite"])
def test_mixed_pdf_keeps_page_numbers_and_cites_the_scanned_page(store, tmp_path, settings, fake_embedder):
    """Page 2 is a scan between two text pages: its quote is cited as page 2, marked as read by OCR, in the
    Answer, the chat's sources panel and the API's JSON, from either store; page 3's text is cited as page 3."""
    from qa.serve import schemas
    from qa.serve.api import answer_out
    from qa.serve.web import chat_markdown, sources_html

    settings = settings.replace(store=str(tmp_path / "qa.db") if store == "milvus-lite" else "")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(with_scans(TEXT, {1: scanned(TEXT, pages=[1])}))
    stats = update_index([folder], settings=settings, embedder=fake_embedder)
    assert stats.documents == 1 and not stats.errors
    a = ask("How much ice did the Abramov glacier lose in 2023?", settings=settings, embedder=fake_embedder,
            mode="extractive")
    c = a.citations[0]
    assert c.page == 2 and c.ocr and "12 metres" in c.quote and c.where == "page 2 (OCR)"
    assert "report.pdf, page 2 (OCR)" in sources_html(a) and r"p\. 2 \(OCR\)" in chat_markdown(a)
    assert schemas.AnswerOut.model_validate(answer_out(a)).citations[0].ocr is True
    a = ask("How much water does Lake Issyk-Kul hold?", settings=settings, embedder=fake_embedder, mode="extractive")
    c = a.citations[0]
    assert c.page == 3 and not c.ocr and "1,738" in c.quote and "(OCR)" not in sources_html(a)


def test_an_unreadable_page_is_reported_in_one_line_and_the_rest_indexed(tmp_path, settings, fake_embedder):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(with_scans(TEXT, {0: scanned(TEXT, pages=[0]), 1: BROKEN}))
    seen: list[tuple[float, str]] = []
    stats = update_index([folder], settings=settings.replace(threads=1), embedder=fake_embedder,
                         progress=lambda done, total, chunks, rate, note="": seen.append((done, note)))
    assert stats.documents == 1
    assert len(stats.errors) == 1 and "\n" not in stats.errors[0], stats.errors
    assert stats.errors[0].startswith("scan.pdf, page 2: no text found by OCR")
    a = ask("How many cubic kilometres of water does Lake Issyk-Kul hold?", settings=settings, embedder=fake_embedder,
            mode="extractive")
    assert a.citations[0].page == 3 and not a.citations[0].ocr and "1,738" in a.citations[0].quote
    a = ask("How many stations did the field teams visit?", settings=settings, embedder=fake_embedder,
            mode="extractive")
    assert a.citations[0].page == 1 and a.citations[0].ocr and "forty" in a.citations[0].quote
    # progress per scanned page, then the file
    assert seen == [(0.5, "scan.pdf: OCR page 1 of 2"), (1.0, "scan.pdf: OCR page 2 of 2"), (1, "")]


def test_an_upload_with_an_unreadable_page_is_kept(built, tmp_path, monkeypatch, fake_embedder):
    from qa import service

    monkeypatch.setattr("qa.ingest.indexing.settings_embedder", lambda *a, **k: fake_embedder)
    up = built.replace(upload_dir=tmp_path / "uploads")
    result = service.upload_documents([("scan.pdf", with_scans(make_pdf(PAGES[:2]), {1: BROKEN}))], settings=up)
    assert [p.rsplit("/", 1)[-1] for p in result.saved] == ["scan.pdf"] and (up.upload_dir / "scan.pdf").exists()
    assert "scan.pdf, page 2: no text found by OCR" in " ".join(result.stats.errors)


def test_a_pdf_where_no_page_yields_text_is_one_clear_error():
    with pytest.raises(DocumentError) as e:
        parse(with_scans(make_pdf(["", ""]), {0: BROKEN, 1: BROKEN}), "broken.pdf")
    message = str(e.value)
    assert "\n" not in message and message.startswith("broken.pdf: no text found, not even by OCR of its 2 scanned")


def test_ocr_off_indexes_the_text_pages_and_names_the_scans(tmp_path, settings, fake_embedder):
    off = settings.replace(ocr="off")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(with_scans(TEXT, {1: scanned(TEXT, pages=[1])}))
    (folder / "all.pdf").write_bytes(scanned(TEXT, pages=[0]))
    stats = update_index([folder], settings=off, embedder=fake_embedder)
    assert stats.documents == 1
    assert sorted(stats.errors) == ["all.pdf: PDF has no text layer (scanned images?) and OCR is off (QA_OCR=off)",
                                    "report.pdf, page 2: scanned, not read; OCR is off (QA_OCR=off)"]


RUSSIAN = ["Отчёт Института горных вод", "Озеро Иссык-Куль содержит 1738 кубических",
           "километров воды и никогда не замерзает зимой.", "Его солёность составляет около шести граммов",
           "на литр, в шесть раз меньше океанской."]
CHINESE = ["山地水文研究所年度报告", "伊塞克湖冬季从不结冰。", "湖水的盐度约为每升六克，是海洋的六分之一。"]
FONTS = "/usr/share/fonts/truetype/"


@pytest.mark.parametrize("lines, font, languages, least", [
    (RUSSIAN, FONTS + "dejavu/DejaVuSans.ttf", "eng+rus", 0.95),
    (CHINESE, FONTS + "wqy/wqy-microhei.ttc", "eng+chi_sim", 0.9)])
def test_scans_in_other_languages_are_read_with_their_language(lines, font, languages, least):
    """With the scan's language named (QA_OCR_LANGUAGES) the text is read; with English only it is not.
    Chinese comes without the spaces Tesseract puts between its characters."""
    pdf = scanned_lines(lines, font)
    expected = "".join("".join(lines).split())
    read = parse(pdf, "scan.pdf", reading=Reading(languages=languages)).text
    assert _accuracy(expected, "".join(read.split())) >= least, read
    if languages.endswith("chi_sim"):
        assert "冬季从不结冰" in read
    english = parse(pdf, "scan.pdf", reading=Reading(languages="eng")).text
    assert _accuracy(expected, "".join(english.split())) < 0.5, english


def test_a_missing_ocr_language_is_named_in_one_line():
    with pytest.raises(DocumentError) as e:
        parse(scanned(TEXT, pages=[0]), "scan.pdf", reading=Reading(languages="eng+xyz"))
    assert str(e.value) == ("scan.pdf: PDF has no text layer (scanned images?) and Tesseract has no data for xyz "
                            "(apt-get install tesseract-ocr-xyz)")
    with pytest.raises(InputError, match="ocr_languages must be Tesseract language names"):
        Settings(ocr_languages="English; rm -rf /")


def test_the_ocr_setting_is_checked(monkeypatch):
    monkeypatch.setenv("QA_OCR", "off")
    assert Settings.from_env().ocr == "off"
    with pytest.raises(InputError, match="ocr must be auto or off"):
        Settings(ocr="tesseract")


def test_a_title_page_with_a_small_logo_is_not_taken_for_a_scan():
    import io

    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawImage(ImageReader(Image.new("L", (200, 200), 90)), 72, 600, width=72, height=72)  # a one-inch logo
    c.drawString(72, 500, "Annual Report")
    c.showPage()
    c.drawString(72, 700, "The institute measures the rivers of the region every spring.")
    c.save()
    doc = parse(buf.getvalue(), "report.pdf")
    assert doc.ocr_pages == () and not doc.problems and doc.text.startswith("Annual Report")
    assert doc.page_of(doc.text.index("rivers")) == 2
