"""Hybrid retrieval: dense (FAISS) top-k and BM25 (SQLite FTS5) top-k fused by reciprocal rank.

Returns `Passage`s that carry their document path and exact offsets. Scores are the fused RRF score
plus the passage's dense cosine (kept because refusal is calibrated on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .embedding import Embedder
from .store import Store

RRF_K = 60


@dataclass(frozen=True)
class Passage:
    n: int  # 1-based number used in the prompt and in citations
    chunk_id: int
    doc_path: str
    title: str
    start: int
    end: int
    text: str
    score: float  # fused reciprocal-rank score
    dense: float  # cosine similarity of question and passage
    doc_sha256: str = ""


def rrf(rankings: list[list[int]], k: int = RRF_K) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank + 1)
    return fused


def retrieve(question: str, store: Store, embedder: Embedder, *, k: int = 5,
             query_vec: np.ndarray | None = None) -> list[Passage]:
    qv = embedder.embed([question])[0] if query_vec is None else query_vec
    depth = max(k * 4, 20)
    dense = store.dense(qv, depth)
    keyword = store.keyword(question, depth)
    fused = rrf([[i for i, _ in dense], [i for i, _ in keyword]])
    top = sorted(fused, key=lambda i: -fused[i])[:k]
    rows = store.chunks(top)
    cos = dict(dense)
    missing = [i for i in top if i not in cos]
    if missing:  # keyword-only hits: score them densely too, from their stored vectors
        cos.update({i: float(v @ qv) for i, v in store.vectors(missing).items()})
    return [Passage(n, i, rows[i].path, rows[i].title, rows[i].start, rows[i].end, rows[i].text, fused[i], cos[i],
                    rows[i].sha256) for n, i in enumerate(top, 1)]
