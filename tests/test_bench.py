"""The benchmark's parts on tiny inputs: the notebook replay end to end, reading DVC's log, measuring.

The benchmark itself (python -m bench) is timed by hand, never in tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from bench.__main__ import ACCURACIES, base_images_per_second, ratios, spread, stage_seconds
from bench.peak import training_flops_per_image

from .conftest import ROOT

DVC_LOG = """\
Running stage 'base':
> python -m stages.base
12:00:01 mnist_transfer.training: base: training 21.50 s/epoch, 1067 images/s (mean of epochs 2-10)
12:00:09 mnist_transfer: base finished in 251.3 s, peak memory 1228 MiB
Running stage 'evaluate@base':
> python -m stages.evaluate base
12:00:19 mnist_transfer: evaluate finished in 7.5 s
Stage 'transfer_01@sigmoid' didn't change, skipping
"""


def test_log_gives_each_stage_its_time_and_the_base_rate() -> None:
    assert stage_seconds(DVC_LOG) == {"base": 251.3, "evaluate@base": 7.5}
    assert base_images_per_second(DVC_LOG) == 1067.0
    assert base_images_per_second("no training here") is None


def test_base_cnn_training_work_per_image() -> None:
    # multiply-adds: convs 28*28*9*(1*16 + 16*32 + 32*64), dense 12544*128 + 128*10; x2 FLOPs, x3 for training
    multiply_adds = 28 * 28 * 9 * (16 + 16 * 32 + 32 * 64) + 12544 * 128 + 128 * 10
    assert training_flops_per_image() == 6 * multiply_adds == 118_699_008


def test_replay_trains_and_scores_every_notebook_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    train, test = np.arange(300) % 10, np.arange(100) % 10
    npz = tmp_path / "mnist.npz"
    np.savez(
        npz,
        x_train=rng.integers(0, 256, (300, 28, 28), dtype=np.uint8),
        y_train=train.astype(np.uint8),
        x_test=rng.integers(0, 256, (100, 28, 28), dtype=np.uint8),
        y_test=test.astype(np.uint8),
    )
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for group in params.values():
        if isinstance(group, dict) and "epochs" in group:
            group["epochs"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "replay.json"
    command = [sys.executable, "-m", "bench.notebooks", str(npz), str(tmp_path / "params.yaml"), str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    replay = json.loads(out.read_text())
    assert set(replay["accuracy"]) == set(ACCURACIES)
    assert all(0.0 <= value <= 1.0 for value in replay["accuracy"].values())
    assert replay["accuracy"]["base 0-9"] <= 0.5  # never taught 5-9: right on the 0-4 half at best
    assert replay["base_images_per_second"] > 0
    assert replay["precision"] == "float32"
    steps = ["base", "freeze", "branch_base", "branch", "full", "transfer_01@softmax"]
    assert set(steps) <= set(replay["parts"])
    assert 0 < sum(replay["parts"].values()) <= replay["seconds"]


def test_measure_reports_the_childs_peak_memory(tmp_path: Path) -> None:
    """A child that holds 300 MB peaks above 300 MB; one that holds nothing stays far below.

    Each through `python -m bench.measure`, a fresh process as the bench uses it: within one
    process the children's peak only grows.
    """

    def measured(name: str, code: str) -> tuple[int, dict]:
        result = tmp_path / f"{name}.json"
        command = [sys.executable, "-m", "bench.measure", str(result), str(tmp_path / f"{name}.log")]
        returncode = subprocess.run([*command, "--", sys.executable, "-c", code], cwd=ROOT).returncode
        return returncode, json.loads(result.read_text())

    code, big = measured("big", "import numpy as np; a = np.ones(300 * 2**20 // 8); print(a.sum())")
    assert code == 0 and big["returncode"] == 0 and big["peak_rss_mb"] > 300 and big["seconds"] > 0
    assert (tmp_path / "big.log").read_text().strip() == str(float(300 * 2**20 // 8))
    code, small = measured("small", "pass")
    assert small["peak_rss_mb"] < 100
    code, failed = measured("failed", "raise SystemExit(3)")
    assert code == failed["returncode"] == 3


def test_spread_and_ratios_pair_the_repeats() -> None:
    assert spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0}
    pipeline = [{"seconds": 10.0}, {"seconds": 12.0}, {"seconds": 8.0}]
    replay = [{"seconds": 20.0}, {"seconds": 20.0}, {"seconds": 20.0}]
    assert ratios(pipeline, replay) == {"median": 0.5, "min": 0.4, "max": 0.6}


def test_layer_times_cover_every_layer_and_the_whole_models_work() -> None:
    """bench.layers: one row per layer of the base CNN, in order, whose FLOPs add up to the model's."""
    from bench.layers import layer_times

    rows = layer_times(batch=4, steps=1)
    names = [row["layer"] for row in rows]
    assert names[0] == "rescale" and names[-1] == "dense_2" and "conv2d_3" in names and "dropout_1" in names
    assert sum(row["flops"] for row in rows) == 4 * training_flops_per_image()
    assert [row["flops"] > 0 for row in rows] == [name.startswith(("conv", "dense")) for name in names]
    assert all(row["seconds"] > 0 for row in rows)
