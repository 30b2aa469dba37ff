"""Scale-out paths with the real embedder: the Milvus store from the command line, and indexing on Ray
(a local runtime with 2 CPUs) giving the same index, chunk for chunk, as the single process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qa.config import Settings
from qa.ingest.indexing import update_index
from qa.store import Store
from tests.conftest import ROOT
from tests.pdfgen import docx_bomb

pytestmark = pytest.mark.slow
YEARS = "Which years were designated as the Years of High-Quality Development?"


def qa(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


@pytest.mark.parametrize("ray", [False, True])
def test_cli_index_and_ask_on_milvus_lite(tmp_path, ray):
    corpus = str(ROOT / "corpus")
    built = qa("index", corpus, "--store", "qa.db", "-q", *(["--ray"] if ray else []), cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "(milvus) in m-000001: 1 added" in built.stdout
    # a generated answer on Milvus once, with the small SmolLM2 preset (the store only feeds retrieval, which both
    # modes share; Qwen's first answer of a process took 80 s on AVX2 only); the index Ray built is checked through
    # the quoted sentence
    out = qa("ask", YEARS, "--store", "qa.db", "--json", "--model", "smollm2-135m",
             *(["--mode", "extractive"] if ray else []), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    a = json.loads(out.stdout)
    quoted = " ".join(c["quote"] for c in a["citations"])  # the passage found on Milvus, whatever SmolLM2 wrote
    assert "2025" in quoted and "2026" in quoted and not a["abstained"]
    text = (ROOT / "corpus" / "china-central-asia-cooperation.md").read_text()
    assert all(text[c["start"]:c["end"]] == c["quote"] for c in a["citations"]) and a["citations"]
    docs = qa("docs", "--store", "qa.db", "--json", cwd=tmp_path)
    assert [d["path"].rsplit("/", 1)[-1] for d in json.loads(docs.stdout)] == ["china-central-asia-cooperation.md"]


def test_docs_and_eval_read_the_store_named_not_the_local_index(tmp_path):
    """`qa docs --store` and `qa eval --store` once listed and scored the checkout's local index (the article)."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "pump.md").write_text("# Pump manual\n\nThe pump restarts after 12 minutes when the tank is full.\n\n"
                                   "The valve opens at a pressure of 3 bar.\n")
    built = qa("index", str(notes), "--store", "x.db", "-q", cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    docs = qa("docs", "--store", "x.db", "--json", cwd=tmp_path)
    assert [d["path"].rsplit("/", 1)[-1] for d in json.loads(docs.stdout)] == ["pump.md"]
    (tmp_path / "q.jsonl").write_text(json.dumps({"q": "At what pressure does the valve open?", "gold": ["3 bar"],
                                                  "answerable": True}))
    out = qa("eval", "q.jsonl", "--store", "x.db", "--mode", "extractive", "--json-out", "r.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["accuracy"] == 100.0 and r["citation_validity"] == 100.0 and r["rows"][0]["valid"] == [True]


def _rows(index_dir):
    store = Store.open(index_dir)
    try:
        return store._conn.execute("SELECT id, sha256, ord, start, end, title, text, vector FROM chunks "
                                   "ORDER BY id").fetchall()
    finally:
        store.close()


def test_ray_builds_the_same_index_chunk_for_chunk(tmp_path):
    import ray

    folder = tmp_path / "docs"
    folder.mkdir()
    sources = [*(ROOT / "bench" / "followups-corpus").iterdir(), ROOT / "corpus" / "china-central-asia-cooperation.md"]
    for src in sources:
        (folder / src.name).write_bytes(src.read_bytes())
    (folder / "bomb.docx").write_bytes(docx_bomb(100))
    single = Settings.from_env(index_dir=tmp_path / "single")
    on_ray = Settings.from_env(index_dir=tmp_path / "ray", threads=2)
    a = update_index([folder], settings=single)
    keep = on_ray.replace(ray_keep=True)
    b = update_index([folder], settings=keep, ray_address="local")
    assert ray.is_initialized()  # QA_RAY_KEEP=1: the runtime stays up for the next run
    assert (a.documents, a.chunks, a.added) == (b.documents, b.chunks, b.added) and b.chunks > 8
    assert any("bomb.docx: unpacks to" in e for e in b.errors)  # a bad file is reported; the rest is indexed
    ra, rb = _rows(single.index_dir), _rows(on_ray.index_dir)
    assert [r[:7] for r in ra] == [r[:7] for r in rb]  # ids, documents, offsets, titles, texts
    va = np.stack([np.frombuffer(r[7], dtype=np.float32) for r in ra])
    vb = np.stack([np.frombuffer(r[7], dtype=np.float32) for r in rb])
    assert np.abs(va - vb).max() < 1e-5  # the same embedder; batches differ only in padding
    again = update_index([folder], settings=keep, ray_address="local")
    assert again.chunks_embedded == 0 and again.version == b.version  # incremental as before
    (folder / sources[0].name).write_text(sources[0].read_text() + "\n\nA sentence added later.\n")
    changed = update_index([folder], settings=on_ray, ray_address="local")
    assert changed.updated == 1 and not ray.is_initialized()  # without QA_RAY_KEEP the runtime is stopped
