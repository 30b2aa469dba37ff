"""Hybrid retrieval: dense top-k and BM25 top-k fused by reciprocal rank (by the store: FAISS + FTS5 locally,
Milvus's own BM25 function and RRF ranker on Milvus).

Returns `Passage`s that carry their document path and exact offsets. Scores are the fused RRF score
plus the passage's dense cosine (kept because refusal is calibrated on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..embedding import Embedder, embed_query
from ..errors import InputError
from ..store import Reader, doc_id

DOC_DEPTH = 400  # candidates ranked before keeping one document's: deep enough that it keeps k of its own


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


def names(doc: str, path: str) -> bool:
    """`doc` names the document at `path`: its path, file name or id."""
    return doc in (path, path.rsplit("/", 1)[-1], doc_id(path))


def named_documents(store: Reader, doc: str) -> list[dict]:
    """The indexed documents `doc` names (a path, file name or id); a clear error when it names none."""
    docs = [d for d in store.documents() if names(doc, d["path"])]
    if not docs:
        raise InputError(f"no indexed document is named {doc[:200]!r} (give its path, file name or id)")
    return docs


def retrieve(question: str, store: Reader, embedder: Embedder, *, k: int = 5,
             query_vec: np.ndarray | None = None, doc: str = "") -> list[Passage]:
    """The `k` best passages for `question` (of the document `doc` names, when given)."""
    qv = embed_query(embedder, [question])[0] if query_vec is None else query_vec
    if doc:
        paths = {d["path"] for d in named_documents(store, doc)}
        ranked = store.hybrid(qv, question, DOC_DEPTH)
        rows = {i: row for i, row in store.chunks([i for i, _ in ranked]).items() if row.path in paths}
    else:
        ranked = store.hybrid(qv, question, max(k * 4, 20))
        rows = store.chunks([i for i, _ in ranked[: k * 2]])  # only chunks of completely indexed documents
    fused = dict(ranked)
    top = [i for i, _ in ranked if i in rows][:k]
    cos = {i: float(v @ qv) for i, v in store.vectors(top).items()}  # the calibrated dense score
    return [Passage(n, i, rows[i].path, rows[i].title, rows[i].start, rows[i].end, rows[i].text, fused[i], cos[i],
                    rows[i].sha256) for n, i in enumerate(top, 1)]
