"""Stage report: every model's metrics beside the notebooks' printed numbers, and the notebooks' question.

Reads results/*.json and results/continual/notebook/*.json (nothing else) and writes
- metrics/report.md: two Markdown tables, each with the validation accuracy that choices
  are made on beside the test accuracy (docs/results.md shows them): the notebooks'
  experiments, then 5-9 after 0-4, every strategy of the `notebook` scenario beside the
  notebooks' own `freeze` and `branch` stages;
- metrics/headline.json: one test accuracy per model and per strategy, what the README and
  the review show first (`dvc metrics show metrics/headline.json`);
- plots/incremental_accuracy.csv: 0-9 accuracy per strategy, a bar chart in `dvc plots
  show`, and the same chart as plots/incremental_accuracy.png for the docs.
Tests make the tables again from the committed metrics. The notebooks' numbers are those
printed in the two notebooks (docs/notebooks.md).
"""

import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib
import pandas as pd

from mnist_transfer.artifacts import atomic_path, write_json, write_text
from mnist_transfer.errors import StageError
from mnist_transfer.reports import ModelMetrics, markdown, read_checked, read_strategy_metrics, record_path
from mnist_transfer.stage import run_stage

log = logging.getLogger("stages.report")

TEST_SETS = ["0-4", "5-9", "0-9", "0-1"]


def head_average(metrics: dict) -> dict:
    """Notebook 000's reading of the branch base: its head on each half, and their mean as "0-9"."""
    heads = metrics["head_accuracy"]
    return {**heads, "0-9": (heads["0-4"] + heads["5-9"]) / 2}


def dual_label(head: str) -> Callable[[dict], dict]:
    return lambda metrics: {"0-9": metrics["dual_label_accuracy"][head]}


# The test accuracies the notebooks print for the models both they and the pipeline make.
NOTEBOOK = {
    "base": {"0-4": 0.9986, "5-9": 0.0, "0-9": 0.5132},
    "freeze": {"0-4": 0.9694, "5-9": 0.5589, "0-9": 0.7699},
    "branch": {"0-9": 0.935},
    "full": {"0-9": 0.877},
    "transfer_01_softmax": {"0-1": 0.9995},
    "transfer_01_sigmoid": {"0-1": 0.9995},
}

# (row, metrics file, what to show: a metrics key or a function of the metrics, the notebooks' accuracies);
# a key "...accuracy" shows its "...validation_accuracy" beside it
ROWS = [
    ("base CNN on 0-4 (000)", "base", "accuracy", NOTEBOOK["base"]),
    ("sequential freeze-retrain (000)", "freeze", "accuracy", NOTEBOOK["freeze"]),
    ("branch base, 5-way head on 0-4 (000)", "branch_base", "accuracy", {"0-4": 0.9961}),
    (
        "branch base, 5-9 read as digit - 5, 0-9 = mean of halves (000)",
        "branch_base",
        head_average,
        {"0-4": 0.9961, "5-9": 0.2592, "0-9": 0.5996},
    ),
    ("branching, each head on its half (000)", "branch", "head_accuracy", {"0-4": 0.9961, "5-9": 0.9918}),
    ("branching, head 1 on 0-9 with dual labels (000)", "branch", dual_label("head 1"), {"0-9": 0.6076}),
    ("branching, head 2 on 0-9 with dual labels (000)", "branch", dual_label("head 2"), {"0-9": 0.562}),
    ("branching, argmax over both heads (000)", "branch", "accuracy", NOTEBOOK["branch"]),
    ("0-9 CNN, MSE + SGD (003)", "full", "accuracy", NOTEBOOK["full"]),
    ("0/1 transfer, softmax-2 (003)", "transfer_01_softmax", "accuracy", NOTEBOOK["transfer_01_softmax"]),
    ("0/1 transfer, sigmoid-1 (003)", "transfer_01_sigmoid", "accuracy", NOTEBOOK["transfer_01_sigmoid"]),
]


Reader = Callable[[str], dict]  # metrics file name (e.g. "base", "continual/notebook/ewc") -> its content

# The scenario that asks the notebooks' question, 5-9 after 0-4 (params scenarios), and the
# notebooks' own stages that answer it, beside its strategies: (stage, the 0-4 model it starts from).
SCENARIO = "notebook"
STAGES = {"freeze": "base", "branch": "branch_base"}


def read_metrics(name: str) -> dict:
    """A model's metrics or a strategy's record (continual/...) from the workspace, checked (reports.record_path)."""
    path = Path(record_path(name))
    return read_strategy_metrics(path) if name.startswith("continual/") else read_checked(path, ModelMetrics)


def incremental_rows(read: Reader, names: list[str]) -> dict[str, dict]:
    """5-9 after 0-4: per strategy of the scenario, then per notebook stage, its accuracies after both tasks."""
    rows = {}
    for strategy in names:
        metrics = read(f"continual/{SCENARIO}/{strategy}")
        if metrics["tasks"] != TASKS or metrics["incremental"] != "class":  # a seeded order, say
            raise StageError(
                f"results/continual/{SCENARIO}/{strategy}.json learnt tasks {metrics['tasks']} "
                f"({metrics['incremental']}-incremental): the report reads them as class-incremental 5-9 after 0-4; "
                f"set scenarios.{SCENARIO}.task_order: fixed and incremental: class"
            )
        after = list(metrics["R"].values())[-1]  # after the last task, the second (main checks the tasks)
        rows[f"{strategy} (scenario {SCENARIO})"] = {
            "0-4": after["task 1"],
            "5-9": after["task 2"],
            "0-9": metrics["accuracy"],
            "validation 0-9": metrics["validation_accuracy"],
            "bwt": metrics["bwt"],
            "forgetting": metrics["forgetting"],
            "held": f"{metrics['held_bytes']:,}",
        }
    for stage, start in STAGES.items():
        metrics = read(stage)
        # two tasks: BWT = R[1,0] - R[0,0], forgetting = -BWT (mnist_transfer.metrics.continual_metrics)
        bwt = metrics["accuracy"]["0-4"] - read(start)["accuracy"]["0-4"]
        rows[f"{stage} (stage, notebook 000)"] = {
            **{test_set: metrics["accuracy"][test_set] for test_set in ("0-4", "5-9", "0-9")},
            "validation 0-9": metrics["validation_accuracy"]["0-9"],
            "bwt": bwt,
            "forgetting": -bwt,
            "held": "-",
        }
    return rows


def incremental_table(read: Reader, names: list[str]) -> pd.DataFrame:
    rows = {
        label: {
            **{f"accuracy {s}": f"{row[s]:.4f}" for s in ("0-4", "5-9", "0-9")},
            "validation 0-9": f"{row['validation 0-9']:.4f}",
            "BWT": f"{row['bwt']:+.4f}",
            "forgetting": f"{row['forgetting']:.4f}",
            "held at the end (bytes)": row["held"],
        }
        for label, row in incremental_rows(read, names).items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "5-9 after 0-4: test accuracy after both tasks"
    return table


def cell(ours: float | None, notebook: float | None) -> str:
    if ours is None and notebook is None:
        return ""
    ours_text = "-" if ours is None else f"{ours:.4f}"
    return ours_text if notebook is None else f"{ours_text} ({notebook:.4f})"


def bar_chart(bars: pd.DataFrame, path: str) -> None:
    """A horizontal bar per strategy, best at the top, the accuracy written at the end of each bar."""
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    bars = bars.sort_values("accuracy")
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=100)
    axes.barh(bars["strategy"], bars["accuracy"], color="#5b7fb8")
    for y, value in enumerate(bars["accuracy"]):
        axes.text(value + 0.005, y, f"{value:.4f}", va="center", fontsize=9)
    axes.set_xlim(0, 1.1)
    axes.set_xlabel("0-9 test accuracy")
    axes.set_title("0-9 test accuracy after learning 5-9, per strategy")
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", metadata={"Software": None})  # no version stamp: same bytes each run
    plt.close(figure)


# The models a reviewer looks at first, and the test set each is read on: every notebook
# experiment's model, then every strategy of the notebook scenario (0-9 after 5-9 after 0-4).
HEADLINE = {
    "base": "0-4",
    "freeze": "0-9",
    "branch": "0-9",
    "full": "0-9",
    "transfer_01_softmax": "0-1",
    "transfer_01_sigmoid": "0-1",
}


def headline(read: Reader, names: list[str]) -> dict:
    """metrics/headline.json: one test accuracy per model and strategy, the numbers the review shows first."""
    return {
        "test_accuracy": {name: read(name)["accuracy"][test_set] for name, test_set in HEADLINE.items()},
        f"{SCENARIO}_scenario_accuracy": {s: read(f"continual/{SCENARIO}/{s}")["accuracy"] for s in names},
    }


def headline_table(read: Reader, names: list[str]) -> str:
    """The README's results: metrics/headline.json as a table, the notebooks' figures in brackets."""
    numbers = headline(read, names)
    rows = {
        name: [test_set, cell(numbers["test_accuracy"][name], NOTEBOOK.get(name, {}).get(test_set))]
        for name, test_set in HEADLINE.items()
    }
    rows |= {
        f"strategy {name}": ["0-9", cell(value, None)]
        for name, value in numbers[f"{SCENARIO}_scenario_accuracy"].items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["test set", "test accuracy, ours (notebook)"])
    table.index.name = "model"
    return markdown(table)


def tables(read: Reader, names: list[str]) -> str:
    """metrics/report.md: the notebooks' experiments, then 5-9 after 0-4, from the metrics `read` gives."""
    rows = {}
    for label, name, show, notebook in ROWS:
        metrics = read(name)
        ours = show(metrics) if callable(show) else metrics[show]
        validation = metrics.get(show.replace("accuracy", "validation_accuracy"), {}) if isinstance(show, str) else {}
        widest = "0-1" if "0-1" in validation else "0-9"
        rows[label] = [cell(ours.get(test_set), notebook.get(test_set)) for test_set in TEST_SETS]
        rows[label].append(cell(validation.get(widest), None))
    table = pd.DataFrame.from_dict(rows, orient="index", columns=[*TEST_SETS, "validation 0-9 (0-1)"])
    table.index.name = "experiment: test accuracy, ours (notebook)"
    return markdown(table) + "\n" + markdown(incremental_table(read, names))


# The question the second table asks of scenario SCENARIO: its tasks must be these.
TASKS = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


def main(params: dict) -> None:
    """Reads params `strategies` (the names) and `scenarios.notebook.tasks` (checked), and metrics only."""
    if SCENARIO not in params["scenarios"]:
        raise StageError(f"params.yaml has no scenarios.{SCENARIO}, whose strategies the report shows; restore it")
    if params["scenarios"][SCENARIO]["tasks"] != TASKS:
        raise StageError(
            f"scenarios.{SCENARIO}.tasks = {params['scenarios'][SCENARIO]['tasks']}: the report reads it as "
            f"5-9 after 0-4, {TASKS}; ask other tasks in a scenario of another name"
        )
    names = list(params["strategies"])
    write_text("metrics/report.md", tables(read_metrics, names))
    write_json("metrics/headline.json", headline(read_metrics, names))
    rows = incremental_rows(read_metrics, names)
    bars = pd.DataFrame({"strategy": list(rows), "accuracy": [row["0-9"] for row in rows.values()]})
    write_text("plots/incremental_accuracy.csv", bars.to_csv(index=False))
    bar_chart(bars, "plots/incremental_accuracy.png")
    log.info("wrote metrics/report.md, metrics/headline.json and plots/incremental_accuracy.csv/.png")


if __name__ == "__main__":
    run_stage("report", main)
