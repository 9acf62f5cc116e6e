"""Stage continual_report: every strategy of one scenario side by side.

Usage: python -m stages.continual_report <scenario>
Reads results/continual/<scenario>/*.json (one per strategy) and writes
- metrics/continual/<scenario>.md: a table of each strategy's average accuracy over tasks
  (the headline), pooled accuracy, learning accuracy, BWT, forgetting, its memory ledger
  and the images it trained on;
- plots/continual/<scenario>/average_accuracy.csv: the average accuracy over the tasks seen
  so far after each task, one line per strategy (`dvc plots show`), and the same chart as
  average_accuracy.png;
- plots/continual/<scenario>/accuracy_matrices.png: each strategy's R as a heatmap.
"""

import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from mnist_transfer.artifacts import atomic_path, write_text
from mnist_transfer.errors import StageError
from mnist_transfer.reports import markdown, read_strategy_metrics
from mnist_transfer.stage import run_stage

PANELS_PER_ROW = 5  # of the charts' grids: nine strategies in two rows fit a laptop's screen


def matrix(rows: dict) -> np.ndarray:
    """R from its metrics form: {"after task i": {"task j": accuracy}}."""
    return np.array([list(row.values()) for row in rows.values()])


def average_after_each_task(r: np.ndarray) -> list[float]:
    """The mean accuracy over the tasks seen so far, after each task."""
    return [float(r[i, : i + 1].mean()) for i in range(len(r))]


def table(results: dict[str, dict]) -> str:
    rows = {}
    for strategy, metrics in results.items():
        rows[strategy] = {
            "average accuracy": f"{metrics['average_accuracy']:.4f}",
            "pooled accuracy": f"{metrics['accuracy']:.4f}",
            "learning accuracy": f"{metrics['learning_accuracy']:.4f}",
            "BWT": f"{metrics['bwt']:+.4f}",
            "forgetting": f"{metrics['forgetting']:.4f}",
            "stored images": f"{metrics['stored_images']:,}",
            "carried (bytes)": f"{metrics['carried_bytes']:,}",
            "held at the end (bytes)": f"{metrics['held_bytes']:,}",
            "images trained on": f"{metrics['images_trained']:,}",
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "strategy"
    return markdown(frame)


def save_png(figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", metadata={"Software": None})  # no version stamp: same bytes each run


def main(_params: dict) -> None:
    if len(sys.argv) != 2:
        raise StageError("usage: python -m stages.continual_report <scenario>")
    scenario = sys.argv[1]
    folder = Path("results/continual") / scenario
    results = {path.stem: read_strategy_metrics(path) for path in sorted(folder.glob("*.json"))}
    if not results:
        raise StageError(f"{folder}: no strategy metrics; run `dvc repro continual` first")
    write_text(Path("metrics/continual") / f"{scenario}.md", table(results))
    kind = next(iter(results.values()))["incremental"]
    curves = pd.DataFrame(
        [
            {"task": i + 1, "strategy": strategy, "average accuracy": value}
            for strategy, metrics in results.items()
            for i, value in enumerate(average_after_each_task(matrix(metrics["R"])))
        ]
    )
    plots = Path("plots/continual") / scenario
    write_text(plots / "average_accuracy.csv", curves.to_csv(index=False))

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    # a panel per strategy, in a grid a screen holds: lines that end together stay apart
    count = len(results)
    columns = min(count, PANELS_PER_ROW)
    rows = -(-count // columns)
    tasks = sorted(curves["task"].unique())
    figure, grid = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.0 * rows + 0.5), dpi=100, squeeze=False)
    for index, (strategy, group) in enumerate(curves.groupby("strategy", sort=False)):
        axes = grid.flat[index]
        axes.plot(group["task"], group["average accuracy"], marker="o")
        axes.set_title(strategy, fontsize=9)
        axes.set(xticks=tasks, ylim=(0, 1.02))
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        if index + columns >= count:  # the lowest panel of its column
            axes.set_xlabel("tasks learnt", fontsize=8)
        if index % columns == 0:
            axes.set_ylabel("average accuracy", fontsize=8)
    for axes in grid.flat[count:]:
        axes.set_visible(False)
    figure.suptitle(f"{scenario}: {kind}-incremental average accuracy over the tasks so far", fontsize=10)
    figure.tight_layout()
    save_png(figure, plots / "average_accuracy.png")
    plt.close(figure)

    figure, grid = plt.subplots(rows, columns, figsize=(2.3 * columns, 2.4 * rows + 0.5), dpi=100, squeeze=False)
    for axes in grid.flat[count:]:
        axes.set_visible(False)
    for axes, (strategy, metrics) in zip(grid.flat, results.items(), strict=False):
        r = matrix(metrics["R"])
        axes.imshow(r, vmin=0, vmax=1, cmap="viridis")
        for (i, j), value in np.ndenumerate(r):
            axes.text(
                j, i, f"{100 * value:.0f}", ha="center", va="center", fontsize=7, color="w" if value < 0.6 else "k"
            )
        axes.set_title(strategy, fontsize=9)
        axes.set(xticks=range(len(r)), yticks=range(len(r)), xlabel="task tested", ylabel="after task")
        axes.set_xticklabels(range(1, len(r) + 1), fontsize=7)
        axes.set_yticklabels(range(1, len(r) + 1), fontsize=7)
    figure.suptitle(f"{scenario}: R[i, j], {kind}-incremental test accuracy (%)", fontsize=10)
    figure.tight_layout()
    save_png(figure, plots / "accuracy_matrices.png")
    plt.close(figure)


if __name__ == "__main__":
    run_stage("continual_report", main)
