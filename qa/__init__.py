"""qa: offline question answering over your documents, with verified citations.

    from qa import ask, build_index
    build_index(["corpus"])
    a = ask("Which years were designated as the Years of High-Quality Development?")
    print(a.text, a.citations)

Heavy libraries (torch, transformers, faiss) load only when first needed.
"""

from __future__ import annotations

from pathlib import Path

from .citations import Citation
from .config import Settings
from .errors import DocumentError, IndexStoreError, InputError, ModelError, QAError
from .indexing import IndexStats, update_index
from .pipeline import Answer, ask, ask_stream
from .retrieval import Passage

__all__ = ["Answer", "Citation", "DocumentError", "IndexStats", "IndexStoreError", "InputError", "ModelError",
           "Passage", "QAError", "Settings", "add_documents", "ask", "ask_stream", "build_index",
           "list_documents", "remove_documents"]


def _settings(index_dir: str | Path | None) -> Settings:
    return Settings.from_env(index_dir=Path(index_dir) if index_dir else None)


def build_index(paths: list[str | Path] | None = None, *, index_dir: str | Path | None = None,
                progress: bool = False) -> IndexStats:
    """Index exactly the files under `paths` (default: the corpus folder); incremental."""
    s = _settings(index_dir)
    default = [s.corpus_dir] + ([s.upload_dir] if Path(s.upload_dir).is_dir() else [])
    return update_index(paths or default, action="sync", settings=s, progress=progress)


def add_documents(paths: list[str | Path], *, index_dir: str | Path | None = None) -> IndexStats:
    """Add or update these files (or folders), keeping everything else in the index."""
    return update_index(paths, action="add", settings=_settings(index_dir))


def remove_documents(paths: list[str | Path], *, index_dir: str | Path | None = None) -> IndexStats:
    """Remove these files (or everything under these folders) from the index."""
    return update_index(paths, action="remove", settings=_settings(index_dir))


def list_documents(*, index_dir: str | Path | None = None) -> list[dict]:
    """The indexed files: path, title, size, chunks, indexed_at, sha256."""
    from .store import Store

    store = Store.open(Path(_settings(index_dir).index_dir))
    try:
        return store.documents()
    finally:
        store.close()
