"""Can the draft's first token stand in for the judge? (the speed issue's "one model call where there are two")

    python bench/judge_fold.py QUESTIONS.jsonl CORPUS... [--json-out F]

For every question the pipeline would judge (a one-fact question whose best sentence scores under
`judge_below`), both signals are read from the same evidence: the judge's p(yes) (today: a second prompt,
refuse under `judge_min_yes`) and the draft prompt's own first-token distribution, p(first token = NOT), i.e.
the probability that the draft starts "NOT FOUND" (free: the draft is decoded anyway). Prints, for each
signal, its AUC at separating answerable from unanswerable questions, and the refusals it makes at each
threshold (refused unanswerable / refused answerable), so a threshold is chosen on a tuning half and read
off on the test half. Timings: the judge's extra prompt per judged question.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.answer.answerability import Choice, choose  # noqa: E402
from qa.answer.citations import Retrieved  # noqa: E402
from qa.answer.context import read  # noqa: E402
from qa.answer.pipeline import retrieve_stage  # noqa: E402
from qa.answer.prompting import build_judge_messages, build_messages  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding import settings_embedder  # noqa: E402
from qa.evaluation import load_questions  # noqa: E402
from qa.generation import Generator, NotFoundProbe, settings_generator  # noqa: E402
from qa.ingest.indexing import update_index  # noqa: E402
from qa.store import open_reader  # noqa: E402


def p_not_first(gen, messages) -> float:
    """The draft's probability of beginning NOT FOUND, read as the pipeline reads it (a probe that stops the
    draft at its first token)."""
    probe = NotFoundProbe(stop_above=-1.0)
    "".join(gen.stream(messages, max_new_tokens=1, probe=probe))
    assert probe.p is not None
    return probe.p


def sent_to_model(questions: str, corpus: list[str]) -> Iterator[tuple[dict, Retrieved, Choice, Settings, Generator]]:
    """Each one-fact question the rules send to the model (not refused by them, not a list question), over a
    temporary index of `corpus`: (question item, retrieved evidence, the rules' choice, settings, generator)."""
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        s = Settings.from_env(index_dir=Path(tmp) / "index")
        update_index([Path(c) for c in corpus], settings=s)
        emb, gen = settings_embedder(s), settings_generator(s)
        with open_reader(s) as store:
            for item in load_questions(Path(questions)):
                r = retrieve_stage(item["q"], None, store, emb, s)
                choice = choose(item["q"], r.query, r.evidence, r.scores, s)
                if not (choice.reason and not choice.tentative or choice.several):
                    yield item, r, choice, s, gen


def auc(pos: list[float], neg: list[float]) -> float | None:
    """P(a random positive scores above a random negative), ties half."""
    if not pos or not neg:
        return None
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("questions")
    ap.add_argument("corpus", nargs="+")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    rows = []
    for item, r, choice, s, gen in sent_to_model(args.questions, args.corpus):
        if choice.confidence >= s.judge_below:
            continue  # not judged
        reading = read(r, choice, s)
        t = time.perf_counter()
        p_yes = gen.p_yes(build_judge_messages(item["q"], reading.texts))
        judge_s = time.perf_counter() - t
        rows.append({"q": item["q"], "answerable": bool(item["answerable"]), "p_yes": p_yes,
                     "p_not": p_not_first(gen, build_messages(item["q"], reading.texts)), "judge_s": judge_s})
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    print(f"{args.questions}: {len(rows)} judged questions ({len(ans)} answerable, {len(una)} not); "
          f"judge prompt p50 {np.median([r['judge_s'] for r in rows]):.2f} s")
    print(f"AUC judge p(no) {auc([1 - r['p_yes'] for r in una], [1 - r['p_yes'] for r in ans])}, "
          f"draft p(NOT first) {auc([r['p_not'] for r in una], [r['p_not'] for r in ans])}")
    print("| signal | refuse when | unanswerable refused | answerable refused |")
    print("| --- | --- | --- | --- |")
    for t in (0.2, 0.35, 0.5):
        print(f"| judge | p(yes) < {t} | {sum(r['p_yes'] < t for r in una)}/{len(una)} | "
              f"{sum(r['p_yes'] < t for r in ans)}/{len(ans)} |")
    for t in (0.05, 0.1, 0.2, 0.3, 0.5):
        print(f"| draft | p(NOT) > {t} | {sum(r['p_not'] > t for r in una)}/{len(una)} | "
              f"{sum(r['p_not'] > t for r in ans)}/{len(ans)} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
