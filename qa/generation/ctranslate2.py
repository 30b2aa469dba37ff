"""The CTranslate2 runtime: int8 weights, greedy decoding, streamed token by token.

Measured here: Qwen2.5-Coder-1.5B answers in ~3 s instead of ~14 s on transformers fp32.
The text is decoded from all tokens so far and only the new suffix is yielded, so multi-byte
characters split across tokens come out whole.

Two CPU settings, both measured side by side on this 2-core machine (bench/RESULTS.md):
- CTranslate2 dispatches its own kernels to AVX2 even on AVX-512 CPUs; AVX-512 decodes SmolLM2
  15-20% faster and leaves Qwen (bound by memory bandwidth) unchanged, so it is chosen when the CPU
  has it. `CT2_FORCE_CPU_ISA` set by the user wins.
- A small model's per-token work is too little to split: SmolLM2 decodes faster on one thread
  (about 24 against 16 tok/s), while Qwen needs both (7 against 3.8 tok/s). Models whose weights are
  under SMALL_MODEL_BYTES get one thread.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cpu import cpu_flags
from ..errors import ModelError
from . import NOT_FOUND, YES_NO, NotFoundProbe, word_ids, yes_share
from .models import hf_to_ct2, quiet_tokenizer, resolve

SMALL_MODEL_BYTES = 512 << 20
MAX_BATCH = 8  # drafts decoded together at most
MAX_PAD = 64  # prompt tokens a row of a batch may be padded by (rows further apart wait for the next batch)
_AVX512 = {"avx512f", "avx512bw", "avx512dq", "avx512vl"}  # what CTranslate2's AVX-512 kernels need


def choose_isa() -> str | None:
    """Ask CTranslate2 for AVX-512 when the CPU has it (must run before its first computation)."""
    if "CT2_FORCE_CPU_ISA" not in os.environ and _AVX512 <= cpu_flags():
        os.environ["CT2_FORCE_CPU_ISA"] = "AVX512"
    return os.environ.get("CT2_FORCE_CPU_ISA")


def threads_for(folder: Path, threads: int) -> int:
    """One thread for a small model (less overhead than splitting its tiny matrices), else all of them."""
    weights = folder / "model.bin"
    return 1 if weights.is_file() and weights.stat().st_size < SMALL_MODEL_BYTES else threads


class CT2Generator:
    runtime = "ctranslate2"
    folds_judge = True  # reads a NotFoundProbe from the draft's first token

    def __init__(self, source: str, *, cache_dir: Path, threads: int,
                 report: Callable[[str], None] = lambda _: None) -> None:
        self.isa = choose_isa()
        try:
            import ctranslate2
        except ImportError as e:
            raise ModelError("the CTranslate2 runtime is not installed: pip install ctranslate2") from e
        self.name = source
        folder = hf_to_ct2(resolve(source, cache_dir), report)
        from transformers import AutoTokenizer  # after `resolve`: a name that is not a model fails at once (not 10 s)

        self.threads = threads_for(folder, threads)
        t0 = time.perf_counter()
        try:
            self.tokenizer = quiet_tokenizer(AutoTokenizer, folder)
            self.model = ctranslate2.Generator(str(folder), device="cpu", compute_type="int8",
                                               intra_threads=self.threads, inter_threads=1)
        except Exception as e:  # a damaged cache folder
            raise ModelError(f"cannot load {source} from {folder}: {type(e).__name__}: {e}".splitlines()[0][:300]) \
                from e
        self.load_seconds = time.perf_counter() - t0
        self._end = [t for t in {self.tokenizer.eos_token, "<|im_end|>", "<|endoftext|>"}
                     if t and self.tokenizer.convert_tokens_to_ids(t) != self.tokenizer.unk_token_id]
        self._lock = threading.Lock()
        self._batcher = _Batcher(self)
        self.newline = self.tokenizer.convert_ids_to_tokens(self.tokenizer.encode("\n", add_special_tokens=False))[-1]
        self.not_id = self.tokenizer.encode(NOT_FOUND, add_special_tokens=False)[0]  # the first token of NOT FOUND
        self._yes, self._no = (word_ids(self.tokenizer, words) for words in YES_NO)

    def _tokens(self, messages: list[dict[str, str]], generation_prompt: bool) -> list[str]:
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=True)
        if isinstance(ids, dict):
            ids = ids["input_ids"]
        return self.tokenizer.convert_ids_to_tokens(list(ids))

    def prompt_tokens(self, messages: list[dict[str, str]]) -> tuple[list[str] | None, list[str]]:
        """(static prefix, rest): everything before the last user turn (system prompt and worked examples)
        is the same for every question, so CTranslate2 caches the model state after it."""
        tokens = self._tokens(messages, True)
        if len(messages) < 2:
            return None, tokens
        prefix = self._tokens(messages[:-1], False)
        if len(prefix) < len(tokens) and tokens[:len(prefix)] == prefix:
            return prefix, tokens[len(prefix):]
        return None, tokens

    def first_logits(self, messages: list[dict[str, str]]):
        """The logits of the reply's first token over the whole vocabulary (one pass over the prompt)."""
        static, tokens = self.prompt_tokens(messages)
        with self._lock:
            out = self.model.generate_batch([tokens], max_length=1, sampling_topk=1, return_logits_vocab=True,
                                            static_prompt=static, include_prompt_in_result=False)
        return out[0].logits[0]

    def warm(self, chats: list[list[dict[str, str]]]) -> None:
        """Read the fixed part of each chat once (CTranslate2 keeps the state after it), so the first question
        reads only its own part. One chat at a time: a question arriving meanwhile waits for one read at most."""
        for messages in chats:
            try:
                self.first_logits(messages)
            except (RuntimeError, ValueError) as e:
                raise ModelError(f"reading the fixed prompts failed: {e}") from e

    def p_yes(self, messages: list[dict[str, str]]) -> float:
        try:
            logits = self.first_logits(messages)
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"judging failed: {e}") from e
        return yes_share(logits, self._yes, self._no)

    def stream(self, messages: list[dict[str, str]], *, max_new_tokens: int = 80,
               probe: NotFoundProbe | None = None) -> Iterator[str]:
        static, tokens = self.prompt_tokens(messages)
        request = _Request(static, tokens, max_new_tokens, probe)
        self._batcher.submit(request)
        ids: list[int] = []
        shown = ""
        try:
            while (item := request.out.get()) is not None:
                if isinstance(item, Exception):
                    raise ModelError(f"generation failed: {item}") from item
                ids.append(item)
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                    continue
                if len(text) > len(shown):
                    yield text[len(shown):]
                    shown = text
        finally:
            request.closed = True  # a reader that stops early frees its row of the batch


@dataclass
class _Request:
    static: list[str] | None
    tokens: list[str]
    max_new_tokens: int
    probe: NotFoundProbe | None = None
    out: queue.Queue = field(default_factory=queue.Queue)  # token ids, then None (or an exception)
    closed: bool = False
    made: int = 0
    done: bool = False  # its reader has had the end sign

    def finish(self) -> bool:
        """The row is over: its reader goes on at once, not when the batch's longest row ends."""
        if not self.done:
            self.done = True
            self.out.put(None)
        return True


def padded(batch: list[_Request], pad: str) -> list[list[str]]:
    """The rows' prompts made equally long with newline tokens before each row's own turn. CTranslate2 reads the
    prompt part all rows share in one pass and the rest of longer prompts one token per step: 6 seed drafts up to 47
    tokens apart cost 6.1x one draft, 6 of one length 2.2x (bench/RESULTS.md 2026-12-04). Padding
    changes a quarter of the drafts' wording and no half's figures; a lone row is never padded."""
    longest = max(len(r.tokens) for r in batch)
    return [[pad] * (longest - len(r.tokens)) + r.tokens for r in batch]


class _Batcher:
    """Decodes the drafts in flight together: one `generate_batch` over every request waiting when the model
    is free (those sharing a static prompt), each row streamed to its reader as it grows.

    Writing is bound by memory bandwidth (every token reads all the weights), so rows of one batch cost little
    more than one; reading prompts is compute-bound and gains nothing. Prompts are padded to one length (see
    `padded`): 6 seed drafts of one length cost 2.2x one draft (10.7 against 4.9 s), 6 of different lengths 6.1x
    (19.6 against 3.2 s, another run; bench/RESULTS.md 2026-12-04).
    A lone question waits for nothing (no collection window) and is never padded."""

    def __init__(self, gen: CT2Generator, max_batch: int = MAX_BATCH, *, start: bool = True) -> None:
        self.gen, self.max_batch = gen, max_batch
        self.pending: queue.Queue[_Request] = queue.Queue()
        self.batches: list[int] = []  # the size of every batch decoded (for benchmarks)
        self.thread: threading.Thread | None = None
        if start:
            self.thread = threading.Thread(target=self._run, name="ct2-batcher", daemon=True)
            self.thread.start()
            atexit.register(self.stop)

    def stop(self) -> None:
        """At exit, before the interpreter's own teardown: end the thread, then free the model. CTranslate2 torn
        down under a thread still parked in it, or freed in the teardown's own order, aborts the process
        ("terminate called without an active exception"; the CPU probe of tests/test_real.py: 3 runs in 10
        before the model was freed here, 0 in 22 after). The generator cannot be used afterwards."""
        if self.thread is not None and self.thread.is_alive():
            self.pending.put(None)  # type: ignore[arg-type]  (the stop sign)
            self.thread.join(timeout=30)
        model, self.gen.model = getattr(self.gen, "model", None), None
        if model is not None:
            model.unload_model()

    def submit(self, request: _Request) -> None:
        self.pending.put(request)

    def _take(self) -> list[_Request]:
        """The first waiting request and every other one with its static prompt whose prompt length keeps the
        batch within MAX_PAD tokens of padding, up to `max_batch`."""
        first = self.pending.get()
        if first is None:
            return []
        batch, later = [first], []
        low = high = len(first.tokens)
        while len(batch) < self.max_batch:
            try:
                r = self.pending.get_nowait()
            except queue.Empty:
                break
            n = len(r.tokens) if r is not None else 0
            if r is None or r.static != first.static or max(high, n) - min(low, n) > MAX_PAD:
                later.append(r)  # the stop sign waits until this batch is done
            else:
                batch.append(r)
                low, high = min(low, n), max(high, n)
        for r in later:
            self.pending.put(r)
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:  # stopped
                return
            self.batches.append(len(batch))
            try:
                self._decode(batch)
            except Exception as e:  # noqa: BLE001 (handed to every reader still waiting, which raises it)
                for r in batch:
                    if not r.done:
                        r.out.put(e)
            for r in batch:
                r.finish()

    def _decode(self, batch: list[_Request]) -> None:
        end = set(self.gen._end)

        def step(s) -> bool:  # called by CTranslate2 for every token of every row; True stops that row
            r = batch[s.batch_id]
            if r.done or r.closed:
                return r.finish()
            if r.made == 0 and r.probe is not None:
                lg = np.asarray(s.logits, dtype=np.float64).ravel()
                r.probe.p = float(np.exp(lg[self.gen.not_id] - np.logaddexp.reduce(lg)))
                if r.probe.stopped:
                    return r.finish()
            if s.is_last and s.token in end:
                return r.finish()
            r.out.put(s.token_id)
            r.made += 1
            return r.made >= r.max_new_tokens and r.finish()

        self.gen.model.generate_batch(padded(batch, self.gen.newline), max_length=max(r.max_new_tokens for r in batch),
                                      sampling_topk=1, repetition_penalty=1.0, end_token=self.gen._end,
                                      static_prompt=batch[0].static, include_prompt_in_result=False, callback=step,
                                      return_logits_vocab=any(r.probe is not None for r in batch))
