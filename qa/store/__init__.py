"""Where the index lives, behind one interface with two implementations.

    base.py    the Reader and Writer protocols, shared types, the backend registry and the way in:
               open_reader(settings), open_writer(settings), has_index(settings)
    local.py   the default: FAISS + SQLite/FTS5 under `index/`, versioned directories switched atomically
    milvus.py  Milvus (dense vectors and BM25 in one engine): Milvus Lite in a `.db` file, or a server

`Settings.store` chooses (QA_STORE, `--store`, `store=`): empty is the local index in `index_dir`, a
path ending in `.db` is Milvus Lite, `http://…` / `https://…` a Milvus server (token QA_MILVUS_TOKEN);
`config.STORE_KINDS` names the kinds. Importing this package registers both backends.
"""

from __future__ import annotations

from ..config import store_kind as kind
from . import local, milvus  # noqa: F401  (each registers its backend)
from .base import (
    BACKENDS,
    RRF_K,
    Backend,
    ChunkRow,
    Reader,
    Writer,
    doc_id,
    has_index,
    open_reader,
    open_writer,
    page_at,
    pages_from_json,
    pages_json,
    register,
    rrf,
    scratch,
)
from .local import (
    FORMAT,
    SCHEMA,
    LiveStores,
    LocalWriter,
    Store,
    current_version,
    file_sha256,
    fsync_dir,
    live,
    publish,
    write_faiss,
)

__all__ = ["BACKENDS", "FORMAT", "RRF_K", "SCHEMA", "Backend", "ChunkRow", "LiveStores", "LocalWriter", "Reader",
           "Store", "Writer", "current_version", "doc_id", "file_sha256", "fsync_dir", "has_index", "kind", "live",
           "open_reader", "open_writer", "page_at", "pages_from_json", "pages_json", "publish", "register", "rrf",
           "scratch", "write_faiss"]
