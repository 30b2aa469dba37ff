"""Indexing on Ray: Ray Data reads, parses and chunks the files, a pool of actors embeds them.

`update_index(…, ray_address=…)` hands the files that need (re)indexing to `parse_and_embed`; the
driver still decides what changed and writes the store, so the result is the same index, chunk for
chunk, as the single-process path (same parser, chunker and embedder; order preserved). Each actor
loads the embedder once. `ray_address`: "local" (or None) starts a local runtime with the CPUs of this
machine; "auto" or "ray://HOST:10001" joins a cluster, whose workers must see the same file paths.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, replace

import numpy as np

from ..config import Settings
from ..errors import QAError
from .chunking import Chunk
from .documents import Document, Limits

log = logging.getLogger(__name__)
ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "GRADIO_ANALYTICS_ENABLED": "False"}


def _init(address: str | None, settings: Settings) -> int:
    """Start or join Ray; returns the CPUs available for embedding actors."""
    import ray

    if not ray.is_initialized():
        # Ray waits 30 s for its local control store to publish its port; on a busy machine (load average 20 on
        # 2 cores) it missed that twice in a row. A user's own value stands.
        os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "120")
        kwargs = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True,
                  "runtime_env": {"env_vars": ENV}, "logging_level": logging.WARNING}
        if address in (None, "", "local"):
            try:
                ray.init(num_cpus=settings.threads, **kwargs)
            except Exception as e:  # Ray gives its local processes 30 s to start; a busy machine can miss that once
                if "timed out" not in str(e).lower():  # "… timed out during startup", "Timed out waiting for file …"
                    raise
                log.warning("Ray's local runtime did not start in time (%s); trying once more", e)
                ray.shutdown()
                ray.init(num_cpus=settings.threads, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ray.data.DataContext.get_current().enable_progress_bars = False
    return max(1, int(ray.available_resources().get("CPU", 1)))


def _parse(row: dict, limits: tuple[int, int], chunk_chars: int, overlap: int, ocr: str, languages: str) -> dict:
    """Read and parse one file and chunk it (runs in a Ray worker; scanned pages are OCR'd one at a time)."""
    from .chunking import chunk_text
    from .documents import Limits, Reading, read_document

    try:
        doc = read_document(__import__("pathlib").Path(row["path"]), Limits(*limits),
                            Reading(ocr, languages=languages))
    except QAError as e:
        return {**row, "error": str(e), "doc": "", "chunks": ""}
    doc = replace(doc, path=row["key"])
    chunks = chunk_text(doc.text, size=chunk_chars, overlap=overlap)
    return {**row, "error": "", "doc": json.dumps(asdict(doc)), "chunks": json.dumps([asdict(c) for c in chunks])}


class _Embed:
    """A Ray actor: loads the embedder once, embeds the chunks of a batch of documents."""

    def __init__(self, name: str, batch: int, threads: int, precision: str) -> None:
        from ..embedding import get_embedder

        self.embedder = get_embedder(name, batch, threads, precision)

    def __call__(self, batch: dict) -> dict:
        texts, counts = [], []
        for doc, chunks, error in zip(batch["doc"], batch["chunks"], batch["error"], strict=True):
            if error:
                counts.append(0)
                continue
            title = json.loads(doc)["title"]
            cs = json.loads(chunks)
            texts += [f"{title}\n{c['text']}" for c in cs]
            counts.append(len(cs))
        vecs = self.embedder.embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        out, row = [], 0
        for n in counts:
            out.append(vecs[row:row + n].astype(np.float32).tobytes() if n else b"")
            row += n
        return {**batch, "vectors": np.array(out, dtype=object), "dim": np.full(len(counts), vecs.shape[1])}


def parse_and_embed(items: list[dict], settings: Settings, address: str | None
                    ) -> Iterator[tuple[dict, Document | None, list[Chunk], np.ndarray | None, str]]:
    """For each {key, path, sha}: (item, document, chunks, vectors, error), in the order given."""
    import ray

    if not items:
        return
    cpus = _init(address, settings)
    actors = max(1, min(cpus, len(items)))
    limits = Limits.of(settings)
    ds = ray.data.from_items(items, override_num_blocks=min(len(items), actors * 4))
    ds = ds.map(_parse, fn_kwargs={"limits": (limits.unpacked_bytes, limits.text_chars),
                                   "chunk_chars": settings.chunk_chars, "overlap": settings.chunk_overlap_sentences,
                                   "ocr": settings.ocr, "languages": settings.ocr_languages})
    ds = ds.map_batches(_Embed, fn_constructor_kwargs={"name": settings.embedder, "batch": settings.embed_batch,
                                                       "threads": max(1, settings.threads // actors),
                                                       "precision": settings.embed_precision},
                        compute=ray.data.ActorPoolStrategy(size=actors), batch_size=8, num_cpus=1)
    log.info("indexing %d files on Ray with %d embedding actors", len(items), actors)
    for row in ds.iter_rows():
        item = {"key": row["key"], "path": row["path"], "sha": row["sha"]}
        if row["error"]:
            yield item, None, [], None, row["error"]
            continue
        d = json.loads(row["doc"])
        doc = Document(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        chunks = [Chunk(**c) for c in json.loads(row["chunks"])]
        vecs = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(chunks), int(row["dim"]))
        yield item, doc, chunks, vecs, ""


def shutdown(keep: bool = False) -> None:
    """Stop Ray's workers after a run, unless `keep` (QA_RAY_KEEP)."""
    import ray

    if ray.is_initialized() and not keep:
        ray.shutdown()
