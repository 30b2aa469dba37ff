"""What the CPU can do, read from /proc/cpuinfo (empty on other systems: every choice then keeps its default)."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def has_native_bf16() -> bool:
    """AMX or AVX-512 bf16: matrix products in bfloat16 run in hardware (elsewhere they are emulated, slower)."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())
