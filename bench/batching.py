"""Answers per second with questions in flight together: drafts decoded one at a time against in one batch.

    python bench/batching.py [--users 8] [--questions 16]

One process, the default model and index (`make index`), generated mode. The first seed questions are asked
by `--users` threads at once, twice: with the batcher taking one request at a time (as before batching) and
with its default (all waiting drafts, up to MAX_BATCH). Prints answers/s, p50/p95 per answer, the batch sizes
seen, and how many answers differ in text between the two runs (a padded batch may round differently; every
answer is verified either way). Appends the table to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import ask  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.generation import settings_generator  # noqa: E402
from qa.generation.ctranslate2 import MAX_BATCH  # noqa: E402


def run(questions: list[str], users: int, s: Settings, max_batch: int) -> dict:
    gen = settings_generator(s)
    gen._batcher.max_batch = max_batch
    seen = len(gen._batcher.batches)
    times: dict[str, float] = {}

    def one(q: str) -> str:
        t = time.perf_counter()
        a = ask(q, settings=s)
        times[q] = time.perf_counter() - t
        return a.text

    t0 = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        texts = list(pool.map(one, questions))
    wall = time.perf_counter() - t0
    sizes = gen._batcher.batches[seen:]
    return {"max_batch": max_batch, "answers_per_s": len(questions) / wall, "wall_s": wall,
            "p50_s": statistics.median(times.values()),
            "p95_s": sorted(times.values())[max(0, round(0.95 * len(times)) - 1)],
            "batches": len(sizes), "largest": max(sizes, default=0), "texts": texts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--questions", type=int, default=16)
    args = ap.parse_args()
    s = Settings.from_env(mode="generated")
    items = [json.loads(line) for line in (ROOT / "bench/questions-seed.jsonl").read_text().splitlines()]
    questions = [it["q"] for it in items if it.get("answerable")][: args.questions]
    ask(questions[0], settings=s)  # warm: models loaded, static prompt cached
    rows = [run(questions, args.users, s, 1), run(questions, args.users, s, MAX_BATCH)]
    differ = sum(a != b for a, b in zip(rows[0]["texts"], rows[1]["texts"], strict=True))
    isa = os.environ.get("CT2_FORCE_CPU_ISA", "best")
    lines = [f"\n### Drafts decoded together ({time.strftime('%Y-%m-%d %H:%M')}, `bench/batching.py`, "
             f"{args.users} threads x {len(questions)} seed questions, generated, {isa} kernels, one process)\n",
             "| batcher | answers/s | wall | p50 | p95 | batches (largest) |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| up to {r['max_batch']} | {r['answers_per_s']:.3f} | {r['wall_s']:.1f} s | "
                     f"{r['p50_s']:.1f} s | {r['p95_s']:.1f} s | {r['batches']} ({r['largest']}) |")
    lines.append(f"\nRatio {rows[1]['answers_per_s'] / rows[0]['answers_per_s']:.2f}x answers/s; "
                 f"{differ} of {len(questions)} answers differ in text between the two runs.\n")
    print("\n".join(lines))
    with open(ROOT / "bench/RESULTS.md", "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
