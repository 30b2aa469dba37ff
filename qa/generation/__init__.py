"""Local text generation: the Generator protocol, the runtimes behind it, and the factory.

    models.py        presets in PyPI wheels, hash checks, GGUF -> safetensors -> CTranslate2 conversions
    ctranslate2.py   CTranslate2 int8 (default: 3-4x faster than transformers on a CPU)
    transformers.py  transformers fp32, for model folders CTranslate2 cannot convert

Generation is greedy and streamed. Models come from local files only and load once per process.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..config import RUNTIMES
from ..errors import ModelError
from .models import PRESETS, Preset, installed_presets

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["CHARS_PER_TOKEN", "NOT_FOUND", "PRESETS", "RUNTIMES", "YES_NO", "Generator", "NotFoundProbe", "Preset",
           "get_generator", "installed_presets", "load_generator", "settings_generator", "token_counter", "word_ids",
           "yes_share"]
log = logging.getLogger(__name__)
LOADED: set[str] = set()  # sources loaded in this process (for health reports)
NOT_FOUND = "NOT FOUND"  # what the prompts ask the model to reply when the sources do not answer (`NotFoundProbe`)


@dataclass
class NotFoundProbe:
    """The judge folded into the draft: the probability that the draft's first token starts NOT FOUND, read
    from the same forward pass that writes it; the draft stops there when it is above `stop_above`."""

    stop_above: float
    p: float | None = None  # filled in at the draft's first token

    @property
    def stopped(self) -> bool:
        return self.p is not None and self.p > self.stop_above


class Generator(Protocol):
    name: str

    def stream(self, messages: list[dict[str, str]], *, max_new_tokens: int = 80,
               probe: NotFoundProbe | None = None) -> Iterator[str]:
        """Yield the reply to a chat, piece by piece (a runtime that can read `probe` sets `folds_judge`)."""
        ...

    def p_yes(self, messages: list[dict[str, str]]) -> float:
        """The probability that the reply to a chat starts with "yes" rather than "no" (one forward pass)."""
        ...


YES_NO = (("yes", "Yes", "YES"), ("no", "No", "NO"))


def yes_share(logits: Sequence[float], yes_ids: Sequence[int], no_ids: Sequence[int]) -> float:
    """p(yes) / (p(yes) + p(no)) from next-token logits, each word in its spellings."""
    import numpy as np

    if not yes_ids or not no_ids:
        raise ModelError("the model's vocabulary has no one-token yes and no: it cannot judge")
    lg = np.asarray(logits, dtype=np.float64).ravel()
    y, n = np.logaddexp.reduce(lg[list(yes_ids)]), np.logaddexp.reduce(lg[list(no_ids)])
    return float(1.0 / (1.0 + np.exp(n - y)))


def word_ids(tokenizer, words: Sequence[str]) -> list[int]:
    """The ids of the words that are single tokens of `tokenizer`."""
    ids = [tokenizer.convert_tokens_to_ids(w) for w in words]
    return [i for i in ids if i is not None and i != tokenizer.unk_token_id]


CHARS_PER_TOKEN = 4  # Qwen2.5's tokenizer on the real tuning half's evidence: median 4.05 characters a token


def token_counter(gen: object) -> Callable[[str], int]:
    """How many tokens `gen`'s tokenizer makes of a text; without a tokenizer (no model, a fake) an estimate from
    the text's length."""
    tokenizer = getattr(gen, "tokenizer", None)
    if tokenizer is None:
        return lambda text: -(-len(text) // CHARS_PER_TOKEN)
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


def load_generator(source: str, *, cache_dir: Path, threads: int, runtime: str = "auto",
                   report: Callable[[str], None] | None = None) -> Generator:
    """Load `source` (preset, .gguf file or model folder) on `runtime`, converting it once if needed.

    "auto" tries CTranslate2 and falls back to transformers for architectures it cannot convert.
    """
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    say = report or (lambda msg: log.info("%s: %s", source, msg))
    if runtime in ("auto", "ctranslate2"):
        from .ctranslate2 import CT2Generator

        try:
            return CT2Generator(source, cache_dir=cache_dir, threads=threads, report=say)
        except ModelError as e:
            if runtime == "ctranslate2" or "CTranslate2" not in str(e):
                raise
            log.warning("%s; using transformers instead", e)
    from .transformers import TransformersGenerator

    return TransformersGenerator(source, cache_dir=cache_dir, threads=threads, report=say)


@functools.lru_cache(maxsize=2)
def _cached(source: str, cache_dir: Path, threads: int, runtime: str) -> Generator:
    return load_generator(source, cache_dir=cache_dir, threads=threads, runtime=runtime)


def get_generator(source: str, cache_dir: Path, threads: int, runtime: str = "auto") -> Generator:
    """The generator for `source`, loaded once per process (thread-safe)."""
    from ..embedding import MODEL_LOAD_LOCK

    with MODEL_LOAD_LOCK:
        gen = _cached(source, Path(cache_dir), threads, runtime)
        LOADED.add(source)
        return gen


def settings_generator(s: Settings) -> Generator:
    """The generator the settings name (model, cache, threads, runtime), loaded once per process."""
    return get_generator(s.model, s.cache_dir, s.threads, s.runtime)
