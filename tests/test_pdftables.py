"""Numeric tables in PDFs (qa/ingest/pdftables.py): rows named by their column headings, read by the real PDFium
from PDFs whose cells stand at typeset positions; prose and number-free lines are left alone."""

from __future__ import annotations

import pypdfium2 as pdfium

from qa.answer.pipeline import ask
from qa.config import Settings
from qa.ingest.documents import parse
from qa.ingest.indexing import update_index
from qa.ingest.pdftables import label_rows
from tests.pdfgen import make_layout_pdf

COLUMNS = [200, 260, 320, 380]  # right edges of the number columns


def _row(label: str, numbers: list[str], label_x: float = 100) -> list[tuple[float, str]]:
    """A label at the left, numbers right-aligned on COLUMNS (Helvetica digits are 5.56 points wide at 10 pt)."""
    return [(label_x, label), *((right - 5.56 * len(n), n) for right, n in zip(COLUMNS, numbers, strict=True))]


BENCHMARK = [
    [(72, "Timings of the methods on a desktop computer are shown in the table below.")],
    [(100, "Method"), (174, "Relative"), (234, "Elapsed"), (302, "User"), (362, "Sys")],
    _row("LDLt", ["1.00", "1.18", "1.17", "0.00"]),
    _row("QR", ["6.35", "7.47", "6.93", "0.53"]),
    _row("SVD", ["44.48", "52.30", "51.38", "0.80"]),
    _row("GSL", ["150.46", "176.95", "210.52", "149.86"]),
    [(72, "Table 2: lmBenchmark results; times are in seconds.")],
]


def _page(lines) -> str:
    page = pdfium.PdfDocument(make_layout_pdf(lines))[0].get_textpage()
    return label_rows(page.get_text_range(), page.get_charbox).replace("\r\n", "\n")


def test_each_row_carries_its_column_names():
    text = _page(BENCHMARK)
    assert "Method: SVD | Relative: 44.48 | Elapsed: 52.30 | User: 51.38 | Sys: 0.80" in text
    assert "Method: GSL | Relative: 150.46 | Elapsed: 176.95 | User: 210.52 | Sys: 149.86" in text
    assert "Method Relative" not in text  # the heading line is in every row now
    assert "\nTable 2 (lmBenchmark results; times are in seconds): Method: LDLt | Relative: 1.00" in text
    assert text.startswith("Timings of the methods") and text.rstrip().endswith("times are in seconds.")


def test_group_headings_and_row_groups_name_the_cells():
    """A heading over two column groups ("Intercept", "Slope") and lines that name the rows under them."""
    lines = [
        [(72, "Results of the simulation:")],
        [(215, "Intercept"), (335, "Slope")],
        [(182, "Bias"), (236, "RMSE"), (302, "Bias"), (356, "RMSE")],
        [(100, "Portnoy")],
        _row("n = 100", ["-0.0032", "0.0988", "0.0025", "0.1063"], 110),
        _row("n = 400", ["-0.0066", "0.0578", "0.0036", "0.0588"], 110),
        [(100, "Powell")],
        _row("n = 100", ["-0.0014", "0.1039", "0.0068", "0.1252"], 110),
        _row("n = 400", ["-0.0066", "0.0622", "0.0098", "0.0734"], 110),
    ]
    text = _page(lines)
    assert ("Powell n = 100 | Intercept Bias: -0.0014 | Intercept RMSE: 0.1039 | Slope Bias: 0.0068 | "
            "Slope RMSE: 0.1252") in text
    assert "Portnoy n = 400 | Intercept Bias: -0.0066" in text
    assert "\nPowell\n" not in text and "Results of the simulation:" in text
    assert "Table" not in text  # no caption next to it, none made up


def test_a_running_head_wider_than_the_table_is_not_a_heading():
    lines = [[(72, "14 Fast and Elegant Numerical Linear Algebra with RcppEigen in a long running head")],
             *BENCHMARK[1:6]]
    text = _page(lines)
    assert text.startswith("14 Fast and Elegant") and "Method: QR | Relative: 6.35" in text
    assert "Fast and Elegant:" not in text and "Numerical:" not in text


def test_prose_and_short_runs_are_left_alone():
    prose = [[(72, "In 2010 the station measured 12 floods and 3 droughts.")],
             [(72, "The river rose 4 metres in 2011, 2 more than in 2009.")],
             [(72, "Two rows of numbers are not a table:")],
             _row("a", ["1", "2", "3", "4"]), _row("b", ["5", "6", "7", "8"])]
    page = pdfium.PdfDocument(make_layout_pdf(prose))[0].get_textpage()
    assert label_rows(page.get_text_range(), page.get_charbox) == page.get_text_range()
    no_heading = BENCHMARK[2:6]  # rows without a heading line: nothing to name them by
    page = pdfium.PdfDocument(make_layout_pdf(no_heading))[0].get_textpage()
    assert label_rows(page.get_text_range(), page.get_charbox) == page.get_text_range()


def test_a_table_cell_is_retrieved_and_cited_with_its_column(tmp_path, settings: Settings, fake_embedder):
    """Through indexing and an extractive answer: the cited row names the column the number is in."""
    doc = parse(make_layout_pdf(BENCHMARK), "bench.pdf")
    assert "Elapsed: 52.30" in doc.text and doc.page_of(doc.text.index("Elapsed: 52.30")) == 1
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "bench.pdf").write_bytes(make_layout_pdf(BENCHMARK))
    assert not update_index([folder], settings=settings, embedder=fake_embedder).errors
    a = ask("What is the Elapsed time of the SVD method?", settings=settings, embedder=fake_embedder,
            mode="extractive")
    assert a.citations and "SVD" in a.citations[0].quote and "Elapsed: 52.30" in a.citations[0].quote
