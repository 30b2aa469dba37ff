"""CTranslate2 int8 (the default) against onnxruntime-genai int8 and int4 (issue 19, item 4), same prompt, same
process, 2 threads: the seed "years" draft prompt (389 tokens: a 271-token prefix of system prompt and worked
examples, then 118 of evidence and question).

Per runtime: the first token after reading the whole prompt (no cache: the issue's bare call), the first token
after reading only the 118 tokens that follow a kept prefix (CTranslate2's `static_prompt`; onnxruntime-genai's
`rewind_to`), the same plus 12 more tokens (a one-fact answer writes 13 at p50), and the decoding speed over 40
tokens. Medians of 3 runs after one warm-up.

onnxruntime-genai is not a dependency of the product. To reproduce, in a separate venv:

    python3.11 -m venv /tmp/ortg && /tmp/ortg/bin/pip install torch==2.13.0 transformers==4.57.6 \\
        onnx onnx_ir onnxruntime onnxruntime-genai==0.15.2 ctranslate2==4.8.5
    # the model folder `make run` writes (bf16 safetensors, from the GGUF wheel), with "architectures" added to
    # config.json; -p int8 or -p int4:
    /tmp/ortg/bin/python -m onnxruntime_genai.models.builder -i HF_FOLDER -o OUT -p int8 -e cpu
    /work/main/.venv/bin/python bench/runtimes.py --dump-ids ids.json     # the prompt, from the default index
    /tmp/ortg/bin/python bench/runtimes.py ids.json --ct2 CT2_FOLDER --ort int8=OUT_INT8 int4=OUT_INT4

0.15.2 is the newest onnxruntime-genai whose model builder imports with transformers 4.57 (0.16 and later
import Qwen 3.5 classes from transformers 5) and the first that builds int8.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 4  # the first warms up


def dump_ids(out: Path) -> None:
    """The seed "years" draft prompt as token ids, with the length of its shared prefix (main venv)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from bench import YEARS_Q, settings_embedder
    from qa.answer.answerability import choose
    from qa.answer.pipeline import retrieve_stage
    from qa.answer.prompting import build_messages
    from qa.config import Settings
    from qa.generation import settings_generator
    from qa.store import live

    s = Settings.from_env(mode="generated")
    with live.using(s.index_dir) as store:
        r = retrieve_stage(YEARS_Q, None, store, settings_embedder(s), s)
    c = choose(YEARS_Q, r.query, r.evidence, r.scores, s)
    msgs = build_messages(YEARS_Q, [r.evidence[i].text for i in c.focus])
    gen = settings_generator(s)
    static, rest = gen.prompt_tokens(msgs)
    ids = gen.tokenizer.convert_tokens_to_ids((static or []) + rest)
    out.write_text(json.dumps({"ids": ids, "prefix": len(static or [])}))
    print(f"{out}: {len(ids)} tokens, prefix {len(static or [])}")


def median_after_warmup(fn) -> float:
    xs = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        xs.append(time.perf_counter() - t0)
    return statistics.median(xs[1:])


def ct2(folder: str, ids: list[int], prefix: int) -> dict:
    import ctranslate2
    from transformers import AutoTokenizer

    tokens = AutoTokenizer.from_pretrained(folder).convert_ids_to_tokens(ids)
    static, rest = tokens[:prefix], tokens[prefix:]
    m = ctranslate2.Generator(folder, device="cpu", compute_type="int8", intra_threads=2, inter_threads=1)

    def gen(toks, n, **kw):
        m.generate_batch([toks], max_length=n, sampling_topk=1, include_prompt_in_result=False, end_token=[], **kw)

    out = {"uncached_first": median_after_warmup(lambda: gen(tokens, 1)),
           "kept_first": median_after_warmup(lambda: gen(rest, 1, static_prompt=static)),
           "kept_13": median_after_warmup(lambda: gen(rest, 13, static_prompt=static)),
           "kept_41": median_after_warmup(lambda: gen(rest, 41, static_prompt=static))}
    m.unload_model()
    return out


def ort(folder: str, ids: list[int], prefix: int) -> dict:
    import onnxruntime_genai as og

    cfg_path = Path(folder) / "genai_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model"]["decoder"]["session_options"]["intra_op_num_threads"] = 2
    cfg_path.write_text(json.dumps(cfg, indent=4))
    model = og.Model(folder)

    def fresh():
        p = og.GeneratorParams(model)
        p.set_search_options(max_length=1024, do_sample=False)
        return og.Generator(model, p)

    def uncached():
        g = fresh()
        g.append_tokens(ids)
        g.generate_next_token()

    kept = fresh()
    kept.append_tokens(ids[:prefix])

    def after_prefix(n):
        kept.rewind_to(prefix)
        kept.append_tokens(ids[prefix:])
        for _ in range(n):
            kept.generate_next_token()

    return {"uncached_first": median_after_warmup(uncached), "kept_first": median_after_warmup(lambda: after_prefix(1)),
            "kept_13": median_after_warmup(lambda: after_prefix(13)),
            "kept_41": median_after_warmup(lambda: after_prefix(41))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", type=Path)
    ap.add_argument("--dump-ids", action="store_true", help="write the prompt's token ids (run in the main venv)")
    ap.add_argument("--ct2", help="the CTranslate2 int8 model folder")
    ap.add_argument("--ort", nargs="*", default=[], metavar="NAME=FOLDER", help="onnxruntime-genai model folders")
    a = ap.parse_args()
    if a.dump_ids:
        dump_ids(a.ids)
        return
    data = json.loads(a.ids.read_text())
    ids, prefix = data["ids"], data["prefix"]
    rows = []
    if a.ct2:
        rows.append(("CTranslate2 int8", ct2(a.ct2, ids, prefix)))
    for spec in a.ort:
        name, folder = spec.split("=", 1)
        rows.append((f"onnxruntime-genai {name}", ort(folder, ids, prefix)))
    print(f"| runtime | first token, whole {len(ids)}-token prompt | first token after the kept {prefix}-token "
          f"prefix | the same + 12 tokens | decoding (tokens 14-41) |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in rows:
        print(f"| {name} | {r['uncached_first']:.2f} s | {r['kept_first']:.2f} s | {r['kept_13']:.2f} s | "
              f"{28 / (r['kept_41'] - r['kept_13']):.1f} tok/s |", flush=True)


if __name__ == "__main__":
    main()
