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

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..cpu import cpu_flags
from ..errors import ModelError
from . import YES_NO, word_ids, yes_share
from .models import hf_to_ct2, quiet_tokenizer, resolve

SMALL_MODEL_BYTES = 512 << 20
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

    def p_yes(self, messages: list[dict[str, str]]) -> float:
        static, tokens = self.prompt_tokens(messages)
        with self._lock:
            try:
                out = self.model.generate_batch([tokens], max_length=1, sampling_topk=1, return_logits_vocab=True,
                                                static_prompt=static, include_prompt_in_result=False)
            except (RuntimeError, ValueError) as e:
                raise ModelError(f"judging failed: {e}") from e
        return yes_share(out[0].logits[0], self._yes, self._no)

    def stream(self, messages: list[dict[str, str]], *, max_new_tokens: int = 80) -> Iterator[str]:
        static, tokens = self.prompt_tokens(messages)
        ids: list[int] = []
        shown = ""
        with self._lock:  # one generation at a time: two would only share the same two cores
            try:
                steps = self.model.generate_tokens(tokens, max_length=max_new_tokens, sampling_topk=1,
                                                   repetition_penalty=1.0, end_token=self._end, static_prompt=static)
                for step in steps:
                    if step.is_last and step.token in self._end:
                        break
                    ids.append(step.token_id)
                    text = self.tokenizer.decode(ids, skip_special_tokens=True)
                    if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                        continue
                    if len(text) > len(shown):
                        yield text[len(shown):]
                        shown = text
            except (RuntimeError, ValueError) as e:
                raise ModelError(f"generation failed: {e}") from e
