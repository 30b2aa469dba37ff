"""What the model reads: windows of evidence around the chosen sentences, within a budget of the model's tokens.

The sentence that matches the question is often not the one that answers it: it announces a list or a
format ("The extended format adds two more fields:"), or the value sits in the next sentence or the next
table row. So each chosen sentence is read with its neighbours in the document (`context_neighbours`
evidence pieces before and after it: sentences, list items with the sentence that introduces them, table
rows that carry their column names) under the heading of its section; windows that touch are merged, and
they are added best first until `context_tokens` is spent (`context_tokens_many` for list questions), counted by
the model's own tokenizer, so the cost of reading is bounded whatever the documents' language or density.

`reading` picks what a window is, for the side-by-side measurement in bench/RESULTS.md:
    sentences  the chosen sentences alone (default: windows measured worse on the real tuning half)
    following  each chosen sentence with the `context_neighbours` pieces after it (the items a sentence announces)
    windows    the chosen sentences with their neighbours and headings
    passages   the whole retrieved passages the chosen sentences lie in

Every piece a window holds is an evidence sentence, so verification still ties each draft sentence to one
of them; a neighbour is as much on topic as the chosen sentence of its window (`Reading.scores`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..config import Settings
from ..generation import token_counter
from .answerability import Choice
from .citations import Evidence, Retrieved, headings_above

MAX_GAP = 200  # characters between two evidence pieces that still make them neighbours (a heading, a blank line)


@dataclass(frozen=True)
class Reading:
    texts: list[str]  # one numbered source per window, in prompt order
    members: list[list[int]]  # the evidence pieces of each window, in document order
    scores: np.ndarray  # answer scores, each window member raised to its chosen sentence's


def _doc(e: Evidence) -> str:
    return e.passage.doc_sha256 or e.passage.doc_path


def _neighbours(r: Retrieved) -> dict[int, list[int]]:
    """For each evidence piece, its document's pieces in order (the list it sits in)."""
    by_doc: dict[str, list[int]] = {}
    for i, e in enumerate(r.evidence):
        by_doc.setdefault(_doc(e), []).append(i)
    order: dict[int, list[int]] = {}
    for ids in by_doc.values():
        ids.sort(key=lambda i: r.evidence[i].start)
        for i in ids:
            order[i] = ids
    return order


def _window(f: int, r: Retrieved, order: dict[int, list[int]], s: Settings) -> list[int]:
    ev = r.evidence
    if s.reading == "sentences":
        return [f]
    if s.reading == "passages":
        p = ev[f].passage
        return [i for i in order[f] if ev[i].passage.chunk_id == p.chunk_id or
                p.start <= ev[i].start and ev[i].end <= p.end]
    ids = order[f]
    j = ids.index(f)
    members = [f]
    for step in (1,) if s.reading == "following" else (-1, 1):
        cur = j
        for _ in range(s.context_neighbours):
            nxt = cur + step
            if not 0 <= nxt < len(ids):
                break
            a, b = sorted((ev[ids[cur]], ev[ids[nxt]]), key=lambda e: e.start)
            if b.start - a.end > MAX_GAP:
                break
            members.append(ids[nxt])
            cur = nxt
    return sorted(members, key=lambda i: ev[i].start)


def _heading(e: Evidence) -> str:
    """The section heading above a piece in its passage ("" when the passage holds none), with the title."""
    heads = headings_above(e)
    path = [x for x in (e.passage.title.strip(), heads[-1] if heads else "") if x]
    return " › ".join(dict.fromkeys(path))


def headed(e: Evidence, body: str | None = None) -> str:
    """One piece as the model reads it (or `body`, a window that starts with it): under its title and section
    heading."""
    head, body = _heading(e), e.text if body is None else body
    return f"({head}) {body}" if head else body


def _text(members: list[int], r: Retrieved) -> str:
    return headed(r.evidence[members[0]], " ".join(r.evidence[i].text for i in members))


def read(r: Retrieved, choice: Choice, s: Settings, count: Callable[[str], int] | None = None) -> Reading:
    """The windows the model reads for `choice`, best first (in document order for list questions); `count` gives
    a text's length in the model's tokens (default: estimated from its characters)."""
    count = count or token_counter(None)
    order = _neighbours(r)
    budget = s.context_tokens_many if choice.several else s.context_tokens
    windows: list[list[int]] = []
    focus_of: list[int] = []
    used = 0
    for f in choice.focus:
        if any(f in w for w in windows):
            continue
        members = _window(f, r, order, s)
        for k, w in enumerate(windows):  # a window touching one already chosen joins it
            if set(members) & set(w):
                merged = sorted(set(w) | set(members), key=lambda i: r.evidence[i].start)
                extra = count(_text(merged, r)) - count(_text(w, r))
                if used + extra <= budget:
                    windows[k], used = merged, used + extra
                break
        else:
            size = count(_text(members, r))
            if windows and used + size > budget:
                members, size = [f], count(_text([f], r))
                if used + size > budget:
                    continue
            windows.append(members)
            focus_of.append(f)
            used += size
    if choice.several:  # points in reading order, so the answer follows the documents
        pairs = sorted(zip(windows, focus_of, strict=True),
                       key=lambda p: (r.evidence[p[0][0]].passage.doc_path, r.evidence[p[0][0]].start))
        windows, focus_of = [p[0] for p in pairs], [p[1] for p in pairs]
    scores = np.array(r.scores, dtype=float, copy=True)
    for w, f in zip(windows, focus_of, strict=True):
        for i in w:
            scores[i] = max(scores[i], r.scores[f])
    return Reading([_text(w, r) for w in windows], windows, scores)
