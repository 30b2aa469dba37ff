"""Where the prompt tokens of a generated answer go (issue 19, item 3): the part every question shares (system
prompt and worked examples, cached by CTranslate2 after the first call), the evidence, the question and the
chat template's markers, for the draft and for the judge. No answer is generated: each question is retrieved
and the rules choose, as `qa ask` does, then the prompts it would send are built and counted with the model's
own tokenizer.

    python bench/tokens.py bench/questions-seed.jsonl                       # the default index
    python bench/tokens.py bench/questions-real-tune.jsonl --corpus bench/real/tune   # a fresh index

Prints medians and 90th percentiles per part, the characters per token of the evidence, and appends the
table to bench/RESULTS.md with --record.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench import pct  # noqa: E402
from qa.answer.context import read  # noqa: E402
from qa.answer.pipeline import Run, judged  # noqa: E402
from qa.answer.prompting import build_judge_messages, build_messages  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding import settings_embedder  # noqa: E402
from qa.evaluation import load_questions  # noqa: E402
from qa.generation import settings_generator  # noqa: E402
from qa.ingest.indexing import update_index  # noqa: E402
from qa.store import open_reader  # noqa: E402


def _count(tok, text: str) -> int:
    return len(tok.encode(text, add_special_tokens=False))


def measure(questions: Path, s: Settings) -> list[dict]:
    """One row per question the model would be asked: tokens per part of the draft and the judge prompt."""
    gen, emb = settings_generator(s), settings_embedder(s)
    tok = gen.tokenizer
    rows = []
    with open_reader(s) as store:
        for item in load_questions(questions):
            run = Run(item["q"], None, store, emb, s)
            run.retrieve()
            if run.choice.reason and not run.choice.tentative:
                continue  # refused by the rules: no prompt is sent
            reading = read(run.r, run.choice, s)
            messages = build_messages(run.question, reading.texts)
            static, rest = gen.prompt_tokens(messages)
            user = messages[-1]["content"]
            evidence, question = user.split("\n\nQuestion: ", 1)
            row = {"static": len(static or []), "per_question": len(rest), "evidence": _count(tok, evidence),
                   "question": _count(tok, "\n\nQuestion: " + question), "evidence_chars": len(evidence),
                   "sources": len(reading.texts), "judged": judged(run.choice, s)}
            row["template"] = row["per_question"] - row["evidence"] - row["question"]
            if row["judged"]:
                jstatic, jrest = gen.prompt_tokens(build_judge_messages(run.question, reading.texts))
                row["judge_static"], row["judge"] = len(jstatic or []), len(jrest)
            rows.append(row)
    return rows


def table(rows: list[dict], name: str) -> str:
    judged_rows = [r for r in rows if r["judged"]]
    parts = [("shared prefix, cached (system prompt + 3 worked examples)", [r["static"] for r in rows]),
             ("read per question: evidence", [r["evidence"] for r in rows]),
             ("read per question: question", [r["question"] for r in rows]),
             ("read per question: chat-template markers", [r["template"] for r in rows]),
             ("read per question: all", [r["per_question"] for r in rows]),
             ("judge prompt, read per question (its system prompt cached)", [r["judge"] for r in judged_rows])]
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M')} — `bench/tokens.py` on {name}: where the prompt tokens go "
             f"({len(rows)} questions sent to the model, {len(judged_rows)} judged)\n",
             "| part | median tokens | p90 tokens |", "| --- | --- | --- |"]
    lines += [f"| {label} | {statistics.median(v):.0f} | {pct(v, 0.9):.0f} |" for label, v in parts if v]
    ratio = sum(r["evidence_chars"] for r in rows) / max(1, sum(r["evidence"] for r in rows))
    lines.append(f"\nEvidence: {ratio:.2f} characters per token; {statistics.median(r['sources'] for r in rows):.0f} "
                 f"numbered sources per prompt (median).")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("questions", type=Path)
    ap.add_argument("--corpus", type=Path, nargs="*", help="index these into a temporary folder first")
    ap.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    args = ap.parse_args()
    s = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        if args.corpus:
            s = s.replace(index_dir=Path(tmp) / "index")
            update_index(list(args.corpus), settings=s)
        out = table(measure(args.questions, s), args.questions.name)
    print(out)
    if args.record:
        with open(ROOT / "bench" / "RESULTS.md", "a") as f:
            f.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
