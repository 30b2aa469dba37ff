"""`make bench`: speed and memory figures, printed and appended to bench/RESULTS.md.

Figures: indexing throughput (real MiniLM) vs a bare SentenceTransformer.encode of the same chunks,
re-index time after 1 of 100 files changed, retrieval latency at 10k chunks (real) and exact vs
approximate (HNSW) at 10k and 200k synthetic vectors with recall@10; for both generator presets on
both runtimes (each in a fresh process) load time, time to first token, decode speed and peak memory;
the one-time conversion of the default model (time, peak memory); answer latency and time to the
first verified sentence; peak memory.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.embedding import settings_embedder  # noqa: E402
from qa.ingest.indexing import update_index  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def make_corpus(folder: Path, files: int, chunks_per_file: int, seed: int = 0) -> None:
    """Synthetic English-like documents built from the words of the default article."""
    words = (ROOT / "corpus" / "china-central-asia-cooperation.md").read_text().split()
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        sentences = []
        for _ in range(chunks_per_file * 4):
            s = " ".join(rnd.choice(words).strip(".,#") for _ in range(rnd.randint(12, 24)))
            sentences.append(s[:1].upper() + s[1:] + ".")
        (folder / f"doc{f:03d}.txt").write_text(" ".join(sentences))


def bench_indexing(out: dict, tmp: Path) -> Settings:
    corpus = tmp / "synthetic"
    make_corpus(corpus, files=100, chunks_per_file=75)
    s = Settings.from_env(index_dir=tmp / "index")
    emb = settings_embedder(s)
    emb.embed(["warm up"])
    t0 = time.perf_counter()
    stats = update_index([corpus], settings=s)
    full = time.perf_counter() - t0
    out["index_chunks"] = stats.chunks
    out["index_seconds"] = full
    out["index_chunks_per_s"] = stats.chunks / full
    import sqlite3

    from qa.store import Store

    store = Store.open(s.index_dir)
    with sqlite3.connect(store.dir / "chunks.sqlite") as c:
        texts = [f"{t}\n{x}" for t, x in c.execute("SELECT title, text FROM chunks")]
    t0 = time.perf_counter()
    emb.model.encode(texts, batch_size=s.embed_batch, normalize_embeddings=True, show_progress_bar=False)
    bare = time.perf_counter() - t0
    out["bare_encode_chunks_per_s"] = len(texts) / bare
    out["index_vs_bare"] = (stats.chunks / full) / (len(texts) / bare)
    # re-index when 1 of 100 files changed
    target = corpus / "doc042.txt"
    target.write_text(target.read_text() + " One more sentence changes this file.")
    t0 = time.perf_counter()
    inc = update_index([corpus], settings=s)
    out["reindex_1_of_100_s"] = time.perf_counter() - t0
    out["reindex_ratio"] = out["reindex_1_of_100_s"] / full
    assert inc.updated == 1 and inc.unchanged == 99
    # real retrieval latency at ~10k chunks
    from qa.answer.retrieval import retrieve

    qs = [" ".join(random.Random(i).sample(texts[i].split(), 8)) for i in range(60)]
    lat = []
    for q in qs:
        t0 = time.perf_counter()
        retrieve(q, store, emb, k=5)
        lat.append(time.perf_counter() - t0)
    out["retrieve_10k_p50_ms"], out["retrieve_10k_p95_ms"] = pct(lat, 0.5) * 1e3, pct(lat, 0.95) * 1e3
    return s


def bench_memory(out: dict, tmp: Path) -> None:
    """Peak RSS of `qa index` on a corpus and on one four times larger (each in a fresh process)."""
    import subprocess

    for files in (20, 80):
        corpus = tmp / f"mem{files}"
        make_corpus(corpus, files=files, chunks_per_file=75, seed=files)
        code = ("import resource, sys; from pathlib import Path; from qa.config import Settings; "
                "from qa.ingest.indexing import update_index; "
                f"st = update_index([Path({str(corpus)!r})], settings=Settings.from_env(index_dir=Path({str(tmp)!r}) "
                f"/ 'mem-index-{files}')); "
                "print(st.chunks, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        line = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        chunks, rss = line.stdout.split()[-2:]
        out[f"mem_index_{files}_files"] = (int(chunks), int(rss) / 1024)


def bench_ann(out: dict) -> None:
    import faiss

    rnd = np.random.default_rng(0)
    for n in (10_000, 200_000):
        centers = rnd.normal(size=(200, 384)).astype(np.float32)
        x = centers[rnd.integers(0, 200, n)] + 0.6 * rnd.normal(size=(n, 384)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        q = x[rnd.integers(0, n, 200)] + 0.1 * rnd.normal(size=(200, 384)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        flat = faiss.IndexFlatIP(384)
        flat.add(x)
        t0 = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(384, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.add(x)
        build = time.perf_counter() - t0
        hnsw.hnsw.efSearch = Settings().hnsw_ef_search
        res = {}
        for name, index in (("exact", flat), ("hnsw", hnsw)):
            lat, found = [], []
            for row in q:
                t0 = time.perf_counter()
                _, ids = index.search(row[None], 10)
                lat.append(time.perf_counter() - t0)
                found.append(ids[0])
            res[name] = (pct(lat, 0.5) * 1e3, pct(lat, 0.95) * 1e3, found)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(res["hnsw"][2], res["exact"][2], strict=True)])
        key = f"{n // 1000}k"
        out[f"ann_{key}"] = {"exact_p50_ms": res["exact"][0], "exact_p95_ms": res["exact"][1],
                             "hnsw_p50_ms": res["hnsw"][0], "hnsw_p95_ms": res["hnsw"][1],
                             "recall_at_10": float(recall), "hnsw_build_s": build}


YEARS_Q = "Which years were designated as the Years of High-Quality Development?"


def generator_figures(preset: str, runtime: str) -> dict:
    """Run in a fresh process: load time, time to first token and decode speed on the real prompt, peak RSS.

    Runtime "ctranslate2-plain" is the ablation: CTranslate2 with its own ISA choice (AVX2) and every
    thread, whatever the model's size.
    """
    if runtime == "ctranslate2-plain":
        import qa.generation.ctranslate2 as ct2

        os.environ["CT2_FORCE_CPU_ISA"] = "AVX2"
        ct2.SMALL_MODEL_BYTES = 0
        runtime = "ctranslate2"
    from qa.answer.answerability import choose
    from qa.answer.pipeline import retrieve_stage
    from qa.answer.prompting import build_messages
    from qa.generation import load_generator
    from qa.store import live

    s = Settings.from_env()
    emb = settings_embedder(s)
    with live.using(s.index_dir) as store:
        r = retrieve_stage(YEARS_Q, None, store, emb, s)
    c = choose(YEARS_Q, r.query, r.evidence, r.scores, s)
    msgs = build_messages(YEARS_Q, [r.evidence[i].text for i in c.focus])
    t0 = time.perf_counter()
    gen = load_generator(preset, cache_dir=s.cache_dir, threads=s.threads, runtime=runtime)
    load = time.perf_counter() - t0
    ttft, rates = [], []
    for _ in range(4):
        t0 = time.perf_counter()
        first, pieces = None, []
        for piece in gen.stream(msgs, max_new_tokens=48):
            first = first or time.perf_counter()
            pieces.append(piece)
        end = time.perf_counter()
        n_new = len(gen.tokenizer("".join(pieces), add_special_tokens=False)["input_ids"])
        ttft.append(first - t0)
        rates.append((n_new - 1) / (end - first) if n_new > 1 and end > first else 0.0)
    prompt = len(gen.tokenizer.apply_chat_template(msgs, add_generation_prompt=True))
    # the first run computes the cached worked-examples prefix (CTranslate2); the median is the steady state
    return {"load_s": load, "ttft_s": statistics.median(ttft[1:]), "ttft_first_s": ttft[0],
            "isa": getattr(gen, "isa", None), "threads": getattr(gen, "threads", s.threads),
            "decode_tok_s": statistics.median(rates), "prompt_tokens": prompt,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def conversion_figures(preset: str) -> dict:
    """Run in a fresh process: the one-time GGUF -> safetensors -> CTranslate2 conversion into an empty cache."""
    from qa.generation.models import gguf_to_hf, hf_to_ct2, resolve

    with tempfile.TemporaryDirectory(prefix="qa-convert-") as cache:
        src = resolve(preset, Path(cache))
        t0 = time.perf_counter()
        gguf_to_hf(src, lambda _: None)
        hf = time.perf_counter() - t0
        hf_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        hf_to_ct2(src, lambda _: None)
        return {"hf_s": hf, "ct2_s": time.perf_counter() - t0 - hf, "hf_peak_mib": hf_rss,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child(*args: str) -> dict:
    import json
    import subprocess

    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_model(out: dict) -> None:
    out["generators"] = {}
    for preset in ("qwen2.5-coder-1.5b", "smollm2-135m"):
        for runtime in ("ctranslate2", "ctranslate2-plain", "transformers"):
            out["generators"][(preset, runtime)] = _child("--generator", preset, runtime)
    out["conversion"] = _child("--convert", "qwen2.5-coder-1.5b")


def bench_answers(out: dict) -> None:
    from qa.answer.pipeline import ask

    s = Settings.from_env()
    qs = [line for line in (ROOT / "bench" / "questions-seed.jsonl").read_text().splitlines() if line]
    import json

    questions = [json.loads(x)["q"] for x in qs]
    for mode in ("extractive", "generated"):
        ask(questions[0], settings=s, mode=mode)
        lat, first, generated = [], [], 0
        for q in questions[:31]:  # the answerable ones
            t0 = time.perf_counter()
            a = ask(q, settings=s, mode=mode)
            lat.append(time.perf_counter() - t0)
            first.append(a.timings.get("first_sentence", lat[-1]))
            generated += a.mode == "generated"
        out[f"answer_{mode}_p50_s"] = statistics.median(lat)
        out[f"answer_{mode}_p95_s"] = pct(lat, 0.95)
        out[f"first_sentence_{mode}_p50_s"] = statistics.median(first)
        out[f"answer_{mode}_generated"] = (generated, len(lat))


STAGES = ("retrieve", "judge", "first_token", "generate", "narrow", "total")
CALLS = ("draft", "judge", "claim judge", "phrase", "translation")  # the model's calls, told apart by their prompt


class Counting:
    """The generator, counting for every call the tokens it reads beyond the cached prefix and the tokens it
    writes (`calls`: (kind, read, written)); everything else passes through."""

    def __init__(self, gen) -> None:
        self.gen, self.calls = gen, []

    def __getattr__(self, name: str):
        return getattr(self.gen, name)

    def _kind(self, messages: list[dict[str, str]]) -> str:
        from qa.answer import prompting

        system = messages[0]["content"]
        return {prompting.SYSTEM: "draft", prompting.JUDGE_SYSTEM: "judge", prompting.CLAIM_SYSTEM: "claim judge",
                prompting.SPAN_SYSTEM: "phrase"}.get(system, "translation")

    def _read(self, messages: list[dict[str, str]]) -> int:
        return len(self.gen.prompt_tokens(messages)[1])

    def stream(self, messages: list[dict[str, str]], *, max_new_tokens: int = 80, probe=None):
        kw = {"probe": probe} if probe is not None else {}
        text = ""
        for piece in self.gen.stream(messages, max_new_tokens=max_new_tokens, **kw):
            text += piece
            yield piece
        written = len(self.gen.tokenizer.encode(text, add_special_tokens=False))
        self.calls.append((self._kind(messages), self._read(messages), written))

    def p_yes(self, messages: list[dict[str, str]]) -> float:
        self.calls.append((self._kind(messages), self._read(messages), 1))
        return self.gen.p_yes(messages)


def token_figures(per_answer: list[list[tuple[str, int, int]]]) -> dict:
    """Per kind of call: how many answers made one, and the medians of the tokens read and written per answer."""
    out = {}
    for kind in CALLS:
        sums = [(sum(r for k, r, _ in calls if k == kind), sum(w for k, _, w in calls if k == kind))
                for calls in per_answer if any(k == kind for k, _, _ in calls)]
        if sums:
            out[kind] = {"answers": len(sums), "read_p50": statistics.median(r for r, _ in sums),
                         "written_p50": statistics.median(w for _, w in sums)}
    return out


def answer_figures(isa: str) -> dict:
    """Run in a fresh process (CTranslate2 reads its kernel choice once): the generated seed answers with the
    CPU's best kernels ("best") or those of `isa` (AVX2: what most laptops have), time per stage, prompt
    sizes, and one bare model call in the same process (the default model reading the seed "years" prompt
    and writing 10 tokens, the yardstick the speed targets are ratios of)."""
    if isa != "best":
        os.environ["CT2_FORCE_CPU_ISA"] = isa
    import json

    from qa.answer.answerability import choose
    from qa.answer.pipeline import ask, retrieve_stage
    from qa.answer.prompting import build_messages
    from qa.generation import settings_generator
    from qa.store import live

    s = Settings.from_env(mode="generated")
    emb = settings_embedder(s)
    with live.using(s.index_dir) as store:
        r = retrieve_stage(YEARS_Q, None, store, emb, s)
    c = choose(YEARS_Q, r.query, r.evidence, r.scores, s)
    msgs = build_messages(YEARS_Q, [r.evidence[i].text for i in c.focus])
    gen = Counting(settings_generator(s))
    bare = []
    for _ in range(4):  # the first run also computes the cached prefix
        t0 = time.perf_counter()
        for _piece in gen.stream(msgs, max_new_tokens=10):
            pass
        bare.append(time.perf_counter() - t0)
    prompt_tokens = len(gen.tokenizer.apply_chat_template(msgs, add_generation_prompt=True))
    whole = bare_whole_prompt(gen.gen, msgs)
    questions = [json.loads(x)["q"] for x in (ROOT / "bench" / "questions-seed.jsonl").read_text().splitlines() if x]
    ask(questions[0], settings=s, generator=gen)
    rows, calls = [], []
    for q in questions[:31]:  # the answerable ones
        gen.calls = []
        t0 = time.perf_counter()
        a = ask(q, settings=s, generator=gen)
        rows.append({**a.timings, "wall": time.perf_counter() - t0, "mode": a.mode})
        calls.append(gen.calls)
    med = {k: statistics.median([row.get(k, 0.0) for row in rows]) for k in STAGES}
    first = [row.get("first_sentence", row["wall"]) for row in rows]
    lists = []
    for q in list_questions():
        gen.calls = []  # a fresh list: the last one is the last one-fact answer's, in `calls`
        t0 = time.perf_counter()
        a = ask(q, settings=s, generator=gen)
        lists.append({"wall": time.perf_counter() - t0, "first": a.timings.get("first_sentence")})
    return {"isa": os.environ.get("CT2_FORCE_CPU_ISA") or getattr(gen, "isa", None) or "default",
            "bare_call_s": statistics.median(bare[1:]), "bare_prompt_tokens": prompt_tokens,
            "bare_whole_s": whole,
            "list_answers": len(lists), "list_p50_s": statistics.median(r["wall"] for r in lists),
            "list_first_p50_s": statistics.median(r["first"] or r["wall"] for r in lists),
            "answer_p50_s": statistics.median(r["wall"] for r in rows),
            "answer_p95_s": pct([r["wall"] for r in rows], .95),
            "first_sentence_p50_s": statistics.median(first), "stages_p50_s": med,
            "judged": sum("judge" in row for row in rows), "generated": sum(r["mode"] == "generated" for r in rows),
            "answers": len(rows), "tokens": token_figures(calls),
            "decode_tok_s": decode_speed(rows, calls)}


def list_questions() -> list[str]:
    """The list, compare and summary questions of bench/questions-synthesis.jsonl about the default corpus (every
    gold string in `corpus/`; the rest are about bench/followups-corpus, which the default index does not hold)."""
    import json

    from qa.answer.answerability import wants_several

    text = " ".join(p.read_text(errors="ignore") for p in sorted((ROOT / "corpus").iterdir()) if p.is_file()).lower()
    items = [json.loads(x) for x in (ROOT / "bench" / "questions-synthesis.jsonl").read_text().splitlines() if x]
    return [it["q"] for it in items if it["answerable"] and not it.get("history") and wants_several(it["q"])
            and all(g.lower() in text for g in it["gold"])]


def bare_whole_prompt(gen, msgs: list[dict[str, str]], runs: int = 3) -> float | None:
    """The issue's yardstick: one call reading the whole prompt (no cached prefix) and writing 10 tokens, median of
    `runs` (CTranslate2 only; None for another runtime)."""
    if getattr(gen, "runtime", "") != "ctranslate2":
        return None
    static, rest = gen.prompt_tokens(msgs)
    tokens = (static or []) + rest
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        gen.model.generate_batch([tokens], max_length=10, sampling_topk=1, end_token=gen._end,
                                 include_prompt_in_result=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def decode_speed(rows: list[dict], calls: list[list[tuple[str, int, int]]]) -> float:
    """Median tokens a second of the drafts after their first token (the draft's time: its first token to its end,
    verification included, as the user waits for it)."""
    speeds = []
    for row, c in zip(rows, calls, strict=True):
        written = sum(w for k, _, w in c if k == "draft")
        span = row.get("generate", 0.0) - row.get("first_token", 0.0)
        if written > 1 and span > 0:
            speeds.append((written - 1) / span)
    return statistics.median(speeds) if speeds else 0.0


def bench_answers_by_isa(out: dict) -> None:
    from qa.cpu import cpu_flags

    flags = cpu_flags()
    out["cpu_flags"] = " ".join(sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4"))))
    out["answers_by_isa"] = {isa: _child("--answers", isa) for isa in ("best", "AVX2")}


def isa_report(out: dict) -> str:
    lines = [f"CPU instruction sets: {out['cpu_flags']}", "",
             "| kernels | bare call (reads the years prompt, writes 10 tokens): whole prompt / after the cached "
             "prefix | answer p50 | answer p95 | first verified sentence p50 | p50 / bare: whole / cached | first / "
             "bare: whole / cached | stages p50 (retrieve / judge / first token / generate) | draft prompt tokens "
             "p50 | judged | by the model |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for isa, a in out["answers_by_isa"].items():
        st = a["stages_p50_s"]
        whole = a.get("bare_whole_s") or float("nan")
        lines.append(
            f"| {isa} ({a['isa']}) | {whole:.2f} / {a['bare_call_s']:.2f} s ({a['bare_prompt_tokens']} tokens) | "
            f"{a['answer_p50_s']:.2f} s | {a['answer_p95_s']:.2f} s | {a['first_sentence_p50_s']:.2f} s | "
            f"{a['answer_p50_s'] / whole:.2f}x / {a['answer_p50_s'] / a['bare_call_s']:.2f}x | "
            f"{a['first_sentence_p50_s'] / whole:.2f}x / {a['first_sentence_p50_s'] / a['bare_call_s']:.2f}x | "
            f"{st['retrieve']:.2f} / {st['judge']:.2f} / {st['first_token']:.2f} / {st['generate']:.2f} s | "
            f"{a.get('tokens', {}).get('draft', {}).get('read_p50', 0):.0f} | {a['judged']}/{a['answers']} | "
            f"{a['generated']}/{a['answers']} |")
    lines += ["", "List, compare and summary answers (bench/questions-synthesis.jsonl, the questions about the default "
              "corpus), against the same bare calls:", "",
              "| kernels | answers | p50 | first verified sentence p50 | p50 / bare: whole / cached | first / bare: "
              "whole / cached |", "| --- | --- | --- | --- | --- | --- |"]
    for isa, a in out["answers_by_isa"].items():
        if a.get("list_answers"):
            whole = a.get("bare_whole_s") or float("nan")
            lp, lf = a["list_p50_s"], a["list_first_p50_s"]
            lines.append(f"| {isa} | {a['list_answers']} | {lp:.2f} s | {lf:.2f} s | {lp / whole:.2f}x / "
                         f"{lp / a['bare_call_s']:.2f}x | {lf / whole:.2f}x / {lf / a['bare_call_s']:.2f}x |")
    lines += ["", "Tokens per answer and kind of model call (read: beyond the cached system prompt and examples; "
              "a judge writes its one yes/no token; the question and quote judges share a prompt), and the draft's "
              "decoding speed:", "",
              "| kernels | " + " | ".join(f"{k}: answers / read p50 / written p50" for k in CALLS) +
              " | draft decoding p50 |", "| --- |" + " --- |" * (len(CALLS) + 1)]
    for isa, a in out["answers_by_isa"].items():
        t = a.get("tokens", {})
        cells = [f"{t[k]['answers']} / {t[k]['read_p50']:.0f} / {t[k]['written_p50']:.0f}" if k in t else "0"
                 for k in CALLS]
        lines.append(f"| {isa} | " + " | ".join(cells) + f" | {a.get('decode_tok_s', 0):.1f} tok/s |")
    return "\n".join(lines)


def _index_rows(out: dict) -> list[tuple[str, str]]:
    a10, a200 = out["ann_10k"], out["ann_200k"]
    return [
        ("indexing throughput (10k synthetic chunks, 100 files)",
         f"{out['index_chunks_per_s']:.0f} chunks/s ({out['index_chunks']} chunks in {out['index_seconds']:.1f} s)"),
        ("bare SentenceTransformer.encode of the same chunks", f"{out['bare_encode_chunks_per_s']:.0f} chunks/s"),
        ("indexing / bare encode", f"{out['index_vs_bare']:.2f}"),
        ("re-index after 1 of 100 files changed",
         f"{out['reindex_1_of_100_s']:.2f} s = {100 * out['reindex_ratio']:.1f}% of a full build"),
        ("hybrid retrieval at 10k chunks (embed + FAISS + BM25 + fuse)",
         f"p50 {out['retrieve_10k_p50_ms']:.1f} ms, p95 {out['retrieve_10k_p95_ms']:.1f} ms"),
        ("vector search 10k: exact / HNSW",
         f"p50 {a10['exact_p50_ms']:.2f} / {a10['hnsw_p50_ms']:.2f} ms, p95 {a10['exact_p95_ms']:.2f} / "
         f"{a10['hnsw_p95_ms']:.2f} ms, recall@10 {a10['recall_at_10']:.3f}"),
        ("vector search 200k: exact / HNSW",
         f"p50 {a200['exact_p50_ms']:.2f} / {a200['hnsw_p50_ms']:.2f} ms, p95 {a200['exact_p95_ms']:.2f} / "
         f"{a200['hnsw_p95_ms']:.2f} ms, recall@10 {a200['recall_at_10']:.3f}, build {a200['hnsw_build_s']:.0f} s"),
        ("peak memory of `qa index` on two corpus sizes (fresh processes)",
         " vs ".join(f"{c} chunks: {m:.0f} MiB" for c, m in (out["mem_index_20_files"], out["mem_index_80_files"]))),
    ]


def _cpu(g: dict) -> str:
    return f" ({g['isa'] or 'default ISA'}, {g['threads']} thread{'s' * (g['threads'] > 1)})" if g.get("isa") else ""


def report(out: dict) -> str:
    rows = _index_rows(out) if "ann_10k" in out else []
    rows += [
        *[(f"generator {p} on {rt}{_cpu(g)}: load / first token / decode / peak RSS",
           f"{g['load_s']:.1f} s / {g['ttft_s']:.2f} s ({g['prompt_tokens']} prompt tokens; first call "
           f"{g['ttft_first_s']:.2f} s) / {g['decode_tok_s']:.1f} tok/s / {g['peak_rss_mib']:.0f} MiB")
          for (p, rt), g in out["generators"].items()],
        ("one-time conversion of qwen2.5-coder-1.5b: GGUF -> safetensors (bf16) / -> CTranslate2 int8, peak RSS",
         f"{out['conversion']['hf_s']:.0f} s / {out['conversion']['ct2_s']:.0f} s, "
         f"{out['conversion']['hf_peak_mib']:.0f} / {out['conversion']['peak_rss_mib']:.0f} MiB"),
        ("answer latency, extractive (seed questions)",
         f"p50 {out['answer_extractive_p50_s']:.3f} s, p95 {out['answer_extractive_p95_s']:.3f} s"),
        ("answer latency, generated, default model (31 answerable seed questions)",
         f"p50 {out['answer_generated_p50_s']:.2f} s, p95 {out['answer_generated_p95_s']:.2f} s; first verified "
         f"sentence p50 {out['first_sentence_generated_p50_s']:.2f} s; written by the model "
         f"{out['answer_generated_generated'][0]} of {out['answer_generated_generated'][1]}"),
        ("peak memory (RSS) of the benchmark process", f"{out['peak_rss_mib']:.0f} MiB"),
    ]
    lines = [f"## {time.strftime('%Y-%m-%d %H:%M')} — `make bench` ({Settings().threads} threads)", "",
             "| figure | value |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    import json

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--generator", nargs=2, metavar=("PRESET", "RUNTIME"), help=argparse.SUPPRESS)
    ap.add_argument("--convert", metavar="PRESET", help=argparse.SUPPRESS)
    ap.add_argument("--answers", metavar="ISA", help=argparse.SUPPRESS)
    ap.add_argument("--only-answers", action="store_true",
                    help="only the seed answers with the CPU's best kernels and with AVX2 (per stage)")
    ap.add_argument("--only-models", action="store_true", help="only the generator figures")
    ap.add_argument("--no-index", action="store_true",
                    help="skip the indexing, memory and vector-search figures (generator and answer figures only)")
    args = ap.parse_args()
    if args.answers:
        print(json.dumps(answer_figures(args.answers)))
        return
    if args.generator or args.convert:  # a child process measuring one thing
        print(json.dumps(generator_figures(*args.generator) if args.generator else conversion_figures(args.convert)))
        return
    out: dict = {}
    if args.only_answers:
        bench_answers_by_isa(out)
        text = f"## {time.strftime('%Y-%m-%d %H:%M')} — `bench/bench.py --only-answers` (2 threads)\n\n" + \
            isa_report(out) + "\n"
        print(text)
        with open(RESULTS, "a") as f:
            f.write("\n" + text)
        return
    if args.only_models:
        bench_model(out)
        for (p, rt), g in out["generators"].items():
            print(p, rt, g)
        print(out["conversion"])
        return
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        if not args.no_index:
            bench_memory(out, Path(tmp))
            bench_indexing(out, Path(tmp))
            bench_ann(out)
        bench_model(out)
        bench_answers(out)
        bench_answers_by_isa(out)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = report(out) + "\n\n" + isa_report(out) + "\n"
    print(text)
    with open(RESULTS, "a") as f:
        f.write("\n" + text)


if __name__ == "__main__":
    main()
