"""Build and update the index incrementally from files and folders.

Every run writes a new version next to the live one and publishes it atomically (see `store`).
Unchanged files (same size and mtime, or same content hash) cost nothing; content already indexed
under another name is stored once; files that vanished leave both the vector and keyword index.
A bad file gets one line in `IndexStats.errors` and the rest are indexed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import store as st
from .chunking import chunk_text
from .config import Settings
from .documents import SUFFIXES, Document, Limits, parse, sha256_bytes
from .embedding import Embedder, get_embedder
from .errors import DocumentError, IndexStoreError, InputError

log = logging.getLogger(__name__)
FLUSH_CHUNKS = 256
Progress = Callable[[int, int, int, float], None]  # files done, files total, chunks embedded, chunks/s


@dataclass(frozen=True)
class IndexStats:
    documents: int
    chunks: int
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0
    version: str = ""
    index_type: str = "flat"
    errors: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def chunks_per_s(self) -> float:
        return self.chunks_embedded / self.seconds if self.seconds else 0.0


@dataclass
class _Run:
    settings: Settings
    conn: sqlite3.Connection
    embedder_factory: Callable[[], Embedder]
    errors: list[str] = field(default_factory=list)
    pending: list[tuple[Document, list]] = field(default_factory=list)
    embedded: int = 0
    changed: bool = False
    _embedder: Embedder | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self.embedder_factory()
        return self._embedder

    def queue(self, doc: Document) -> None:
        chunks = chunk_text(doc.text, size=self.settings.chunk_chars, overlap=self.settings.chunk_overlap_sentences)
        self.pending.append((doc, chunks))
        if sum(len(c) for _, c in self.pending) >= FLUSH_CHUNKS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        texts = [f"{d.title}\n{c.text}" for d, cs in self.pending for c in cs]
        vecs = self.embedder.embed(texts)
        row = 0
        now = time.time()
        for doc, chunks in self.pending:
            self.conn.execute("INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?)",
                              (doc.sha256, doc.title, doc.text, json.dumps(list(doc.pages)), len(chunks), now))
            self.conn.executemany(
                "INSERT INTO chunks(sha256, ord, start, end, title, text, vector) VALUES (?,?,?,?,?,?,?)",
                [(doc.sha256, i, c.start, c.end, doc.title, c.text, vecs[row + i].tobytes())
                 for i, c in enumerate(chunks)])
            row += len(chunks)
        self.embedded += row
        self.pending.clear()


@contextmanager
def _locked(index_dir: Path):
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def scan(paths: Iterable[Path], errors: list[str], skipped: list[str]) -> dict[str, Path]:
    """Supported files under `paths` (recursively), keyed by resolved path; hidden entries skipped."""
    found: dict[str, Path] = {}
    for root in paths:
        root = Path(root).expanduser()
        if not root.exists():
            errors.append(f"{root}: no such file or folder")
            continue
        if root.is_file():
            if root.suffix.lower() in SUFFIXES:
                found[str(root.resolve())] = root.resolve()
            else:
                errors.append(f"{root.name}: unsupported file type {root.suffix or '(none)'}; "
                              f"use {', '.join(sorted(SUFFIXES))}")
            continue
        base = root.resolve()
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if name.startswith(".") or p.suffix.lower() not in SUFFIXES:
                    skipped.append(str(p))
                    continue
                real = p.resolve()
                if p.is_symlink() and not real.is_relative_to(base):
                    errors.append(f"{p.relative_to(base)}: symlink points outside {root}; not followed")
                    continue
                found[str(p.resolve(strict=False) if not p.is_symlink() else p.absolute())] = real
    return found


def _old_store(index_dir: Path, settings: Settings, errors: list[str]) -> st.Store | None:
    try:
        old = st.Store.open(index_dir)
    except IndexStoreError as e:
        if st.current_version(index_dir) is not None:
            errors.append(f"previous index unusable ({e}); rebuilding from scratch")
        return None
    if old.manifest.get("embedder") != settings.embedder or old.manifest.get("chunk_chars") != settings.chunk_chars:
        old.close()
        return None
    return old


def _ingest(run: _Run, key: str, path: Path, size_limit: int, budget: list[int]) -> str:
    """Index one file; returns 'unchanged', 'added', 'updated' or 'failed'."""
    conn = run.conn
    name = Path(key).name
    prev = conn.execute("SELECT sha256, size, mtime_ns FROM files WHERE path = ?", (key,)).fetchone()
    try:
        info = path.stat()
        if prev and prev[1] == info.st_size and prev[2] == info.st_mtime_ns:
            return "unchanged"
        if info.st_size > size_limit:
            raise DocumentError(f"{name}: {info.st_size / 1e6:.1f} MB is over the {size_limit / 1e6:.0f} MB "
                                "file limit (QA_MAX_FILE_MB)")
        if info.st_size > budget[0]:
            raise DocumentError(f"{name}: skipped, total size limit reached (QA_MAX_TOTAL_MB)")
        data = path.read_bytes()
        budget[0] -= len(data)
        sha = sha256_bytes(data)
        if prev and prev[0] == sha:
            conn.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
                         (info.st_size, info.st_mtime_ns, key))
            return "unchanged"
        known = conn.execute("SELECT 1 FROM documents WHERE sha256 = ?", (sha,)).fetchone() or any(
            d.sha256 == sha for d, _ in run.pending)
        if not known:
            run.queue(parse(data, key, Limits.of(run.settings)))
    except FileNotFoundError:
        run.errors.append(f"{name}: vanished during indexing")
        return "failed"
    except DocumentError as e:
        run.errors.append(str(e))
        return "failed"
    except OSError as e:
        run.errors.append(f"{name}: cannot read ({e.strerror})")
        return "failed"
    conn.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", (key, sha, info.st_size, info.st_mtime_ns))
    return "updated" if prev else "added"


def update_index(paths: Iterable[str | Path] = (), *, action: str = "sync", settings: Settings | None = None,
                 embedder: Embedder | None = None, progress: Progress | bool = False) -> IndexStats:
    """Bring the index in line with `paths`.

    action: 'sync' (index exactly the files under paths), 'add' (add or update them, keep the rest),
    'remove' (drop the files at or under paths).
    """
    if action not in ("sync", "add", "remove"):
        raise InputError(f"unknown index action {action!r}")
    s = settings or Settings.from_env()
    index_dir = Path(s.index_dir)
    t0 = time.perf_counter()
    errors: list[str] = []
    skipped: list[str] = []
    with _locked(index_dir):
        for stale in index_dir.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        old = _old_store(index_dir, s, errors)
        tmp = index_dir / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
        try:
            return _build(paths, action, s, old, tmp, index_dir, embedder, progress, errors, skipped, t0)
        finally:
            if old is not None:
                old.close()
            shutil.rmtree(tmp, ignore_errors=True)


def _build(paths, action, s, old, tmp, index_dir, embedder, progress, errors, skipped, t0) -> IndexStats:
    conn = sqlite3.connect(tmp / "chunks.sqlite")
    if old is not None:
        with sqlite3.connect(f"file:{old.dir / 'chunks.sqlite'}?mode=ro", uri=True) as src:
            src.backup(conn)
    else:
        conn.executescript(st.SCHEMA)
    run = _Run(s, conn, errors=errors, embedder_factory=(lambda: embedder) if embedder else
               (lambda: get_embedder(s.embedder, s.embed_batch, s.threads)))
    counts = {"added": 0, "updated": 0, "unchanged": 0, "failed": 0, "removed": 0}
    known = {r[0] for r in conn.execute("SELECT path FROM files")}
    if action == "remove":
        targets = [str(Path(p).expanduser().resolve()) for p in paths]
        gone = [k for k in known if any(k == t or k.startswith(t.rstrip("/") + "/") for t in targets)]
        errors.extend(f"{t}: not in the index" for t in targets if not any(
            k == t or k.startswith(t.rstrip("/") + "/") for k in known))
    else:
        found = scan([Path(p) for p in paths], errors, skipped)
        gone = sorted(known - found.keys()) if action == "sync" else []
        budget = [int(s.max_total_mb * 1e6)]
        bar = _bar(progress, len(found))
        for i, (key, path) in enumerate(found.items(), 1):
            counts[_ingest(run, key, path, int(s.max_file_mb * 1e6), budget)] += 1
            if i == len(found):
                run.flush()  # before the last progress update, so it counts every chunk
            if bar:
                bar(i, len(found), run.embedded, run.embedded / max(time.perf_counter() - t0, 1e-9))
    for key in gone:
        conn.execute("DELETE FROM files WHERE path = ?", (key,))
    counts["removed"] = len(gone)
    orphans = [r[0] for r in conn.execute(
        "SELECT sha256 FROM documents WHERE sha256 NOT IN (SELECT sha256 FROM files)")]
    for sha in orphans:
        conn.execute("DELETE FROM chunks WHERE sha256 = ?", (sha,))
        conn.execute("DELETE FROM documents WHERE sha256 = ?", (sha,))
    n_docs = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    n_chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    if old is not None and not (counts["added"] or counts["updated"] or gone or orphans):
        conn.close()
        return IndexStats(n_docs, n_chunks, unchanged=counts["unchanged"], seconds=time.perf_counter() - t0,
                          version=old.dir.name, index_type=old.manifest["index_type"], errors=tuple(errors),
                          skipped=tuple(skipped))
    if old is None and n_chunks == 0:
        conn.close()
        raise DocumentError("nothing to index: " + ("; ".join(errors[:3]) or "no supported files found"))
    conn.commit()
    conn.execute("VACUUM")
    dim = run.embedder.dim if (run._embedder or old is None) else int(old.manifest["dim"])
    approx = n_chunks > s.approx_threshold
    ntotal = st.write_faiss(conn, tmp / "vectors.faiss", dim, approx=approx)
    conn.close()
    manifest = {"format": st.FORMAT, "embedder": s.embedder, "dim": dim, "chunks": ntotal, "documents": n_docs,
                "index_type": "hnsw" if approx else "flat", "chunk_chars": s.chunk_chars, "created": time.time(),
                "db_sha256": st.file_sha256(tmp / "chunks.sqlite"),
                "faiss_sha256": st.file_sha256(tmp / "vectors.faiss")}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for name in ("chunks.sqlite", "vectors.faiss", "manifest.json"):
        with open(tmp / name, "rb") as f:
            os.fsync(f.fileno())
    st.fsync_dir(tmp)
    final = st.publish(index_dir, tmp, s.keep_versions)
    log.info("published %s: %d documents, %d chunks", final.name, n_docs, ntotal)
    return IndexStats(n_docs, ntotal, added=counts["added"], updated=counts["updated"], removed=len(gone),
                      unchanged=counts["unchanged"], chunks_embedded=run.embedded, seconds=time.perf_counter() - t0,
                      version=final.name, index_type=manifest["index_type"], errors=tuple(errors),
                      skipped=tuple(skipped))


def _bar(progress: Progress | bool, total: int) -> Progress | None:
    if callable(progress):
        return progress
    if not progress or total == 0:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="file", dynamic_ncols=True)

    def update(done: int, _total: int, chunks: int, rate: float) -> None:
        bar.set_postfix(chunks=chunks, chunks_per_s=f"{rate:.0f}", refresh=False)
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    return update
