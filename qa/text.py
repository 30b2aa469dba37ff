"""Word helpers shared by retrieval, verification and the answer rules: content words, stems, overlap.

English-only and deliberately crude: a stop list and a suffix stripper are enough to compare a
claim with a sentence; nothing here loads a model.
"""

from __future__ import annotations

import re

STOP = set("""a an the of in on at to for from by with and or not is are was were be been being do does did
what which who whom whose when where why how that this these those it its as into than then there their they
he she his her him them we you your our i me my can could would should will shall may might must has have had
about after before during over under up down out if so such no yes all any some each other more most many much
very also just only own same both few nor too s t""".split())
_WORD = re.compile(r"\w+")
MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # a Markdown link or image: group 1 is its text


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOP]


def stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ed", "ing", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


def overlap(query: set[str], text_stems: set[str]) -> float:
    """Share of `query` found in `text_stems` (0 for an empty query)."""
    return len(query & text_stems) / len(query) if query else 0.0
