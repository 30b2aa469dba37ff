"""The transformers runtime (fp32 on the CPU): for model folders CTranslate2 cannot convert.

Greedy decoding with no repetition penalty: transformers applies that penalty to every token in
the sequence, the prompt included, which pushed small models away from copying the passages' facts
(measured: 0 of 20 SmolLM2 drafts verified at 1.1, 5 of 20 at 1.0).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import ModelError
from . import YES_NO, word_ids, yes_share
from .models import gguf_to_hf, quiet_tokenizer, resolve


class TransformersGenerator:
    runtime = "transformers"

    def __init__(self, source: str, *, cache_dir: Path, threads: int,
                 report: Callable[[str], None] = lambda _: None) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.name = source
        src = resolve(source, cache_dir)
        folder = gguf_to_hf(src, report) if src.gguf is not None else src.hf_dir
        t0 = time.perf_counter()
        try:
            self.tokenizer = quiet_tokenizer(AutoTokenizer, folder)
            self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
        except Exception as e:  # transformers raises many kinds for a bad folder
            raise ModelError(f"cannot load {source}: {type(e).__name__}: {e}".splitlines()[0][:300]) from e
        self.model.eval()
        self.load_seconds = time.perf_counter() - t0
        self._lock = threading.Lock()
        self._yes, self._no = (word_ids(self.tokenizer, words) for words in YES_NO)

    def p_yes(self, messages: list[dict[str, str]]) -> float:
        import torch

        enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)
        try:
            with self._lock, torch.inference_mode():
                logits = self.model(**enc).logits[0, -1]
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"judging failed: {e}") from e
        return yes_share(logits.float().numpy(), self._yes, self._no)

    def stream(self, messages: list[dict[str, str]], *, max_new_tokens: int = 80) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    self.model.generate(**enc, streamer=streamer, max_new_tokens=max_new_tokens, do_sample=False,
                                        repetition_penalty=1.0, pad_token_id=self.tokenizer.eos_token_id)
            except BaseException as e:  # surfaced to the caller below
                errors.append(e)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        yield from streamer
        thread.join()
        if errors:
            raise ModelError(f"generation failed: {errors[0]}")
