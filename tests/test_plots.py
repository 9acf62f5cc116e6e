"""dvc.yaml's plots: one chart per training stage and quantity, train beside validation, titled in words."""

from __future__ import annotations

import yaml

from .conftest import ROOT

PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())
TRAINING_STAGES = sorted(path.name for path in (ROOT / "dvclive").iterdir() if path.is_dir())


def top_level_plots() -> dict[str, dict]:
    return {name: spec for entry in PIPELINE["plots"] for name, spec in entry.items()}


def test_every_training_stage_has_a_loss_and_an_accuracy_chart_with_train_and_validation() -> None:
    plots = top_level_plots()
    assert len(TRAINING_STAGES) == 12
    for stage in TRAINING_STAGES:
        for quantity in ("loss", "accuracy"):
            spec = plots[f"{stage} {quantity}"]
            curves = ROOT / "dvclive" / stage / "plots" / "metrics"
            files = sorted(spec["y"])
            assert [f.rsplit("/", 2)[-2] for f in files] == ["eval", "train"]  # dvclive calls validation "eval"
            for file, column in spec["y"].items():
                assert (ROOT / file).is_file(), file
                assert (ROOT / file).read_text().split("\n", 1)[0] == f"step\t{column}"
                assert file.startswith(f"{curves.relative_to(ROOT)}/")
            assert spec["x"] == "step" and spec["x_label"] == "epoch" and spec["y_label"] == quantity


def test_titles_and_labels_are_words_not_paths() -> None:
    for name, spec in top_level_plots().items():
        for key in ("title", "x_label", "y_label"):
            assert key in spec, (name, key)
            assert "dvclive" not in spec[key] and ".tsv" not in spec[key], (name, spec[key])


def test_curves_are_drawn_only_by_the_top_level_plots() -> None:
    """A stage-level `plots:` on a dvclive folder would add one chart per file again."""
    for stage in PIPELINE["stages"].values():
        body = stage.get("do", stage)
        for entry in body.get("plots", []):
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            assert not path.startswith("dvclive/"), path
        outs = [next(iter(entry)) if isinstance(entry, dict) else entry for entry in body.get("outs", [])]
        curves = [path for path in outs if path.startswith("dvclive/")]
        assert all(path.endswith("/plots") for path in curves)


def test_confusion_matrices_and_strategy_chart_stay() -> None:
    evaluate = PIPELINE["stages"]["evaluate"]["do"]["plots"][0]["plots/confusion/${key}.csv"]
    assert evaluate["template"] == "confusion" and evaluate["x_label"] == "true digit"
    report = {next(iter(entry)): entry[next(iter(entry))] for entry in PIPELINE["stages"]["report"]["plots"]}
    assert report["plots/incremental_accuracy.csv"]["template"] == "bar_horizontal_sorted"
    assert "plots/incremental_accuracy.png" in report
