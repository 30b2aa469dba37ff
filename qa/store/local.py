"""The local store (the default): FAISS + SQLite on disk, one versioned directory per build, switched atomically.

    index/CURRENT          name of the live version (replaced atomically)
    index/v-000007/        manifest.json, chunks.sqlite (documents, chunks, vectors, FTS5), vectors.faiss
    index/.tmp-*/          a build in progress; removed by the next build if it was killed

A version is never modified after it is published. Opening checks the manifest (format, hashes,
counts, dimension) and refuses anything inconsistent with IndexStoreError. No pickle anywhere:
vectors live in SQLite as float32 blobs and in a FAISS file.

Building: `writer(settings)` locks the index folder, copies the live version's database into a `.tmp-*`
folder (or starts empty when the embedder or chunk size changed) and hands out a `LocalWriter`, which
`qa.ingest.indexing` fills and publishes. Registered as the store kind "local" (see `base`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IndexStoreError
from ..text import content_words
from .base import Backend, ChunkRow, pages_from_json, pages_json, register, rrf

if TYPE_CHECKING:
    from ..config import Settings

FORMAT = 1
SCHEMA = """
CREATE TABLE documents(sha256 TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL,
                       pages TEXT NOT NULL DEFAULT '[]', n_chunks INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE TABLE files(path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
CREATE INDEX files_sha ON files(sha256);
CREATE TABLE chunks(id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, ord INTEGER NOT NULL, start INTEGER NOT NULL,
                    end INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX chunks_doc ON chunks(sha256);
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, title, content='chunks', content_rowid='id',
                                           tokenize='porter unicode61');
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts(rowid, text, title) VALUES (new.id, new.text, new.title); END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text, title) VALUES ('delete', old.id, old.text, old.title); END;
"""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_version(index_dir: Path) -> Path | None:
    try:
        name = (index_dir / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    if not re.fullmatch(r"v-\d{6}", name):
        raise IndexStoreError(f"{index_dir}/CURRENT is corrupt ({name[:40]!r}); run `qa index` to rebuild")
    return index_dir / name


def publish(index_dir: Path, tmp: Path, keep: int) -> Path:
    """Rename a finished build into place and point CURRENT at it (each step atomic)."""
    numbers = [int(p.name[2:]) for p in index_dir.glob("v-[0-9]*") if p.name[2:].isdigit()]
    final = index_dir / f"v-{max(numbers, default=0) + 1:06d}"
    os.rename(tmp, final)
    fsync_dir(index_dir)
    pointer = index_dir / "CURRENT.tmp"
    with open(pointer, "w") as f:
        f.write(final.name)
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, index_dir / "CURRENT")
    fsync_dir(index_dir)
    versions = sorted(p for p in index_dir.glob("v-[0-9]*") if p != final)
    for old in versions[: max(0, len(versions) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def write_faiss(conn: sqlite3.Connection, path: Path, dim: int, *, approx: bool, m: int = 32) -> int:
    """Build the FAISS index of every vector in `conn`, streamed in batches; returns its size."""
    import faiss

    base = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT) if approx else faiss.IndexFlatIP(dim)
    if approx:
        base.hnsw.efConstruction = 80
    index = faiss.IndexIDMap2(base)
    cur = conn.execute("SELECT id, vector FROM chunks ORDER BY id")
    while rows := cur.fetchmany(8192):
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        index.add_with_ids(vecs, ids)
    faiss.write_index(index, str(path))
    return int(index.ntotal)


class Store:
    """A read-only, validated view of one published index version. Thread-safe for queries."""

    def __init__(self, version_dir: Path, manifest: dict, conn: sqlite3.Connection, index: object) -> None:
        self.dir = version_dir
        self.manifest = manifest
        self._conn = conn
        self._index = index
        self._lock = threading.Lock()

    @classmethod
    def open(cls, index_dir: Path, *, ef_search: int = 512) -> Store:
        version = current_version(index_dir)
        if version is None:
            raise IndexStoreError(f"no index in {index_dir}; build it with `qa index`")
        try:
            manifest = json.loads((version / "manifest.json").read_text())
        except (OSError, ValueError) as e:
            raise IndexStoreError(f"{version.name}: manifest missing or unreadable; run `qa index`") from e
        if manifest.get("format") != FORMAT:
            raise IndexStoreError(f"{version.name}: index format {manifest.get('format')} != {FORMAT}; run `qa index`")
        for key, name in (("db_sha256", "chunks.sqlite"), ("faiss_sha256", "vectors.faiss")):
            path = version / name
            if not path.is_file():
                raise IndexStoreError(f"{version.name}/{name} is missing; run `qa index` to rebuild")
            if file_sha256(path) != manifest.get(key):
                raise IndexStoreError(f"{version.name}/{name} does not match its manifest (truncated or modified); "
                                      "run `qa index` to rebuild")
        import faiss

        try:
            index = faiss.read_index(str(version / "vectors.faiss"))
        except RuntimeError as e:
            raise IndexStoreError(f"{version.name}/vectors.faiss is unreadable; run `qa index`") from e
        conn = sqlite3.connect(f"file:{version / 'chunks.sqlite'}?mode=ro", uri=True, check_same_thread=False)
        try:
            n_rows = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise IndexStoreError(f"{version.name}/chunks.sqlite is not a valid database; run `qa index`") from e
        if not (index.ntotal == n_rows == manifest.get("chunks")) or index.d != manifest.get("dim"):
            raise IndexStoreError(f"{version.name}: {index.ntotal} vectors, {n_rows} chunks, manifest says "
                                  f"{manifest.get('chunks')}; run `qa index` to rebuild")
        if manifest.get("index_type") == "hnsw":
            faiss.downcast_index(index.index).hnsw.efSearch = ef_search
        return cls(version, manifest, conn, index)

    def close(self) -> None:
        self._conn.close()
        self._index = None  # frees the FAISS index now, not at the next garbage collection

    @property
    def version(self) -> str:
        return self.dir.name

    def __len__(self) -> int:
        return int(self.manifest["chunks"])

    def dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if len(self) == 0:
            return []
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def keyword(self, query: str, k: int) -> list[tuple[int, float]]:
        words = list(dict.fromkeys(content_words(query)))
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', "") + '"' for w in words)
        with self._lock:
            rows = self._conn.execute(
                "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) "
                "LIMIT ?", (match, k)).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def hybrid(self, query_vec: np.ndarray, query: str, depth: int) -> list[tuple[int, float]]:
        """Dense (FAISS) and BM25 (FTS5) top-`depth`, fused by reciprocal rank: (chunk id, fused score), best first."""
        fused = rrf([[i for i, _ in self.dense(query_vec, depth)], [i for i, _ in self.keyword(query, depth)]])
        return sorted(fused.items(), key=lambda kv: -kv[1])

    def chunks(self, ids: list[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT c.id, c.sha256, c.start, c.end, c.title, c.text, "
                f"(SELECT min(path) FROM files f WHERE f.sha256 = c.sha256) FROM chunks c WHERE c.id IN ({marks})",
                ids).fetchall()
        return {r[0]: ChunkRow(*r) for r in rows}

    def vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._conn.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})", ids).fetchall()
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def document_text(self, sha256: str) -> tuple[str, list[int]]:
        with self._lock:
            row = self._conn.execute("SELECT text, pages FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            raise IndexStoreError(f"document {sha256[:12]} is not in the index")
        return row[0], pages_from_json(row[1])[0]

    def document_pages(self, sha256: str) -> tuple[list[int], list[int]]:
        """A document's page start offsets and its 1-based pages read by OCR (both empty without pages)."""
        with self._lock:
            row = self._conn.execute("SELECT pages FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
        return pages_from_json(row[0] if row else None)

    def documents(self) -> list[dict]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT f.path, d.title, f.size, d.n_chunks, d.indexed_at, d.sha256 FROM files f "
                "JOIN documents d ON d.sha256 = f.sha256 ORDER BY f.path").fetchall()
        keys = ("path", "title", "size", "chunks", "indexed_at", "sha256")
        return [dict(zip(keys, r, strict=True)) for r in rows]


class LiveStores:
    """The open live version of each index folder, shared by every request of a process.

    When CURRENT names a newer version the next request opens it; the old one is closed as soon as its
    last reader is done, so a process that sees many rebuilds keeps one SQLite connection and one FAISS
    index per folder, not one per version."""

    def __init__(self) -> None:
        self._open: dict[Path, Store] = {}
        self._users: dict[int, int] = {}
        self._retired: dict[int, Store] = {}
        self._lock = threading.Lock()

    @contextmanager
    def using(self, index_dir: Path, *, ef_search: int = 512) -> Iterator[Store]:
        store = self._acquire(Path(index_dir), ef_search)
        try:
            yield store
        finally:
            self._release(store)

    def _acquire(self, index_dir: Path, ef_search: int) -> Store:
        version = current_version(index_dir)
        with self._lock:
            store = self._open.get(index_dir)
            if store is None or store.dir != version:
                fresh = Store.open(index_dir, ef_search=ef_search)
                if store is not None:
                    self._retire(store)
                self._open[index_dir] = store = fresh
            self._users[id(store)] = self._users.get(id(store), 0) + 1
            return store

    def _retire(self, store: Store) -> None:
        if self._users.get(id(store), 0) == 0:
            store.close()
        else:
            self._retired[id(store)] = store

    def _release(self, store: Store) -> None:
        with self._lock:
            left = self._users[id(store)] - 1
            if left:
                self._users[id(store)] = left
                return
            del self._users[id(store)]
            if self._retired.pop(id(store), None) is not None:
                store.close()

    def open_count(self) -> int:
        """Versions held open (the live ones and retired ones still being read)."""
        with self._lock:
            return len(self._open) + len(self._retired)


live = LiveStores()


class LocalWriter:
    """One build of the local store: a copy of the live version's database in `tmp`, changed file by file,
    published as a new version directory (FAISS index, manifest, hashes) and switched atomically."""

    def __init__(self, tmp: Path, index_dir: Path, old: Store | None, keep_versions: int) -> None:
        self.tmp, self.index_dir, self.old, self.keep = tmp, index_dir, old, keep_versions
        self.conn = sqlite3.connect(tmp / "chunks.sqlite")
        if old is not None:
            with sqlite3.connect(f"file:{old.dir / 'chunks.sqlite'}?mode=ro", uri=True) as src:
                src.backup(self.conn)
        else:
            self.conn.executescript(SCHEMA)

    @property
    def previous(self) -> dict | None:
        """The live version's manifest (with its `version`), or None for a first build."""
        return None if self.old is None else {**self.old.manifest, "version": self.old.dir.name}

    def prev(self, path: str) -> tuple[str, int, int] | None:
        return self.conn.execute("SELECT sha256, size, mtime_ns FROM files WHERE path = ?", (path,)).fetchone()

    def paths(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT path FROM files")}

    def known(self, sha: str) -> bool:
        return self.conn.execute("SELECT 1 FROM documents WHERE sha256 = ?", (sha,)).fetchone() is not None

    def put_file(self, path: str, sha: str, size: int, mtime_ns: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", (path, sha, size, mtime_ns))

    def drop_file(self, path: str) -> None:
        self.conn.execute("DELETE FROM files WHERE path = ?", (path,))

    def write(self, docs: list, vectors: np.ndarray, now: float) -> None:
        """Store each (Document, chunks) with its rows of `vectors`."""
        row = 0
        for doc, chunks in docs:
            self.conn.execute("INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?)",
                              (doc.sha256, doc.title, doc.text, pages_json(doc.pages, doc.ocr_pages), len(chunks), now))
            self.conn.executemany(
                "INSERT INTO chunks(sha256, ord, start, end, title, text, vector) VALUES (?,?,?,?,?,?,?)",
                [(doc.sha256, i, c.start, c.end, doc.title, c.text, vectors[row + i].tobytes())
                 for i, c in enumerate(chunks)])
            row += len(chunks)

    def settle(self) -> int:
        """Drop documents no file points to any more; returns how many."""
        orphans = [r[0] for r in self.conn.execute(
            "SELECT sha256 FROM documents WHERE sha256 NOT IN (SELECT sha256 FROM files)")]
        for sha in orphans:
            self.conn.execute("DELETE FROM chunks WHERE sha256 = ?", (sha,))
            self.conn.execute("DELETE FROM documents WHERE sha256 = ?", (sha,))
        return len(orphans)

    def counts(self) -> tuple[int, int]:
        return (self.conn.execute("SELECT count(*) FROM files").fetchone()[0],
                self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def publish(self, manifest: dict, *, approx: bool) -> tuple[str, int, str]:
        """Write the FAISS index and manifest, fsync, and make this build the live version:
        (version, chunks, index type)."""
        self.conn.commit()
        self.conn.execute("VACUUM")
        ntotal = write_faiss(self.conn, self.tmp / "vectors.faiss", manifest["dim"], approx=approx)
        self.conn.close()
        manifest = {"format": FORMAT, **manifest, "chunks": ntotal, "index_type": "hnsw" if approx else "flat",
                    "db_sha256": file_sha256(self.tmp / "chunks.sqlite"),
                    "faiss_sha256": file_sha256(self.tmp / "vectors.faiss")}
        (self.tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        for name in ("chunks.sqlite", "vectors.faiss", "manifest.json"):
            with open(self.tmp / name, "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(self.tmp)
        return publish(self.index_dir, self.tmp, self.keep).name, ntotal, manifest["index_type"]

    def close(self) -> None:
        self.conn.close()


@contextmanager
def _locked(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _old_store(index_dir: Path, settings: Settings, errors: list[str]) -> Store | None:
    """The live version to build on, or None: none yet, unusable, or built with another embedder or chunk size."""
    try:
        old = Store.open(index_dir)
    except IndexStoreError as e:
        if current_version(index_dir) is not None:
            errors.append(f"previous index unusable ({e}); rebuilding from scratch")
        return None
    if old.manifest.get("embedder") != settings.embedder or old.manifest.get("chunk_chars") != settings.chunk_chars:
        old.close()
        return None
    return old


@contextmanager
def writer(settings: Settings, errors: list[str]) -> Iterator[LocalWriter]:
    """One build of the local index in `settings.index_dir`, the folder locked against other builds."""
    index_dir = Path(settings.index_dir)
    with _locked(index_dir):
        for stale in index_dir.glob(".tmp-*"):  # builds killed before they published
            shutil.rmtree(stale, ignore_errors=True)
        old = _old_store(index_dir, settings, errors)
        tmp = index_dir / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
        w = LocalWriter(tmp, index_dir, old, settings.keep_versions)
        try:
            yield w
        finally:
            w.close()
            if old is not None:
                old.close()
            shutil.rmtree(tmp, ignore_errors=True)


def reader(settings: Settings) -> AbstractContextManager[Store]:
    """The published version of `settings.index_dir`, shared by the process (see `LiveStores`)."""
    return live.using(Path(settings.index_dir), ef_search=settings.hnsw_ef_search)


def has_index(settings: Settings) -> bool:
    return current_version(Path(settings.index_dir)) is not None


def scratch(settings: Settings, folder: Path) -> Settings:
    return settings.replace(index_dir=folder / "index", store="")


register("local", Backend(reader=reader, writer=writer, has_index=has_index, scratch=scratch))
