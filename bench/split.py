"""Tuning and test halves of the SQuAD 2.0 sample, split by article.

    python bench/split.py [--out build/eval]

Writes `OUT/squad-tune/` and `OUT/squad-test/`, each a `corpus/` folder of that half's paragraphs and a
`questions.jsonl`, from `../shared/eval/squad2-dev` (kept outside the repository; CC BY-SA 4.0). The
articles of each half are listed in `bench/squad-split.json` (committed), so the halves never change
under a tuning run: every threshold, prompt and rule is chosen on the tuning half, and the figure quoted
is the test half's.

Questions carry no article; they come grouped by paragraph, so each is given the article of the paragraph
that holds its gold answer, and an unanswerable one that of the answerable question before it.
(The real-documents benchmark is split by document in its folders: `bench/real/tune`, `bench/real/test`.)
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "eval" / "squad2-dev"
SPLIT = ROOT / "bench" / "squad-split.json"


def article(name: str) -> str:
    return name.rsplit("-", 1)[0]


def articles_of(questions: list[dict], paragraphs: dict[str, str]) -> list[str]:
    """The article of each question, in order."""
    out, last = [], ""
    for q in questions:
        gold = [g.lower() for g in q.get("gold", [])]
        hits = {article(f) for f, t in paragraphs.items() if gold and all(g in t.lower() for g in gold)}
        if hits:
            last = last if last in hits else sorted(hits)[0]
        out.append(last)
    first = next(a for a in out if a)
    return [a or first for a in out]


def make_split(counts: dict[str, int]) -> dict[str, list[str]]:
    """Articles alternated in name order between the halves, the larger half's next one skipped when that
    keeps the question counts closer (deterministic; no article in both)."""
    halves: dict[str, list[str]] = {"tune": [], "test": []}
    size = {"tune": 0, "test": 0}
    for name in sorted(counts):
        half = min(size, key=lambda h: (size[h], h == "test"))
        halves[half].append(name)
        size[half] += counts[name]
    return halves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "eval"))
    out = Path(ap.parse_args().out)
    paragraphs = {f.name: f.read_text(encoding="utf-8") for f in sorted((SQUAD / "corpus").glob("*.txt"))}
    questions = [json.loads(line) for line in (SQUAD / "questions.jsonl").read_text().splitlines() if line.strip()]
    arts = articles_of(questions, paragraphs)
    if SPLIT.is_file():
        split = json.loads(SPLIT.read_text())
    else:
        split = make_split({a: arts.count(a) for a in sorted(set(map(article, paragraphs)))})
        SPLIT.write_text(json.dumps(split, indent=1) + "\n")
    for half, names in split.items():
        target = out / f"squad-{half}"
        shutil.rmtree(target, ignore_errors=True)
        (target / "corpus").mkdir(parents=True)
        for f, text in paragraphs.items():
            if article(f) in names:
                (target / "corpus" / f).write_text(text, encoding="utf-8")
        lines = [json.dumps({**q, "doc": a}) for q, a in zip(questions, arts, strict=True) if a in names]
        (target / "questions.jsonl").write_text("\n".join(lines) + "\n")
        print(f"{target}: {len(names)} articles, {len(lines)} questions "
              f"({sum(json.loads(x)['answerable'] for x in lines)} answerable)")


if __name__ == "__main__":
    main()
