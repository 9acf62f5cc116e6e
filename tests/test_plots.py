"""dvc.yaml's plots: each training stage's curves as stage plots, train and validation in one chart, in words."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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
    """A stage that logs curves (its metrics are dvclive's) declares its curves folder as a plot, uncached,
    titled by the stage: the template adds the quantity, "<stage>: <quantity> by epoch"."""
    for name, plots in stage_plots().items():
        body = PIPELINE["stages"][name].get("do", PIPELINE["stages"][name])
        live = [next(iter(m)) for m in body.get("metrics", []) if next(iter(m)).startswith(f"{LIVE_DIR}/")]
        curves = {path: props for path, props in plots.items() if path.startswith(f"{CURVES_DIR}/")}
        assert len(live) == len(curves), name  # every dvclive summary comes with its curves
        for path, props in curves.items():
            assert props == {"cache": False, "template": "curves", "x": "epoch", "title": Path(path).name}, name
    template = json.loads((ROOT / ".dvc" / "plots" / "curves.json").read_text())
    assert template["title"]["text"] == "<DVC_METRIC_TITLE>: <DVC_METRIC_Y> by epoch"
    assert template["encoding"]["color"]["field"] == "rev"  # two revisions in two colours (dvc plots diff)
    assert template["encoding"]["strokeDash"]["field"] == "split"  # train and validation, in words, in one chart
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


def test_confusion_matrices_normalised_per_true_digit_with_every_digit_and_strategy_charts() -> None:
    evaluate = stage_plots()["evaluate"]["plots/confusion/${key}.csv"]
    assert evaluate["template"] == "confusion_all_digits"
    assert (evaluate["x"], evaluate["y"]) == ("predicted", "actual")  # DVC's template normalises each row, y
    assert (evaluate["x_label"], evaluate["y_label"]) == ("predicted digit", "true digit")
    template = json.loads((ROOT / ".dvc" / "plots" / "confusion_all_digits.json").read_text())
    marks = [(layer, layer.get("mark")) for layer in template["spec"]["layer"]]
    hidden = [layer for layer, mark in marks if isinstance(mark, dict) and mark.get("opacity") == 0]
    assert [layer["encoding"]["x"]["field"] for layer in hidden] == ["<DVC_METRIC_Y>"]  # true digits on both axes
    report = stage_plots()["report"]
    assert report["plots/incremental_accuracy.csv"]["template"] == "bar_horizontal_sorted"
    by_strategy = json.loads((ROOT / ".dvc" / "plots" / "by_strategy.json").read_text())
    assert by_strategy["facet"]["field"] == "strategy"  # a panel per strategy: lines that end together stay apart
    assert by_strategy["spec"]["encoding"]["color"]["field"] == "rev"


def test_titles_and_labels_are_words_not_paths() -> None:
    for plots in stage_plots().values():
        for path, props in plots.items():
            assert path.endswith(".png") or props.get("title"), path  # an image carries its own title
            for key in ("title", "x_label", "y_label"):
                assert "/" not in props.get(key, ""), props


def test_dvc_plots_show_draws_every_chart_offline(tmp_path: Path) -> None:
    """`dvc plots show` writes a page with its own Vega scripts (.dvc/config: plots.html_template).

    Headless Chromium, with every host name unresolvable, opens it: each Vega chart has
    drawn its canvas, and each image plot's file is beside the page. DVC's own page, which
    loads Vega from a CDN, draws none of them this way.
    """
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("needs Debian's chromium for headless drawing: apt-get install chromium (.ci/run installs it)")
    out = tmp_path / "plots"
    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "show", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    assert shown.returncode == 0, shown.stderr
    page = (out / "index.html").read_text()
    charts = re.findall(r"vegaEmbed\('#([^']+)'", page)
    assert len(charts) >= 20 and "<script src=" not in page  # nothing fetched
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # as root in CI
            "--disable-gpu",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # no network, whatever the machine has
            "--virtual-time-budget=30000",
            "--dump-dom",
            (out / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    drawn = re.findall(r'<div id="([^"]+)" class="vega-embed[^"]*">.{0,400}?<canvas width="(\d+)" height="(\d+)"', dom)
    assert sorted(name for name, width, height in drawn if int(width) > 0 and int(height) > 0) == sorted(charts)
    images = re.findall(r'<img src="(static/[^"]+)"', page)
    assert images and all((out / image).is_file() for image in images)
