"""The one service layer: what every front end (chat, REST, OpenAI endpoint, MCP, CLI) calls.

Asking is `pipeline.ask`/`ask_stream`; this module adds what front ends need beside it: retrieval
alone (`search`), the index's status, the documents with stable ids, uploads saved into the upload
folder and indexed, and removal. No front end opens the store or writes files itself. Errors are
`QAError`s with a one-line message; each front end turns them into its own kind of error.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .answer.pipeline import check_text
from .answer.retrieval import Passage, retrieve
from .config import Settings
from .embedding import settings_embedder
from .errors import IndexStoreError, InputError, NotFoundError, QAError
from .ingest.documents import SUFFIXES
from .ingest.indexing import IndexStats, update_index
from .store import doc_id, has_index, open_reader

log = logging.getLogger(__name__)
NO_INDEX = {"version": None, "documents": 0, "chunks": 0, "index_type": None, "built_at": None}


def warm_up(settings: Settings) -> None:
    """Load the models, then read the fixed parts of the model's prompts (system prompts and worked examples), so
    the first question waits for neither."""
    from .answer.prompting import warm_up_messages
    from .generation import settings_generator

    t = time.perf_counter()
    try:
        settings_embedder(settings)
        if settings.mode == "generated" and callable(warm := getattr(settings_generator(settings), "warm", None)):
            warm(warm_up_messages(settings))
        log.info("warm-up done in %.1f s", time.perf_counter() - t)
    except QAError as e:  # reported again, as a clear error, when a question needs the model
        log.warning("model warm-up failed: %s", e)


def start_warm_up(settings: Settings) -> None:
    """`warm_up` in the background, for a server that starts listening at once."""
    threading.Thread(target=warm_up, args=(settings,), daemon=True, name="warm-up").start()


def index_status(settings: Settings) -> dict:
    """The live index version and its counts, read from disk (no model is loaded)."""
    try:
        if not has_index(settings):
            return dict(NO_INDEX)
        with open_reader(settings) as store:
            m = store.manifest
            return {"version": store.version, "documents": int(m["documents"]), "chunks": int(m["chunks"]),
                    "index_type": m["index_type"], "built_at": float(m["created"])}
    except IndexStoreError as e:
        return {**NO_INDEX, "error": str(e)}


def list_documents(settings: Settings) -> list[dict]:
    """The indexed files: id, path, title, size, chunks, indexed_at, sha256 (empty without an index)."""
    if not has_index(settings):
        return []
    with open_reader(settings) as store:
        return [{"id": doc_id(d["path"]), **d} for d in store.documents()]


def search(query: str, *, settings: Settings, k: int | None = None) -> list[Passage]:
    """The passages hybrid retrieval finds for `query`, best first (no answer, no model)."""
    query = check_text(query, "query")
    settings = settings.replace(k=k)  # checked there
    emb = settings_embedder(settings)
    with open_reader(settings) as store:
        return retrieve(query, store, emb, k=settings.k)


@dataclass(frozen=True)
class UploadResult:
    stats: IndexStats | None
    saved: list[str] = field(default_factory=list)  # paths of the files now in the index
    rejected: list[str] = field(default_factory=list)  # one line per file that was not indexed, with why

    def message(self) -> str:
        parts = []
        if self.stats is not None and self.saved:
            s = self.stats
            parts.append(f"Indexed: {s.added} added, {s.updated} updated, {s.unchanged} unchanged "
                         f"({s.chunks_embedded} chunks in {s.seconds:.1f} s).")
        if self.rejected:
            parts.append("Rejected: " + "; ".join(self.rejected))
        return " ".join(parts)


def _safe_name(name: str) -> str:
    base = Path(str(name).replace("\\", "/")).name.strip()
    if not base or base.startswith(".") or len(base) > 200:
        raise InputError(f"{name[:60]!r} is not a usable file name")
    return base


def _check_upload(name: str, size: int, settings: Settings) -> str | None:
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        return f"{name}: unsupported file type {suffix or '(none)'} (use {', '.join(sorted(SUFFIXES))})"
    if size > settings.max_file_mb * 1e6:
        return f"{name}: {size / 1e6:.1f} MB is larger than the {settings.max_file_mb:g} MB limit"
    if size == 0:
        return f"{name}: empty file"
    return None


def upload_documents(files: Sequence[tuple[str, bytes | Path]], *, settings: Settings,
                     progress=None) -> UploadResult:
    """Save uploaded files (name, bytes or a temporary file) into the upload folder and index them.

    A file that cannot be indexed is not kept, and a file it would have replaced is restored, so a bad
    upload never loses what was already there. Returns what was indexed and why the rest was not."""
    upload_dir = Path(settings.upload_dir)
    upload_dir.mkdir(parents=True, exist_ok=True)
    rejected: list[str] = []
    placed: list[tuple[Path, Path | None]] = []  # (target, backup of the file it replaced)
    for name, content in files:
        try:
            name = _safe_name(name)
        except InputError as e:
            rejected.append(str(e))
            continue
        size = len(content) if isinstance(content, bytes) else Path(content).stat().st_size
        if (why := _check_upload(name, size, settings)) is not None:
            rejected.append(why)
            continue
        placed.append(_place(upload_dir / name, content))
    if not placed:
        return UploadResult(None, [], rejected)
    try:
        stats = update_index([t for t, _ in placed], action="add", settings=settings, progress=progress or False)
    except BaseException:
        for target, backup in placed:
            _restore(target, backup)
        raise
    failed = {e.split(":", 1)[0] for e in stats.errors}
    saved = []
    for target, backup in placed:
        if target.name in failed:
            _restore(target, backup)
        else:
            saved.append(str(target.resolve()))
            if backup is not None:
                backup.unlink(missing_ok=True)
    return UploadResult(stats, saved, rejected + list(stats.errors))


def _place(target: Path, content: bytes | Path) -> tuple[Path, Path | None]:
    """Write `content` at `target` atomically; an existing file is kept aside until indexing succeeds."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    tmp.write_bytes(content if isinstance(content, bytes) else Path(content).read_bytes())
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.bak")
        os.replace(target, backup)
    os.replace(tmp, target)
    return target, backup


def _restore(target: Path, backup: Path | None) -> None:
    if backup is None:
        target.unlink(missing_ok=True)
        return
    os.replace(backup, target)
    os.utime(target, None)  # a new mtime: the next run hashes it and finds it unchanged


def find_document(key: str, settings: Settings) -> dict:
    """The indexed document with this id (or exact indexed path), or NotFoundError."""
    doc = next((d for d in list_documents(settings) if key in (d["id"], d["path"])), None)
    if doc is None:
        raise NotFoundError(f"no indexed document has the id {key!r}")
    return doc


def remove_document(key: str, *, settings: Settings) -> dict:
    """Remove one document, named by its id (or its exact indexed path), from the index; an uploaded file
    is deleted too. Returns the removed document's entry."""
    doc = find_document(key, settings)
    stats = update_index([doc["path"]], action="remove", settings=settings)
    if not stats.removed:
        raise NotFoundError("; ".join(stats.errors) or f"{doc['path']} is not in the index")
    path = Path(doc["path"])
    if path.parent.resolve() == Path(settings.upload_dir).resolve():
        path.unlink(missing_ok=True)
    return {**doc, "removed_at": time.time(), "version": stats.version}


def document_text(key: str, *, settings: Settings) -> tuple[dict, str]:
    """A document's entry and its extracted text (the text every citation offset points into)."""
    doc = find_document(key, settings)
    with open_reader(settings) as store:
        text, _pages = store.document_text(doc["sha256"])
    return doc, text
