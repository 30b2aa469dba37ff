"""Numeric tables in PDF text: each row carries its column names, as HTML and DOCX table rows already do.

A PDF has no table markup: PDFium gives a table as lines of words ("SVD 44.48 52.30 51.38 0.80" under
"Method Relative Elapsed User Sys"), and a row read alone says nothing about which number is which. Here a
table is a run of at least `MIN_ROWS` lines that end in the same number (at least 2) of numeric cells. The
cells' positions on the page (PDFium's character boxes) give the columns; the words of up to `MAX_HEAD`
lines above the first row are given to the column they sit over ("Leurgans G^" over one column, a group
heading "Slope" over the columns nearest to it), and a short line without numbers between rows ("Powell")
names the rows under it. Each row is then written "Method: SVD | Relative: 44.48 | Elapsed: 52.30 | …",
behind the table's caption when one stands next to it ("Table 2 (lmBenchmark results on a desktop
computer …): …": what the numbers measure and under which conditions), which chunking cuts into a sentence
of its own; the heading lines and row-group lines are dropped (they are
in every row). Text tables (no numbers) and tables whose headings cannot be placed are left as they were.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from statistics import median

NUMBER = re.compile(r"([<>\u2264\u2265] ?)?[(\[]?[-+\u2212\u2013]?(\d[\d,]*(\.\d*)?|\.\d+)(%|[eE][-+]?\d+)?[)\]]?"
                    r"|[-\u2013\u2014\u221e]|NA|N/A|n/a|NaN")  # a cell: a number, "(0.024)", "< 2e-16" or missing
BOUND = ("<", ">", "\u2264", "\u2265")  # "< 2.2e-16" is one cell
MIN_ROWS = 3  # numeric lines in a run before it is read as a table
MIN_COLUMNS = 2
MAX_HEAD = 2  # heading lines above the first row
MAX_LABEL_WORDS = 6  # words before the numbers of a row, and of a row-group line ("Peng-Huang")
CAPTION = re.compile(r"(Table|TABLE|Tab\.)\s+(\d+[A-Za-z]?)\s*[:.]\s*(.+)")
CAPTION_CHARS = 90  # of a caption's text, cut at a word, in front of each row
CAPTION_LINES = 3  # a caption within this many lines above the heading or below the last row


@dataclass
class _Line:
    start: int  # offset of the line in the page text
    words: list[tuple[str, float, float]]  # (word, left, right) in page coordinates

    @functools.cached_property
    def numbers(self) -> int:
        """How many of the line's last words are numbers (the words never change once read)."""
        n = 0
        for i in range(len(self.words) - 1, -1, -1):
            if not NUMBER.fullmatch(self.words[i][0]) or i and self.words[i - 1][0] == "=":
                break  # "n = 200" is a row's name, not a cell
            n += 1
        return n

    @property
    def text(self) -> str:
        return " ".join(w for w, _, _ in self.words)


def _lines(text: str, box=None) -> list[_Line]:
    """The page's lines with each word's horizontal extent; `box(i)` is character i's (left, bottom, right, top)
    (without it every extent is 0: enough to find the number rows)."""
    box = box or (lambda i: (0.0, 0.0, 0.0, 0.0))
    out, offset = [], 0
    for raw in text.splitlines(keepends=True):
        words = []
        for m in re.finditer(r"\S+", raw):
            (left, *_), (*_, right, _) = box(offset + m.start()), box(offset + m.end() - 1)
            word = m.group()
            if words and words[-1][0] in BOUND and NUMBER.fullmatch(word):
                bound, left, _ = words.pop()
                word = f"{bound} {word}"
            words.append((word, left, right))
        out.append(_Line(offset, words))
        offset += len(raw)
    return out


def _runs(lines: list[_Line]) -> list[tuple[int, int, int]]:
    """(first, last + 1, columns) of each run of table rows; row-group lines inside a run belong to it."""
    runs, i = [], 0
    while i < len(lines):
        k = lines[i].numbers
        if k < MIN_COLUMNS or len(lines[i].words) - k > MAX_LABEL_WORDS:
            i += 1
            continue
        j, rows = i, 0
        while j < len(lines):
            n = lines[j].numbers
            if n == k and len(lines[j].words) - n <= MAX_LABEL_WORDS:
                rows, j = rows + 1, j + 1
            elif n == 0 and 0 < len(lines[j].words) <= MAX_LABEL_WORDS and j + 1 < len(lines) \
                    and lines[j + 1].numbers == k:
                j += 1  # a row-group line ("Powell") followed by more rows
            else:
                break
        if rows >= MIN_ROWS:
            runs.append((i, j, k))
        i = max(j, i + 1)
    return runs


def _columns(rows: list[_Line], k: int) -> tuple[list[float], list[tuple[float, float]]]:
    """The centre (median over the rows) and the extent (leftmost to rightmost) of each of the `k` number columns."""
    cells = [[r.words[-k + c] for r in rows] for c in range(k)]
    return ([median((w[1] + w[2]) / 2 for w in col) for col in cells],
            [(min(w[1] for w in col), max(w[2] for w in col)) for col in cells])


def _column_of(left: float, right: float, centres: list[float], extents: list[tuple[float, float]]) -> int:
    """The column a heading word sits over: the one whose extent it overlaps or is nearest to, then the
    nearest centre (headings are centred over their numbers or right-aligned with them)."""
    def distance(c: int) -> tuple[float, float]:
        lo, hi = extents[c]
        return max(0.0, lo - right, left - hi), abs(centres[c] - (left + right) / 2)
    return min(range(len(centres)), key=distance)


def _place(line: _Line, columns: tuple[list[float], list[tuple[float, float]]], edge: float,
           span: tuple[float, float], upper: bool) -> tuple[list[str], list[str]] | None:
    """One heading line's words per column (and those over the row labels); None when it is not a heading:
    it has numbers, ends a sentence or reaches beyond the table (a running head, a line of code), or it is
    above the first heading line (`upper`) and not a group heading over several columns each."""
    if not line.words or line.numbers or line.text.endswith(".") or \
            line.words[0][1] < span[0] or line.words[-1][2] > span[1]:
        return None
    k = len(columns[0])
    label, cols = [], [[] for _ in range(k)]
    for word, left, right in line.words:
        if (left + right) / 2 < edge:
            label.append(word)
        else:
            cols[_column_of(left, right, *columns)].append(word)
    if sum(bool(c) for c in cols) * 2 <= k:  # a group heading ("Intercept  Slope") over several columns
        groups = [(w, (left + right) / 2) for w, left, right in line.words if (left + right) / 2 >= edge]
        if not groups:
            return None
        cols = [[min(groups, key=lambda g: abs(g[1] - centre))[0]] for centre in columns[0]]
    elif upper:
        return None
    return label, [" ".join(c) for c in cols]


def _is_group(line: _Line, edge: float) -> bool:
    """A short line without numbers over the row labels only ("Powell"): it names the rows under it."""
    return 0 < len(line.words) <= MAX_LABEL_WORDS and not line.numbers and line.words[-1][2] < edge


def _table(lines: list[_Line], first: int, end: int, k: int) -> tuple[int, list[str]] | None:
    """(first heading line, the rewritten rows) of one run, or None when no heading line could be placed."""
    rows = [ln for ln in lines[first:end] if ln.numbers == k]
    columns = _columns(rows, k)
    centres = columns[0]
    gap = min((b - a for a, b in zip(centres, centres[1:], strict=False)), default=20.0)
    edge = centres[0] - gap / 2
    span = (min(r.words[0][1] for r in rows) - gap, max(r.words[-1][2] for r in rows) + gap)
    if first > 0 and _is_group(lines[first - 1], edge):
        first -= 1  # the first group's name sits between the heading and the first row
    heads, top = [], first
    while len(heads) < MAX_HEAD and top > 0 and (placed := _place(lines[top - 1], columns, edge, span,
                                                                              upper=bool(heads))):
        heads.insert(0, placed)
        top -= 1
    if not heads:
        return None
    names = [" ".join(h[1][c] for h in heads if h[1][c]) for c in range(k)]
    label_name = " ".join(w for h in heads for w in h[0])
    out, group, label = [], "", ""
    for ln in lines[first:end]:
        if ln.numbers != k:
            group = ln.text
            continue
        own = " ".join(w for w, _, _ in ln.words[:-k])  # a row of numbers alone ("(0.024) (0.065)") is
        label = " ".join(p for p in (group, own) if p) if own or not label else label  # the row above's
        cells = [f"{label_name}: {label}" if label_name and label else label]
        cells += [f"{n}: {w}" if n else w for n, (w, _, _) in zip(names, ln.words[-k:], strict=True)]
        out.append(" | ".join(c for c in cells if c))
    return top, out


def _caption(lines: list[_Line], top: int, end: int) -> str:
    """The table's caption ("Table 1: Scaled MSE for Several Estimators of the Median: …") shortened, or "":
    the row itself rarely says what its numbers measure or under which conditions."""
    near = [*lines[end:end + CAPTION_LINES], *reversed(lines[max(0, top - CAPTION_LINES):top])]
    m = next((m for ln in near if (m := CAPTION.match(ln.text))), None)
    if m is None:
        return ""
    text = m.group(3).split(". ")[0].rstrip(".")
    if len(text) > CAPTION_CHARS:
        text = text[:CAPTION_CHARS].rsplit(" ", 1)[0] + " …"
    return f"Table {m.group(2)} ({text})"


def label_rows(text: str, box) -> str:
    """The page `text` with every numeric table's rows labelled by their column names (see the module)."""
    if sum(ln.numbers >= MIN_COLUMNS for ln in _lines(text)) < MIN_ROWS:
        return text  # most pages: no character boxes are read
    lines = _lines(text, box)
    pieces, done = [], 0
    for first, end, k in _runs(lines):
        table = _table(lines, first, end, k)
        if table is None:
            continue
        top, rows = table
        if caption := _caption(lines, top, end):
            rows = [f"{caption}: {row}" for row in rows]
        start = lines[top].start
        stop = lines[end].start if end < len(lines) else len(text)
        pieces += [text[done:start], "\n".join(rows) + "\n"]
        done = stop
    return "".join(pieces) + text[done:]
