"""Grounding: evidence sentences, support scores, verification, re-citation and extraction.

Small local models invent facts and cite the wrong passage, so nothing they write reaches the user
unchecked. Each answer sentence is scored against every sentence of the retrieved passages
(embedding cosine + content-word overlap, numbers must match); unsupported sentences are dropped,
and each kept sentence is cited to the one passage sentence that supports it best, with exact
document offsets. The same scores pick sentences for the extractive mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .chunking import sentence_spans
from .embedding import Embedder
from .retrieval import Passage
from .store import content_words

# Text in a document that talks to the assistant rather than about the world: never evidence.
_INJECTION = re.compile(
    r"ignore (all |any |the )?(previous|prior|above|earlier)|disregard (all |the )?(previous|prior|above)|"
    r"system prompt|you are now|new instructions|<\|im_(start|end)\||^\s*(system|assistant)\s*:|"
    r"print (the|your) (prompt|instructions)|reveal (the|your) (prompt|instructions)",
    re.IGNORECASE | re.MULTILINE)
_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Talk about the sources instead of about the world: "Based on the passage, ..." is stripped; a sentence
# that is still about "the passage" or "the user" after that is not a claim and is dropped.
_META_PREFIX = re.compile(r"^((answer|response|final answer)\s*:\s*)?((based on|according to|as stated in|"
                          r"as mentioned in|in conclusion|in summary|overall)\b[^,]{0,60},\s*)?", re.IGNORECASE)
_META = re.compile(r"\b(passages?|documents?|provided|the user|the context|the text|the article|the prompt|"
                   r"as an ai|i cannot|i can't|i don't know)\b", re.IGNORECASE)
_MARKUP = re.compile(r"[*_#`>]+|^\s*[-•]\s+|^\s*\d+[.)]\s+", re.MULTILINE)


@dataclass(frozen=True)
class Citation:
    n: int
    doc_path: str
    start: int
    end: int
    quote: str
    score: float  # how well the quote supports the answer sentence, 0..1
    passage: int  # number of the retrieved passage the quote lies in
    title: str = ""
    page: int | None = None


@dataclass(frozen=True)
class Evidence:
    passage: Passage
    start: int  # offsets into the document
    end: int
    text: str


def is_injection(text: str) -> bool:
    return bool(_INJECTION.search(text))


def _stem(w: str) -> str:
    for suffix in ("ies", "es", "s", "ed", "ing", "ly"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def stems(text: str) -> set[str]:
    return {_stem(w) for w in content_words(text)}


def evidence_sentences(passages: list[Passage]) -> list[Evidence]:
    """Sentences of the passages with document offsets; duplicates from overlapping chunks once."""
    seen: set[tuple[str, int]] = set()
    out = []
    for p in passages:
        for s, e in sentence_spans(p.text):
            key = (p.doc_sha256 or p.doc_path, p.start + s)
            text = p.text[s:e]
            if key in seen or is_injection(text) or not content_words(text):
                continue
            seen.add(key)
            out.append(Evidence(p, p.start + s, p.start + e, text))
    return out


def overlap(query: set[str], text_stems: set[str]) -> float:
    return len(query & text_stems) / len(query) if query else 0.0


def support_scores(claim: str, claim_vec: np.ndarray, evidence: list[Evidence], ev_vecs: np.ndarray) -> np.ndarray:
    """How well each evidence sentence supports `claim`, in [0, 1]."""
    cw = stems(claim)
    lex = np.array([overlap(cw, stems(e.text)) for e in evidence])
    cos = np.clip(ev_vecs @ claim_vec, 0.0, 1.0)
    nums = set(_NUMBER.findall(claim))
    ok = np.array([nums <= set(_NUMBER.findall(e.text)) for e in evidence], dtype=float) if nums else 1.0
    return (0.5 * cos + 0.5 * lex) * ok


def answer_scores(question: str, q_vec: np.ndarray, evidence: list[Evidence], ev_vecs: np.ndarray) -> np.ndarray:
    """How likely each evidence sentence answers `question` (extraction and refusal use this)."""
    qs = stems(question)
    lex = np.array([overlap(qs, stems(e.text) | stems(e.passage.title)) for e in evidence])
    cos = ev_vecs @ q_vec
    return 0.6 * cos + 0.4 * lex


def strip_markers(sentence: str) -> str:
    return _MARKER.sub("", sentence).strip()


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


@dataclass(frozen=True)
class Verified:
    text: str
    citations: list[Citation]
    dropped: list[str]


def cite(parts: list[tuple[str, Evidence, float]], page_of=None) -> Verified:
    """Join (sentence, evidence, score) into text with [n] markers numbered by first appearance."""
    numbers: dict[tuple[str, int], int] = {}
    citations: list[Citation] = []
    out = []
    for sentence, ev, score in parts:
        key = (ev.passage.doc_path, ev.start)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            citations.append(Citation(numbers[key], ev.passage.doc_path, ev.start, ev.end, ev.text, round(score, 3),
                                      ev.passage.n, ev.passage.title, page_of(ev) if page_of else None))
        body = sentence.rstrip()
        end = len(body.rstrip(".!?…\"'”’")) if body[-1:] in ".!?…\"'”’" else len(body)
        out.append(f"{body[:end]} [{numbers[key]}]{body[end:]}")
    return Verified(" ".join(out), citations, [])


def claims(answer: str) -> tuple[list[str], list[str]]:
    """Split generated text into claim sentences (markup and "based on the passage" removed) and meta talk."""
    kept, meta = [], []
    for raw in split_sentences(_MARKUP.sub(" ", answer)):
        sentence = " ".join(_META_PREFIX.sub("", strip_markers(raw)).split())
        sentence = sentence[:1].upper() + sentence[1:]
        if not content_words(sentence) or sentence.endswith(":"):
            meta.append(raw) if sentence else None
        elif _META.search(sentence):
            meta.append(sentence)
        else:
            kept.append(sentence)
    return kept, meta


def verify(answer: str, evidence: list[Evidence], ev_vecs: np.ndarray, embedder: Embedder, *,
           min_support: float, min_overlap: float = 0.75, question: str = "", page_of=None) -> Verified:
    """Keep the answer sentences some evidence supports, each cited to its best evidence sentence.

    Supported means: combined score >= `min_support`, and at least `min_overlap` of the words the
    sentence adds to the question found in that one evidence sentence (numbers must all be there).
    A sentence that only restates the question (adds fewer than two words to it) is dropped.
    """
    asked = stems(question)
    sentences, meta = claims(answer)
    if not sentences or not evidence:
        return Verified("", [], sentences + meta)
    vecs = embedder.embed(sentences)
    kept, dropped = [], list(meta)
    for sentence, vec in zip(sentences, vecs, strict=True):
        scores = support_scores(sentence, vec, evidence, ev_vecs)
        best = int(np.argmax(scores))
        novel = stems(sentence) - asked
        supported = overlap(novel, stems(evidence[best].text)) >= min_overlap
        if len(novel) >= 2 and scores[best] >= min_support and supported:
            kept.append((sentence, evidence[best], float(scores[best])))
        else:
            dropped.append(sentence)
    v = cite(kept, page_of)
    return Verified(v.text, v.citations, dropped)
