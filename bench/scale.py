"""Scale figures (`make scale`): both stores at 100k and 1M synthetic chunks, Ray beside one process,
and indexing memory at 2k / 8k / 32k chunks. Printed and appended to bench/RESULTS.md.

    python bench/scale.py [--sizes 100000 1000000] [--stores local milvus-lite] [--skip-ray] [--skip-memory]

Stores: synthetic documents (random words of the default article, ~300 characters a chunk) with random
unit vectors (dim 384, clustered so neighbours exist) are written through each store's real writer
(local: SQLite + FTS5 + FAISS HNSW M32, published as a version; Milvus Lite: the BM25 function and the
completion records), each size in a fresh process for its peak memory. Queries: 50 perturbed copies of
stored vectors with 8 of their chunk's words; hybrid p50/p95 through the store's `hybrid`, and
recall@10 of the dense search against exact search (numpy). Embedding is not part of these figures.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DIM = 384


def synthetic(n: int, seed: int = 0):
    """(docs, vectors): documents of 50 chunks, chunk texts, unit vectors around 1,000 centres."""
    from qa.ingest.chunking import Chunk
    from qa.ingest.documents import Document

    words = [w.strip(".,#*") for w in (ROOT / "corpus" / "china-central-asia-cooperation.md").read_text().split()]
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, DIM)).astype(np.float32)
    vecs = centres[rng.integers(0, 1000, n)] + 0.6 * rng.normal(size=(n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    docs = []
    for d in range(0, n, 50):
        texts = [" ".join(rnd.choice(words) for _ in range(45)) + "." for _ in range(min(50, n - d))]
        text, chunks, pos = "", [], 0
        for t in texts:
            chunks.append(Chunk(pos, pos + len(t), t))
            text += t + " "
            pos += len(t) + 1
        sha = f"{d:064x}"
        docs.append((Document(f"/synthetic/doc{d:08d}.txt", f"doc{d}", text, sha), chunks))
    return docs, vecs


def build_and_query(store: str, n: int, tmp: Path) -> dict:
    """Runs in a child process: write `n` chunks through the store's writer, then query it."""
    from qa.config import Settings
    from qa.store import open_reader, open_writer

    docs, vecs = synthetic(n)
    s = Settings(index_dir=tmp / "index", store=str(tmp / "scale.db") if store == "milvus-lite" else "")
    t0 = time.perf_counter()
    with open_writer(s) as w:
        row = 0
        for i in range(0, len(docs), 40):  # 2,000 chunks a write
            batch = docs[i:i + 40]
            count = sum(len(c) for _, c in batch)
            w.write(batch, vecs[row:row + count], time.time())
            for d, _ in batch:
                w.put_file(d.path, d.sha256, len(d.text), 0)
            row += count
        w.settle()
        w.publish({"embedder": s.embedder, "dim": DIM, "documents": len(docs), "chunk_chars": s.chunk_chars,
                   "created": time.time()}, approx=n > s.approx_threshold)
    build = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    picks = rng.integers(0, n, 50)
    queries = vecs[picks] + 0.05 * rng.normal(size=(50, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    texts = [" ".join(c.text.split()[:8]) for i in picks for c in [_chunk(docs, int(i))]]
    exact = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
    lat, recall = [], []
    with open_reader(s) as st:
        ids = _ids(st, docs)
        for q, text, truth in zip(queries, texts, exact, strict=True):
            t = time.perf_counter()
            st.hybrid(q, text, 20)
            lat.append(time.perf_counter() - t)
            got = _dense(st, q, 10)
            recall.append(len({ids[g] for g in got if g in ids} & set(truth.tolist())) / 10)
    return {"store": store, "chunks": n, "build_s": build, "rows_per_s": n / build,
            "p50_ms": statistics.median(lat) * 1e3, "p95_ms": sorted(lat)[int(0.95 * len(lat)) - 1] * 1e3,
            "recall10": float(np.mean(recall)), "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _chunk(docs, i: int):
    return docs[i // 50][1][i % 50]


def _ids(st, docs) -> dict[int, int]:
    """Store chunk id -> synthetic row number."""
    if hasattr(st, "_conn"):
        rows = st._conn.execute("SELECT id, sha256, ord FROM chunks").fetchall()
        return {r[0]: int(r[1], 16) + r[2] for r in rows}
    from qa.store.milvus import chunk_id

    return {chunk_id(d.sha256, o): int(d.sha256, 16) + o for d, cs in docs for o in range(len(cs))}


def _dense(st, q: np.ndarray, k: int) -> list[int]:
    if hasattr(st, "_conn"):
        return [i for i, _ in st.dense(q, k)]
    hits = st.cols.c.search(st.cols.name("chunks"), [q.tolist()], anns_field="vector", limit=k,
                            search_params={"metric_type": "IP"})
    return [int(h["id"]) for h in hits[0]]


def child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1][:300] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def ray_vs_single(tmp: Path) -> dict:
    """The same synthetic corpus (real embedding) indexed in one process and on a local Ray runtime."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench import make_corpus

    corpus = tmp / "ray-corpus"
    make_corpus(corpus, files=40, chunks_per_file=50, seed=5)
    single = child("index", str(corpus), str(tmp / "i1"), "")
    on_ray = child("index", str(corpus), str(tmp / "i2"), "local")
    return {"single": single, "ray": on_ray}


def index_child(corpus: str, index_dir: str, ray: str) -> dict:
    from qa.config import Settings
    from qa.embedding import settings_embedder
    from qa.ingest.indexing import update_index

    s = Settings.from_env(index_dir=Path(index_dir))
    if not ray:
        settings_embedder(s).embed(["warm up"])  # load time excluded
    t0 = time.perf_counter()
    stats = update_index([corpus], settings=s, ray_address=ray or None)
    dt = time.perf_counter() - t0
    return {"chunks": stats.chunks, "seconds": dt, "chunks_per_s": stats.chunks / dt,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def memory(tmp: Path) -> list[dict]:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench import make_corpus

    out = []
    for chunks in (2000, 8000, 32000):
        corpus = tmp / f"mem{chunks}"
        make_corpus(corpus, files=chunks // 100, chunks_per_file=100, seed=9)
        out.append(child("index", str(corpus), str(tmp / f"m{chunks}"), ""))
        shutil.rmtree(corpus, ignore_errors=True)
    return out


def record(lines: list[str]) -> None:
    text = f"\n## {time.strftime('%Y-%m-%d %H:%M')} — `bench/scale.py` (2 cores)\n\n" + "\n".join(lines) + "\n"
    print(text)
    with open(ROOT / "bench" / "RESULTS.md", "a") as f:
        f.write(text)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        if sys.argv[2] == "index":
            print(json.dumps(index_child(*sys.argv[3:6])))
        else:
            print(json.dumps(build_and_query(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--stores", nargs="+", default=["local", "milvus-lite"], choices=["local", "milvus-lite"])
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    lines = ["| store | chunks | build (insert) | rows/s | hybrid p50 / p95 | dense recall@10 | peak RSS |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for store in args.stores:
                d = Path(tmp) / f"{store}-{n}"
                d.mkdir()
                r = child(store, str(n), str(d))
                shutil.rmtree(d, ignore_errors=True)
                row = (f"| {store} | {n:,} | error: {r['error']} | | | | |" if "error" in r else
                       f"| {store}{' (HNSW)' if store == 'local' else ''} | {n:,} | {r['build_s']:.0f} s | "
                       f"{r['rows_per_s']:,.0f} | {r['p50_ms']:.1f} / {r['p95_ms']:.1f} ms | {r['recall10']:.3f} | "
                       f"{r['peak_mib']:,.0f} MiB |")
                lines.append(row)
                print(row, flush=True)
        if not args.skip_ray:
            r = ray_vs_single(Path(tmp))
            a, b = r["single"], r["ray"]
            lines += ["", "| indexing, same corpus | chunks | seconds | chunks/s | peak RSS (driver) |",
                      "| --- | --- | --- | --- | --- |"]
            for name, x in (("one process", a), ("Ray, local runtime, 2 CPUs", b)):
                lines.append(f"| {name} | {x.get('chunks')} | {x.get('seconds', 0):.1f} | "
                             f"{x.get('chunks_per_s', 0):.1f} | {x.get('peak_mib', 0):,.0f} MiB |")
            if "seconds" in a and "seconds" in b:
                lines.append(f"\nRay / one process: {b['chunks_per_s'] / a['chunks_per_s']:.2f}× the throughput")
            print("\n".join(lines[-5:]), flush=True)
        if not args.skip_memory:
            lines += ["", "| `qa index` (fresh process) | chunks | seconds | peak RSS |", "| --- | --- | --- | --- |"]
            for x in memory(Path(tmp)):
                lines.append(f"| synthetic | {x.get('chunks')} | {x.get('seconds', 0):.0f} | "
                             f"{x.get('peak_mib', 0):,.0f} MiB |")
            print("\n".join(lines[-4:]), flush=True)
    record(lines)


if __name__ == "__main__":
    main()
