"""The seed study: every number's spread over seeds, read from DVC's experiments.

Run the pipeline once per seed on DVC's queue, then summarise:

    dvc exp run --queue -S 'seed=range(0,5)'   # one experiment per seed
    dvc queue start -j 2                        # -j: experiments side by side (one per 2 cores)
    python -m seeds --wait                      # -> metrics/seeds.json, metrics/seeds.md

A continual-learning scenario has a study of its own, over its stages alone:

    dvc exp run --queue -S 'seed=range(1,5)' continual_report@split_mnist
    dvc queue start
    python -m seeds split_mnist --wait          # -> metrics/seeds/split_mnist.json, .md

Seed 0 is the default run: DVC's run-cache restores every one of its stages in seconds.
A summary is not replaced by one of fewer seeds (a study read before its queue has run,
say) unless `--allow-fewer` is given.
This reads `dvc exp show --json`: the experiments of the current commit (or of `--rev`)
whose params differ from it in `seed` alone (the newest one for each seed), and the commit itself for
its own seed. For each model and test set it gives the mean, standard deviation (n - 1),
minimum and maximum of the test accuracy and of the validation accuracy, and in how many
runs the model lost a whole class (one of the digits it was trained to tell apart at 0
test accuracy). metrics/seeds.md is the table the docs show.

A scenario's study counts a run for a strategy only if that strategy's metrics file
records the run's seed: an experiment of the scenario's stages alone still carries the
commit's other metrics, and those are left out. It gives, per strategy, the mean and SEM
(std / sqrt(n), as the reference's compare.py) of the average accuracy over tasks, the
mean pooled, learning and validation accuracy, and the memory ledger (the largest over
the runs), beside van de Ven et al.'s figures for the same method.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mnist_transfer.artifacts import write_json, write_text
from mnist_transfer.errors import StageError
from mnist_transfer.params import load_params
from mnist_transfer.reports import markdown
from review import ReviewError, dvc, run

log = logging.getLogger("seeds")

POLL = 10  # seconds between looks at the queue with --wait


class StudyError(Exception):
    """A problem the user can fix: no such scenario, no seed experiments, fewer seeds than the summary holds."""


# (metrics name, test set, the classes it was trained on, what the row is)
ROWS = [
    ("base", "0-4", range(5), "base CNN on 0-4 (000)"),
    ("freeze", "0-4", range(10), "freeze-retrain (000), 0-4"),
    ("freeze", "5-9", range(10), "freeze-retrain (000), 5-9"),
    ("freeze", "0-9", range(10), "freeze-retrain (000)"),
    ("branch", "0-9", range(10), "branching, both heads (000)"),
    ("full", "0-9", range(10), "0-9 CNN, MSE + SGD (003)"),
    ("transfer_01_softmax", "0-1", range(2), "0/1 transfer, softmax-2 (003)"),
    ("transfer_01_sigmoid", "0-1", range(2), "0/1 transfer, sigmoid-1 (003)"),
]


def spread(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        "min": float(array.min()),
        "max": float(array.max()),
    }


# strategy -> (van de Ven et al.'s papers, their public code run here for seeds 1 and 2), class-incremental
# Split MNIST in five tasks; for ppca, brain-inspired replay, the best of theirs that stores no image; for
# hybrid_replay, iCaRL, the best of theirs that stores 100 images per digit.
REFERENCE = {
    "split_mnist": {
        "finetune": ("19.9", "19.9, 19.8"),
        "ewc": ("20.0", "20.0, 20.3"),
        "lwf": ("24", "23.0, 20.5"),
        "replay": ("about 89", "88.9, 88.8"),
        "joint": ("97.6-97.9", "98.0, 98.4"),
        "ppca": ("-", "brain-inspired replay: 95.6"),
        "hybrid_replay": ("iCaRL: 94.6", "iCaRL: 92.2, 92.5"),
    }
}


def summarise(runs: list[dict]) -> dict:
    """metrics/seeds.json: per row, the spread of test and validation accuracy and the lost-class count."""
    summary = {}
    runs = [entry for entry in runs if _models_trained_with_its_seed(entry)]
    if not runs:
        raise StudyError("no experiment of this commit trained the models with its own seed; queue whole-pipeline runs")
    for entry in runs:
        for name in {name for name, *_ in ROWS}:
            if not isinstance(entry["metrics"][name].get("accuracy"), dict):  # the scalars, not the record
                commit = (entry.get("rev") or "the workspace")[:7]
                raise StudyError(f"results/{name}.json is missing at {commit}; commit the records with the metrics")
    for name, test_set, classes, _ in ROWS:
        per_run = [entry["metrics"][name] for entry in runs]
        summary[f"{name} {test_set}"] = {
            "test_accuracy": spread([m["accuracy"][test_set] for m in per_run]),
            "validation_accuracy": spread([m["validation_accuracy"][test_set] for m in per_run]),
            "runs_with_a_lost_class": sum(
                any(m["per_class_accuracy"][str(c)] == 0.0 for c in classes) for m in per_run
            ),
            "runs": len(per_run),
        }
    return {"seeds": [run["seed"] for run in runs], "results": summary}


def table(summary: dict) -> str:
    rows = {}
    for name, test_set, _, label in ROWS:
        row = summary["results"][f"{name} {test_set}"]
        test, validation = row["test_accuracy"], row["validation_accuracy"]
        rows[label] = [
            test_set,
            f"{test['mean']:.4f} ± {test['std']:.4f}",
            f"{test['min']:.4f} - {test['max']:.4f}",
            f"{validation['mean']:.4f} ± {validation['std']:.4f}",
            f"{row['runs_with_a_lost_class']} of {row['runs']}",
        ]
    columns = ["test set", "test accuracy, mean ± std", "min - max", "validation, mean ± std", "lost a class"]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    frame.index.name = f"seeds {', '.join(str(s) for s in summary['seeds'])}"
    return markdown(frame)


def summarise_scenario(scenario: str, runs: list[dict], strategies: list[str]) -> dict:
    """metrics/seeds/<scenario>.json: per strategy, the spread over the runs that ran it with their own seed."""
    summary = {}
    for strategy in strategies:
        per_run = [
            metrics
            for run in runs
            if (metrics := run["metrics"].get(f"continual/{scenario}/{strategy}")) and metrics["seed"] == run["seed"]
        ]
        if not per_run:  # a strategy the scenario's stages do not run
            continue
        summary[strategy] = {
            key: spread([m[key] for m in per_run])
            for key in ("average_accuracy", "accuracy", "learning_accuracy", "validation_average_accuracy")
        }
        summary[strategy].update(
            {
                key: max(m[key] for m in per_run)
                for key in ("stored_images", "carried_bytes", "held_bytes", "images_trained")
            }
        )
        summary[strategy]["seeds"] = [m["seed"] for m in per_run]
    return {"scenario": scenario, "results": summary}


def scenario_table(summary: dict) -> str:
    """One row per strategy; the reference columns for a scenario with published figures (REFERENCE)."""
    reference = REFERENCE.get(summary["scenario"])
    rows = {}
    for strategy, row in summary["results"].items():
        average = row["average_accuracy"]
        sem = average["std"] / np.sqrt(len(row["seeds"]))
        rows[strategy] = [
            f"{100 * average['mean']:.2f} ± {100 * sem:.2f}",
            f"{100 * average['std']:.2f}",
            f"{100 * row['accuracy']['mean']:.2f}",
            f"{100 * row['learning_accuracy']['mean']:.2f}",
            f"{100 * row['validation_average_accuracy']['mean']:.2f}",
            f"{row['stored_images']:,}",
            f"{row['carried_bytes']:,}",
            f"{row['held_bytes']:,}",
            str(len(row["seeds"])),
            *(reference.get(strategy, ("-", "-")) if reference else ()),
        ]
    columns = [
        "average accuracy (%), mean ± SEM",
        "std",
        "pooled",
        "learning accuracy",
        "validation average",
        "stored images",
        "carried (bytes)",
        "held at the end (bytes)",
        "seeds",
        *(["reference, papers (%)", "reference, their code here (%)"] if reference else []),
    ]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    frame.index.name = summary["scenario"]
    return markdown(frame)


def _params(entry: dict) -> dict:
    return ((entry.get("data") or {}).get("params") or {}).get("params.yaml", {}).get("data", {})


def _metrics(entry: dict) -> dict:
    """{"base": {...}, "continual/notebook/replay": {...}} from an exp show entry's metrics files.

    A model's or strategy's record (results/, a DVC metric too) holds its scalars and the
    rest (accuracy by test set, per digit): it stands in for its metrics/ file where there
    is one. An experiment from before the records has all of it in metrics/.
    """
    found = (entry.get("data") or {}).get("metrics") or {}
    named = {}
    for folder in ("metrics/", "results/"):  # results/ last: a record replaces its scalars
        for path, content in found.items():
            if path.startswith(folder) and "data" in content:
                named[path.removeprefix(folder).removesuffix(".json")] = content["data"]
    return named


def _models_trained_with_its_seed(entry: dict) -> bool:
    """Whether the run's models were trained with its seed (its dvc.lock's `base` entry), not kept from the commit.

    An experiment of one scenario's stages differs from the commit in `seed` alone, as a
    whole-pipeline one does, but keeps the commit's models: the full study leaves it out.
    """
    if not entry.get("rev"):
        return True
    try:
        lock = yaml.safe_load(run(["git", "show", f"{entry['rev']}:dvc.lock"])) or {}
    except (ReviewError, yaml.YAMLError):
        return True  # no lock to tell: count it, as before the check
    seed = ((lock.get("stages", {}).get("base") or {}).get("params") or {}).get("params.yaml", {}).get("seed")
    return seed is None or seed == entry["seed"]


def seed_runs(shown: list[dict], required: Callable[[dict], bool] | None = None) -> list[dict]:
    """From `dvc exp show --json`: one {"seed", "rev", "metrics"} per seed, in seed order.

    The finished experiments of the commit (its first entry after the workspace) whose
    params equal the commit's but for `seed`, newest first; then the commit itself. A
    running experiment shows the commit's metrics until it ends: it is left out. A run
    counts if `required(its metrics)` (default: it has every row's metrics).
    """
    required = required or (lambda metrics: all(name in metrics for name, *_ in ROWS))
    baseline = next(entry for entry in shown if entry.get("rev") != "workspace")
    reference = {key: value for key, value in _params(baseline).items() if key != "seed"}
    candidates = [
        entry
        for group in baseline.get("experiments") or []
        if (group.get("executor") or {}).get("state", "success") == "success"  # not queued, running or failed
        for entry in group.get("revs", [])
        if not entry.get("error")
    ]
    candidates.sort(key=lambda entry: (entry.get("data") or {}).get("timestamp") or "", reverse=True)
    runs: dict[int, dict] = {}
    for entry in [*candidates, baseline]:
        params = _params(entry)
        if "seed" not in params or {k: v for k, v in params.items() if k != "seed"} != reference:
            continue
        metrics = _metrics(entry)
        if required(metrics):
            seed = int(params["seed"])
            runs.setdefault(seed, {"seed": seed, "rev": entry.get("rev"), "metrics": metrics})
    return [runs[seed] for seed in sorted(runs)]


def seeds_per_row(summary: dict) -> dict[str, list[int]]:
    """The seeds behind each row of a summary: every row of the full study's, each strategy's of a scenario's."""
    if "scenario" in summary:
        return {strategy: row["seeds"] for strategy, row in summary["results"].items()}
    return {row: summary["seeds"] for row in summary["results"]}


def fewer_seeds(old: dict, new: dict) -> str | None:
    """How `new` holds fewer seeds than `old` for some row, in words; None if it holds as many everywhere."""
    before, after = seeds_per_row(old), seeds_per_row(new)
    for row, found in after.items():  # a row no longer made (a strategy removed from params) is no loss
        seeds = before.get(row, [])
        if len(found) < len(seeds):
            held = ", ".join(str(seed) for seed in seeds)
            now = ", ".join(str(seed) for seed in found) or "none"
            return f"{row} has seeds {held} there, and the finished experiments give it {len(found)} ({now})"
    return None


def existing_summary(path: Path) -> dict | None:
    """The summary already at `path`, or None if there is none (or it cannot be read: nothing to keep)."""
    try:
        summary = json.loads(path.read_text())
        seeds_per_row(summary)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return summary


def queue_busy() -> bool:
    """Whether DVC's queue still has experiments queued or running (`dvc queue status` has a Status column)."""
    rows = dvc("queue", "status").splitlines()[1:]
    return any(row.split()[-1:] in (["Queued"], ["Running"]) for row in rows if row.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seeds", description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", help="a continual-learning scenario (params scenarios.<name>)")
    parser.add_argument("--wait", action="store_true", help="first wait until DVC's queue has run every experiment")
    parser.add_argument("--rev", default="HEAD", help="the commit whose experiments to summarise (default HEAD)")
    parser.add_argument(
        "--allow-fewer", action="store_true", help="replace a summary even where it holds more seeds than found"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    prefix = f"continual/{args.scenario}/"
    required = (lambda metrics: any(name.startswith(prefix) for name in metrics)) if args.scenario else None
    queue = f"-S 'seed=range(1,5)' continual_report@{args.scenario}" if args.scenario else "-S 'seed=range(0,5)'"
    out = f"metrics/seeds/{args.scenario}" if args.scenario else "metrics/seeds"
    try:
        params = load_params()
        if args.scenario and args.scenario not in params["scenarios"]:
            raise StudyError(
                f"params.yaml has no scenario '{args.scenario}'; "
                f"choose one of {', '.join(params['scenarios'])}, or none for the whole pipeline's study"
            )
        while args.wait and queue_busy():
            time.sleep(POLL)
        runs = seed_runs(json.loads(dvc("exp", "show", "--json", "--rev", args.rev)), required)
        if not runs:
            raise StudyError(f"no seed experiments of this commit; run `dvc exp run --queue {queue}` first")
        if args.scenario:
            summary = summarise_scenario(args.scenario, runs, list(params["strategies"]))
            text = scenario_table(summary)
        else:
            summary = summarise(runs)
            text = table(summary)
        old = None if args.allow_fewer else existing_summary(Path(f"{out}.json"))
        if old and (fewer := fewer_seeds(old, summary)):
            raise StudyError(
                f"{out}.json holds more seeds than this summary would: {fewer}; wait for the queue "
                "(--wait), or pass --allow-fewer to replace it"
            )
    except (StudyError, StageError, ReviewError) as err:  # ReviewError: a dvc call that failed or hung
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_json(f"{out}.json", summary)
    write_text(f"{out}.md", text)
    log.info("wrote %s.json and %s.md from seeds %s", out, out, ", ".join(str(r["seed"]) for r in runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
