"""Answer-type checks used for refusal: does a sentence hold the kind of thing the question asks for?

"When…" wants a date, "How many…" a number, "Who…" a name. A sentence that repeats the question's
words but holds no such thing (beyond what the question already says) does not answer it. Rule
based and English-only; the thresholds that combine it with similarity are in Settings.
"""

from __future__ import annotations

import re

from .store import content_words

_NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen fifteen twenty thirty "
                 "forty fifty sixty hundred hundreds thousand thousands million millions billion billions dozen "
                 "dozens half quarter first second third fourth fifth several").split()
_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_Q_NUMBER = re.compile(r"\bhow (many|much|long|far|old|large|big|tall|high|often|fast|deep|wide|heavy)\b|"
                       r"\bwhat (percentage|percent|number|proportion|amount|fraction|size|age|rank)\b|"
                       r"\b(population|cost|price|revenue|budget)\b.*\?", re.IGNORECASE)
_Q_DATE = re.compile(r"^\s*when\b|\b(what|which|in what|in which) (year|years|date|day|month|century|decade|"
                     r"era|period|time)\b|\bwhen (did|was|were|is|does|do|will)\b", re.IGNORECASE)
_Q_NAME = re.compile(r"^\s*(who|whom|whose)\b|\b(who|whom|whose) (is|was|were|did|does|had|has)\b|"
                     r"^\s*where\b|\b(what|which|in what|in which) (city|country|town|state|company|"
                     r"organization|person|team|university|river|province|region|nation|language)\b",
                     re.IGNORECASE)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_DIGIT = re.compile(r"\d")
_CAP = re.compile(r"\b[A-Z][\w'’-]*")


def expected_type(question: str) -> str | None:
    if _Q_DATE.search(question):
        return "date"
    if _Q_NUMBER.search(question):
        return "number"
    if _Q_NAME.search(question):
        return "name"
    return None


def _new_words(text: str, question: str) -> list[str]:
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    return [w for w in re.findall(r"[\w'’.,-]+", text) if w.lower().strip(".,") not in asked]


def holds_type(sentence: str, question: str, kind: str | None) -> bool:
    """True when `sentence` contains an answer of `kind` that the question does not already contain."""
    if kind is None:
        return True
    new = _new_words(sentence, question)
    lowered = [w.lower().strip(".,") for w in new]
    if kind == "number":
        return any(_DIGIT.search(w) for w in new) or any(w in _NUMBER_WORDS for w in lowered)
    if kind == "date":
        return any(_YEAR.search(w) for w in new) or any(w in _MONTHS for w in lowered) or \
            any(w in ("century", "decade", "centuries", "today", "yesterday") for w in lowered)
    # name: a capitalised word that is not the sentence's first word and not in the question
    first = sentence.split(maxsplit=1)[0] if sentence.split() else ""
    return any(_CAP.fullmatch(w.strip(".,")) and w != first for w in new)


_ORDINAL_OR_NUMBER = re.compile(r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|"
                                r"\d[\d,.]*\d|\d)\b", re.IGNORECASE)


def missing_numbers(question: str, text: str) -> list[str]:
    """Numbers and ordinals of the question that `text` never mentions ("the first summit" vs "second")."""
    lowered = text.lower()
    return [m for m in dict.fromkeys(x.lower() for x in _ORDINAL_OR_NUMBER.findall(question))
            if not re.search(rf"\b{re.escape(m)}\b", lowered)]


def coverage(question: str, text: str) -> float:
    """Share of the question's content words (crudely stemmed) found in `text`."""
    from .citations import stems

    asked = stems(question)
    return len(asked & stems(text)) / len(asked) if asked else 1.0


def key_words_missing(question: str, text: str) -> list[str]:
    from .citations import stems

    have = stems(text)
    return [w for w in content_words(question) if w not in have and len(w) > 2]
