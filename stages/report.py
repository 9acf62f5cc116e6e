"""Stage report: every model's committed metrics beside the notebooks' printed numbers.

Reads metrics/*.json and metrics/incremental/*.json and writes metrics/report.md (two
Markdown tables that the README shows, each with the validation accuracy that choices are
made on beside the test accuracy) and plots/incremental_accuracy.csv (0-9 accuracy
per strategy, a bar chart in `dvc plots show`). The notebooks' numbers are those in
../shared/seeds/README.md.
"""

import json
import logging
from pathlib import Path

import pandas as pd

from mnist_transfer.artifacts import write_text
from mnist_transfer.data import load_split
from mnist_transfer.errors import DataError, run_stage
from mnist_transfer.params import load_params

log = logging.getLogger("stages.report")

TEST_SETS = ["0-4", "5-9", "0-9", "0-1"]
# (row, metrics file, metrics key, the notebooks' accuracies by test set)
ROWS = [
    ("base CNN on 0-4 (000)", "base", "accuracy", {"0-4": 0.9986, "5-9": 0.0, "0-9": 0.5132}),
    ("sequential freeze-retrain (000)", "freeze", "accuracy", {"0-4": 0.9694, "5-9": 0.5589, "0-9": 0.7699}),
    ("branching, each head on its half (000)", "branch", "head_accuracy", {"0-4": 0.9961, "5-9": 0.9918}),
    ("branching, argmax over both heads (000)", "branch", "accuracy", {"0-9": 0.935}),
    ("0-9 CNN, MSE + SGD (003)", "full", "accuracy", {"0-9": 0.877}),
    ("0/1 transfer, softmax-2 (003)", "transfer_01_softmax", "accuracy", {"0-1": 0.9995}),
    ("0/1 transfer, sigmoid-1 (003)", "transfer_01_sigmoid", "accuracy", {"0-1": 0.9995}),
]


# Strategies for learning 5-9 after 0-4, in the order of the comparison, and the
# notebook's accuracies where it has them.
STRATEGIES = {
    "finetune": {},
    "freeze": {"0-4": 0.9694, "5-9": 0.5589, "0-9": 0.7699},
    "lwf": {},
    "ewc": {},
    "branch": {"0-9": 0.935},
    "gaussian": {},
    "replay": {},
    "joint": {},
}


def read_metrics(name: str, folder: str = "metrics") -> dict:
    path = Path(folder) / f"{name}.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; run `dvc repro` first")
    return json.loads(path.read_text())


def stored_images(strategy: str, params: dict) -> int:
    """0-4 training images a strategy keeps to learn 5-9: the replay buffer, or all for joint."""
    if strategy == "replay":
        return params["replay"]["buffer_size"]
    if strategy == "joint":
        return len(load_split("0-4").y_train)
    return 0


def incremental_table(params: dict) -> pd.DataFrame:
    rows = {}
    for strategy, notebook in STRATEGIES.items():
        metrics = read_metrics(strategy, "metrics/incremental")
        rows[strategy] = {
            "stored 0-4 images": str(stored_images(strategy, params)),
            **{f"accuracy {s}": cell(metrics["accuracy"][s], notebook.get(s)) for s in ("0-4", "5-9", "0-9")},
            "validation 0-9": f"{metrics['validation_accuracy']['0-9']:.4f}",
            "average accuracy": f"{metrics['average_accuracy']:.4f}",
            "BWT": f"{metrics['bwt']:+.4f}",
            "forgetting": f"{metrics['forgetting']:.4f}",
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy for 5-9 after 0-4"
    return table


def markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table (pandas' to_markdown needs the tabulate package)."""
    header = "| " + " | ".join([table.index.name or "", *table.columns]) + " |"
    rule = "|" + "---|" * (len(table.columns) + 1)
    rows = ["| " + " | ".join([str(index), *row]) + " |" for index, row in zip(table.index, table.values, strict=True)]
    return "\n".join([header, rule, *rows]) + "\n"


def cell(ours: float | None, notebook: float | None) -> str:
    if ours is None and notebook is None:
        return ""
    ours_text = "-" if ours is None else f"{ours:.4f}"
    return ours_text if notebook is None else f"{ours_text} ({notebook:.4f})"


def main() -> None:
    params = load_params()
    rows = {}
    for label, name, key, notebook in ROWS:
        metrics = read_metrics(name)
        ours = metrics[key]
        validation = metrics["validation_accuracy"] if key == "accuracy" else {}
        widest = "0-1" if "0-1" in validation else "0-9"
        rows[label] = [cell(ours.get(test_set), notebook.get(test_set)) for test_set in TEST_SETS]
        rows[label].append(cell(validation.get(widest), None))
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[*TEST_SETS, "validation 0-9 (0-1)"])
    table.index.name = "experiment: test accuracy, ours (notebook)"
    incremental = incremental_table(params)
    write_text("metrics/report.md", markdown(table) + "\n" + markdown(incremental))
    bars = pd.DataFrame(
        {
            "strategy": list(STRATEGIES),
            "accuracy": [read_metrics(s, "metrics/incremental")["accuracy"]["0-9"] for s in STRATEGIES],
        }
    )
    write_text("plots/incremental_accuracy.csv", bars.to_csv(index=False))
    log.info("wrote metrics/report.md and plots/incremental_accuracy.csv")


if __name__ == "__main__":
    run_stage("report", main)
