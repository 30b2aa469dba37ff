"""The store interface: what answering reads (`Reader`), what indexing writes (`Writer`), and the one way in.

    open_reader(settings)      the live store `settings.store` names (a context manager yielding a Reader)
    open_writer(settings)      one build of that store (a context manager yielding a Writer)
    has_index(settings)        whether it holds a published version
    scratch(settings, folder)  settings for a throwaway store of the same kind, or None (`qa eval --corpus`)

Each backend module registers itself at import, once per kind of `config.STORE_KINDS`; the kind is read
from the setting's form by `config.store_kind`, so no caller matches store names. Also here: the types both
backends share, `ChunkRow` and reciprocal-rank fusion, a document's id and its stored `pages` field (what both
flows read: indexing writes it, answering turns an offset into a page). Nothing here opens a file or a connection.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..config import STORE_KINDS, store_kind

if TYPE_CHECKING:
    from ..config import Settings


@dataclass(frozen=True)
class ChunkRow:
    id: int
    sha256: str
    start: int
    end: int
    title: str
    text: str
    path: str


def pages_json(pages: Sequence[int], ocr_pages: Sequence[int]) -> str:
    """What the stores keep in their `pages` field: the page starts as a JSON list, as before OCR, or with
    OCR'd pages `{"starts": [...], "ocr": [...]}`, so every existing index reads as it did."""
    if not ocr_pages:
        return json.dumps(list(pages))
    return json.dumps({"starts": list(pages), "ocr": list(ocr_pages)})


def pages_from_json(raw: str | None) -> tuple[list[int], list[int]]:
    """(page starts, 1-based OCR'd pages) from a stored `pages` field."""
    value = json.loads(raw or "[]")
    if isinstance(value, dict):
        return list(value.get("starts", [])), list(value.get("ocr", []))
    return list(value), []


def page_at(pages: tuple[int, ...] | list[int], offset: int) -> int | None:
    """1-based page whose start offset is the last one at or before `offset`; None without pages."""
    return sum(1 for start in pages if start <= offset) or None


def doc_id(path: str) -> str:
    """A document's id: stable across rebuilds, short enough for a URL (a hash of its path)."""
    return hashlib.sha256(path.encode()).hexdigest()[:16]


RRF_K = 60


def rrf(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    """Reciprocal-rank fusion of several rankings of ids: id -> sum of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank + 1)
    return fused


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


class Writer(Protocol):
    """One build of a store: the indexing run (`qa.ingest.indexing`) records files and writes documents through it,
    then `settle`s and `publish`es; until then readers see the previous version."""

    previous: dict | None  # the live manifest (with "version"), None for a first build

    def prev(self, path: str) -> tuple[str, int, int] | None: ...
    def paths(self) -> set[str]: ...
    def known(self, sha: str) -> bool: ...
    def put_file(self, path: str, sha: str, size: int, mtime_ns: int) -> None: ...
    def drop_file(self, path: str) -> None: ...
    def write(self, docs: list, vectors: np.ndarray, now: float) -> None: ...
    def settle(self) -> int: ...
    def counts(self) -> tuple[int, int]: ...
    def publish(self, manifest: dict, *, approx: bool) -> tuple[str, int, str]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Backend:
    """One store implementation, as the factories the functions below dispatch to."""

    reader: Callable[[Settings], AbstractContextManager[Reader]]
    # errors: a list the build may add one-line notes to (they end up in IndexStats.errors)
    writer: Callable[[Settings, list[str]], AbstractContextManager[Writer]]
    has_index: Callable[[Settings], bool]
    scratch: Callable[[Settings, Path], Settings] | None = None  # None: no throwaway store of this kind


BACKENDS: dict[str, Backend] = {}


def register(kind: str, backend: Backend) -> None:
    """Make `backend` the one that opens stores of `kind` (a key of `config.STORE_KINDS`)."""
    if kind not in STORE_KINDS:
        raise ValueError(f"unknown store kind {kind!r}; the kinds are {', '.join(STORE_KINDS)}")
    BACKENDS[kind] = backend


def backend(settings: Settings) -> Backend:
    kind = store_kind(settings.store)
    try:
        return BACKENDS[kind]
    except KeyError:  # only when a backend module was not imported: qa.store imports them all
        raise LookupError(f"no store backend registered for {kind!r}") from None


def open_reader(settings: Settings) -> AbstractContextManager[Reader]:
    """The live store for `settings`: the published local version, or the Milvus collections."""
    return backend(settings).reader(settings)


def open_writer(settings: Settings, *, errors: list[str] | None = None) -> AbstractContextManager[Writer]:
    """One build of the store for `settings`, published by `Writer.publish`; one writer at a time per store."""
    return backend(settings).writer(settings, [] if errors is None else errors)


def has_index(settings: Settings) -> bool:
    return backend(settings).has_index(settings)


def scratch(settings: Settings, folder: Path) -> Settings | None:
    """`settings` pointed at a new, empty store of the same kind inside `folder`; None when the kind has none
    (a Milvus server: its collections would be overwritten)."""
    make = backend(settings).scratch
    return None if make is None else make(settings, Path(folder))
