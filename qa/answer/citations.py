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
from typing import NamedTuple

import numpy as np

from ..ingest.chunking import sentence_spans
from ..text import MD_LINK, STOP, content_words, overlap, stem, stems
from .retrieval import Passage

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
_META_SUFFIX = re.compile(r",?\s*(according to|as (stated|mentioned|described) in|in) (the|these|this) "
                          r"(article|passages?|sources?|text|documents?|context)(?=\s*(\[\d+\])?\s*[.!?]?\s*$)",
                          re.IGNORECASE)
_META = re.compile(r"\b(passages?|documents?|provided|the user|the context|the text|the article|the prompt|"
                   r"as an ai|i cannot|i can't|i don't know)\b", re.IGNORECASE)
_SMALL = {"a", "an", "the", "of", "and", "or", "in", "on", "for", "to", "with", "by", "at", "from", "vs"}
_MARKUP = re.compile(r"[*#`>]+|(?<!\w)_+|_+(?!\w)|^\s*[-•]\s+|^\s*\d+[.)]\s+", re.MULTILINE)  # not SQLITE_MAX


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
    ocr: bool = False  # the quote's page is a scan whose text was read by OCR

    @property
    def where(self) -> str:
        """The page as the chat and the CLI name it: "page 3", "page 3 (OCR)", or "" without pages."""
        return f"page {self.page}{' (OCR)' if self.ocr else ''}" if self.page else ""


@dataclass(frozen=True)
class Evidence:
    passage: Passage
    start: int  # offsets into the document
    end: int
    text: str


@dataclass(frozen=True)
class Retrieved:
    """What retrieval hands the answer stages: passages, their evidence sentences, vectors and answer scores."""
    query: str  # the question, or the follow-up joined to the previous question
    passages: list[Passage]
    evidence: list[Evidence]
    ev_vecs: np.ndarray
    scores: np.ndarray  # answer score per evidence sentence


def is_injection(text: str) -> bool:
    return bool(_INJECTION.search(text))


def is_heading(text: str, passage: Passage | None = None) -> bool:
    """A heading or title alone is never an answer: Markdown `#` lines, the document's title, and short
    lines with no sentence punctuation and few lowercase words ("1 Introduction", "Regional Cooperation").
    A table row ("Operating System: HP Unix | Architecture(s): ia64, hppa", cells joined by " | " as the
    parsers write them) is not a heading, however few lowercase words it has."""
    stripped = text.strip()
    if stripped.startswith("#"):
        return True
    if "\n" in stripped or stripped[-1:] in ".!?:;\"'”’)" or " | " in stripped:
        return False  # a sentence, even if a title was taken from it, or a table row
    if passage is not None and stripped == passage.title.strip():
        return True
    words = stripped.split()
    lower = sum(w[:1].islower() for w in words if w.lower() not in _SMALL)
    return len(words) <= 12 and lower <= len(words) // 4


def headings_above(ev: Evidence) -> list[str]:
    """The Markdown headings above an evidence piece in its passage, nearest last ("" for none)."""
    before = ev.passage.text[: max(0, ev.start - ev.passage.start)]
    return [line.strip().strip("# ") for line in before.splitlines() if line.strip().startswith("#")]


def evidence_sentences(passages: list[Passage]) -> list[Evidence]:
    """Sentences of the passages with document offsets; duplicates from overlapping chunks once.

    Instructions aimed at the assistant and headings are never evidence."""
    seen: set[tuple[str, int]] = set()
    out = []
    for p in passages:
        for s, e in _with_lists(p.text, _with_labels(p.text, [_trim(p.text, a, b) for a, b in
                                                              sentence_spans(p.text)])):
            key = (p.doc_sha256 or p.doc_path, p.start + s)
            text = p.text[s:e]
            if key in seen or is_injection(text) or not content_words(text) or is_heading(text, p) or \
                    _is_question(text):
                continue
            seen.add(key)
            out.append(Evidence(p, p.start + s, p.start + e, text))
    return out


_LEAD = re.compile(r"(?:[>*_]+[ \t]*)+")


def _is_question(text: str) -> bool:
    """A question (a FAQ's, or its table of contents' "[How do I…?](#q1)") is never an answer."""
    return MD_LINK.sub(r"\1", text).rstrip("*_ )]").endswith("?")


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    """A span without the Markdown quote and emphasis marks it starts with ("> **Yes.**" -> "Yes.**")."""
    m = _LEAD.match(text, s, e)
    return (m.end(), e) if m and m.end() < e else (s, e)


def _with_labels(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A one- or two-word label sentence ("REAL.") joins the sentence after it in the same paragraph
    ("REAL. The value is a floating point value…"), which is about it."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        s, e = spans[i]
        if i + 1 < len(spans) and len(text[s:e].split()) <= 2 and "\n\n" not in text[e:spans[i + 1][0]]:
            e = spans[i + 1][1]
            i += 1
        out.append((s, e))
        i += 1
    return out


_ITEM = re.compile(r"^\s*([-*•]|\d+[.)])\s+")


_UNFINISHED = re.compile(r"[\w,`'\"*_)\]-]$")  # a sentence cut off by a code block or a line break ("… hold using")
_QA = re.compile(r"\s*Q\s*[:.]"), re.compile(r"\s*A\s*[:.]")
_CODE = re.compile(r"\n(```|~~~|[ \t]{2,}\S|\$ )")  # a fenced or indented code line, a shell prompt


def _with_lists(text: str, spans: list[tuple[int, int]], limit: int = 600) -> list[tuple[int, int]]:
    """A sentence and what completes it are one piece of evidence, so an answer quoting it is not cut where
    the list begins: a sentence that introduces a list ("…running tools like:") and its items; an unfinished
    sentence and the code block or line that finishes it ("you can set a package to hold using" + "apt-mark
    hold package_name"); a FAQ's "Q: …" and its "A: …"."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        s, e = spans[i]
        j = i + 1
        head = text[s:e].rstrip()
        if head.endswith(":"):
            while j < len(spans) and _ITEM.match(text[spans[j][0]:spans[j][1]]) and spans[j][1] - s <= limit:
                e = spans[j][1]
                j += 1
        elif _QA[0].match(head):  # the question, up to and with the first sentence of its answer
            k = j
            while k < min(len(spans), j + 3) and spans[k][1] - s <= limit:
                if _QA[1].match(text[spans[k][0]:spans[k][1]]):
                    e, j = spans[k][1], k + 1
                    break
                k += 1
        elif j < len(spans) and spans[j][1] - s <= limit and _UNFINISHED.search(head) and not is_heading(head) \
                and _CODE.match(text, spans[j][0] - 1):
            e = spans[j][1]
            j += 1
        out.append((s, e))
        i = j
    return out


def support_scores(claim: str, claim_vec: np.ndarray, evidence: list[Evidence], ev_vecs: np.ndarray,
                   question: str = "") -> np.ndarray:
    """How well each evidence sentence supports `claim`, in [0, 1] (0 when a number of the claim that the
    question does not name is missing from the sentence)."""
    nums = set(_NUMBER.findall(claim)) - set(_NUMBER.findall(question))
    ok = np.array([nums <= set(_NUMBER.findall(e.text)) for e in evidence], dtype=float) if nums else 1.0
    return _similarity(claim, claim_vec, evidence, ev_vecs) * ok


def _similarity(claim: str, claim_vec: np.ndarray, evidence: list[Evidence], ev_vecs: np.ndarray) -> np.ndarray:
    cw = stems(claim)
    lex = np.array([overlap(cw, stems(e.text)) for e in evidence])
    return 0.5 * np.clip(ev_vecs @ claim_vec, 0.0, 1.0) + 0.5 * lex


def nearest_evidence(claim: str, claim_vec: np.ndarray, evidence: list[Evidence], ev_vecs: np.ndarray) -> int:
    """The evidence sentence a claim that failed verification was most likely written from: the most similar
    one, the share of the claim's numbers it holds adding up to 0.25 ("… for Q3 2007 was US$6.22 billion" is
    closest to "… reached US$6.22 billion in the third quarter", though "3" and "2007" are not there)."""
    nums = set(_NUMBER.findall(claim))
    shared = np.array([len(nums & set(_NUMBER.findall(e.text))) / max(1, len(nums)) for e in evidence])
    return int(np.argmax(_similarity(claim, claim_vec, evidence, ev_vecs) + 0.25 * shared))


def ranked(scores: np.ndarray) -> list[int]:
    """Evidence indices, best score first (ties in evidence order, so the same scores always rank the same)."""
    return [int(i) for i in np.argsort(-np.asarray(scores), kind="stable")]


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
    """Join (sentence, evidence, score) into text with [n] markers numbered by first appearance.
    `page_of(evidence)` gives (page, read by OCR) for documents with pages."""
    numbers: dict[tuple[str, int], int] = {}
    citations: list[Citation] = []
    out = []
    for sentence, ev, score in parts:
        key = (ev.passage.doc_path, ev.start)
        if key not in numbers:
            numbers[key] = len(numbers) + 1
            page, ocr = page_of(ev) if page_of else (None, False)
            citations.append(Citation(numbers[key], ev.passage.doc_path, ev.start, ev.end, ev.text, round(score, 3),
                                      ev.passage.n, ev.passage.title, page, ocr))
        body = sentence.rstrip()
        end = len(body.rstrip(".!?…\"'”’")) if body[-1:] in ".!?…\"'”’" else len(body)
        out.append(f"{body[:end]} [{numbers[key]}]{body[end:]}")
    return Verified(" ".join(out), citations, [])


def claims(answer: str) -> tuple[list[str], list[str]]:
    """Split generated text into claim sentences (markup and "based on the passage" removed) and meta talk."""
    kept, meta = [], []
    for raw in split_sentences(_MARKUP.sub(" ", answer)):
        sentence = " ".join(_META_SUFFIX.sub("", _META_PREFIX.sub("", strip_markers(raw))).split())
        sentence = sentence[:1].upper() + sentence[1:]
        if not content_words(sentence) or sentence.endswith(":"):
            meta.append(raw) if sentence else None
        elif _META.search(sentence):
            meta.append(sentence)
        else:
            kept.append(sentence)
    return kept, meta


_NEGATION = re.compile(r"\b(not|no|never|none|neither|nor|without|cannot|nothing|nobody)\b|n[’']t\b", re.IGNORECASE)
_CAPITAL = re.compile(r"\b[A-Z][\w’'-]*")
_OPENERS = {"however", "moreover", "additionally", "furthermore", "also", "together", "overall", "finally",
            "first", "second", "third", "instead", "meanwhile", "yes", "no", "here", "there", "yet", "thus"}
_POSSESSIVE = re.compile(r"[’']s?$")
_NOT_ONLY = re.compile(r"\bnot only\b|\bno longer\b|\bnot just\b", re.IGNORECASE)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]*")
_NUMBER_WORD = re.compile(r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
                          r"fifty|hundred|thousand|million|billion|first|second|third|fourth|fifth|sixth|last|"
                          r"january|february|march|april|may|june|july|august|september|october|november|"
                          r"december)\b", re.IGNORECASE)


def _names(text: str, *, first: bool = False) -> list[str]:
    """Capitalised words after the first (or with it), lowercased; hyphenated names in parts ("China-Central")."""
    found = (_CAPITAL if first else _NAME).finditer(text.strip())
    return [part for m in found for part in re.split(r"[-‐–]", _POSSESSIVE.sub("", m.group().lower()))
            if part and part not in STOP]


def _negated_words(text: str) -> list[str]:
    """The content word each negation applies to ("does not engage in" -> "engage"), "" if none follows."""
    text = _NOT_ONLY.sub(" ", text)
    out = []
    for m in _NEGATION.finditer(text):
        after = [w for w in re.findall(r"\w+", text[m.end():m.end() + 60].lower()) if w not in STOP][:1]
        out.append(stem(after[0]) if after else "")
    return out


def _negations_match(claim: str, evidence: str, question: str = "") -> bool:
    """Every negation of the claim is one the evidence makes too, about the same word, and no more of them. A
    pronoun the question holds is not the claim's negation ("the uid of nobody is 65534": a user named nobody)."""
    asked = {m.group().lower() for m in _NEGATION.finditer(question)} & {"nobody", "nothing", "none", "neither"}
    said = [w for m, w in zip(_NEGATION.finditer(_NOT_ONLY.sub(" ", claim)), _negated_words(claim), strict=True)
            if m.group().lower() not in asked]
    found = _negated_words(evidence)
    return len(said) <= len(found) and all(w in found for w in said)


def _opening_name(text: str) -> list[str]:
    """The first word when it is capitalised and not a common opener ("Peru also offers…" names Peru)."""
    m = re.match(r"\s*([A-Z][\w’'-]*)", text)
    word = _POSSESSIVE.sub("", m.group(1).lower()) if m else ""
    return [word] if word and word not in STOP and word not in _OPENERS else []


def missing_fact(claim: str, evidence: str, question: str = "", context: str = "", passage: str = "") -> str:
    """A fact of `claim` that `evidence` does not state ("" when there is none).

    Facts are numbers, number and month words, names (capitalised words after the first) that the
    question does not already hold, and negation: a claim that says "not" where the evidence does
    not states the opposite (the reverse is allowed: a claim may leave out a clause of the evidence).
    Two names the evidence also holds must come in its order
    ("China supports Central Asia" is not "Central Asia supports China"). A name may also come from
    `context`, the text just before the evidence ("The Syr Darya rises… It also feeds the Aral Sea."), and a
    number the question names from anywhere in the `passage`.
    """
    ev_lower = evidence.lower()
    ev_words = set(re.findall(r"\w+", ev_lower)) | stems(evidence)
    asked = set(re.findall(r"\w+", question.lower()))
    asked_numbers = set(_NUMBER.findall(question))
    for n in _NUMBER.findall(claim):
        if n not in _NUMBER.findall(evidence) and not (n in asked_numbers and n in _NUMBER.findall(passage)):
            return n
    for w in (m.lower() for m in _NUMBER_WORD.findall(claim)):
        if w not in ev_words:
            return w
    # a name the question holds, or one it shortens ("PostgreSQL" for "postgres"), is not the claim's own
    names = [w for w in _names(claim) + _opening_name(claim)
             if w not in asked and not _extends(w, asked)]
    around = f"{context} {evidence}".lower()
    for w in names:
        if w not in ev_words and stem(w) not in ev_words and not re.search(rf"\b{re.escape(w)}", around):
            return w
    if not _negations_match(claim, evidence, question):  # the claim denies what the evidence states
        return "negation"
    # names said once in both (a word like "server" in "client/server … SQL Server" says nothing about order)
    # (and written with a capital there too: "Since … SQLite" has no order against "SQLite since …")
    said = _names(claim, first=True)
    capitals = set(_names(evidence, first=True))
    both = [w for w in dict.fromkeys(said)
            if said.count(w) == 1 and w in capitals and len(re.findall(rf"\b{re.escape(w)}\b", ev_lower)) == 1]
    where = [m.start() if (m := re.search(rf"\b{re.escape(w)}\b", ev_lower)) else -1 for w in both]
    if any(a > b for a, b in zip(where, where[1:], strict=False) if a >= 0 and b >= 0):
        return "order of " + ", ".join(both)
    return ""


# Words a question uses to frame what it asks for, which an answer may repeat though the source does not
# ("The Russian term for prime minister is…", "IPA stands for…").
FRAMING = {stem(w) for w in """term name named call called known type kind sort example percentage proportion number
amount year date way reason word phrase stand stands mean means meaning refer refers nickname title describe
described consider considered""".split()}


# Verbs a paraphrase adds without adding a fact ("you need to use two single quotes").
GENERIC = {stem(w) for w in "need needs use uses using used make makes made get gets allow allows command commands "
           "option options flag flags argument arguments parameter parameters script run runs".split()}


# A claim may always repeat one question word its passage lacks ("The Canadian Forces were involved in the Korean
# War" for "…were the Canadian Forces involved in?"): on SQuAD 2.0 dev +0.9 points of accuracy, no change on the
# seed set or in refusals, and the mutation set is still rejected 100%. Not a name the claim spells with a capital
# ("The six nations signed a treaty with Kazakhstan" from a passage that never names Kazakhstan): that moves the
# question's subject onto a sentence about something else (tuning halves, 2026-12-02: SQuAD refused 39.2 -> 41.3%,
# right 77.2 -> 78.1%; ru/zh near misses refused 71.4 -> 78.6%; real and seed unchanged).
FREE_ECHOES = 1


def _echoes_allowed(echoed: set[str], claim: str, novel: set[str]) -> bool:
    """May a claim repeat these question words (`echoed`) that its passage lacks? One, or one for every two words it
    adds (`novel`), so long as none is a name the claim capitalises."""
    if echoed & {stem(w) for w in _names(claim, first=True)}:
        return False
    return len(echoed) <= max(FREE_ECHOES, len(novel) // 2)


def _extends(word: str, asked: set[str]) -> bool:
    """`word` lengthens a question word of five letters or more ("postgresql" for "postgres")."""
    return any(len(a) >= 5 and word.startswith(a) for a in asked)


def _unseen(words: set[str], seen: set[str]) -> set[str]:
    """`words` not in `seen`, allowing a shared 5-letter stem ("partnering" ~ "partnership")."""
    def prefix(w: str) -> str:
        return w[:5] if len(w) >= 6 else w[: max(2, len(w) - 1)]

    return {w for w in words - seen if not any(s.startswith(prefix(w)) for s in seen)}


class Support(NamedTuple):
    """What verification found for a claim: the evidence sentence (index) that supports it, how well, and whether
    it `leans` on a free echo (repeats a question word its passage lacks): then its words are checked, but not that
    its passage says what the claim says with them, and the model judges that (`pipeline.Run.judge_claim`)."""

    index: int
    support: float
    leans: bool = False


def check_claim(sentence: str, vec: np.ndarray, evidence: list[Evidence], ev_vecs: np.ndarray, *,
                min_support: float, min_overlap: float, question: str = "") -> Support | None:
    """The `Support` of the evidence sentence that supports `sentence`, or None when none does.

    Supported means: combined score >= `min_support`; at least `min_overlap` of the words the
    sentence adds to the question found in that one evidence sentence; no fact of the sentence
    missing from it (`missing_fact`); every word it repeats from the question found in its passage, but one (a
    free echo, `_echoes_allowed`: then the `Support` `leans`). A
    sentence that only restates the question (adds no content word to it) is not a claim. The three
    best-scoring sentences are tried in turn.
    """
    asked = stems(question)
    # words the question holds, or extends ("postgresql" for "postgres"), are not what the claim adds
    novel = {w for w in stems(sentence) - asked - GENERIC if not _extends(w, asked)}
    if not novel or not evidence:
        return None
    scores = support_scores(sentence, vec, evidence, ev_vecs, question)
    claim = stems(sentence)
    for best in ranked(scores)[:3]:
        ev = evidence[best]
        context = ev.passage.text[max(0, ev.start - ev.passage.start - 300): ev.start - ev.passage.start]
        have = stems(ev.text) | {stem(w) for w in _names(context, first=True)}  # "It …" names what came before
        support = max(float(scores[best]), float(scores[best]) + 0.5 * (overlap(claim, have) -
                                                                         overlap(claim, stems(ev.text))))
        # words the claim takes from the question should be in the passage: "The French took control of the
        # region … in 1880" for "when did the French take control of the region?" is not supported by "The
        # area came under French sovereignty in 1880" (a claim may repeat one such word for every two new
        # words it adds, and one in any case).
        echoed = _unseen(claim & stems(question) - FRAMING, stems(ev.passage.text) | stems(ev.passage.title))
        if support >= min_support and overlap(novel, have) >= min_overlap and \
                _echoes_allowed(echoed, sentence, novel) and \
                not missing_fact(sentence, ev.text, question, context, ev.passage.text):
            return Support(best, min(1.0, support), bool(echoed))
    return None
