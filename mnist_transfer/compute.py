"""What a model's bytes depend on besides params and data, and what DVC sees of it.

Two kinds of input:
- what changes a result's meaning is committed and a DVC input of every TensorFlow
  stage: params `precision` (the Keras dtype policy) and requirements.lock (the exact
  TensorFlow, Keras and NumPy versions). A stage refuses to run under other versions
  than the lock pins, so a result in dvc.lock always belongs to the versions in git.
- what changes only the rounding, the CPU's kernel family (oneDNN picks its kernels by
  the widest instructions the CPU has), is recorded beside each training run's metrics
  for the review, and is no DVC input: a clone on another CPU pulls the models and
  reruns nothing (docs: how far a rerun on another CPU kind moves the numbers).

No TensorFlow here: this module is read in well under a second.
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

from mnist_transfer.errors import DataError

CPUINFO = Path("/proc/cpuinfo")
LOCK_FILE = Path("requirements.lock")

# The CPU flag that makes bfloat16 training faster than float32: AMX tiles. AVX512-BF16
# alone is not enough: on a Xeon with avx512_bf16 and no AMX, `python -m bench.peak` gave
# the base CNN 962 images/s in mixed_bfloat16 against 1,509 in float32; on one with AMX,
# 3,330 against 1,685.
FAST_BF16_FLAG = "amx_bf16"
# oneDNN picks its kernels (and so the rounding of every sum) by the best of these the
# CPU has: the widest first.
ISA_LEVELS = ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx512f", "avx2", "avx", "sse4_2")
# oneDNN's ONEDNN_MAX_CPU_ISA names, as ISA_LEVELS: the environment variable caps the
# kernels oneDNN picks, as on a CPU that has no wider instructions.
ONEDNN_ISA = {
    "AVX512_CORE_AMX": "amx_bf16",
    "AVX512_CORE_BF16": "avx512_bf16",
    "AVX512_CORE_VNNI": "avx512_vnni",
    "AVX512_CORE": "avx512f",
    "AVX2": "avx2",
    "AVX": "avx",
    "SSE41": "sse4_2",
}
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


def cpu_isa(flags: set[str], max_isa: str | None = None) -> str:
    """The widest of ISA_LEVELS the CPU has, at most `max_isa` (an ONEDNN_MAX_CPU_ISA value), or `other`."""
    cap = ONEDNN_ISA.get((max_isa or "").upper())
    levels = ISA_LEVELS[ISA_LEVELS.index(cap) :] if cap else ISA_LEVELS
    return next((level for level in levels if level in flags), "other")


def library_versions() -> dict[str, str]:
    """The installed versions of LIBRARIES."""
    return {name: metadata.version(name) for name in LIBRARIES}


def pins(text: str) -> dict[str, str]:
    """The `name==version` pins of a lock file as pip-compile writes it, names normalised as PEP 503 does."""
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", text, flags=re.M)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in found}


def locked_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """The versions of LIBRARIES that the lock file pins (`name==version` lines, as pip-compile writes them)."""
    try:
        text = lock.read_text()
    except OSError as err:
        raise DataError(f"{lock}: cannot be read ({err.strerror}); run the stage from the project root") from None
    pinned = pins(text)
    missing = [name for name in LIBRARIES if name not in pinned]
    if missing:
        raise DataError(f"{lock} pins no {', '.join(missing)}; regenerate it (docs/reproducibility.md)")
    return {name: pinned[name] for name in LIBRARIES}


def check_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """The locked versions, after checking that they are the ones installed; else a one-line DataError.

    A stage run under other versions would make models that dvc.lock attributes to the
    lock's versions.
    """
    locked, running = locked_versions(lock), library_versions()
    if running != locked:
        differ = ", ".join(
            f"{name} {running[name]} (lock: {locked[name]})" for name in LIBRARIES if running[name] != locked[name]
        )
        raise DataError(f"this environment runs {differ}; install the lock: pip install --no-deps -r {lock}")
    return locked


def machine(flags: set[str] | None = None) -> dict[str, str]:
    """The record of the CPU a stage ran on: the kernel family oneDNN uses (rounding only, not a DVC input)."""
    flags = cpu_flags() if flags is None else flags
    return {"cpu_isa": cpu_isa(flags, os.environ.get("ONEDNN_MAX_CPU_ISA"))}
