"""Integration: the packaged MiniLM, the Qwen and SmolLM2 GGUFs on CTranslate2, real FAISS and SQLite on disk."""

import contextlib
import re

import pytest

import qa
from qa.evaluation import citation_valid
from qa.store import Store

pytestmark = pytest.mark.slow
YEARS_Q = "Which years were designated as the Years of High-Quality Development?"


def _check(answer, settings):
    store = Store.open(settings.index_dir)
    assert answer.citations and all(citation_valid(answer, store))


@pytest.mark.parametrize("mode", ["extractive", "generated"])
def test_years_question(real_settings, mode):
    a = qa.ask(YEARS_Q, settings=real_settings, mode=mode)
    assert not a.abstained
    assert "2025" in a.text and "2026" in a.text
    assert any("2025 and 2026" in c.quote for c in a.citations)
    _check(a, real_settings)
    assert a.timings["total"] > 0 and "retrieve" in a.timings
    if mode == "generated":  # Qwen writes the answer and it survives verification
        assert a.mode == "generated" and len(a.text.split()) <= 15, a.text
        assert 0 < a.timings["first_sentence"] <= a.timings["total"]


def test_python_api_names(real_settings):
    a = qa.ask("What treaty did the six nations sign?", index_dir=real_settings.index_dir, k=3)
    assert isinstance(a, qa.Answer) and isinstance(a.text, str) and isinstance(a.abstained, bool)
    assert len(a.passages) == 3 and all(isinstance(p, qa.Passage) for p in a.passages)
    for c in a.citations:
        assert isinstance(c, qa.Citation) and {"n", "doc_path", "start", "end", "quote"} <= set(vars(c))
    assert "good-neighborliness" in a.text


def test_unanswerable_is_refused(real_settings):
    a = qa.ask("Who won the football world cup in 2022?", settings=real_settings)
    assert a.abstained and a.citations == [] and "don't say" in a.text


def test_who_question_answered_with_a_group(real_settings):
    a = qa.ask("Who signed the treaty?", settings=real_settings)
    assert not a.abstained and "six nations" in a.text and a.mode == "generated"
    _check(a, real_settings)


def test_list_question_streams_one_cited_sentence_per_point(real_settings):
    items = list(qa.ask_stream("What did the six nations sign, and what did it legally cement?",
                               settings=real_settings))
    answer = items[-1]
    assert "".join(items[:-1]) == answer.text and answer.mode == "generated"
    assert "good-neighborliness" in answer.text and "lasting friendship" in answer.text
    assert all(re.search(r"\[\d+\]\W*$", s) for s in re.split(r"(?<=[.!?])\s+", answer.text)), answer.text
    _check(answer, real_settings)


def test_model_says_not_found_for_a_near_miss(real_settings):
    a = qa.ask("How much did China invest in new energy projects in Central Asia?", settings=real_settings)
    assert a.abstained and a.reason


def test_models_load_once_per_process(real_settings):
    from qa.embedding import _load_embedder
    from qa.generation import _cached

    small = real_settings.replace(model="smollm2-135m")  # the load is under test, not the answer: the small preset
    qa.ask(YEARS_Q, settings=small)
    e, g = _load_embedder.cache_info(), _cached.cache_info()
    qa.ask("What acts as a stabilizing anchor?", settings=small)
    assert _load_embedder.cache_info().misses == e.misses and _cached.cache_info().misses == g.misses


def test_concurrent_first_loads_do_not_collide(tmp_path):
    """Loading the models from several threads at once (web warm-up + first questions) must work."""
    import concurrent.futures

    from qa.embedding import _load_embedder, get_embedder
    from qa.generation import _cached, get_generator

    _load_embedder.cache_clear()
    _cached.cache_clear()
    s = qa.Settings.from_env()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(get_embedder, s.embedder, s.embed_batch, s.threads) for _ in range(2)]
        futures += [pool.submit(get_generator, s.model, s.cache_dir, s.threads) for _ in range(2)]
        loaded = [f.result() for f in futures]
    assert loaded[0] is loaded[1] and loaded[2] is loaded[3]
    assert loaded[0].embed(["hello"]).shape == (1, loaded[0].dim)


def test_presets_convert_once_into_the_cache(real_settings):
    from qa.generation import PRESETS
    from qa.generation.models import resolve

    for name in ("smollm2-135m", "qwen2.5-coder-1.5b"):
        src = resolve(name, real_settings.cache_dir)
        assert src.gguf is not None and src.gguf.suffix == ".gguf" and src.sha256 == PRESETS[name].sha256
        assert (src.hf_dir / "config.json").is_file() and list(src.hf_dir.glob("*.safetensors"))
        assert (src.ct2_dir / "model.bin").is_file() and (src.ct2_dir / "tokenizer.json").is_file()
        assert not list(src.ct2_dir.parent.glob(f".{src.ct2_dir.name}.tmp-*"))  # no half-written conversions


@pytest.mark.parametrize("direct_loader", [False, True])
def test_low_memory_int8_conversion_matches_ctranslate2s_own(tmp_path, real_settings, direct_loader, monkeypatch,
                                                             caplog):
    """Our int8 pass (each matrix quantized as it is read, q/k/v joined as int8 rows) writes the same weights as
    the CTranslate2 converter's own pass: greedy generation from both is token for token the same. A loader
    that reads a matrix directly (as some architectures' do) gets the conversion done again from bf16."""
    import dataclasses
    import gc
    import logging

    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    from qa.generation import load_generator
    from qa.generation.models import hf_to_ct2, resolve

    src = resolve("smollm2-135m", real_settings.cache_dir)
    theirs = tmp_path / "ct2"
    gc.freeze()  # as `hf_to_ct2` does: the converter's gc.collect() after every layer scans only what it allocates
    try:
        TransformersConverter(str(src.hf_dir)).convert(str(theirs), quantization="int8")
    finally:
        gc.unfreeze()
    fresh = dataclasses.replace(src, ct2_dir=tmp_path / "ours")  # converted now, not the cached copy
    if direct_loader:  # SmolLM2 is a Llama: its loader now takes the embedding without the hand-off
        from ctranslate2.converters.transformers import LlamaLoader

        monkeypatch.setattr(LlamaLoader, "set_embeddings", lambda self, spec, module: setattr(spec, "weight",
                                                                                               module.weight),
                            raising=False)
    with caplog.at_level(logging.INFO, logger="qa.generation.models"):
        assert hf_to_ct2(fresh, lambda _: None) == fresh.ct2_dir
    assert ("converting again from the whole bf16 model" in caplog.text) == direct_loader
    gen = load_generator("smollm2-135m", cache_dir=real_settings.cache_dir, threads=2, runtime="ctranslate2")
    static, tokens = gen.prompt_tokens([{"role": "user", "content": "Name three rivers of Central Asia."}])
    assert static is None  # a single turn has no reusable prefix
    reference = ctranslate2.Generator(str(theirs), compute_type="int8")
    ours = ctranslate2.Generator(str(fresh.ct2_dir), compute_type="int8")
    a = reference.generate_batch([tokens], max_length=48, sampling_topk=1)[0].sequences_ids[0]
    b = ours.generate_batch([tokens], max_length=48, sampling_topk=1)[0].sequences_ids[0]
    assert a == b and len(a) > 3


def test_matrices_with_equal_row_maxima_keep_their_own_scales(tmp_path, real_settings):
    """Two different matrices whose rows have the same maxima get the same int8 scales. CTranslate2's aliasing
    pass would store one scale vector under an alias its loader does not follow (Qwen2.5-Coder-0.5B's GGUF
    converted, then failed to load: "variable decoder/projection/weight_scale not found"). Here SmolLM2's
    second layer's attention output is set to the first layer's with one value a row negated (same maxima,
    different matrix): the conversion must load and generate."""
    import dataclasses
    import shutil

    import ctranslate2
    import torch
    from safetensors.torch import load_file, save_file

    from qa.generation.models import hf_to_ct2, resolve

    src = resolve("smollm2-135m", real_settings.cache_dir)
    hf = tmp_path / "hf"
    hf.mkdir()
    for f in src.hf_dir.iterdir():
        if f.suffix != ".safetensors" and f.name != "model.safetensors.index.json":
            shutil.copy(f, hf / f.name)
    tensors = {k: v for shard in sorted(src.hf_dir.glob("*.safetensors")) for k, v in load_file(str(shard)).items()}
    first = tensors["model.layers.0.self_attn.o_proj.weight"]
    w = first.clone()
    col = w.abs().float().argsort(dim=1)[:, w.shape[1] // 2]  # a middling value of every row, not its maximum
    rows = torch.arange(w.shape[0])
    w[rows, col] = -w[rows, col]
    assert torch.equal(w.abs().amax(dim=1), first.abs().amax(dim=1)) and not torch.equal(w, first)
    tensors["model.layers.1.self_attn.o_proj.weight"] = w
    save_file(tensors, str(hf / "model.safetensors"), metadata={"format": "pt"})
    fresh = dataclasses.replace(src, hf_dir=hf, ct2_dir=tmp_path / "ct2")
    hf_to_ct2(fresh, lambda _: None)
    model = ctranslate2.Generator(str(fresh.ct2_dir), compute_type="int8")
    out = model.generate_batch([["<|im_start|>", "user"]], max_length=4, sampling_topk=1)[0].sequences_ids[0]
    assert len(out) >= 1


def test_runtimes_agree_on_the_easy_question(real_settings):
    """transformers (fp32) and CTranslate2 (int8) both answer through the same Generator protocol."""
    from qa.answer.prompting import build_messages
    from qa.generation import load_generator

    msgs = build_messages("Which years were designated?", ["The years 2025 and 2026 were designated as the "
                                                            "Years of High-Quality Development."])
    for runtime in ("transformers", "ctranslate2"):
        gen = load_generator("smollm2-135m", cache_dir=real_settings.cache_dir, threads=2, runtime=runtime)
        assert gen.runtime == runtime
        assert "2025" in "".join(gen.stream(msgs, max_new_tokens=30))


def test_static_prompt_prefix_is_the_worked_examples(real_settings):
    from qa.answer.prompting import build_messages
    from qa.generation import get_generator

    gen = get_generator(real_settings.model, real_settings.cache_dir, real_settings.threads)
    static, rest = gen.prompt_tokens(build_messages("When?", ["It happened in 2025."]))
    assert static and rest and gen.tokenizer.convert_tokens_to_string(rest).count("2025") == 1
    again, _ = gen.prompt_tokens(build_messages("Who?", ["Someone did it."]))
    assert again == static  # the same for every question, so its state is computed once


def test_tampered_gguf_is_refused(tmp_path):
    from qa.errors import ModelError
    from qa.generation import load_generator

    fake = tmp_path / "m.gguf"
    fake.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelError, match="m.gguf"):
        load_generator(str(fake), cache_dir=tmp_path / "cache", threads=1)
    with pytest.raises(ModelError, match="not a preset"):
        load_generator("no-such-model", cache_dir=tmp_path / "cache", threads=1)
    with pytest.raises(ModelError, match="runtime"):
        load_generator("smollm2-135m", cache_dir=tmp_path / "cache", threads=1, runtime="onnx")


def test_preset_with_a_wrong_hash_is_refused(tmp_path, monkeypatch):
    import dataclasses

    from qa.errors import ModelError
    from qa.generation import models

    bad = dataclasses.replace(models.PRESETS["smollm2-135m"], sha256="0" * 64)
    monkeypatch.setitem(models.PRESETS, "smollm2-135m", bad)
    with pytest.raises(ModelError, match="sha256"):
        models.gguf_to_hf(models.resolve("smollm2-135m", tmp_path / "cache"), lambda _: None)
    assert not list((tmp_path / "cache" / "models").glob("*"))  # nothing half-converted is left


def test_build_add_remove_list_api(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a.md").write_text("# Lakes\n\nLake Issyk-Kul is in Kyrgyzstan. It never freezes in winter.")
    stats = qa.build_index([d], index_dir=tmp_path / "idx")
    assert (stats.documents, stats.added) == (1, 1) and stats.chunks >= 1
    extra = tmp_path / "b.txt"
    extra.write_text("The Caspian Sea is the largest lake on Earth.")
    qa.add_documents([extra], index_dir=tmp_path / "idx")
    assert {x["title"] for x in qa.list_documents(index_dir=tmp_path / "idx")} >= {"Lakes"}
    a = qa.ask("Which is the largest lake on Earth?", index_dir=tmp_path / "idx", mode="extractive")
    assert "Caspian" in a.text
    qa.remove_documents([extra], index_dir=tmp_path / "idx")
    assert len(qa.list_documents(index_dir=tmp_path / "idx")) == 1
    a = qa.ask("Which is the largest lake on Earth?", index_dir=tmp_path / "idx", mode="extractive")
    assert "Caspian" not in a.text


def test_qwen_tokenizer_from_gguf_splits_like_qwen(real_settings):
    """transformers warns about an "incorrect regex pattern" for this tokenizer; its split is Qwen's own."""
    from qa.generation import get_generator

    gen = get_generator(real_settings.model, real_settings.cache_dir, real_settings.threads)
    tokens = gen.tokenizer.tokenize("Years 2025 and 2026, cutting-edge.")
    assert tokens[:6] == ["Years", "Ġ", "2", "0", "2", "5"] and "Ġand" in tokens and "-edge" in tokens


_CPU_PROBE = """
import sys
from pathlib import Path
from qa.generation import load_generator
from qa.generation.ctranslate2 import threads_for
from qa.generation.models import resolve
big = threads_for(resolve(sys.argv[1], Path(sys.argv[2])).ct2_dir, 2)  # what loading it would choose, without the wait
small = load_generator("smollm2-135m", cache_dir=Path(sys.argv[2]), threads=2, runtime="ctranslate2")
print(big, small.threads, small.isa)
print("".join(small.stream([{"role": "user", "content": "Say hello."}], max_new_tokens=4)))
"""


@pytest.mark.parametrize("forced", [None, "AVX2"])
def test_cpu_settings_follow_the_model_and_the_cpu(real_settings, forced):
    """A small model runs on one thread, the default on all; AVX-512 is asked for when the CPU has it,
    unless the user chose an ISA. CTranslate2's own log says which ISA it selected."""
    import os
    import subprocess
    import sys

    from qa.generation.ctranslate2 import _AVX512, cpu_flags

    env = {**os.environ, "CT2_VERBOSE": "1"}
    env.pop("CT2_FORCE_CPU_ISA", None)
    if forced:
        env["CT2_FORCE_CPU_ISA"] = forced
    proc = subprocess.run([sys.executable, "-c", _CPU_PROBE, real_settings.model, str(real_settings.cache_dir)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    big, small, isa = proc.stdout.splitlines()[0].split()
    assert (big, small) == ("2", "1")
    expected = forced or ("AVX512" if _AVX512 <= cpu_flags() else "None")
    assert isa == expected
    selected = re.findall(r"Selected ISA: (\w+)", proc.stderr)
    assert selected and (forced is None and expected == "None" or selected[0] == expected), selected
    assert proc.stdout.splitlines()[1].strip()  # it still generates


def test_bfloat16_embeddings_keep_the_float32_neighbours():
    """The embedder's bfloat16 matrix products (autocast) change the vectors only in the last digits: the
    same nearest chunks for every chunk of the article. Forced here, so it runs on any CPU."""
    import numpy as np

    from qa.config import ROOT
    from qa.embedding import get_embedder
    from qa.ingest.chunking import chunk_text

    text = next((ROOT / "corpus").glob("*.md")).read_text()
    chunks = [c.text for c in chunk_text(text, size=600, overlap=1)]
    full, half = get_embedder(precision="float32"), get_embedder(precision="bfloat16")
    assert (full.precision, half.precision) == ("float32", "bfloat16") and full is not half
    a, b = full.embed(chunks), half.embed(chunks)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-3)
    cos = (a * b).sum(1)
    assert 0.999 < cos.min() and not np.array_equal(a, b)  # close, and really computed differently
    top = lambda v: np.argsort(-(v @ v.T), axis=1)[:, :3]  # noqa: E731
    assert (top(a) == top(b)).mean() >= 0.95


def test_the_model_judges_whether_the_sentences_state_the_answer(real_settings):
    """The judge's p(yes) on both runtimes: over the refusal threshold when the sentences state the answer,
    under it when the question asks for a detail they never give (near misses like the seed set's)."""
    from qa.answer.prompting import build_judge_messages
    from qa.generation import get_generator, load_generator

    treaty = ["The treaty was signed in Astana on 17 June 2025 by the six heads of state.",
              "It sets out permanent good-neighbourliness and friendly cooperation."]
    energy = ["China and the Central Asian countries are expanding cooperation on new energy projects such as wind "
              "and solar farms.", "These projects support green development across the region."]
    qwen = get_generator(real_settings.model, real_settings.cache_dir, real_settings.threads)
    t = real_settings.judge_min_yes
    for stated, missing, sentences in [("When was the treaty signed?", "What budget was assigned to the treaty?",
                                        treaty),
                                       ("What kinds of new energy projects are being built?",
                                        "How much did China invest in new energy projects?", energy)]:
        assert qwen.p_yes(build_judge_messages(stated, sentences)) > t > \
            qwen.p_yes(build_judge_messages(missing, sentences))
    light = load_generator("smollm2-135m", cache_dir=real_settings.cache_dir, threads=2, runtime="transformers")
    assert 0.0 < light.p_yes(build_judge_messages("When was the treaty signed?", treaty)) < 1.0  # same two words


def test_drafts_in_flight_are_decoded_together_and_read_as_alone(real_settings):
    """Requests waiting while the model is busy share one batch (those with the same static prompt); each
    row streams its own tokens (rows of one length exactly as when asked alone); a reader gone away stops
    only its own row."""
    import queue

    from qa.answer.prompting import build_messages
    from qa.generation import load_generator
    from qa.generation.ctranslate2 import _Batcher, _Request

    gen = load_generator("smollm2-135m", cache_dir=real_settings.cache_dir, threads=2, runtime="ctranslate2")
    ev = ["The Amu Darya river flows into the Aral Sea.", "The Syr Darya rises in the Tian Shan mountains."]
    asks = [build_messages(q, ev) for q in ("Where does the Amu Darya flow?", "Where does the Syr Darya rise?",
                                            "Which river rises in the Tian Shan mountains of Asia?")]
    alone = ["".join(gen.stream(m, max_new_tokens=24)) for m in asks[:2]]
    batcher = _Batcher(gen, start=False)  # nothing decodes until the test says so: the model is "busy"

    def text(r: _Request) -> str:
        ids = []
        with contextlib.suppress(queue.Empty):
            while (item := r.out.get_nowait()) is not None:  # None: the row's end sign
                ids.append(item)
        return gen.tokenizer.decode(ids, skip_special_tokens=True)

    rows = [_Request(*gen.prompt_tokens(m), 24) for m in asks[:2]]
    assert len(rows[0].tokens) == len(rows[1].tokens)  # no padding: the same arithmetic as alone
    other = _Request(None, gen.prompt_tokens([{"role": "user", "content": "Hello"}])[1], 8)  # no shared prefix
    for r in (rows[0], other, rows[1]):
        batcher.submit(r)
    batch = batcher._take()
    assert batch == rows and batcher.pending.get_nowait() is other  # one batch per static prompt
    batcher._decode(batch)
    # the two answers differ, so rows handed to the wrong reader would fail too (what the 135M model writes for
    # each varies with the CPU's kernels: "Syr" in the second answer held on one machine and not on another)
    assert [text(r) for r in rows] == alone and alone[0] != alone[1]

    def pair() -> tuple[_Request, _Request]:  # the first question beside the third, in one batch
        return _Request(*gen.prompt_tokens(asks[0]), 24), _Request(*gen.prompt_tokens(asks[2]), 24)

    kept, stays = pair()
    batcher._decode([kept, stays])  # the same batch with both readers there: what the first row writes
    first, gone = pair()
    gone.closed = True  # its reader went away before the model was free
    batcher._decode([first, gone])
    written = text(first)
    assert written == text(kept) and len(written.split()) >= 3 and text(gone) == "" and text(stays)


def test_a_batch_pads_prompts_to_one_length_and_lets_each_row_go_when_it_ends(real_settings):
    """Prompts of different lengths are padded with newlines before their own turn (CTranslate2 would read the
    longer ones' tails a token per step), rows too far apart wait for the next batch, and a row that ends hands
    its reader the end sign at once, not when the batch's longest row ends."""
    import queue

    from qa.answer.prompting import build_messages
    from qa.generation import load_generator
    from qa.generation.ctranslate2 import MAX_PAD, _Batcher, _Request, padded

    gen = load_generator("smollm2-135m", cache_dir=real_settings.cache_dir, threads=2, runtime="ctranslate2")
    ev = ["The Amu Darya river flows into the Aral Sea.", "The Syr Darya rises in the Tian Shan mountains."]
    short = _Request(*gen.prompt_tokens(build_messages("Where does the Amu Darya flow?", ev)), 2)
    long = _Request(*gen.prompt_tokens(build_messages(
        "Which river rises in the Tian Shan mountains, and where does the other one flow to?", ev)), 24)
    assert len(long.tokens) > len(short.tokens)
    rows = padded([short, long], gen.newline)
    assert len(rows[0]) == len(rows[1]) and rows[0][len(rows[0]) - len(short.tokens):] == short.tokens
    assert set(rows[0][:len(rows[0]) - len(short.tokens)]) == {gen.newline} and rows[1] == long.tokens
    assert padded([short], gen.newline) == [short.tokens]  # alone: the prompt as it is

    order = []

    class Logged(queue.Queue):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def put(self, item, *a, **k):
            order.append((self.name, item))
            super().put(item, *a, **k)

    short.out, long.out = Logged("short"), Logged("long")
    batcher = _Batcher(gen, start=False)
    far = _Request(short.static, short.tokens + [gen.newline] * (MAX_PAD + 1), 8)
    for r in (short, far, long):
        batcher.submit(r)
    assert batcher._take() == [short, long] and batcher.pending.get_nowait() is far  # too long to pad for
    batcher._decode([short, long])
    short_end = order.index(("short", None))
    long_tokens = [i for i, (name, item) in enumerate(order) if name == "long" and item is not None]
    assert len(long_tokens) > 3 and short_end < long_tokens[-1]  # the short row's reader did not wait
    assert order.count(("short", None)) == 1 and [n for n, item in order if item is None] == ["short", "long"]


def test_the_draft_reads_its_own_first_token_probability_of_not_found(real_settings):
    """The judge folded into the draft: p(first token starts NOT FOUND) comes from the pass that writes it."""
    from qa.answer.prompting import build_messages
    from qa.generation import NotFoundProbe, load_generator

    gen = load_generator("smollm2-135m", cache_dir=real_settings.cache_dir, threads=2, runtime="ctranslate2")
    msgs = build_messages("Where does the Amu Darya flow?", ["The Amu Darya river flows into the Aral Sea."])
    alone = "".join(gen.stream(msgs, max_new_tokens=16))
    keep = NotFoundProbe(stop_above=1.0)
    assert "".join(gen.stream(msgs, max_new_tokens=16, probe=keep)) == alone and 0.0 <= keep.p < 1.0
    stop = NotFoundProbe(stop_above=-1.0)  # any probability is above it: the draft stops before its first token
    assert "".join(gen.stream(msgs, max_new_tokens=16, probe=stop)) == "" and stop.p == keep.p


CONTROL = """# The control file

Briefly, a sample control file is shown below for the Debian package hello:

```
Package: hello
Version: 2.9-2+deb8u1
Architecture: amd64
Maintainer: Santiago Vila <sanvila@debian.org>
Installed-Size: 145
Depends: libc6 (>= 2.14)
Section: devel
Priority: optional
Description: example package based on GNU hello
```

The Version field holds the upstream version and the Debian revision. Yes, the Installed-Size field is only an
estimate.
"""


def test_a_bare_answer_is_checked_as_a_span_of_a_sentence_that_answers(tmp_path, real_settings):
    """"145" alone scores too low against the whole control-file block for `check_claim` (MiniLM), so the verifier
    refused the right answer; it is accepted as a span of one of the best evidence pieces, on a line that says what
    it answers. A changed value, another line's value and a statement are not."""
    from qa.answer.answerability import choose
    from qa.answer.citations import check_claim
    from qa.answer.pipeline import retrieve_stage
    from qa.answer.verification import bare_answer, verify_text
    from qa.embedding import settings_embedder
    from qa.ingest.indexing import update_index

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "control.md").write_text(CONTROL)
    s = real_settings.replace(index_dir=tmp_path / "index")
    update_index([tmp_path / "c"], settings=s)
    emb = settings_embedder(s)
    store = Store.open(s.index_dir)
    q = "what's the Installed-Size in the sample control file for hello?"
    r = retrieve_stage(q, None, store, emb, s)
    choice = choose(q, r.query, r.evidence, r.scores, s)
    assert check_claim("145", emb.embed(["145"])[0], r.evidence, r.ev_vecs, min_support=s.min_support,
                       min_overlap=s.min_overlap, question=q) is None  # as a statement it is not supported
    found = bare_answer("145", r)
    assert found is not None and "Installed-Size: 145" in r.evidence[found[0]].text
    assert verify_text("145", r, emb, s, choice).accepted
    assert not verify_text("148", r, emb, s, choice).accepted
    assert bare_answer("Santiago Vila", r) is None  # in the same block, on a line that does not answer
    assert bare_answer("The Installed-Size is 145", r) is None  # repeats the question: a statement
    assert bare_answer("Yes", r) is None  # a verdict, not a span, though a line that answers holds the word
    store.close()
