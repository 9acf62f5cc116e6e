"""The compute record: what `compute.precision: auto` resolves to on CPUs with and without bfloat16."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mnist_transfer import compute
from mnist_transfer.errors import DataError

from .conftest import ROOT

# /proc/cpuinfo excerpts of the three kinds of Xeon this workplace has had: no bfloat16
# instructions; AVX512-BF16 without AMX (bfloat16 slower than float32); AVX512-BF16 and AMX.
NO_BF16 = "processor\t: 0\nflags\t\t: fpu sse sse4_2 avx avx2 avx512f avx512_vnni\n\nprocessor\t: 1\nflags\t\t: fpu\n"
AVX512_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16 avx512_fp16\n"
BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile\n"


@pytest.fixture
def cpuinfo(tmp_path: Path):
    def fake(text: str) -> Path:
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        return path

    return fake


@pytest.mark.parametrize(
    ("text", "choice", "policy", "isa"),
    [
        (NO_BF16, "auto", "float32", "avx512_vnni"),
        (BF16, "auto", "mixed_bfloat16", "amx_bf16"),
        (AVX512_BF16, "auto", "float32", "avx512_bf16"),
        (NO_BF16, "mixed_bfloat16", "mixed_bfloat16", "avx512_vnni"),
        (BF16, "float32", "float32", "amx_bf16"),
        ("flags : fpu sse4_2\n", "mixed_float16", "mixed_float16", "sse4_2"),
    ],
)
def test_describe_resolves_by_cpu_flags(cpuinfo, text: str, choice: str, policy: str, isa: str) -> None:
    record = compute.describe(choice, cpuinfo(text))
    assert record["precision"] == policy
    assert record["requested_precision"] == choice
    assert record["cpu_isa"] == isa
    assert set(record["versions"]) == {"tensorflow", "keras", "numpy"}


def test_flags_come_from_flags_lines_only(cpuinfo, tmp_path: Path) -> None:
    assert not compute.cpu_has_fast_bfloat16(compute.cpu_flags(cpuinfo("model name\t: amx_bf16 lookalike\n")))
    assert compute.cpu_has_fast_bfloat16(compute.cpu_flags(cpuinfo("flags\t: amx_bf16\n")))
    assert compute.cpu_flags(tmp_path / "missing") == set()  # no /proc/cpuinfo: float32, the safe choice
    assert compute.describe("auto", tmp_path / "missing")["precision"] == "float32"


def test_the_two_cpus_give_different_records(cpuinfo) -> None:
    """What makes DVC rerun the TensorFlow stages on a machine that resolves `auto` the other way."""
    assert compute.describe("auto", cpuinfo(NO_BF16)) != compute.describe("auto", cpuinfo(BF16))
    # same precision, other oneDNN kernels: other rounding, so a rerun too
    assert compute.describe("auto", cpuinfo(NO_BF16)) != compute.describe("auto", cpuinfo(AVX512_BF16))
    assert compute.describe("auto", cpuinfo(BF16)) == compute.describe("auto", cpuinfo(BF16))


def test_load_refuses_a_record_of_other_library_versions(tmp_path: Path) -> None:
    path = tmp_path / "compute.json"
    record = compute.describe("float32")
    path.write_text(json.dumps(record))
    assert compute.load(path) == record
    path.write_text(json.dumps({**record, "versions": {**record["versions"], "tensorflow": "0.1"}}))
    with pytest.raises(DataError, match="run `dvc repro`"):
        compute.load(path)
    with pytest.raises(DataError, match="missing; run `dvc repro compute`"):
        compute.load(tmp_path / "absent.json")


def test_compute_stage_writes_the_record(tmp_path: Path) -> None:
    """The stage process: params -> metrics/compute.json, without importing TensorFlow."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["compute"]["precision"] = "float32"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    # run the stage as `python -m stages.compute` does, then check TensorFlow was never imported
    probe = (
        "import runpy, sys; runpy.run_module('stages.compute', run_name='__main__'); "
        "assert 'tensorflow' not in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "metrics" / "compute.json").read_text())
    assert record["precision"] == "float32"
    assert record["versions"] == compute.library_versions()
