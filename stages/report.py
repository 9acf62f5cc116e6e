"""Stage report: every model's committed metrics beside the notebooks' printed numbers.

Reads metrics/*.json and writes metrics/report.md (a Markdown table that the README
shows). The notebooks' numbers are those in ../shared/seeds/README.md.
"""

import json
import logging
from pathlib import Path

import pandas as pd

from mnist_transfer.artifacts import write_text
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


def read_metrics(name: str) -> dict:
    path = Path("metrics") / f"{name}.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; run `dvc repro evaluate@{name}` first")
    return json.loads(path.read_text())


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
    load_params()
    rows = {}
    for label, name, key, notebook in ROWS:
        ours = read_metrics(name)[key]
        rows[label] = [cell(ours.get(test_set), notebook.get(test_set)) for test_set in TEST_SETS]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=TEST_SETS)
    table.index.name = "experiment: test accuracy, ours (notebook)"
    write_text("metrics/report.md", markdown(table))
    log.info("wrote metrics/report.md")


if __name__ == "__main__":
    run_stage("report", main)
