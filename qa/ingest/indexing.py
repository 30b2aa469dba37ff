"""Build and update the index incrementally from files and folders.

Every run writes through the store's `Writer` (`store.open_writer`), which publishes a new version atomically.
Unchanged files (same size and mtime, or same content hash) cost nothing; content already indexed
under another name is stored once; files that vanished leave both the vector and keyword index.
A bad file gets one line in `IndexStats.errors` and the rest are indexed; so does a PDF page that could
not be read ("scan.pdf, page 3: …"), and the rest of its file is indexed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Settings
from ..embedding import Embedder, settings_embedder
from ..errors import DocumentError, InputError
from ..store import Writer, open_writer
from .chunking import chunk_text
from .documents import SUFFIXES, Document, Limits, Reading, parse, sha256_bytes

log = logging.getLogger(__name__)
FLUSH_CHUNKS = 256
# (files done, files total, chunks embedded, chunks/s[, note]): while a scanned PDF is read, files done is fractional
# (2.5: half of the third file's scanned pages) and the note names the page ("scan.pdf: OCR page 3 of 6").
Progress = Callable[..., None]


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
    writer: Writer
    embedder_factory: Callable[[], Embedder]
    errors: list[str] = field(default_factory=list)
    pending: list[tuple[Document, list]] = field(default_factory=list)
    embedded: int = 0
    ray: str | None = None  # parse and embed on Ray (address, or "local")
    deferred: dict[str, list[dict]] = field(default_factory=dict)  # sha -> files with that content, for Ray
    written: list[Document] = field(default_factory=list)  # documents written on the Ray path
    dim: int = 0  # their vectors' dimension
    on_page: Callable[[int, int], None] | None = None  # progress of the file being read, per scanned page
    _embedder: Embedder | None = None

    def queued(self, sha: str) -> bool:
        return sha in self.deferred or any(d.sha256 == sha for d, _ in self.pending)

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
        self.writer.write(self.pending, self.embedder.embed(texts), time.time())
        self.embedded += len(texts)
        self.pending.clear()


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


def _ingest(run: _Run, key: str, path: Path, size_limit: int, budget: list[int]) -> str:
    """Index one file; returns 'unchanged', 'added', 'updated' or 'failed'."""
    w = run.writer
    name = Path(key).name
    prev = w.prev(key)
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
            w.put_file(key, sha, info.st_size, info.st_mtime_ns)
            return "unchanged"
        if run.ray is not None and not w.known(sha):  # parsed, chunked and embedded on Ray, then recorded
            run.deferred.setdefault(sha, []).append({"key": key, "path": str(path), "sha": sha, "size": info.st_size,
                                                     "mtime": info.st_mtime_ns, "prev": bool(prev)})
            return "deferred"
        if not (w.known(sha) or run.queued(sha)):
            doc = parse(data, key, Limits.of(run.settings), Reading.of(run.settings, run.on_page))
            run.errors.extend(doc.problems)  # pages that could not be read; the rest of the file is indexed
            run.queue(doc)
    except FileNotFoundError:
        run.errors.append(f"{name}: vanished during indexing")
        return "failed"
    except DocumentError as e:
        run.errors.append(str(e))
        return "failed"
    except OSError as e:
        run.errors.append(f"{name}: cannot read ({e.strerror})")
        return "failed"
    w.put_file(key, sha, info.st_size, info.st_mtime_ns)
    return "updated" if prev else "added"


def update_index(paths: Iterable[str | Path] = (), *, action: str = "sync", settings: Settings | None = None,
                 embedder: Embedder | None = None, progress: Progress | bool = False,
                 ray_address: str | None = None) -> IndexStats:
    """Bring the index in line with `paths`.

    action: 'sync' (index exactly the files under paths), 'add' (add or update them, keep the rest),
    'remove' (drop the files at or under paths). `ray_address` ("local", "auto", "ray://HOST:10001"):
    parse, chunk and embed on Ray (see `indexing_ray`); the index is the same.
    """
    if action not in ("sync", "add", "remove"):
        raise InputError(f"unknown index action {action!r}")
    s = settings or Settings.from_env()
    t0 = time.perf_counter()
    errors: list[str] = []
    with open_writer(s, errors=errors) as writer:
        run = _Run(s, writer, errors=errors, ray=ray_address, embedder_factory=(lambda: embedder) if embedder else
                   (lambda: settings_embedder(s)))
        try:
            return _sync(paths, action, run, progress, t0)
        finally:
            if ray_address is not None:  # Ray's workers hold GBs: stopped after the run unless QA_RAY_KEEP=1
                from .indexing_ray import shutdown

                shutdown(s.ray_keep)


def _sync(paths, action: str, run: _Run, progress, t0: float) -> IndexStats:
    s, w, errors, skipped = run.settings, run.writer, run.errors, []
    counts = {"added": 0, "updated": 0, "unchanged": 0, "failed": 0}
    known = w.paths()
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
        counts["deferred"] = 0
        for i, (key, path) in enumerate(found.items(), 1):
            run.on_page = _page_progress(bar, i, len(found), Path(key).name, run, t0) if bar else None
            counts[_ingest(run, key, path, int(s.max_file_mb * 1e6), budget)] += 1
            if i == len(found):
                run.flush()  # before the last progress update, so it counts every chunk
            if bar and not run.deferred:
                bar(i, len(found), run.embedded, run.embedded / max(time.perf_counter() - t0, 1e-9))
        if run.deferred:
            _on_ray(run, counts, bar, len(found) - counts["deferred"], len(found), t0)
    for key in gone:
        w.drop_file(key)
    orphans = w.settle()
    n_docs, n_chunks = w.counts()
    prev = w.previous
    done = dict(removed=len(gone), unchanged=counts["unchanged"], errors=tuple(errors), skipped=tuple(skipped))
    if prev is not None and not (counts["added"] or counts["updated"] or gone or orphans):
        return IndexStats(n_docs, n_chunks, seconds=time.perf_counter() - t0, version=prev["version"],
                          index_type=prev["index_type"], **done)
    if prev is None and n_chunks == 0:
        raise DocumentError("nothing to index: " + ("; ".join(errors[:3]) or "no supported files found"))
    if run.dim:  # the Ray path embedded: its vectors say the dimension
        dim = run.dim
    else:
        dim = run.embedder.dim if (run._embedder or prev is None) else int(prev["dim"])
    approx = n_chunks > s.approx_threshold
    manifest = {"embedder": s.embedder, "dim": dim, "documents": n_docs, "chunk_chars": s.chunk_chars,
                "created": time.time()}
    version, ntotal, index_type = w.publish(manifest, approx=approx)
    log.info("published %s: %d documents, %d chunks", version, n_docs, ntotal)
    return IndexStats(n_docs, ntotal, added=counts["added"], updated=counts["updated"], chunks_embedded=run.embedded,
                      seconds=time.perf_counter() - t0, version=version, index_type=index_type,
                      **done)


def _on_ray(run: _Run, counts: dict, bar: Progress | None, done: int, total: int, t0: float) -> None:
    """Parse, chunk and embed the deferred files on Ray; write and record them here, in order."""
    from .indexing_ray import parse_and_embed

    items = [files[0] for files in run.deferred.values()]
    batch: list[tuple[Document, list]] = []
    vectors: list[np.ndarray] = []
    for item, doc, chunks, vecs, error in parse_and_embed(items, run.settings, run.ray):
        files = run.deferred[item["sha"]]
        if error:
            run.errors.append(error)
            counts["failed"] += len(files)
        else:
            run.errors.extend(doc.problems)
            batch.append((doc, chunks))
            vectors.append(vecs)
            if sum(len(c) for _, c in batch) >= FLUSH_CHUNKS:
                _write(run, batch, vectors)
        done += len(files)
        if bar:
            bar(done, total, run.embedded + sum(len(c) for _, c in batch),
                run.embedded / max(time.perf_counter() - t0, 1e-9))
    _write(run, batch, vectors)
    written = {d.sha256 for d in run.written}
    for sha, files in run.deferred.items():  # files point at their documents once those are written
        for f in files if sha in written else []:
            run.writer.put_file(f["key"], f["sha"], f["size"], f["mtime"])
            counts["updated" if f["prev"] else "added"] += 1
    counts["deferred"] = 0


def _write(run: _Run, batch: list, vectors: list) -> None:
    if batch:
        run.dim = int(vectors[0].shape[1])
        run.writer.write(batch, np.concatenate(vectors), time.time())
        run.embedded += sum(len(c) for _, c in batch)
        run.written.extend(d for d, _ in batch)
        batch.clear()
        vectors.clear()


def _page_progress(bar: Progress, i: int, total: int, name: str, run: _Run, t0: float) -> Callable[[int, int], None]:
    """Progress within the i-th file, one call per scanned page read."""
    def on_page(done: int, pages: int) -> None:
        rate = run.embedded / max(time.perf_counter() - t0, 1e-9)
        bar(i - 1 + done / max(pages, 1), total, run.embedded, rate, f"{name}: OCR page {done} of {pages}")
    return on_page


def _bar(progress: Progress | bool, total: int) -> Progress | None:
    if callable(progress):
        return progress
    if not progress or total == 0:
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="file", dynamic_ncols=True)

    def update(done: float, _total: int, chunks: int, rate: float, note: str = "") -> None:
        bar.set_description_str(note)  # a scanned page being read; the bar itself counts whole files
        if note:
            return
        bar.set_postfix(chunks=chunks, chunks_per_s=f"{rate:.0f}", refresh=False)
        bar.update(int(done) - bar.n)
        if done == total:
            bar.close()

    return update
