"""Benchmark: the pipeline from a cold DVC cache against a plain-Keras replay of the notebooks.

Usage: python -m bench [--mnist PATH] [--workdir DIR] [--all]

In one run on this machine, one after the other:
1. peak: `python -m bench.peak`, the machine's float32 GFLOP/s, the base CNN's FLOPs
   per training image and its training images/s per precision;
2. pipeline: a fresh clone of this repository's HEAD (committed code and params) with an
   empty DVC cache of its own, timed `dvc repro --force` of the notebooks' steps: the six
   `evaluate@` stages and everything they need (`--all`: every stage, continual learning
   included, which the replay has no counterpart for);
3. replay: `python -m bench.notebooks` on the same data and params, timed.
Prints the accuracies side by side, the wall-time ratio, the base training's images/s
and its fraction of the peak, and the time of each stage; writes them to
<workdir>/bench.json beside the logs. Changes nothing in this repository. Without
network, point MNIST_NPZ (or --mnist) at a local copy of mnist.npz.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_STEPS = [
    f"evaluate@{name}" for name in ("base", "freeze", "branch", "full", "transfer_01_softmax", "transfer_01_sigmoid")
]
# Replay result key -> (pipeline metrics file, test set)
ACCURACIES = {
    "base 0-4": ("base", "0-4"),
    "base 0-9": ("base", "0-9"),
    "freeze 0-9": ("freeze", "0-9"),
    "branch 0-9": ("branch", "0-9"),
    "full 0-9": ("full", "0-9"),
    "transfer_01_softmax 0-1": ("transfer_01_softmax", "0-1"),
    "transfer_01_sigmoid 0-1": ("transfer_01_sigmoid", "0-1"),
}

log = logging.getLogger("bench")


def timed(command: list[str], cwd: Path, env: dict[str, str], log_file: Path) -> float:
    """Run `command`, output to `log_file`; its wall time in seconds. Exits on failure."""
    log.info("running %s (log: %s)", " ".join(command), log_file)
    start = time.perf_counter()
    with log_file.open("w") as out:
        code = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    if code != 0:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-20:])
        sys.exit(f"{tail}\nbench: {' '.join(command)} exited {code}; full log in {log_file}")
    return seconds


def stage_seconds(dvc_log: str) -> dict[str, float]:
    """Each stage's own time: its "<name> finished in X s" line, under DVC's "Running stage" line."""
    seconds, stage = {}, None
    for line in dvc_log.splitlines():
        if running := re.search(r"Running stage '([^']+)'", line):
            stage = running.group(1)
        elif (finished := re.search(r"finished in ([\d.]+) s", line)) and stage:
            seconds[stage] = float(finished.group(1))
    return seconds


def base_images_per_second(dvc_log: str) -> float | None:
    found = re.search(r"train_base: training [\d.]+ s/epoch, (\d+) images/s", dvc_log)
    return float(found.group(1)) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", type=Path, default=os.environ.get("MNIST_NPZ"), help="local mnist.npz")
    parser.add_argument("--workdir", type=Path, help="where the clone, cache and logs go (default: a new temp dir)")
    parser.add_argument("--all", action="store_true", help="time every stage, not only the notebooks' steps")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    work = (args.workdir or Path(tempfile.mkdtemp(prefix="mnist-transfer-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # stages run this Python
    if args.mnist:
        env["MNIST_NPZ"] = str(Path(args.mnist).resolve())
    if subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip():
        log.warning("uncommitted changes are not benchmarked: the clone has HEAD")

    python = sys.executable
    timed([python, "-m", "bench.peak", str(work / "peak.json")], ROOT, env, work / "peak.log")
    peak = json.loads((work / "peak.json").read_text())

    clone = work / "pipeline"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run([python, "-m", "dvc", "cache", "dir", "--local", str(work / "cache")], cwd=clone, check=True)
    targets = [] if args.all else NOTEBOOK_STEPS
    # --force: the clone has the committed metrics and dvc.lock, and models come out with the
    # locked hashes, so without it DVC would (rightly) skip the evaluations.
    pipeline_s = timed([python, "-m", "dvc", "repro", "--force", *targets], clone, env, work / "pipeline.log")
    dvc_log = (work / "pipeline.log").read_text()

    mnist = clone / "data" / "raw" / "mnist.npz"  # the validated copy the pipeline made: the same data
    replay_args = [python, "-m", "bench.notebooks", str(mnist), str(clone / "params.yaml"), str(work / "replay.json")]
    replay_s = timed(replay_args, ROOT, env, work / "replay.log")
    replay = json.loads((work / "replay.json").read_text())

    metrics = {name: json.loads((clone / "metrics" / f"{name}.json").read_text()) for name, _ in ACCURACIES.values()}
    pipeline_accuracy = {key: metrics[name]["accuracy"][split] for key, (name, split) in ACCURACIES.items()}
    at_peak = peak["peak_gflops"] * 1e9 / peak["base_training_flops_per_image"]
    summary = {
        "pipeline_seconds": pipeline_s,
        "replay_seconds": replay_s,
        "ratio": pipeline_s / replay_s,
        "precision": metrics["base"]["precision"],
        "accuracy": {"pipeline": pipeline_accuracy, "replay": replay["accuracy"]},
        "base_images_per_second": {
            "pipeline": base_images_per_second(dvc_log),
            "replay": replay["base_images_per_second"],
        },
        "peak_gflops": peak["peak_gflops"],
        "base_images_per_second_by_precision": peak["base_images_per_second_by_precision"],
        "base_training_flops_per_image": peak["base_training_flops_per_image"],
        "stage_seconds": stage_seconds(dvc_log),
        "targets": targets or "all",
    }
    (work / "bench.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\n{'model, test set':26} {'pipeline':>9} {'replay':>9} {'points':>7}")
    for key, ours in pipeline_accuracy.items():
        theirs = replay["accuracy"][key]
        print(f"{key:26} {ours:9.4f} {theirs:9.4f} {100 * (ours - theirs):+7.2f}")
    print(
        f"\nwall time: pipeline {pipeline_s:.1f} s (dvc repro --force, cold cache, precision {summary['precision']}),"
    )
    print(f"           replay {replay_s:.1f} s (plain Keras, float32); ratio {summary['ratio']:.2f}")
    rates = summary["base_images_per_second"]
    ours = rates["pipeline"] or float("nan")
    print(f"\nbase training: pipeline {ours:.0f} images/s, replay {rates['replay']:.0f} images/s")
    print(
        f"peak: {peak['peak_gflops']:.0f} GFLOP/s (float32 matmul) / {peak['base_training_flops_per_image'] / 1e6:.1f}"
    )
    print(f"      MFLOP per training image = {at_peak:.0f} images/s; pipeline at {ours / at_peak:.0%} of it")
    by_precision = ", ".join(f"{p} {r:.0f}" for p, r in peak["base_images_per_second_by_precision"].items())
    print(f"base training images/s by precision (random images, python -m bench.peak): {by_precision}")
    print(f"\n{'stage':32} {'seconds':>8}")
    for stage, seconds in summary["stage_seconds"].items():
        print(f"{stage:32} {seconds:8.1f}")
    rest = pipeline_s - sum(summary["stage_seconds"].values())
    print(f"{'(dvc itself, between stages)':32} {rest:8.1f}\n\nlogs and bench.json in {work}")


if __name__ == "__main__":
    main()
