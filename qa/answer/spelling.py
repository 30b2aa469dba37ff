"""Misspelt question words corrected against the words of the indexed documents, before anything else reads the
question ("whats the maxium lenght of a tabel name" -> "whats the maximum length of a table name").

A word is corrected only when it is not a word of the documents, nor a word the embedder's tokenizer knows whole
(an English word in another form: "extracting" is not "extraction"), nor a contraction ("doesn't"), has at least
four letters, and a document word that is not a stop word, with the same first letter and a length within two, is
close to it (difflib ratio >= 0.8) and is not the same word in another form ("autostart", "extracting", "doesnt"
are left alone); among several, the closest, then the most frequent. Keyword search misses a misspelt word
altogether and the embedder reads it as noise, so a misspelt question otherwise lands on a neighbouring topic.
The vocabulary is read once per index version; an index with more than MAX_CHARS of text is not corrected
(reading it would cost seconds).
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections import Counter
from collections.abc import Container

from ..store import Reader
from ..text import STOP

MAX_CHARS = 50_000_000
MIN_RATIO = 0.8
_WORD = re.compile(r"[^\W\d_]{2,}")
_cache: dict[tuple[int, str], dict[str, Counter]] = {}
_lock = threading.Lock()


def vocabulary(store: Reader) -> dict[str, Counter]:
    """The documents' lowercase words by first letter, with their counts ({} when the index is too large)."""
    key = (id(store), store.version)
    with _lock:
        if key in _cache:
            return _cache[key]
    words: Counter = Counter()
    total = 0
    for d in store.documents():
        text, _ = store.document_text(d["sha256"])
        total += len(text)
        if total > MAX_CHARS:
            words.clear()
            break
        words.update(w.lower() for w in _WORD.findall(text))
    by_letter: dict[str, Counter] = {}
    for w, n in words.items():
        by_letter.setdefault(w[0], Counter())[w] = n
    with _lock:
        if len(_cache) > 8:
            _cache.clear()
        _cache[key] = by_letter
    return by_letter


def _closest(word: str, vocab: dict[str, Counter]) -> str | None:
    pool = [w for w in vocab.get(word[0], ()) if abs(len(w) - len(word)) <= 2]
    scored = [(difflib.SequenceMatcher(None, word, w).ratio(), vocab[word[0]][w], w) for w in pool]
    best = max((s for s in scored if s[0] >= MIN_RATIO), default=None)
    return best[2] if best else None


_ENDING = re.compile(r"(ing|ed|es|s|ion|ions|er|ers|ly|ment|able)$")


def _inflected(word: str, other: str) -> bool:
    """The same word in another form: one a prefix of the other, or a long shared start and a common ending."""
    if word.startswith(other) or other.startswith(word):
        return True
    shared = len(os.path.commonprefix([word, other]))
    return shared >= max(5, min(len(word), len(other)) - 3) and bool(_ENDING.search(word))


def known_words(embedder: object) -> Container[str]:
    """Whole words of the embedder's tokenizer (WordPiece keeps ~20k common English words whole), or none."""
    own = getattr(embedder, "known_words", None)  # an embedder without a WordPiece vocabulary may name its own
    return own if own is not None else \
        getattr(getattr(getattr(embedder, "model", None), "tokenizer", None), "vocab", None) or set()


def correct(question: str, store: Reader, known: Container[str] = frozenset()) -> str:
    """The question with each misspelt word replaced by the closest document word (unchanged when none is)."""
    vocab = vocabulary(store)
    if not vocab:
        return question

    def fix(m: re.Match) -> str:
        word, low = m.group(), m.group().lower()
        if len(low) < 4 or low in STOP or low in vocab.get(low[0], ()) or low in known or \
                question[m.end():m.end() + 1] in "'’" and m.end() < len(question):
            return word
        found = _closest(low, vocab)
        if not found or found in STOP or _inflected(low, found):
            return word
        return found.capitalize() if word[:1].isupper() else found

    return _WORD.sub(fix, question)
