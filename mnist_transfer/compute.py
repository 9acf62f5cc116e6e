"""What a model's bytes depend on besides params and data: precision, library versions, CPU.

The `compute` stage (always run: it is cheap and reads this machine) writes
metrics/compute.json. Every stage that runs TensorFlow declares that file as a
dependency and takes its precision from it, so a machine that resolves `auto`
differently, or runs another TensorFlow, Keras or NumPy, or other CPU kernels,
reruns exactly those stages, and a machine that resolves the same reruns nothing.

No TensorFlow here: the probe runs in well under a second.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from mnist_transfer.errors import DataError

COMPUTE_PATH = Path("metrics/compute.json")
CPUINFO = Path("/proc/cpuinfo")

# The CPU flag that makes bfloat16 training faster than float32: AMX tiles. AVX512-BF16
# alone is not enough: on a Xeon with avx512_bf16 and no AMX, `python -m bench.peak` gave
# the base CNN 962 images/s in mixed_bfloat16 against 1,509 in float32; on one with AMX,
# 3,330 against 1,685.
FAST_BF16_FLAG = "amx_bf16"
# oneDNN picks its kernels (and so the rounding of every sum) by the best of these the
# CPU has: the widest first.
ISA_LEVELS = ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx512f", "avx2", "avx", "sse4_2")
# Libraries whose versions change the numbers for the same params and data.
LIBRARIES = ("tensorflow", "keras", "numpy")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The CPU feature flags in /proc/cpuinfo (empty where there is none)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def cpu_has_fast_bfloat16(flags: set[str]) -> bool:
    """Whether bfloat16 training beats float32 on this CPU (AMX); elsewhere it is slower."""
    return FAST_BF16_FLAG in flags


def cpu_isa(flags: set[str]) -> str:
    """The widest of ISA_LEVELS the CPU has, or `other`."""
    return next((level for level in ISA_LEVELS if level in flags), "other")


def resolve_precision(choice: str, fast_bfloat16: bool) -> str:
    """The Keras dtype policy for params `compute.precision`.

    `auto` is mixed_bfloat16 where bfloat16 trains faster (AMX) and float32 elsewhere:
    without AMX bfloat16 is slower than float32, and without any bfloat16 instruction
    it is emulated and about 4x slower (`python -m bench.peak`: 203 against 793 images/s).
    """
    if choice != "auto":
        return choice
    return "mixed_bfloat16" if fast_bfloat16 else "float32"


def library_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in LIBRARIES}


def describe(choice: str, cpuinfo: Path = CPUINFO) -> dict[str, Any]:
    """metrics/compute.json's content for params `compute.precision` = `choice` on this machine."""
    flags = cpu_flags(cpuinfo)
    return {
        "precision": resolve_precision(choice, cpu_has_fast_bfloat16(flags)),
        "requested_precision": choice,
        "cpu_isa": cpu_isa(flags),
        "versions": library_versions(),
    }


def load(path: Path = COMPUTE_PATH) -> dict[str, Any]:
    """The recorded compute, checked against the libraries running now.

    A stage run by hand after the libraries changed would otherwise make models that
    dvc.lock attributes to the old versions.
    """
    if not path.is_file():
        raise DataError(f"{path}: missing; run `dvc repro compute` first")
    recorded = json.loads(path.read_text())
    running = library_versions()
    if recorded.get("versions") != running:
        raise DataError(
            f"{path} records {recorded.get('versions')} but this environment runs {running}; "
            "run `dvc repro` so that its compute stage records them"
        )
    return recorded
