"""The seed study's parts on hand-made experiments: which runs count, spread and lost classes."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from seeds.__main__ import ROWS, StudyError, seed_runs, summarise, table

from .conftest import ROOT


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


def exp_entry(rev: str, params: dict, run: dict | None, timestamp: str = "2026-12-01T10:00:00") -> dict:
    """One entry of `dvc exp show --json`, as DVC 3 writes it: params and metrics files with their data."""
    metrics = {} if run is None else {f"metrics/{name}.json": {"data": data} for name, data in run["metrics"].items()}
    metrics["dvclive/base/metrics.json"] = {"data": {"step": 9}}  # not a metrics/ file: left out
    data = {"rev": rev, "timestamp": timestamp, "params": {"params.yaml": {"data": params}}, "metrics": metrics}
    return {"rev": rev, "name": None, "data": data, "error": None, "experiments": None}


def shown_experiments(runs: dict[str, tuple[dict, dict | None, str]]) -> list[dict]:
    """exp show --json with the committed params at seed 0 as the baseline and `runs` as its experiments."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    baseline = exp_entry("abc123", params, fake_run(0, 0.9))
    baseline["experiments"] = [
        {
            "name": name,
            "revs": [exp_entry(f"rev-{name}", changed, run, when)],
            "executor": {"state": "running" if name == "running" else "success"},
        }
        for name, (changed, run, when) in runs.items()
    ]
    return [exp_entry("workspace", params, None), baseline]


def test_seed_runs_takes_the_commit_and_its_seed_experiments() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    other_lr = copy.deepcopy(params)
    other_lr["seed"], other_lr["base"]["learning_rate"] = 2, 0.5
    shown = shown_experiments(
        {
            "seed-1": ({**params, "seed": 1}, fake_run(1, 0.8), "2026-12-01T11:00:00"),
            "seed-1-older": ({**params, "seed": 1}, fake_run(1, 0.1), "2026-12-01T09:00:00"),
            "other-lr": (other_lr, fake_run(2, 0.7), "2026-12-01T11:00:00"),  # not a seed run: another param too
            "unfinished": ({**params, "seed": 3}, None, "2026-12-01T11:00:00"),  # no metrics yet
            "running": ({**params, "seed": 4}, fake_run(0, 0.9), None),  # shows the commit's metrics until done
        }
    )
    runs = seed_runs(shown)
    assert [run["seed"] for run in runs] == [0, 1]
    assert runs[1]["metrics"]["full"]["accuracy"]["0-9"] == 0.8  # the newest of the two seed-1 runs
    assert runs[0]["metrics"]["full"]["accuracy"]["0-9"] == 0.9  # the commit's own run, seed 0
    assert "dvclive/base/metrics" not in runs[0]["metrics"]


def continual_metrics(seed: int, accuracy: float) -> dict:
    return {
        "seed": seed,
        "average_accuracy": accuracy,
        "accuracy": accuracy + 0.001,
        "learning_accuracy": 0.99,
        "validation_average_accuracy": accuracy - 0.01,
        "stored_images": 1000,
        "carried_bytes": 785000,
        "held_bytes": 6000000 + seed,
        "images_trained": 10,
    }


def test_a_scenario_study_counts_only_the_metrics_its_run_made() -> None:
    from seeds.__main__ import scenario_table, summarise_scenario

    stale = continual_metrics(0, 0.5)  # an experiment of other stages carries the commit's file: seed 0
    runs = [
        {"seed": 0, "metrics": {"continual/five/replay": continual_metrics(0, 0.90)}},
        {"seed": 1, "metrics": {"continual/five/replay": continual_metrics(1, 0.92)}},
        {"seed": 2, "metrics": {"continual/five/replay": stale}},
        {"seed": 3, "metrics": {"base": {}}},  # never ran the scenario
    ]
    summary = summarise_scenario("five", runs, ["finetune", "replay"])
    assert list(summary["results"]) == ["replay"]  # finetune ran in no run
    replay = summary["results"]["replay"]
    assert replay["seeds"] == [0, 1]
    assert replay["average_accuracy"] == pytest.approx(
        {"mean": 0.91, "std": 0.01414, "min": 0.90, "max": 0.92}, abs=1e-5
    )
    assert replay["validation_average_accuracy"]["mean"] == pytest.approx(0.90)
    assert replay["held_bytes"] == 6000001  # the largest of the runs
    text = scenario_table(summary)
    # mean ± SEM (std / sqrt(2)), std, pooled, learning, validation, stored images, carried, held, seeds
    assert "| replay | 91.00 ± 1.00 | 1.41 | 91.10 | 99.00 | 90.00 | 1,000 | 785,000 | 6,000,001 | 2 |\n" in text
    assert "reference" not in text  # no published figures for this scenario: no reference columns


def test_a_scenario_with_published_figures_shows_them_beside_each_strategy() -> None:
    from seeds.__main__ import scenario_table, summarise_scenario

    runs = [{"seed": 0, "metrics": {"continual/split_mnist/replay": continual_metrics(0, 0.90)}}]
    text = scenario_table(summarise_scenario("split_mnist", runs, ["replay"]))
    assert "reference, papers (%) |" in text
    assert (
        "| replay | 90.00 ± 0.00 | 0.00 | 90.10 | 99.00 | 89.00 | 1,000 | 785,000 | 6,000,000 | 1 | about 89 |" in text
    )


def test_the_reference_figures_are_of_strategies_that_exist_and_the_others_show_none() -> None:
    """A strategy the reference has no figure for needs no entry: adding one touches its module and params only."""
    from seeds.__main__ import REFERENCE, scenario_table, summarise_scenario

    strategies = yaml.safe_load((ROOT / "params.yaml").read_text())["strategies"]
    assert set(REFERENCE["split_mnist"]) <= set(strategies)
    runs = [{"seed": 0, "metrics": {"continual/split_mnist/mine": continual_metrics(0, 0.5)}}]
    assert "| 1 | - | - |" in scenario_table(summarise_scenario("split_mnist", runs, ["mine"]))


def test_a_scenario_study_takes_the_seed_experiments_of_the_scenarios_stages() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    scenario_run = {"seed": 1, "metrics": {"continual/five/replay": continual_metrics(1, 0.92)}}
    shown = shown_experiments({"seed-1": ({**params, "seed": 1}, scenario_run, "2026-12-01T11:00:00")})
    shown[1]["data"]["metrics"]["metrics/continual/five/replay.json"] = {"data": continual_metrics(0, 0.90)}
    runs = seed_runs(shown, lambda metrics: any(name.startswith("continual/five/") for name in metrics))
    assert [run["seed"] for run in runs] == [0, 1]  # the commit and its experiment of the scenario's stages
    assert [run["seed"] for run in seed_runs(shown)] == [0]  # the full study: only the commit has every row


def commit_run(repo: Path, seed: int, lock_seed: int, accuracy: float, records: bool = True) -> dict:
    """A commit in `repo` holding a run's dvc.lock (its `base` trained with `lock_seed`); its run entry, whose
    metrics are what seed_runs reads of `dvc exp show`: each model's record, or its scalars where it has none."""
    run = fake_run(seed, accuracy)
    lock = {"stages": {"base": {"params": {"params.yaml": {"seed": lock_seed}}}}}
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", f"seed {seed}"], cwd=repo, check=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    scalars = {name: {"accuracy": accuracy, "validation_accuracy": accuracy} for name in run["metrics"]}
    return {"seed": seed, "rev": rev, "metrics": run["metrics"] if records else scalars}


def test_the_full_study_reads_each_runs_records_and_leaves_out_runs_that_kept_the_commits_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    runs = [
        commit_run(tmp_path, 0, 0, 0.90),
        commit_run(tmp_path, 1, 1, 0.80),
        commit_run(tmp_path, 2, 0, 0.10),  # a scenario's experiment: seed 2, the commit's seed-0 models
    ]
    summary = summarise(runs)
    assert summary["seeds"] == [0, 1]
    assert summary["results"]["full 0-9"]["test_accuracy"]["mean"] == pytest.approx(0.85)
    missing = commit_run(tmp_path, 3, 3, 0.70, records=False)
    with pytest.raises(StudyError, match=r"results/\w+\.json is missing at [0-9a-f]{7}; commit the records"):
        summarise([runs[0], missing])


def test_a_record_in_exp_show_stands_in_for_its_scalars() -> None:
    from seeds.__main__ import _metrics

    files = {
        "metrics/base.json": {"data": {"accuracy": 0.9}},
        "results/base.json": {"data": {"accuracy": {"0-4": 0.9}}},
        "metrics/full.json": {"data": {"accuracy": {"0-9": 0.8}}},  # from before the records: all in metrics/
    }
    expected = {"base": {"accuracy": {"0-4": 0.9}}, "full": {"accuracy": {"0-9": 0.8}}}
    assert _metrics({"data": {"metrics": files}}) == expected
