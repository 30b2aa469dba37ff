"""The Milvus store: Milvus Lite in a `.db` file, or a Milvus server (cluster) by URI; same client code.

Dense vectors and BM25 live in one engine: a chunk's text feeds Milvus's own BM25 function (a sparse
field), and hybrid search fuses both with Milvus's RRF ranker (k 60, as locally). Collections:

    qa_chunks     id (hash of document sha256 + chunk number), sha256, ord, start, end, title, text, vector, sparse
    qa_documents  sha256, title, pages, n_chunks, indexed_at, done
    qa_doctext    a document's extracted text, in parts (what citation offsets point into)
    qa_files      path -> sha256, size, mtime_ns
    qa_meta       the manifest: embedder, dim, chunk_chars, counts, version number

Crash safety without copying the collections: a chunk is visible only through a file record that points
to its document, and a file record is written only once its document is complete (its record says
`done` after every chunk is in). Removal drops the file record first, then the chunks. So a process
killed at any moment leaves either the old or the new version of each file visible, never half a
document; what it left half-written is invisible and is rewritten (same ids) or dropped by the next run.
Readers filter every hit through the file records. One writer at a time per store. Registered as the
store kinds "milvus-lite" and "milvus" (see `base`).

After a SIGKILL during indexing, a scan of Milvus Lite's file records once returned 50 records for 30
files (seen once in CI, in the SIGKILL test): a path's old record beside its new one. Readers therefore
take the newest record of each path (largest mtime_ns), and the next writer writes such a path once more.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IndexStoreError
from .base import RRF_K, Backend, ChunkRow, pages_from_json, pages_json, register

if TYPE_CHECKING:
    from ..config import Settings

PREFIX = "qa_"
PART = 16_000  # characters of document text per record (VARCHAR limit 65,535 bytes)
BATCH = 512
_write_lock = threading.Lock()


def chunk_id(sha: str, ordinal: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{sha}:{ordinal}".encode(), digest_size=8).digest(), "big") >> 1


def _lit(value: str) -> str:
    return json.dumps(value)  # a Milvus string literal, quotes and backslashes escaped


def _in(field: str, values) -> str:
    return f"{field} in [{', '.join(_lit(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


@functools.lru_cache(maxsize=4)
def client(uri: str, token: str = ""):
    """One client per store per process (Milvus Lite lets one process open a file)."""
    import logging

    from pymilvus import MilvusClient

    # Milvus Lite does not implement AllocTimestamp: query iterators fall back to client-side timestamps (fine)
    # after a warning from pymilvus and a traceback from the embedded gRPC server; neither is for the user.
    logging.getLogger("pymilvus").setLevel(logging.ERROR)
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    try:
        if uri.endswith(".db"):
            return MilvusClient(os.path.abspath(os.path.expanduser(uri)))
        return MilvusClient(uri=uri, token=token)
    except Exception as e:  # pymilvus raises its own types, and gRPC ones for servers
        if uri.endswith(".db"):
            raise IndexStoreError(f"cannot open Milvus Lite file {uri} ({type(e).__name__}): it may be open in "
                                  "another process (Milvus Lite allows one; stop `qa serve` or use a Milvus "
                                  "server)") from e
        raise IndexStoreError(f"cannot reach Milvus at {uri} ({type(e).__name__}: {e})".splitlines()[0]) from e


class Collections:
    """Creates and loads the collections; every call goes through here, errors become IndexStoreError."""

    def __init__(self, uri: str, token: str = "") -> None:
        self.uri = uri
        self.c = client(uri, token)
        self._ready: set[str] = set()

    def name(self, short: str) -> str:
        return PREFIX + short

    def exists(self, short: str) -> bool:
        if short in self._ready:
            return True
        if self.c.has_collection(self.name(short)):
            self.c.load_collection(self.name(short))
            self._ready.add(short)
            return True
        return False

    def ensure(self, dim: int | None = None) -> None:
        from pymilvus import DataType, Function, FunctionType

        for short, fields in _SCHEMAS.items():
            if self.exists(short) or (short == "chunks" and dim is None):
                continue
            schema = self.c.create_schema(auto_id=False)
            for field, kind, extra in fields:
                schema.add_field(field, getattr(DataType, kind), **extra)
            index = self.c.prepare_index_params()
            if short == "chunks":
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
                schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
                schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                             input_field_names=["text"], output_field_names=["sparse"]))
                index.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
                index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
            else:  # Milvus wants a vector field in every collection
                schema.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
                index.add_index("_v", index_type="AUTOINDEX", metric_type="IP")
            self.c.create_collection(self.name(short), schema=schema, index_params=index, consistency_level="Strong")
            self.c.load_collection(self.name(short))
            self._ready.add(short)

    def query(self, short: str, expr: str, fields: list[str], limit: int | None = None) -> list[dict]:
        if not self.exists(short):
            return []
        kw = {"limit": limit} if limit else {}
        return self.c.query(self.name(short), filter=expr, output_fields=fields, **kw)

    def scan(self, short: str, expr: str, fields: list[str]) -> Iterator[dict]:
        if not self.exists(short):
            return
        it = self.c.query_iterator(self.name(short), batch_size=4096, filter=expr, output_fields=fields)
        try:
            while rows := it.next():
                yield from rows
        finally:
            it.close()

    def upsert(self, short: str, rows: list[dict]) -> None:
        for i in range(0, len(rows), BATCH):
            self.c.upsert(self.name(short), rows[i:i + BATCH])

    def delete(self, short: str, expr: str) -> None:
        if self.exists(short):
            self.c.delete(self.name(short), filter=expr)


_TEXT = {"max_length": 65535}
_SCHEMAS: dict[str, list[tuple[str, str, dict]]] = {
    "chunks": [("id", "INT64", {"is_primary": True}), ("sha256", "VARCHAR", {"max_length": 64}),
               ("ord", "INT64", {}), ("start", "INT64", {}), ("end", "INT64", {}),
               ("title", "VARCHAR", {"max_length": 2048}),
               ("text", "VARCHAR", {**_TEXT, "enable_analyzer": True, "analyzer_params": {
                   "tokenizer": "standard", "filter": ["lowercase", {"type": "stemmer", "language": "english"}]}})],
    "documents": [("sha256", "VARCHAR", {"max_length": 64, "is_primary": True}),
                  ("title", "VARCHAR", {"max_length": 2048}), ("pages", "VARCHAR", _TEXT),
                  ("n_chunks", "INT64", {}), ("indexed_at", "DOUBLE", {}), ("done", "BOOL", {})],
    "doctext": [("id", "VARCHAR", {"max_length": 80, "is_primary": True}), ("sha256", "VARCHAR", {"max_length": 64}),
                ("part", "INT64", {}), ("text", "VARCHAR", _TEXT)],
    "files": [("path", "VARCHAR", {"max_length": 4096, "is_primary": True}), ("sha256", "VARCHAR", {"max_length": 64}),
              ("size", "INT64", {}), ("mtime_ns", "INT64", {})],
    "meta": [("key", "VARCHAR", {"max_length": 64, "is_primary": True}), ("value", "VARCHAR", _TEXT)],
}
_V = [1.0, 0.0]


def read_manifest(cols: Collections) -> dict:
    rows = cols.query("meta", 'key == "manifest"', ["value"])
    return json.loads(rows[0]["value"]) if rows else {}


def latest_files(rows) -> dict[str, dict]:
    """path -> its newest file record (a kill inside an upsert can leave the old row beside the new one)."""
    out: dict[str, dict] = {}
    for r in rows:
        have = out.get(r["path"])
        if have is None or (int(r["mtime_ns"]), r["sha256"]) > (int(have["mtime_ns"]), have["sha256"]):
            out[r["path"]] = r
    return out


class MilvusStore:
    """The Reader over a Milvus store; always live (a rebuild changes what it returns, not the object)."""

    def __init__(self, uri: str, ef_search: int = 512, token: str = "") -> None:
        self.cols = Collections(uri, token)
        self.manifest: dict = {}
        self.ef_search = ef_search

    def refreshed(self) -> MilvusStore:
        self.manifest = read_manifest(self.cols)
        return self

    @property
    def version(self) -> str:
        return self.manifest.get("version") or ""

    def hybrid(self, query_vec: np.ndarray, query: str, depth: int) -> list[tuple[int, float]]:
        from pymilvus import AnnSearchRequest, RRFRanker

        if not self.cols.exists("chunks"):
            return []
        requests = [AnnSearchRequest([np.asarray(query_vec, dtype=np.float32).tolist()], "vector",
                                     {"metric_type": "IP"}, depth),
                    AnnSearchRequest([query], "sparse", {"metric_type": "BM25"}, depth)]
        hits = self.cols.c.hybrid_search(self.cols.name("chunks"), requests, RRFRanker(RRF_K), limit=depth)
        return [(int(h["id"]), float(h["distance"])) for h in hits[0]]

    def chunks(self, ids: list[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        rows = self.cols.query("chunks", _in("id", ids), ["id", "sha256", "start", "end", "title", "text"])
        paths = self._paths({r["sha256"] for r in rows})
        return {int(r["id"]): ChunkRow(int(r["id"]), r["sha256"], int(r["start"]), int(r["end"]), r["title"],
                                       r["text"], paths[r["sha256"]]) for r in rows if r["sha256"] in paths}

    def _paths(self, shas: set[str]) -> dict[str, str]:
        """The (first) path of each document a file points to: documents without one are not visible."""
        out: dict[str, str] = {}
        rows = self.cols.query("files", _in("sha256", sorted(shas)), ["path"]) if shas else []
        paths = sorted({r["path"] for r in rows})
        for i in range(0, len(paths), BATCH):  # only a path's newest record counts
            for r in latest_files(self.cols.query("files", _in("path", paths[i:i + BATCH]),
                                                  ["path", "sha256", "mtime_ns"])).values():
                if r["sha256"] in shas:
                    out[r["sha256"]] = min(out.get(r["sha256"], r["path"]), r["path"])
        return out

    def vectors(self, ids: list[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        rows = self.cols.query("chunks", _in("id", ids), ["id", "vector"])
        return {int(r["id"]): np.asarray(r["vector"], dtype=np.float32) for r in rows}

    def document_text(self, sha256: str) -> tuple[str, list[int]]:
        parts = sorted(self.cols.query("doctext", f"sha256 == {_lit(sha256)}", ["part", "text"]),
                       key=lambda r: r["part"])
        if not parts:
            raise IndexStoreError(f"document {sha256[:12]} is not in the index")
        return "".join(p["text"] for p in parts), self.document_pages(sha256)[0]

    def document_pages(self, sha256: str) -> tuple[list[int], list[int]]:
        rows = self.cols.query("documents", f"sha256 == {_lit(sha256)}", ["pages"])
        return pages_from_json(rows[0]["pages"] if rows else None)

    def documents(self) -> list[dict]:
        files = list(latest_files(self.cols.scan("files", 'path != ""', ["path", "sha256", "size", "mtime_ns"]))
                     .values())
        docs: dict[str, dict] = {}
        shas = sorted({f["sha256"] for f in files})
        for i in range(0, len(shas), BATCH):
            for d in self.cols.query("documents", _in("sha256", shas[i:i + BATCH]) + " and done == true",
                                     ["sha256", "title", "n_chunks", "indexed_at"]):
                docs[d["sha256"]] = d
        out = []
        for f in files:
            if (d := docs.get(f["sha256"])) is not None:
                out.append({"path": f["path"], "title": d["title"], "size": int(f["size"]),
                            "chunks": int(d["n_chunks"]), "indexed_at": float(d["indexed_at"]), "sha256": f["sha256"]})
        return sorted(out, key=lambda d: d["path"])

    def close(self) -> None:
        """Nothing to release: the client is shared by the process."""


@functools.lru_cache(maxsize=4)
def _shared(uri: str, ef_search: int, token: str) -> MilvusStore:
    return MilvusStore(uri, ef_search, token)


def shared(settings) -> MilvusStore:
    return _shared(settings.store, settings.hnsw_ef_search, settings.milvus_token)


class MilvusWriter:
    """One indexing run against a Milvus store; see the module docstring for the order of writes."""

    def __init__(self, settings) -> None:
        self.cols = Collections(settings.store, settings.milvus_token)
        self.cols.ensure()
        manifest = read_manifest(self.cols)
        for key in ("embedder", "chunk_chars"):
            if manifest and manifest.get(key) != getattr(settings, key):
                raise IndexStoreError(f"the Milvus store {settings.store} was built with {key}={manifest.get(key)!r},"
                                      f" not {getattr(settings, key)!r}; use another store (or drop its qa_* "
                                      "collections) to rebuild")
        self.previous = manifest or None
        rows = list(self.cols.scan("files", 'path != ""', ["path", "sha256", "size", "mtime_ns"]))
        self.files = {p: (f["sha256"], int(f["size"]), int(f["mtime_ns"])) for p, f in latest_files(rows).items()}
        self.docs = {d["sha256"]: (bool(d["done"]), int(d["n_chunks"]))
                     for d in self.cols.scan("documents", 'sha256 != ""', ["sha256", "done", "n_chunks"])}
        self._put: dict[str, tuple[str, int, int]] = {}
        self._drop: set[str] = set()
        # a killed upsert left two records for a path: write its newest once more
        self._put.update({p: self.files[p] for p, n in Counter(r["path"] for r in rows).items() if n > 1})

    def prev(self, path: str) -> tuple[str, int, int] | None:
        return self.files.get(path)

    def paths(self) -> set[str]:
        return set(self.files)

    def known(self, sha: str) -> bool:
        return self.docs.get(sha, (False, 0))[0]

    def put_file(self, path: str, sha: str, size: int, mtime_ns: int) -> None:
        self.files[path] = self._put[path] = (sha, size, mtime_ns)
        self._drop.discard(path)

    def drop_file(self, path: str) -> None:
        self.files.pop(path, None)
        self._put.pop(path, None)
        self._drop.add(path)

    def write(self, docs: list, vectors: np.ndarray, now: float) -> None:
        self.cols.ensure(dim=int(vectors.shape[1]))
        record = [{"sha256": d.sha256, "title": d.title[:1000], "pages": pages_json(d.pages, d.ocr_pages), "_v": _V,
                   "n_chunks": len(cs), "indexed_at": now} for d, cs in docs]
        self.cols.upsert("documents", [{**r, "done": False} for r in record])  # chunks going in: not yet done
        self.cols.upsert("doctext", [{"id": f"{d.sha256}:{i}", "sha256": d.sha256, "part": i, "_v": _V,
                                      "text": d.text[o:o + PART]} for d, _ in docs
                                     for i, o in enumerate(range(0, max(len(d.text), 1), PART))])
        rows, row = [], 0
        for d, cs in docs:
            rows += [{"id": chunk_id(d.sha256, i), "sha256": d.sha256, "ord": i, "start": c.start, "end": c.end,
                      "title": d.title[:1000], "text": c.text, "vector": vectors[row + i].tolist()}
                     for i, c in enumerate(cs)]
            row += len(cs)
        self.cols.upsert("chunks", rows)
        self.cols.upsert("documents", [{**r, "done": True} for r in record])  # complete: a file may point here
        self.docs.update({d.sha256: (True, len(cs)) for d, cs in docs})

    def settle(self) -> int:
        """Point the files at their (complete) documents, drop removed files, then what no file points to."""
        self.cols.upsert("files", [{"path": p, "sha256": sha, "size": size, "mtime_ns": mtime, "_v": _V}
                                   for p, (sha, size, mtime) in self._put.items()])
        drop = sorted(self._drop)
        for i in range(0, len(drop), BATCH):
            self.cols.delete("files", _in("path", drop[i:i + BATCH]))
        self._put.clear()
        self._drop.clear()
        used = {sha for sha, _, _ in self.files.values()}
        orphans = sorted(set(self.docs) - used)
        for i in range(0, len(orphans), BATCH):
            expr = _in("sha256", orphans[i:i + BATCH])
            for short in ("chunks", "doctext", "documents"):
                self.cols.delete(short, expr)
        for sha in orphans:
            del self.docs[sha]
        return len(orphans)

    def counts(self) -> tuple[int, int]:
        used = {sha for sha, _, _ in self.files.values()}
        return len(self.files), sum(n for sha, (done, n) in self.docs.items() if done and sha in used)

    def publish(self, manifest: dict, *, approx: bool) -> tuple[str, int, str]:
        number = int((self.previous or {}).get("number", 0)) + 1
        chunks = self.counts()[1]
        if self.cols.exists("chunks"):
            self.cols.c.flush(self.cols.name("chunks"))
        value = {**manifest, "chunks": chunks, "index_type": "milvus", "number": number,
                 "version": f"m-{number:06d}", "published": time.time()}
        self.cols.upsert("meta", [{"key": "manifest", "value": json.dumps(value), "_v": _V}])
        return value["version"], chunks, "milvus"

    def close(self) -> None:
        pass


@contextmanager
def writer(settings: Settings, errors: list[str] | None = None) -> Iterator[MilvusWriter]:
    """One indexing run; runs in this process wait for each other (a second process is Milvus Lite's to refuse)."""
    with _write_lock:
        w = MilvusWriter(settings)
        try:
            yield w
        finally:
            w.close()


@contextmanager
def reader(settings: Settings) -> Iterator[MilvusStore]:
    yield shared(settings).refreshed()


def has_index(settings: Settings) -> bool:
    return shared(settings).refreshed().manifest.get("version") is not None


def scratch_lite(settings: Settings, folder: Path) -> Settings:
    return settings.replace(index_dir=folder / "index", store=str(folder / "eval.db"))


# One backend, two kinds: a Milvus Lite file can hold a throwaway store, a server's collections are not ours to reset.
register("milvus-lite", Backend(reader=reader, writer=writer, has_index=has_index, scratch=scratch_lite))
register("milvus", Backend(reader=reader, writer=writer, has_index=has_index))
