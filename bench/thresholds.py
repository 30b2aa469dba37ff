"""An embedder's thresholds on its cosine scale, measured on the same embeddings at several values (qa/embedding.py's
THRESHOLDS; choose on tuning sets only, report the test halves at the chosen value).

    python bench/thresholds.py grid QUESTIONS INDEX OUT.json EMBEDDER 0.5,0.55,0.6   extractive `qa eval` per
                                                                                  min_answer_score
    python bench/thresholds.py answers QUESTIONS INDEX OUT.json EMBEDDER             extractive, min_answer_score 0
    python bench/thresholds.py drafts MUTATIONS INDEX OUT.json EMBEDDER 0.6,0.7      the verifier per min_support
    python bench/thresholds.py overview OUT.json EMBEDDER QFILE...                   each question's overview score

INDEX is built beforehand with the same embedder (`QA_EMBEDDER=... QA_INDEX_DIR=INDEX qa index CORPUS`). Each run is
`qa.evaluation`'s own (`qa eval`), with the embedder's vectors memoized: the first value pays for the embeddings
(multilingual-e5-small embeds the evidence sentences of a question in ~1 CPU-second), the others cost the rules only.
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import qa.answer.pipeline as pipeline  # noqa: E402
import qa.evaluation as evaluation  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding import embed_query, get_embedder  # noqa: E402


class Memo:
    def __init__(self, emb):
        self.emb, self.name, self.dim = emb, emb.name, emb.dim
        self.p: dict[str, np.ndarray] = {}
        self.q: dict[str, np.ndarray] = {}
        self.known_words = getattr(emb, "known_words", None)
        if self.known_words is None:
            self.model = emb.model

    def _get(self, texts, cache, fn):
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        if todo:
            for t, v in zip(todo, fn(todo), strict=True):
                cache[t] = v
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed(self, texts):
        return self._get(list(texts), self.p, self.emb.embed)

    def embed_query(self, texts):
        return self._get(list(texts), self.q, lambda t: embed_query(self.emb, t))


def main():
    kind = sys.argv[1]
    if kind == "overview":
        from qa.overview import overview_score
        out, name, files = sys.argv[2], sys.argv[3], sys.argv[4:]
        emb = get_embedder(name, 64, 2)
        rows = []
        for f in files:
            for line in open(f):
                item = json.loads(line)
                for key in ("q", "q_en"):
                    if key in item:
                        q = item[key]
                        rows.append({"file": f, "key": key, "q": q, "overview": bool(item.get("overview")),
                                     "score": overview_score(embed_query(emb, [q])[0], emb)})
        Path(out).write_text(json.dumps(rows, indent=1))
        return
    questions, index, out, name = sys.argv[2:6]
    memo = Memo(get_embedder(name, 64, 2))
    pipeline.settings_embedder = lambda s: memo
    import qa.embedding
    qa.embedding.settings_embedder = lambda s: memo
    s = Settings.from_env(index_dir=Path(index), embedder=name, mode="extractive")
    if kind == "answers":
        r = evaluation._run(evaluation.load_questions(Path(questions)), s.replace(min_answer_score=0.0),
                            Path(questions).name)
        Path(out).write_text(json.dumps(r, indent=1))
    elif kind == "grid":  # every candidate min_answer_score on the same (memoized) embeddings
        items = evaluation.load_questions(Path(questions))
        res = {}
        for v in sys.argv[6].split(","):
            r = evaluation._run(items, s.replace(min_answer_score=float(v)), Path(questions).name)
            res[v] = r
            print(v, {k: r[k] for k in ("accuracy", "refused_unanswerable", "false_refusals", "near_miss_refused",
                                        "hit_at_k", "citation_validity", "p50_s")}, flush=True)
            Path(out).write_text(json.dumps(res, indent=1))
    elif kind == "drafts":
        res = {}
        for v in sys.argv[6].split(","):
            t = s.replace(min_support=float(v))
            r = evaluation.evaluate_drafts(evaluation.load_questions(Path(questions)), t, Path(questions).name)
            res[v] = {k: r[k] for k in ("correct_accepted", "mutated_rejected", "by_kind")}
            print(v, res[v], flush=True)
        Path(out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
