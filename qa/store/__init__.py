"""Where the index lives, behind one small protocol with two implementations.

    local.py   the default: FAISS + SQLite/FTS5 under `index/`, versioned directories switched atomically
    milvus.py  Milvus (dense vectors and BM25 in one engine): Milvus Lite in a `.db` file, or a server

`Settings.store` chooses (QA_STORE, `--store`, `store=`): empty is the local index in `index_dir`, a
path ending in `.db` is Milvus Lite, `http://…` / `https://…` a Milvus server (token QA_MILVUS_TOKEN).
Readers get a `Reader` from `open_live(settings)`; indexing writes through `indexing`'s writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from .local import (
    FORMAT,
    SCHEMA,
    ChunkRow,
    LiveStores,
    Store,
    current_version,
    file_sha256,
    fsync_dir,
    live,
    publish,
    rrf,
    write_faiss,
)

__all__ = ["FORMAT", "SCHEMA", "ChunkRow", "LiveStores", "Reader", "Store", "current_version", "file_sha256",
           "fsync_dir", "has_index", "kind", "live", "open_live", "publish", "rrf", "write_faiss"]


class Reader(Protocol):
    """What answering needs from a store. Every chunk it returns belongs to a completely indexed document."""

    manifest: dict  # embedder, dim, chunks, documents, index_type, created

    @property
    def version(self) -> str: ...

    def hybrid(self, query_vec: np.ndarray, query: str, depth: int) -> list[tuple[int, float]]:
        """Dense and BM25 results fused by reciprocal rank: (chunk id, fused score), best first."""
        ...

    def chunks(self, ids: list[int]) -> dict[int, ChunkRow]: ...

    def vectors(self, ids: list[int]) -> dict[int, np.ndarray]: ...

    def document_text(self, sha256: str) -> tuple[str, list[int]]: ...

    def document_pages(self, sha256: str) -> tuple[list[int], list[int]]:
        """(page start offsets, 1-based pages read by OCR); both empty for documents without pages."""
        ...

    def documents(self) -> list[dict]: ...


def kind(store: str) -> str:
    """'local', 'milvus-lite' or 'milvus' for a store setting."""
    if not store:
        return "local"
    if store.startswith(("http://", "https://", "tcp://", "unix:")):
        return "milvus"
    if store.endswith(".db"):
        return "milvus-lite"
    from ..errors import InputError

    raise InputError(f"store {store!r} is neither empty (local index), a Milvus Lite file ending in .db, "
                     "nor a Milvus server http(s)://HOST:PORT")



@contextmanager
def open_live(settings) -> Iterator[Reader]:
    """The live store for `settings`: the published local version, or the Milvus collections."""
    if kind(settings.store) == "local":
        with live.using(Path(settings.index_dir), ef_search=settings.hnsw_ef_search) as store:
            yield store
        return
    from .milvus import shared

    yield shared(settings).refreshed()


def has_index(settings) -> bool:
    if kind(settings.store) == "local":
        return current_version(Path(settings.index_dir)) is not None
    from .milvus import shared

    return shared(settings).refreshed().manifest.get("version") is not None
