"""Sentence splitting and sentence-aware chunking that keep exact character offsets.

Every span is `(start, end)` into the original text, so `text[start:end]` is the sentence or
chunk. Splitting is rule based (punctuation, abbreviations, blank lines, Markdown headings):
fast and predictable; it does not try to parse every language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREV = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "u.s", "u.k", "no",
    "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "inc",
    "ltd", "co", "corp", "mt", "ft", "approx", "ca", "cf", "al", "vol", "pp", "gen", "gov", "sen", "rep",
}
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|\n[ \t]*\n|\n(?=[ \t]*(?:#|[-*•] |\d+[.)] ))")


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    text: str


def _is_abbreviation(text: str, dot: int) -> bool:
    m = re.search(r"([A-Za-z.]+)$", text[max(0, dot - 12):dot])
    if not m:
        return False
    word = m.group(1).lower().rstrip(".")
    return word in _ABBREV or (len(word) == 1 and text[dot - 1].isupper())


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentences of `text[start:end]` as absolute, whitespace-trimmed spans."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cur = start
    for m in _END.finditer(text, start, end):
        cut = m.end()
        if "\n" not in m.group():
            if m.group() == "." and _is_abbreviation(text, m.start()):
                continue
            nxt = re.match(r"\s*(\S)", text[cut:cut + 20])
            if nxt and nxt.group(1).islower():
                continue
        s, e = _strip(text, cur, cut)
        if e > s:
            spans.append((s, e))
        cur = cut
    s, e = _strip(text, cur, end)
    if e > s:
        spans.append((s, e))
    return [piece for s, e in spans for piece in _rows(text, s, e)]


def _rows(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """A table row ("Name: smallint | Size: 2 bytes") is a sentence of its own: cut at each line break next to
    a line with a " | " cell separator."""
    if " | " not in text[s:e] or "\n" not in text[s:e]:
        return [(s, e)]
    out, cur = [], s
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text[s:e])]
    for (a, b), (c, _) in zip(lines, lines[1:], strict=False):
        if " | " in text[s + a:s + b] or " | " in text[s + c:s + c + 400].split("\n", 1)[0]:
            piece = _strip(text, cur, s + b)
            if piece[1] > piece[0]:
                out.append(piece)
            cur = s + c
    piece = _strip(text, cur, e)
    if piece[1] > piece[0]:
        out.append(piece)
    return out


def _split_long(text: str, s: int, e: int, limit: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence at whitespace (or hard, if it has none) into pieces <= limit."""
    out = []
    while e - s > limit:
        cut = text.rfind(" ", s + limit // 2, s + limit)
        cut = cut if cut > s else s + limit
        a, b = _strip(text, s, cut)
        if b > a:
            out.append((a, b))
        s, _ = _strip(text, cut, e)
    if e > s:
        out.append((s, e))
    return out


def chunk_text(text: str, *, size: int = 600, overlap: int = 1) -> list[Chunk]:
    """Group consecutive sentences into chunks of about `size` characters.

    Consecutive chunks share `overlap` sentences, so a fact on a chunk border is whole in one of them.
    """
    sents: list[tuple[int, int]] = []
    for s, e in sentence_spans(text):
        sents.extend(_split_long(text, s, e, size))
    chunks: list[Chunk] = []
    i = 0
    while i < len(sents):
        j = i + 1
        while j < len(sents) and sents[j][1] - sents[i][0] <= size:
            j += 1
        s, e = sents[i][0], sents[j - 1][1]
        chunks.append(Chunk(s, e, text[s:e]))
        if j >= len(sents):
            break
        i = max(i + 1, j - overlap)
    return chunks
