"""The seed study's parts on hand-made runs: seeds set everywhere, spread and lost classes."""

from __future__ import annotations

import pytest
import yaml

from stages.seed_run import with_seed
from stages.seeds import ROWS, summarise, table

from .conftest import ROOT


def test_with_seed_sets_every_groups_seed_and_nothing_else() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    seeded = with_seed(params, 7)
    groups_with_seed = [group for group, values in params.items() if "seed" in values]
    assert len(groups_with_seed) == 11  # every training stage, the strategies included (gaussian has no randomness)
    for group, values in seeded.items():
        expected = {**params[group], "seed": 7} if group in groups_with_seed else params[group]
        assert values == expected


def fake_run(seed: int, accuracy: float, lost: int | None = None) -> dict:
    """A run whose every model scores `accuracy`; class `lost` (if any) is at 0."""
    per_class = {str(c): 0.0 if c == lost else 1.0 for c in range(10)}
    metrics = {
        name: {
            "accuracy": {test_set: accuracy},
            "validation_accuracy": {test_set: accuracy - 0.01},
            "per_class_accuracy": per_class,
        }
        for name, test_set, _, _ in ROWS
    }
    for name, test_set, _, _ in ROWS:  # several rows share a model: give it every test set
        metrics[name]["accuracy"][test_set] = accuracy
        metrics[name]["validation_accuracy"][test_set] = accuracy - 0.01
    return {"seed": seed, "metrics": metrics}


def test_summary_gives_spread_and_counts_lost_classes() -> None:
    runs = [fake_run(0, 0.90), fake_run(1, 0.80, lost=7), fake_run(2, 0.70, lost=3)]
    summary = summarise(runs)
    assert summary["seeds"] == [0, 1, 2]
    full = summary["results"]["full 0-9"]
    assert full["test_accuracy"] == pytest.approx({"mean": 0.80, "std": 0.10, "min": 0.70, "max": 0.90})
    assert full["validation_accuracy"]["mean"] == pytest.approx(0.79)
    assert full["runs_with_a_lost_class"] == 2 and full["runs"] == 3
    # the base model is judged on the digits it learnt: digit 7 at 0 is no lost class for it
    assert summary["results"]["base 0-4"]["runs_with_a_lost_class"] == 1
    assert summary["results"]["transfer_01_softmax 0-1"]["runs_with_a_lost_class"] == 0


def test_table_has_a_row_per_number() -> None:
    text = table(summarise([fake_run(0, 0.9), fake_run(1, 0.8)]))
    lines = text.strip().splitlines()
    assert lines[0].startswith("| seeds 0, 1 | test set | test accuracy, mean ± std |")
    assert len(lines) == 2 + len(ROWS)
    assert "| 0-9 CNN, MSE + SGD (003) | 0-9 | 0.8500 ± 0.0707 | 0.8000 - 0.9000 | 0.8400 ± 0.0707 | 0 of 2 |" in text
