"""Which evidence sentences does the model read? Sentence rankings compared without the model.

    python bench/ranking.py QUESTIONS.jsonl CORPUS [--index DIR]

The reader answers 85% of the questions whose gold it reads and none of the others (bench/RESULTS.md,
2026-12-02): which 3 sentences it reads decides most of what is lost. For every answerable one-fact question
whose gold string is in the retrieved evidence, this prints how often the gold is in the top 1 / 3 / 6
sentences under several scorings of the same evidence, and the AUC of the best sentence's score at telling
answerable questions from near misses (what `min_answer_score` and `judge_below` lean on):

    today            0.6 cosine + 0.4 share of the question's word stems the sentence (or its title) holds
    idf              the same, each question word weighted by its BM25 idf among the evidence sentences
    idf + next       idf, a sentence also scoring half of the sentence before it (the answer after the match)
    cosine only      the embedding alone

No model call: a half runs in about two minutes.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from judge_fold import auc  # noqa: E402 (scripts beside it in bench/)
from pointer import has_gold  # noqa: E402

from qa.answer import spelling  # noqa: E402
from qa.answer.answerability import wants_several  # noqa: E402
from qa.answer.citations import Retrieved  # noqa: E402
from qa.answer.context import MAX_GAP  # noqa: E402 (what makes two sentences neighbours)
from qa.answer.pipeline import retrieve_stage  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding import embed_query, settings_embedder  # noqa: E402
from qa.evaluation import load_questions  # noqa: E402
from qa.ingest.indexing import update_index  # noqa: E402
from qa.store import open_reader  # noqa: E402
from qa.text import stems  # noqa: E402


def idf(q: str, r: Retrieved, cos: np.ndarray) -> np.ndarray:
    texts = [stems(e.text) | stems(e.passage.title) for e in r.evidence]
    words = stems(q)
    if not words:
        return 0.6 * cos
    df = Counter(w for t in texts for w in t if w in words)
    weight = {w: math.log((len(texts) + 1) / (df[w] + 0.5)) for w in words}
    total = sum(weight.values())
    return 0.6 * cos + 0.4 * np.array([sum(weight[w] for w in words & t) / total for t in texts])


def with_previous(scores: np.ndarray, r: Retrieved, share: float = 0.5) -> np.ndarray:
    ev, out = r.evidence, scores.copy()
    order = sorted(range(len(ev)), key=lambda i: (ev[i].passage.doc_path, ev[i].start))
    for a, b in zip(order, order[1:], strict=False):
        if ev[a].passage.doc_path == ev[b].passage.doc_path and ev[b].start - ev[a].end < MAX_GAP:
            out[b] = max(out[b], share * scores[a] + (1 - share) * scores[b])
    return out


SCORINGS: dict[str, Callable[[str, Retrieved, np.ndarray], np.ndarray]] = {
    "today": lambda q, r, cos: np.asarray(r.scores),
    "idf": idf,
    "idf + next": lambda q, r, cos: with_previous(idf(q, r, cos), r),
    "cosine only": lambda q, r, cos: cos,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("questions")
    ap.add_argument("corpus", nargs="+")
    ap.add_argument("--index", help="keep the index here (updated incrementally) instead of a temporary one")
    args = ap.parse_args()
    gold_at = {name: [0, 0, 0] for name in SCORINGS}
    best: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in SCORINGS}
    counted = 0
    with tempfile.TemporaryDirectory(prefix="qa-ranking-") as tmp:
        s = Settings.from_env(index_dir=Path(args.index or Path(tmp) / "index"))
        update_index([Path(c) for c in args.corpus], settings=s)
        emb = settings_embedder(s)
        with open_reader(s) as store:
            known = spelling.known_words(emb)
            for item in load_questions(Path(args.questions)):
                q = spelling.correct(item["q"], store, known)
                r = retrieve_stage(q, None, store, emb, s)
                if not r.evidence:
                    continue
                cos = r.ev_vecs @ embed_query(emb, [q])[0]
                has = [has_gold(e.text, item.get("gold") or []) for e in r.evidence]
                scored = item["answerable"] and not wants_several(q) and any(has)
                counted += scored
                for name, score in SCORINGS.items():
                    sc = np.asarray(score(q, r, cos), dtype=float)
                    best[name][0 if item["answerable"] else 1].append(float(sc.max()))
                    if scored:
                        order = np.argsort(-sc, kind="stable")
                        for j, k in enumerate((1, 3, 6)):
                            gold_at[name][j] += any(has[i] for i in order[:k])
    print(f"{args.questions}: {counted} answerable one-fact questions with the gold in the evidence")
    print("| scoring | gold in top 1 | top 3 | top 6 | AUC of the best score, answerable against near misses |")
    print("| --- | --- | --- | --- | --- |")
    for name in SCORINGS:
        a = auc(*best[name])
        print(f"| {name} | {' | '.join(map(str, gold_at[name]))} | {'' if a is None else f'{a:.3f}'} |")


if __name__ == "__main__":
    main()
