"""Benchmark: the pipeline from a cold DVC cache against a plain-Keras replay of the notebooks.

Usage: python -m bench [--mnist PATH] [--workdir DIR] [--all] [--repeats N] [--params FILE]

In one run on this machine:
1. peak: `python -m bench.peak`, the machine's float32 and bfloat16 matmul GFLOP/s, the
   base CNN's FLOPs per training image and its training images/s per precision;
then N times (default 3), interleaved so that a slow spell falls on every arm alike:
2. pipeline: a fresh clone of this repository's HEAD (committed code and params) with an
   empty DVC cache of its own, timed `dvc repro --force` of the notebooks' steps: the six
   `evaluate@` stages and everything they need (`--all`: every stage, continual learning
   included, which the replay has no counterpart for);
3. replay: `python -m bench.notebooks` on the same data and params in float32 (the
   notebooks), and again at the pipeline's resolved precision if that is not float32.
Each arm runs under `python -m bench.measure`: wall time and peak memory (RSS).
Prints the accuracies side by side, the median (min-max) of each arm's wall time, peak
RSS and base training images/s, the wall-time ratios, the base training's fraction of the
peak for its precision, and each part's time in both the pipeline (its stages) and the
replay; writes them to <workdir>/bench.json beside the logs. Changes nothing in this
repository. Without network, point MNIST_NPZ (or --mnist) at a local copy of mnist.npz.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_STEPS = [
    f"evaluate@{name}" for name in ("base", "freeze", "branch", "full", "transfer_01_softmax", "transfer_01_sigmoid")
]
# Replay result key -> (the model's record, results/<model>.json, and its test set)
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


def timed(command: list[str], cwd: Path, env: dict[str, str], log_file: Path) -> dict:
    """Run `command` in a fresh measuring process; its wall seconds and peak RSS. Exits on failure."""
    log.info("running %s (log: %s)", " ".join(command), log_file)
    result_file = log_file.with_suffix(".measure.json")
    wrapper = [sys.executable, "-m", "bench.measure", str(result_file), str(log_file), "--", *command]
    env = {**env, "PYTHONPATH": f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"}  # bench.measure from anywhere
    code = subprocess.run(wrapper, cwd=cwd, env=env).returncode
    if code != 0:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-20:])
        sys.exit(f"{tail}\nbench: {' '.join(command)} exited {code}; full log in {log_file}")
    return json.loads(result_file.read_text())


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def ratios(pipeline_runs: list[dict], replay_runs: list[dict]) -> dict[str, float]:
    """Pipeline over replay wall time, repeat by repeat (each pair ran back to back)."""
    return spread([p["seconds"] / r["seconds"] for p, r in zip(pipeline_runs, replay_runs, strict=True)])


def show(values: dict[str, float], digits: int = 0) -> str:
    return f"{values['median']:.{digits}f} ({values['min']:.{digits}f}-{values['max']:.{digits}f})"


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
    found = re.search(r"\bbase: training [\d.]+ s/epoch, (\d+) images/s", dvc_log)
    return float(found.group(1)) if found else None


def run_pipeline(work: Path, repeat: int, targets: list[str], env: dict[str, str], params: Path | None) -> dict:
    """One pipeline arm: a fresh clone of HEAD with an empty DVC cache, `dvc repro --force` timed."""
    clone = work / f"pipeline-{repeat}"
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    if params:
        shutil.copy(params, clone / "params.yaml")
    cache = work / f"cache-{repeat}"
    shutil.rmtree(cache, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "dvc", "cache", "dir", "--local", str(cache)], cwd=clone, check=True)
    # --force: the clone has the committed metrics and dvc.lock, and models come out with the
    # locked hashes, so without it DVC would (rightly) skip the evaluations.
    log_file = work / f"pipeline-{repeat}.log"
    measured = timed([sys.executable, "-m", "dvc", "repro", "--force", *targets], clone, env, log_file)
    dvc_log = log_file.read_text()
    metrics = {name: json.loads((clone / "results" / f"{name}.json").read_text()) for name, _ in ACCURACIES.values()}
    return {
        **measured,
        "precision": metrics["base"]["precision"],
        "accuracy": {key: metrics[name]["accuracy"][split] for key, (name, split) in ACCURACIES.items()},
        "base_images_per_second": base_images_per_second(dvc_log),
        "parts": stage_seconds(dvc_log),
        "clone": clone,
    }


def run_replay(work: Path, repeat: int, clone: Path, precision: str, env: dict[str, str]) -> dict:
    """One replay arm: python -m bench.notebooks at `precision` on the pipeline clone's data and params."""
    mnist = clone / "data" / "raw" / "mnist.npz"  # the validated copy the pipeline made: the same data
    out = work / f"replay-{precision}-{repeat}.json"
    command = [sys.executable, "-m", "bench.notebooks", str(mnist), str(clone / "params.yaml"), str(out)]
    measured = timed([*command, "--precision", precision], ROOT, env, work / f"replay-{precision}-{repeat}.log")
    return {**measured, **json.loads(out.read_text())}


def summarise(runs: list[dict]) -> dict:
    """Median and range of an arm's repeated runs: time, memory, base speed, each part's time."""
    parts = sorted({name for run in runs for name in run["parts"]}, key=list(runs[0]["parts"]).index)
    return {
        "runs": len(runs),
        "seconds": spread([run["seconds"] for run in runs]),
        "peak_rss_mb": spread([run["peak_rss_mb"] for run in runs]),
        "base_images_per_second": spread([run["base_images_per_second"] or math.nan for run in runs]),
        "parts": {name: spread([run["parts"].get(name, 0.0) for run in runs]) for name in parts},
        "accuracy": runs[0]["accuracy"],  # seeded: the same on every repeat (checked in main)
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", type=Path, default=os.environ.get("MNIST_NPZ"), help="local mnist.npz")
    parser.add_argument("--workdir", type=Path, help="where the clones, caches and logs go (default: a new temp dir)")
    parser.add_argument("--all", action="store_true", help="time every stage, not only the notebooks' steps")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each arm, interleaved (default 3)")
    parser.add_argument("--params", type=Path, help="a params.yaml to use instead of HEAD's (a quick check)")
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

    timed([sys.executable, "-m", "bench.peak", str(work / "peak.json")], ROOT, env, work / "peak.log")
    peak = json.loads((work / "peak.json").read_text())
    targets = [] if args.all else NOTEBOOK_STEPS

    # Interleaved: pipeline, replay(s), pipeline, replay(s), ... so that a slow spell of a
    # shared machine falls on every arm alike.
    arms: dict[str, list[dict]] = {"pipeline": []}
    for repeat in range(args.repeats):
        pipeline = run_pipeline(work, repeat, targets, env, args.params and args.params.resolve())
        arms["pipeline"].append(pipeline)
        precisions = dict.fromkeys(["float32", pipeline["precision"]])  # one arm if the pipeline ran float32
        for precision in precisions:
            arms.setdefault(f"replay {precision}", []).append(
                run_replay(work, repeat, pipeline["clone"], precision, env)
            )
    for name, runs in arms.items():
        if any(run["accuracy"] != runs[0]["accuracy"] for run in runs):
            log.warning("%s: accuracies differ between repeats: %s", name, [run["accuracy"] for run in runs])

    precision = arms["pipeline"][0]["precision"]
    summary = {name: summarise(runs) for name, runs in arms.items()}
    pipeline_runs, replay_runs = arms["pipeline"], arms["replay float32"]
    same_runs = arms[f"replay {precision}"]
    flops = peak["base_training_flops_per_image"]
    at_peak = {p: gflops * 1e9 / flops for p, gflops in peak["peak_gflops_by_precision"].items()}
    result = {
        "precision": precision,
        "repeats": args.repeats,
        "targets": targets or "all",
        "arms": summary,
        "ratio_to_float32_replay": ratios(pipeline_runs, replay_runs),
        "ratio_to_same_precision_replay": ratios(pipeline_runs, same_runs),
        "peak": peak,
        "base_images_per_second_at_peak": at_peak,
        "base_fraction_of_peak": summary["pipeline"]["base_images_per_second"]["median"] / at_peak[precision],
    }
    (work / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"\nlogs and bench.json in {work}")


def print_report(result: dict) -> None:
    arms, precision = result["arms"], result["precision"]
    names = list(arms)
    print(f"\n{result['repeats']} runs of each arm, interleaved; median (min-max). Pipeline precision: {precision}")
    print(f"\n{'model, test set':26}" + "".join(f"{name:>24}" for name in names))
    for key in arms["pipeline"]["accuracy"]:
        print(f"{key:26}" + "".join(f"{arms[name]['accuracy'][key]:24.4f}" for name in names))
    print(f"\n{'':26}" + "".join(f"{name:>24}" for name in names))
    for label, key in (("wall time (s)", "seconds"), ("peak RSS (MiB)", "peak_rss_mb")):
        print(f"{label:26}" + "".join(f"{show(arms[name][key]):>24}" for name in names))
    rates = "".join(f"{show(arms[name]['base_images_per_second']):>24}" for name in names)
    print(f"{'base training (images/s)':26}{rates}")
    print(f"\npipeline / float32 replay: {show(result['ratio_to_float32_replay'], 2)}")
    if precision != "float32":  # else the same arm
        print(f"pipeline / {precision} replay: {show(result['ratio_to_same_precision_replay'], 2)}")
    peak = result["peak"]
    for p, gflops in peak["peak_gflops_by_precision"].items():
        images = result["base_images_per_second_at_peak"][p]
        print(f"peak {p}: {gflops:.0f} GFLOP/s matmul = {images:.0f} base training images/s")
    print(f"base training at {result['base_fraction_of_peak']:.0%} of the {precision} peak")
    by_precision = ", ".join(f"{p} {r:.0f}" for p, r in peak["base_images_per_second_by_precision"].items())
    print(f"base training images/s by precision (random images, python -m bench.peak): {by_precision}")
    parts = list(dict.fromkeys(part for name in names for part in arms[name]["parts"]))
    print(f"\n{'part (seconds)':32}" + "".join(f"{name:>24}" for name in names))
    for part in parts:
        cells = [show(arms[name]["parts"][part], 1) if part in arms[name]["parts"] else "-" for name in names]
        print(f"{part:32}" + "".join(f"{cell:>24}" for cell in cells))


if __name__ == "__main__":
    main()
