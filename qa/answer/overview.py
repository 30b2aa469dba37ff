"""Overview questions ("what is this about?", "summarize the article", "key points?") answered from a document's
structure instead of from the passages nearest the question's words.

    is_overview   the question is close (embedding cosine) to one of a few plain overview requests, in any wording
    scope         which document (the one asked about, the `doc` filter, the only one, or the one whose title the
                  question names) and which section of it, if the question names one
    outline       the document's title, its top-level sections and each section's lead sentence (the first sentence
                  under its heading); a document without headings is cut into equal parts
    -> the model writes a few sentences from the numbered lead sentences; each is verified and cited like any
       answer (`verification`). When nothing it writes passes, the lead sentences themselves are quoted.

An overview is never refused while the document has text. With several documents and no document named, the
answer is one lead sentence per document.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from ..embedding import Embedder, embed_query
from ..store import Reader
from ..text import content_words, stems
from .citations import Evidence, evidence_sentences, headings_above
from .retrieval import Passage, named_documents

PROTOTYPES = ["What is this document about?", "Summarize the document.", "Give me an overview of the text.",
              "What are the key points of this article?", "What are the main topics covered?",
              "What does this file cover?", "TL;DR of the report", "Can you give me a summary?"]
# Words that frame an overview request rather than name its subject ("summarize the section on cron": "cron").
FRAME = {w for w in stems(" ".join(PROTOTYPES + [
    "about overview summary summarise summarize summarizing brief briefly key main points topics cover covers "
    "covered document documents article articles text file files report paper page guide manual chapter section "
    "describe describes explain explains tell give short quick gist outline highlight highlights idea ideas "
    "important this that whole entire please me us can could you what is are does do the a an of in on"]))}
MAX_SECTIONS = 8


@dataclass(frozen=True)
class Scope:
    sha: str
    path: str
    title: str
    text: str
    section: str  # the heading of the section asked about, "" for the whole document


@functools.lru_cache(maxsize=4)
def _prototype_vecs(emb: Embedder) -> np.ndarray:
    return embed_query(emb, PROTOTYPES)  # requests, compared with a request: both embedded as questions


def overview_score(q_vec: np.ndarray, emb: Embedder) -> float:
    """How close the question is to a plain overview request (max cosine to the prototypes)."""
    return float(np.max(_prototype_vecs(emb) @ q_vec))


# Words that ask for an overview; with one of them a question need only be loosely like a prototype.
CUES = re.compile(r"\b(about|summar\w*|overview|gist|key points?|main (points?|topics?|ideas?)|topics|cover(s|ed)?|"
                  r"outline|highlights?|recap|tl;?dr)\b", re.IGNORECASE)


def is_overview(question: str, q_vec: np.ndarray, emb: Embedder, threshold: float) -> bool:
    """An overview request: naming at most three subject words (a document or a section, so "what are the main
    areas of cooperation between China and Central Asia?" is a list question), and either close to a prototype
    (cosine >= threshold) or, naming at most two, loosely close (>= 0.4 of it) with a word that asks for one."""
    subject = len(stems(question) - FRAME)
    if threshold <= 0 or subject > 3:
        return False
    score = overview_score(q_vec, emb)
    return score >= threshold or subject <= 2 and bool(CUES.search(question)) and score >= threshold * 0.4


def names_its_subject(question: str, store: Reader) -> bool:
    """The question's subject words (if any) name a document or a section: "summarize the zlib FAQ" does,
    "explain everything about the treaty" (a topic, for retrieval) does not."""
    subject = _words(question)
    if not subject:
        return True
    for d in store.documents():
        names = _words(f"{d['title']} {d['path'].rsplit('/', 1)[-1]}")
        if len(subject & names) * 2 >= len(subject):
            return True
        text, _ = store.document_text(d["sha256"])
        if _section_named(text, subject):
            return True
    return False


def _words(text: str) -> set[str]:
    return stems(text) - FRAME


def scope(question: str, store: Reader, doc: str = "") -> list[Scope]:
    """The document(s) the overview is about: `doc` (a path, file name or id prefix), the one whose title or
    file name shares the most of the question's subject words, the only one, else every document."""
    docs = named_documents(store, doc) if doc else store.documents()
    subject = _words(question)
    named = []
    if subject and len(docs) > 1:
        best = max(len(subject & _words(f"{d['title']} {d['path'].rsplit('/', 1)[-1]}")) for d in docs)
        named = [d for d in docs if best and len(subject & _words(f"{d['title']} {d['path'].rsplit('/', 1)[-1]}"))
                 == best]
    chosen = named[:1] or (docs if len(docs) > 1 else docs[:1])
    out = []
    for d in chosen[:MAX_SECTIONS]:
        text, _ = store.document_text(d["sha256"])
        section = _section_named(text, subject) if len(chosen) == 1 else ""
        out.append(Scope(d["sha256"], d["path"], d["title"], text, section))
    return out


_HEADING = re.compile(r"(?m)^(#{1,6})[ \t]+(.+?)[ \t]*$")


def _section_named(text: str, subject: set[str]) -> str:
    """The heading that holds most of the subject words (at least half of them), else ""."""
    best, heading = 0, ""
    for m in _HEADING.finditer(text):
        n = len(subject & stems(m.group(2)))
        if n > best:
            best, heading = n, m.group(2)
    return heading if subject and best * 2 >= len(subject) else ""


def sections(text: str, section: str = "") -> list[tuple[str, int, int]]:
    """(heading, start, end) of the top-level sections (or of the subsections of `section`): the shallowest
    heading level that occurs at least twice; without headings, up to MAX_SECTIONS equal parts."""
    heads = [(len(m.group(1)), m.group(2), m.start(), m.end()) for m in _HEADING.finditer(text)]
    lo, hi = 0, len(text)
    if section:
        for k, (level, name, start, _) in enumerate(heads):
            if name == section:
                lo = start
                hi = next((s for lv, _, s, _ in heads[k + 1:] if lv <= level), len(text))
                heads = [h for h in heads[k + 1:] if h[2] < hi]
                break
    levels = sorted({h[0] for h in heads})
    top = next((lv for lv in levels if sum(h[0] == lv for h in heads) >= 2), None)
    if top is None:  # paragraphs, evenly chosen
        starts = [lo] + [m.end() for m in re.finditer(r"\n[ \t]*\n", text[lo:hi])]
        starts = sorted({lo + s if s != lo else lo for s in starts[1:]} | {lo})
        if len(starts) > MAX_SECTIONS:
            starts = [starts[round(i * (len(starts) - 1) / (MAX_SECTIONS - 1))] for i in range(MAX_SECTIONS)]
        return [("", s, e) for s, e in zip(starts, [*starts[1:], hi], strict=True)]
    tops = [h for h in heads if h[0] == top]
    out = [("", lo, tops[0][2])] if tops[0][2] - lo > 200 else []  # text before the first heading (an abstract)
    for k, (_, name, start, _end) in enumerate(tops):  # the heading line included: it labels the section
        out.append((name, start, tops[k + 1][2] if k + 1 < len(tops) else hi))
    return out


def outline(sc: Scope, *, n: int = 0) -> list[Evidence]:
    """The lead sentence of each section (first evidence sentence under its heading), evenly chosen when there
    are more than MAX_SECTIONS sections (or `n`)."""
    leads = []
    for _heading, start, end in sections(sc.text, sc.section):
        body = sc.text[start:end]
        p = Passage(len(leads) + 1, -1, sc.path, sc.title, start, end, body, 0.0, 0.0, sc.sha)
        lead = next((e for e in evidence_sentences([p]) if len(content_words(e.text)) >= 4), None)
        if lead is not None:
            leads.append(Evidence(p, lead.start, lead.end, lead.text))
    limit = n or MAX_SECTIONS
    if len(leads) > limit:
        leads = [leads[round(i * (len(leads) - 1) / (limit - 1))] for i in range(limit)] if limit > 1 else leads[:1]
    return leads


def label(e: Evidence) -> str:
    """The section heading above a lead sentence, or its document's title."""
    heads = headings_above(e)
    return heads[-1] if heads else e.passage.title


def coverage(cited_starts: list[int], text: str) -> float:
    """The share of the document's top-level sections that an answer's citations fall into."""
    parts = sections(text)
    touched = {k for k, (_, s, e) in enumerate(parts) for c in cited_starts if s <= c < e}
    return len(touched) / len(parts) if parts else 0.0
