"""dvc.yaml's plots: each training stage's curves as stage plots, train and validation in one chart, in words."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from mnist_transfer.training import CURVES_DIR, LIVE_DIR, write_curves

from .conftest import ROOT

PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def stage_plots() -> dict[str, dict[str, dict]]:
    """Stage (foreach bodies once) -> its plots, path -> props."""
    found = {}
    for name, stage in PIPELINE["stages"].items():
        body = stage.get("do", stage)
        found[name] = {next(iter(entry)): next(iter(entry.values())) for entry in body.get("plots", [])}
    return found


def test_every_training_stage_draws_its_curves_with_the_curves_template() -> None:
    """A stage that logs curves (its metrics are dvclive's) declares its curves folder as a plot, uncached."""
    for name, plots in stage_plots().items():
        body = PIPELINE["stages"][name].get("do", PIPELINE["stages"][name])
        live = [next(iter(m)) for m in body.get("metrics", []) if next(iter(m)).startswith(f"{LIVE_DIR}/")]
        curves = {path: props for path, props in plots.items() if path.startswith(f"{CURVES_DIR}/")}
        assert len(live) == len(curves), name  # every dvclive summary comes with its curves
        for props in curves.values():
            assert props == {"cache": False, "template": "curves", "x": "epoch"}, name
    template = json.loads((ROOT / ".dvc" / "plots" / "curves.json").read_text())
    assert template["encoding"]["color"]["field"] == "split"  # train and validation, in words, in one chart
    assert template["encoding"]["x"]["axis"]["tickMinStep"] == 1  # whole epochs


def test_curves_are_one_csv_per_quantity_with_train_and_validation(tmp_path: Path, monkeypatch) -> None:
    """dvclive's per-metric TSVs (validation as "eval") become one chart's file each, epochs from 1."""
    monkeypatch.chdir(tmp_path)
    live = tmp_path / "scratch"
    for folder, values in (("train", ("0.5", "0.25")), ("eval", ("0.75", "0.5"))):
        (live / "plots" / "metrics" / folder).mkdir(parents=True)
        rows = "".join(f"{step}\t{value}\n" for step, value in enumerate(values))
        (live / "plots" / "metrics" / folder / "loss.tsv").write_text("step\tloss\n" + rows)
    (live / "metrics.json").write_text('{"step": 1}')
    write_curves(live, "stage_x")
    with (tmp_path / CURVES_DIR / "stage_x" / "loss.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert rows == [
        {"epoch": "1", "split": "train", "loss": "0.5"},
        {"epoch": "2", "split": "train", "loss": "0.25"},
        {"epoch": "1", "split": "validation", "loss": "0.75"},
        {"epoch": "2", "split": "validation", "loss": "0.5"},
    ]
    assert (tmp_path / LIVE_DIR / "stage_x" / "metrics.json").read_text() == '{"step": 1}'


def test_committed_curves_are_what_the_charts_read() -> None:
    """Each committed curves file has the columns the template draws, both splits, whole epochs."""
    files = sorted((ROOT / CURVES_DIR).glob("*/*.csv"))
    assert files
    for path in files:
        with path.open() as file:
            rows = list(csv.DictReader(file))
        assert list(rows[0]) == ["epoch", "split", path.stem], path
        assert {row["split"] for row in rows} == {"train", "validation"}, path
        assert all(int(row["epoch"]) >= 1 for row in rows)


def test_confusion_matrices_normalised_and_strategy_chart() -> None:
    evaluate = stage_plots()["evaluate"]["plots/confusion/${key}.csv"]
    assert evaluate["template"] == "confusion_normalized" and evaluate["x_label"] == "true digit"
    report = stage_plots()["report"]
    assert report["plots/incremental_accuracy.csv"]["template"] == "bar_horizontal_sorted"
    assert "plots/incremental_accuracy.png" in report


def test_titles_and_labels_are_words_not_paths() -> None:
    for plots in stage_plots().values():
        for props in plots.values():
            for key in ("title", "x_label", "y_label"):
                assert "/" not in props.get(key, ""), props
