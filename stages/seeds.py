"""Stage seeds (seed study): every number's spread over the seed runs -> metrics/seeds.json, metrics/seeds.md.

Reads seeds/runs/<seed>.json (stages.seed_run) and gives, for each model and test set,
the mean, standard deviation (n - 1), minimum and maximum of its test accuracy and of
its validation accuracy, and in how many runs the model lost a whole class (one of the
digits it was trained to tell apart at 0 test accuracy). metrics/seeds.md is the table
the README shows.
"""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mnist_transfer.artifacts import write_json, write_text
from mnist_transfer.errors import DataError, run_stage
from stages.report import markdown

log = logging.getLogger("stages.seeds")

RUNS = Path("seeds/runs")
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
    *(
        (f"incremental/{strategy}", "0-9", range(10), f"strategy {strategy}")
        for strategy in ("finetune", "freeze", "lwf", "ewc", "branch", "gaussian", "replay", "joint")
    ),
]


def spread(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        "min": float(array.min()),
        "max": float(array.max()),
    }


def summarise(runs: list[dict]) -> dict:
    """metrics/seeds.json: per row, the spread of test and validation accuracy and the lost-class count."""
    summary = {}
    for name, test_set, classes, _ in ROWS:
        per_run = [run["metrics"][name] for run in runs]
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


def main() -> None:
    paths = sorted(RUNS.glob("*.json"), key=lambda path: int(path.stem))
    if not paths:
        raise DataError(f"{RUNS}: no seed runs; run `dvc repro seeds/dvc.yaml`")
    summary = summarise([json.loads(path.read_text()) for path in paths])
    write_json("metrics/seeds.json", summary)
    write_text("metrics/seeds.md", table(summary))
    log.info("wrote metrics/seeds.json and metrics/seeds.md from %d runs", len(paths))


if __name__ == "__main__":
    run_stage("seeds", main)
