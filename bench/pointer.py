"""Can the model point at the sentence that answers? (the unseen-documents issue: the reader never sees the answer
in a fifth of the real tuning half's questions, because the ranking puts it below the three sentences it reads)

    python bench/pointer.py QUESTIONS.jsonl CORPUS... [--candidates 8] [--json-out F]

For every question the pipeline would send to the model (not refused by the rules, not a list question): its
best `--candidates` evidence sentences by the rules' answer score, each under its heading, numbered, in one
prompt that asks which of them states the answer (0: none). One forward pass; the first token's distribution
over the digits 0..N is read. Prints, against the rules' own ranking:
- the share of answerable questions whose gold string is in the top 1 / 3 sentences (by the pointer's
  probabilities, by the rules' scores, and by the two fused);
- the AUC of p(0) at separating near misses from answerable questions (the question judge's job), and the judge's
  own AUC on the same questions (its p(yes), from its own prompt over the 3 sentences the model reads today).
Timings: the pointer prompt's tokens and seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from judge_fold import auc, sent_to_model  # noqa: E402 (a script beside it in bench/)

from qa.answer.citations import ranked  # noqa: E402
from qa.answer.context import headed, read  # noqa: E402
from qa.answer.prompting import _user, build_judge_messages  # noqa: E402

POINTER_SYSTEM = ("You find which numbered source states the answer to a question. The question may mention a "
                  "detail, a name, a number or a date that no source states; then no source answers it. Reply with "
                  "the number of the source that states the answer, or 0 if none does.")


def pointer_messages(question: str, sources: list[str]) -> list[dict[str, str]]:
    return [{"role": "system", "content": POINTER_SYSTEM},
            {"role": "user", "content": _user(question, sources) + "\n\nWhich source states the answer? Reply with "
                                                                  "its number (0 if none)."}]


def digit_probs(gen, messages: list[dict[str, str]], n: int) -> tuple[np.ndarray, int]:
    """p(first token = "0".."n"), renormalised over those digits, and the prompt's length in tokens."""
    static, tokens = gen.prompt_tokens(messages)
    ids = [gen.tokenizer.convert_tokens_to_ids(str(d)) for d in range(n + 1)]
    logits = np.asarray(gen.first_logits(messages), dtype=np.float64).ravel()[ids]
    p = np.exp(logits - logits.max())
    return p / p.sum(), len(tokens) + len(static or [])


def has_gold(text: str, gold: list[str]) -> bool:
    low = text.lower()
    return any(g.lower() in low for g in gold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("questions")
    ap.add_argument("corpus", nargs="+")
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--json-out")
    args = ap.parse_args()
    rows = []
    for item, r, choice, s, gen in sent_to_model(args.questions, args.corpus):
        q = item["q"]
        top = ranked(r.scores)[:args.candidates]
        t = time.perf_counter()
        p, n_tokens = digit_probs(gen, pointer_messages(q, [headed(r.evidence[i]) for i in top]), len(top))
        pointer_s = time.perf_counter() - t
        reading = read(r, choice, s)
        judged = choice.confidence < s.judge_below
        p_yes = gen.p_yes(build_judge_messages(q, reading.texts)) if judged else None
        gold = item.get("gold") or []
        rows.append({"q": q, "answerable": bool(item["answerable"]), "p_none": float(p[0]),
                     "p_points": [float(x) for x in p[1:]], "scores": [float(r.scores[i]) for i in top],
                     "gold_at": [has_gold(r.evidence[i].text, gold) for i in top],
                     "gold_read": any(has_gold(t, gold) for t in reading.texts),
                     "judged": judged, "p_yes": p_yes, "tokens": n_tokens, "seconds": pointer_s})
    report(rows, args.questions)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))


def top_has(row: dict, order: list[int], k: int) -> bool:
    return any(row["gold_at"][i] for i in order[:k])


def report(rows: list[dict], name: str) -> None:
    ans = [r for r in rows if r["answerable"] and any(r["gold_at"])]
    print(f"{name}: {len(rows)} questions sent to the model; {len(ans)} answerable with the gold among the "
          f"candidates; pointer prompt p50 {np.median([r['tokens'] for r in rows]):.0f} tokens, "
          f"{np.median([r['seconds'] for r in rows]):.2f} s")
    print("| order | gold in top 1 | top 3 |")
    print("| --- | --- | --- |")
    orders = {
        "the rules' scores": lambda r: list(range(len(r["scores"]))),
        "the pointer's p": lambda r: list(np.argsort(-np.array(r["p_points"]), kind="stable")),
        "fused (score rank + pointer rank)": lambda r: fused(r),
    }
    for label, order in orders.items():
        one, three = (sum(top_has(r, order(r), k) for r in ans) for k in (1, 3))
        print(f"| {label} | {one} | {three} |")
    print(f"| what the model reads today (3 sentences) | | {sum(r['gold_read'] for r in ans)} |")
    una = [r for r in rows if not r["answerable"]]
    yes = [r for r in rows if r["answerable"]]
    print(f"AUC p(none), near misses against answerable, all {len(rows)}: "
          f"{auc([r['p_none'] for r in una], [r['p_none'] for r in yes])}")
    judged = [r for r in rows if r["judged"]]
    ju, ja = [r for r in judged if not r["answerable"]], [r for r in judged if r["answerable"]]

    def both(r: dict) -> float:
        return (r["p_none"] + 1 - r["p_yes"]) / 2

    print(f"judged questions ({len(judged)}): AUC p(none) {auc([r['p_none'] for r in ju], [r['p_none'] for r in ja])}, "
          f"judge p(no) {auc([1 - r['p_yes'] for r in ju], [1 - r['p_yes'] for r in ja])}, "
          f"mean of the two {auc([both(r) for r in ju], [both(r) for r in ja])}")


def fused(r: dict) -> list[int]:
    n = len(r["scores"])
    by_p = list(np.argsort(-np.array(r["p_points"]), kind="stable"))
    rank = {i: i + by_p.index(i) for i in range(n)}
    return sorted(range(n), key=lambda i: (rank[i], i))


if __name__ == "__main__":
    main()
