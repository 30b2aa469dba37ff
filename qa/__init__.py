"""qa: offline question answering over your documents, with verified citations.

    from qa import ask, build_index
    build_index(["corpus"])
    a = ask("Which years were designated as the Years of High-Quality Development?")
    print(a.text, a.citations)

Heavy libraries (torch, transformers, faiss) load only when first needed.
"""

from __future__ import annotations

from pathlib import Path

from .answer.citations import Citation
from .answer.pipeline import Answer, ask, ask_stream
from .answer.retrieval import Passage
from .config import Settings
from .errors import DocumentError, IndexStoreError, InputError, ModelError, NotFoundError, QAError
from .ingest.indexing import IndexStats, update_index

__all__ = ["Answer", "Citation", "DocumentError", "IndexStats", "IndexStoreError", "InputError", "ModelError",
           "NotFoundError", "Passage", "QAError", "Settings", "add_documents", "ask", "ask_stream", "build_index",
           "index_status", "list_documents", "remove_documents", "search"]


def _settings(index_dir: str | Path | None, store: str | None = None) -> Settings:
    return Settings.from_env(index_dir=Path(index_dir) if index_dir else None, store=store)


def build_index(paths: list[str | Path] | None = None, *, index_dir: str | Path | None = None,
                store: str | None = None, progress: bool = False, ray_address: str | None = None) -> IndexStats:
    """Index exactly the files under `paths` (default: the corpus folder); incremental.

    `store`: "" the local index (default), "x.db" Milvus Lite, "http://HOST:PORT" a Milvus server.
    `ray_address`: parse, chunk and embed on Ray ("local" starts a local runtime, "auto" or
    "ray://HOST:10001" joins a cluster); the result is the same index."""
    s = _settings(index_dir, store)
    default = [s.corpus_dir] + ([s.upload_dir] if Path(s.upload_dir).is_dir() else [])
    return update_index(paths or default, action="sync", settings=s, progress=progress, ray_address=ray_address)


def add_documents(paths: list[str | Path], *, index_dir: str | Path | None = None,
                  store: str | None = None) -> IndexStats:
    """Add or update these files (or folders), keeping everything else in the index."""
    return update_index(paths, action="add", settings=_settings(index_dir, store))


def remove_documents(paths: list[str | Path], *, index_dir: str | Path | None = None,
                     store: str | None = None) -> IndexStats:
    """Remove these files (or everything under these folders) from the index."""
    return update_index(paths, action="remove", settings=_settings(index_dir, store))


def list_documents(*, index_dir: str | Path | None = None, store: str | None = None) -> list[dict]:
    """The indexed files: id, path, title, size, chunks, indexed_at, sha256."""
    from .service import list_documents as _list

    return _list(_settings(index_dir, store))


def index_status(*, index_dir: str | Path | None = None, store: str | None = None) -> dict:
    """The live index version, its document and chunk counts and when it was built."""
    from .service import index_status as _status

    return _status(_settings(index_dir, store))


def search(query: str, *, k: int | None = None, index_dir: str | Path | None = None,
           store: str | None = None) -> list[Passage]:
    """The passages retrieval finds for `query` (dense + BM25, fused), best first; no answer is written."""
    from .service import search as _search

    return _search(query, settings=_settings(index_dir, store), k=k)
