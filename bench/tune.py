"""Compare answer settings side by side on the same model drafts.

    python bench/tune.py QUESTIONS.jsonl CORPUS [--drafts FILE] [--set KEY=VALUE ...] [--grid]

The model's draft depends only on the question and the evidence it is shown, not on the
verification and refusal settings. The first run generates every draft and stores it in `--drafts`
(JSON, keyed by the prompt); later runs replay them, so a row of the table costs seconds instead of
half an hour of generation. A `--drafts` path ending in `.gz` is read and written gzipped: the caches of the
four halves are kept in `bench/drafts/` (AVX2 kernels, `CT2_FORCE_CPU_ISA=AVX2`), so a fresh checkout replays
them instead of spending an hour of both cores per half writing them again; each records the model, the kernels and
the commit it was written with under `_meta`. `--grid` prints accuracy, refusal, false refusals and the share written
by the model for each combination of `min_answer_score`, `model_refusal_below` and
`fallback_min_score`.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.evaluation import _run, load_questions  # noqa: E402
from qa.generation import settings_generator  # noqa: E402
from qa.ingest.indexing import update_index  # noqa: E402


class CachedGenerator:
    """Replays stored drafts; generates (and stores) the ones it has not seen."""

    def __init__(self, path: Path, s: Settings) -> None:
        self.path, self.s = path, s
        self.cache: dict[str, object] = json.loads(_read(path)) if path.is_file() else {}
        self.name = s.model
        self.generated = 0

    def stream(self, messages: list[dict[str, str]], *, max_new_tokens: int = 80) -> Iterator[str]:
        key = json.dumps([messages, max_new_tokens])
        if key not in self.cache:
            self._store(key, "".join(settings_generator(self.s).stream(messages, max_new_tokens=max_new_tokens)))
        yield self.cache[key]

    def p_yes(self, messages: list[dict[str, str]]) -> float:
        key = json.dumps(["p_yes", messages])
        if key not in self.cache:
            self._store(key, settings_generator(self.s).p_yes(messages))
        return self.cache[key]

    def _store(self, key: str, value: object) -> None:
        self.cache[key] = value
        self.generated += 1
        if self.generated % 25 == 0:  # a long run killed half way keeps most of what it wrote
            self.save()

    def save(self) -> None:
        if self.generated:  # a replay leaves the file (and its provenance) as it was
            self.cache["_meta"] = {"model": self.s.model, "kernels": os.environ.get("CT2_FORCE_CPU_ISA", "best"),
                                   "commit": _commit()}
        data = json.dumps(self.cache, sort_keys=True).encode()
        tmp = self.path.with_name(self.path.name + ".part")
        tmp.write_bytes(gzip.compress(data, mtime=0) if self.path.suffix == ".gz" else data)
        tmp.replace(self.path)  # an interrupted run never leaves a truncated cache


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def run(questions: Path, s: Settings, gen: CachedGenerator) -> dict:
    import qa.answer.pipeline as pipeline

    original = pipeline.settings_generator
    pipeline.settings_generator = lambda *a, **k: gen  # every ask in this process replays the cache
    try:
        return _run(load_questions(questions), s, questions.name)
    finally:
        pipeline.settings_generator = original
        gen.save()


def _typed(key: str, value: str) -> object:
    """A setting's value in the type of its default ("reading=sentences", "k=8", "min_support=0.6")."""
    default = getattr(Settings(), key)
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes")
    return type(default)(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("questions")
    ap.add_argument("corpus", nargs="+")
    ap.add_argument("--drafts", default="/tmp/qa-drafts.json")
    ap.add_argument("--set", action="append", default=[], help="a setting, e.g. min_answer_score=0.4")
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--vary", help="one setting over several values, e.g. source_ratio=0,0.5,0.75")
    ap.add_argument("--index", help="keep the index in this folder (updated incrementally) instead of a temporary one")
    ap.add_argument("--json-out", help="write the report here (F-1.json, F-2.json … for several rows)")
    args = ap.parse_args()
    overrides = {k: _typed(k, v) for k, v in (x.split("=", 1) for x in args.set)}
    with tempfile.TemporaryDirectory(prefix="qa-tune-") as tmp:
        s = Settings.from_env(index_dir=Path(args.index or Path(tmp) / "index"), **overrides)
        update_index([Path(c) for c in args.corpus], settings=s)
        gen = CachedGenerator(Path(args.drafts), s)
        keys = ["min_answer_score", "model_refusal_below", "fallback_min_score"]
        grid: list[dict[str, float]] = [{}]
        if args.grid:
            grid = [dict(zip(keys, p, strict=True))
                    for p in itertools.product([0.35, 0.4, 0.45], [0.0, 0.6, 0.7, 1.0], [0.0, 0.5])]
        elif args.vary:
            key, values = args.vary.split("=", 1)
            keys.append(key)
            grid = [{key: _typed(key, v)} for v in values.split(",")]
        print("| " + " | ".join(keys) + " | accuracy | refused | false refusals | by the model | median words |")
        print("| --- " * (len(keys) + 5) + "|")
        for n, point in enumerate(grid, 1):
            t = s.replace(**point)
            r = run(Path(args.questions), t, gen)
            print("| " + " | ".join(str(getattr(t, k)) for k in keys) + f" | {r['accuracy']} | "
                  f"{r['refused_unanswerable']} | {r['false_refusals']} | {r['generated_share']} | "
                  f"{r['median_words']} |", flush=True)
            if args.json_out:  # one report per row: F, or F-1.json, F-2.json … for a grid
                out = Path(args.json_out)
                if len(grid) > 1:
                    out = out.with_name(f"{out.stem}-{n}{out.suffix}")
                out.write_text(json.dumps(r, indent=1))
        print(f"{gen.generated} model calls written, the rest replayed from {args.drafts}", file=sys.stderr)


if __name__ == "__main__":
    main()
