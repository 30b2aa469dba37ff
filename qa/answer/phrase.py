"""The phrase of a quoted sentence that answers: the model points to it, the code checks and completes it.

Used when a draft failed verification and a sentence is quoted (`QA_ANSWER_PHRASE`, off by default): the model reads
that sentence alone and copies the shortest phrase that answers; the phrase is kept only if it is in the sentence word
for word and adds a word to the question, widened to what completes it (a currency and scale, the names before it).
"""

from __future__ import annotations

import logging
import re
import time

from ..config import Settings
from ..errors import QAError
from ..generation import Generator
from ..text import STOP, stems
from .prompting import build_span_messages, is_not_found
from .verification import Part

log = logging.getLogger(__name__)


def narrow(question: str, parts: list[Part], gen: Generator | None, s: Settings,
           timings: dict[str, float]) -> list[Part]:
    """A one-sentence quote cut to the phrase of it that answers, when the model can point to one.

    The model reads the quoted sentence alone and copies the shortest phrase that answers ("Capricorn
    Technologies" from "The data is stored on PetaBox rack systems manufactured by Capricorn Technologies."). The
    phrase is used only if it is in the sentence word for word and adds a word to the question; it is cited to the
    whole sentence, so the citation still shows where it stands. Anything else keeps the whole sentence."""
    if len(parts) != 1 or gen is None or not s.answer_phrase:
        return parts
    sentence, ev, score = parts[0]
    t = time.perf_counter()
    try:
        reply = "".join(gen.stream(build_span_messages(question, sentence), max_new_tokens=s.max_new_tokens_phrase))
    except QAError as e:
        log.warning("the model could not narrow the quote, quoting the sentence: %s", e)
        return parts
    finally:
        timings["narrow"] = time.perf_counter() - t
    phrase = " ".join(reply.strip().strip("\"'“”‘’`").rstrip(".").split())
    if not phrase or is_not_found(phrase) or not stems(phrase) - stems(question):
        return parts
    m = re.search(r"(?<!\w)" + r"\s+".join(map(re.escape, phrase.split())) + r"(?!\w)", sentence, re.IGNORECASE)
    if not m or len(phrase.split()) >= len(sentence.split()):
        return parts
    found = _widen(sentence, *m.span())
    return [(found[:1].upper() + found[1:], ev, score)]


_NUMERIC = re.compile(r"[\d.,]+")
_BEFORE_AMOUNT = re.compile(r"(?:\b[A-Z]{0,3}[$€£¥]|[$€£¥])?$")
_AFTER_AMOUNT = re.compile(r"(?:\s?%|\s(?:thousand|million|billion|trillion|percent|per cent)\b)?", re.IGNORECASE)
_WORD_BEFORE = re.compile(r"([\w’'-]+)\s+$")
# a name ("Soviet", "Edna Ferber's") or an adjective by its ending ("multinational", "sentimental"), not a verb
_MODIFIER = re.compile(r"[A-Z][\w’'-]*|[a-z-]+(al|ic|ive|ous|ful|ary|ian|ern|ish|ese|ar|less|able|ible)")
_OF_NAME = re.compile(r"(?:\s+of\s+(?:\d[\d,.]*\b|[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*))?")  # "Constitution of 1936"
_QUOTES = {'"': '"', "“": "”", "'": "'", "‘": "’"}


def _widen(sentence: str, start: int, end: int) -> str:
    """The phrase at [start, end) with what completes it: the currency and scale of a bare amount ("US$6.22
    billion", not "6.22"), up to three names or adjectives before it ("multinational corporations", not
    "corporations") and a name or year after "of" ("the Soviet Constitution of 1936"), the quotes around it and
    an article before it."""
    if _NUMERIC.fullmatch(sentence[start:end]):
        start -= len(_BEFORE_AMOUNT.search(sentence[:start]).group())
        end += len(_AFTER_AMOUNT.match(sentence[end:]).group())
    else:
        for _ in range(3):
            m = _WORD_BEFORE.search(sentence[:start])
            if not m or m.group(1).lower() in STOP or not _MODIFIER.fullmatch(m.group(1)):
                break
            start = m.start()
        end += len(_OF_NAME.match(sentence[end:]).group())
    if start and sentence[start - 1] in _QUOTES and sentence[end:end + 1] == _QUOTES[sentence[start - 1]]:
        start, end = start - 1, end + 1
    if (m := _WORD_BEFORE.search(sentence[:start])) and m.group(1).lower() in ("the", "a", "an"):
        start = m.start()
    return sentence[start:end]
