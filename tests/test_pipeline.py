"""Integration: the real pipeline, run by real `dvc` commands, on a small profile of the real MNIST.

One run of the whole pipeline (`base_run`, once per test session, shared by the pytest-xdist
workers) fills a DVC cache; each test that changes anything gets a workspace of its own: a
git clone of that run whose DVC cache is the shared one, so no test depends on another or
on their order. The cache's run-cache then holds every run any test made: a test that needs
a stage to run, not to be restored, sets a param value of its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from filelock import FileLock

from mnist_transfer import compute, quick, scenarios

from .conftest import ROOT, mnist_path

pytestmark = pytest.mark.integration

PROJECT = [
    "dvc.yaml",
    "params.yaml",
    "requirements.lock",
    "stages",
    "mnist_transfer",
    "review",
    "seeds",
    ".dvc/config",
    ".dvc/plots",
    ".dvc/plots_page.html",
    ".dvcignore",
    ".gitignore",
]
METRICS = [
    "base",
    "freeze",
    "branch_base",
    "branch",
    "full",
    "transfer_01_softmax",
    "transfer_01_sigmoid",
]
STRATEGIES = list(yaml.safe_load((ROOT / "params.yaml").read_text())["strategies"])
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def small_profile(params: dict) -> dict:
    """The README's quick profile (mnist_transfer.quick): 2000 training and 600 test images, one epoch everywhere."""
    return quick.apply(params)


def run(args: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "MNIST_NPZ": str(mnist_path()), "DVC_NO_ANALYTICS": "1", **(env or {})}
    full_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full_env.get('PATH', '')}"
    result = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def dvc(*args: str, cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd, check, env)


def ran(output: str) -> set[str]:
    """The stages a dvc command ran (their command executed)."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def restored(output: str) -> set[str]:
    """The stages a dvc command restored from DVC's run-cache instead of running them."""
    return set(re.findall(r"Stage '([^']+)' is cached - skipping run", output))


def assert_up_to_date(workspace: Path, env: dict | None = None) -> None:
    """`dvc status` says everything is up to date, and the git work tree is clean."""
    assert dvc("status", cwd=workspace, env=env).stdout.strip() == "Data and pipelines are up to date."
    assert run(["git", "status", "--porcelain"], workspace).stdout == ""


def outputs(workspace: Path) -> dict[str, bytes]:
    """Every output in dvc.lock that is a file (models, data, metrics, plot data) and its bytes."""
    lock = yaml.safe_load((workspace / "dvc.lock").read_text())["stages"]
    paths = {out["path"] for stage in lock.values() for out in stage.get("outs", [])}
    files = set()
    for path in paths:
        target = workspace / path
        files |= (
            {str(p.relative_to(workspace)) for p in target.rglob("*") if p.is_file()} if target.is_dir() else {path}
        )
    return {path: (workspace / path).read_bytes() for path in sorted(files)}


def set_params(workspace: Path, change) -> None:
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    change(params)
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="session")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project on the small profile, run once by `dvc repro` and committed (its DVC cache: every test's).

    Made once for every pytest-xdist worker: the first to need it makes it in their shared
    folder, under a lock that the others wait on.
    """
    mnist_path()  # fail early and clearly without the dataset
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' own folders are side by side in the session's
    work, done = shared / "pipeline", shared / "pipeline.done"
    with FileLock(shared / "pipeline.lock"):
        if not done.exists():
            shutil.rmtree(work, ignore_errors=True)  # a worker's run that failed: make it again, and fail again
            make_base_run(work)
            done.touch()
    return work


def make_base_run(work: Path) -> None:
    work.mkdir()
    for name in PROJECT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, work / name)
    set_params(work, small_profile)
    run(["git", "init", "-q"], work)
    run([*GIT, "commit", "-q", "--allow-empty", "-m", "empty"], work)
    result = dvc("repro", cwd=work)
    assert "base" in ran(result.stdout)
    run(["git", "add", "-A"], work)
    run([*GIT, "commit", "-q", "-m", "small profile run"], work)


@pytest.fixture
def workspace(base_run: Path, tmp_path: Path) -> Path:
    """A clone of the base run of this test's own, on the shared DVC cache, every output checked out."""
    clone = tmp_path / "workspace"
    run(["git", "clone", "-q", str(base_run), str(clone)], tmp_path)
    dvc("cache", "dir", "--local", str(base_run / ".dvc" / "cache"), cwd=clone)
    dvc("checkout", cwd=clone)
    return clone


def test_repro_writes_every_metrics_file(base_run: Path) -> None:
    for name in METRICS:  # the DVC metrics: on the digits it was trained on, from its record
        metrics = json.loads((base_run / "metrics" / f"{name}.json").read_text())
        record = json.loads((base_run / "results" / f"{name}.json").read_text())
        own = "0-1" if name.startswith("transfer_01") else "0-4" if name in ("base", "branch_base") else "0-9"
        trained = ["0", "1"] if own == "0-1" else [str(d) for d in range(5 if own == "0-4" else 10)]
        assert metrics == {
            "accuracy": record["accuracy"][own],
            "validation_accuracy": record["validation_accuracy"][own],
            "lost_classes": sum(record["per_class_accuracy"][c] == 0.0 for c in trained),
        }, name
    for name in METRICS:
        metrics = json.loads((base_run / "results" / f"{name}.json").read_text())
        sets = ["0-1"] if name.startswith("transfer_01") else ["0-4", "5-9", "0-9"]
        assert sorted(metrics["accuracy"]) == sorted(sets)
        assert sorted(metrics.get("loss", sets)) == sorted(sets)  # the two-head branch model has none
        classes = ["0", "1"] if name.startswith("transfer_01") else [str(d) for d in range(10)]
        assert sorted(metrics["per_class_accuracy"]) == classes
        # the accuracy over the widest test set is its digits' accuracies weighted by their test images
        labels = np.load(base_run / "data" / "prepared" / f"{sets[-1]}.npz")["y_test"]
        per_class = metrics["per_class_accuracy"]
        weighted = sum(per_class[str(c)] * np.sum(labels == c) for c in np.unique(labels)) / len(labels)
        assert metrics["accuracy"][sets[-1]] == pytest.approx(weighted, abs=1e-9)
        assert metrics["test_images"][sets[-1]] == len(labels)
        assert (base_run / "plots" / "confusion" / f"{name}.csv").read_text().startswith("actual,predicted\n")
    for name in METRICS:  # the precision of params.yaml, and the CPU kind beside each training run's figures
        metrics = json.loads((base_run / "results" / f"{name}.json").read_text())
        assert metrics["precision"] == _params(base_run)["precision"]
        assert sorted(metrics["validation_accuracy"]) == sorted(metrics["accuracy"])
    branch = json.loads((base_run / "results" / "branch.json").read_text())
    assert sorted(branch["head_accuracy"]) == ["0-4", "5-9"]
    assert sorted(branch["dual_label_accuracy"]) == ["head 1", "head 2"]
    assert "loss" not in branch
    # the 0-4 models never saw 5-9: they cannot get any of them right
    for name in ("base", "branch_base"):
        assert json.loads((base_run / "results" / f"{name}.json").read_text())["accuracy"]["5-9"] == 0.0
    live = json.loads((base_run / "dvclive" / "base" / "metrics.json").read_text())
    assert live["cpu_isa"] == compute.machine()["cpu_isa"]
    assert live["device"] == f"CPU {compute.machine()['cpu_isa']}"  # no GPU here
    assert (base_run / "plots" / "curves" / "base" / "loss.csv").read_text().startswith("epoch,split,loss\n")
    # the report: the notebooks' question, every strategy of the notebook scenario beside the notebook stages
    report = (base_run / "metrics" / "report.md").read_text()
    assert all(f"| {name} (scenario notebook) " in report for name in STRATEGIES)
    assert "| freeze (stage, notebook 000) " in report and "| branch (stage, notebook 000) " in report
    headline = json.loads((base_run / "metrics" / "headline.json").read_text())
    assert sorted(headline["notebook_scenario_accuracy"]) == sorted(STRATEGIES)
    for name in STRATEGIES:
        metrics = json.loads((base_run / "metrics" / "continual" / "notebook" / f"{name}.json").read_text())
        assert headline["notebook_scenario_accuracy"][name] == metrics["accuracy"]
    assert (base_run / "plots" / "incremental_accuracy.csv").read_text().startswith("strategy,accuracy\n")


def _params(workspace: Path) -> dict:
    return yaml.safe_load((workspace / "params.yaml").read_text())


def test_every_stage_enters_the_run_cache(base_run: Path) -> None:
    """One run-cache entry per stage: no stage is left out (a `cache: false` out would leave it out)."""
    stages = dvc("stage", "list", "--name-only", cwd=base_run).stdout.split()
    entries = list((base_run / ".dvc" / "cache" / "runs").glob("*/*"))
    assert stages and len(entries) >= len(stages)


def test_the_readme_quick_profile_is_the_tested_one(workspace: Path) -> None:
    """The README's quick-profile command, from the committed params.yaml, trains nothing: it is the tested profile.

    The base run trained on exactly that profile: any key or value of its own would rerun a
    stage. The experiment runs in a temporary copy: the workspace is left as it was, and
    the command ends by saying where to look.
    """
    readme = (ROOT / "README.md").read_text().splitlines()
    (command,) = [line for line in readme if line.startswith("python -m mnist_transfer.quick")]
    shutil.copy(ROOT / "params.yaml", workspace / "params.yaml")
    run([*GIT, "commit", "-q", "-am", "the default params"], workspace)

    def files() -> dict[Path, bytes]:  # the workspace: less git's and DVC's own folders, where experiments live
        found = workspace.rglob("*")
        return {p: p.read_bytes() for p in found if p.is_file() and not {".git", ".dvc"} & set(p.parts)}

    files_before = files()
    result = run(["bash", "-c", command], workspace)
    assert ran(result.stdout) == set()
    assert "Ran experiment(s): quick" in result.stdout
    assert "dvc exp show --only-changed" in result.stdout and "python -m review HEAD quick" in result.stdout
    assert files() == files_before  # nothing in the workspace changed
    shown = json.loads(dvc("exp", "show", "--json", cwd=workspace).stdout)
    assert "quick" in json.dumps(shown)


def test_status_is_clean_and_second_repro_does_nothing(workspace: Path) -> None:
    assert_up_to_date(workspace)
    result = dvc("repro", cwd=workspace)
    assert ran(result.stdout) == restored(result.stdout) == set()
    assert_up_to_date(workspace)


def test_a_tried_value_set_in_params_and_the_value_before_are_restored_from_the_run_cache(workspace: Path) -> None:
    """The pull-request step and its undo: try a value with `dvc exp run -S`, set it in params.yaml, `dvc repro`:
    restored from the run-cache; the old value back, `dvc repro`: restored again. Byte for byte, nothing run."""
    first = outputs(workspace)
    readers = {"freeze", "evaluate@freeze", "report"}
    tried = dvc("exp", "run", "-S", "freeze.learning_rate=0.0321", cwd=workspace)
    assert ran(tried.stdout) == readers
    tried_outputs = outputs(workspace)
    assert tried_outputs["models/freeze.keras"] != first["models/freeze.keras"]
    dvc("exp", "remove", "--all", cwd=workspace)
    run(["git", "checkout", "--", "."], workspace)
    dvc("checkout", "--force", cwd=workspace)
    set_params(workspace, lambda params: params["freeze"].update(learning_rate=0.0321))
    result = dvc("repro", cwd=workspace)
    assert ran(result.stdout) == set()
    assert restored(result.stdout) == readers
    assert outputs(workspace) == tried_outputs
    run(["git", "checkout", "--", "params.yaml"], workspace)
    result = dvc("repro", cwd=workspace)
    assert ran(result.stdout) == set()
    assert restored(result.stdout) == readers
    assert outputs(workspace) == first
    assert_up_to_date(workspace)


def test_a_clone_on_another_cpu_kind_pulls_and_is_up_to_date(workspace: Path, tmp_path: Path) -> None:
    """Push to a directory remote, clone, pull on a CPU of another kind: status clean, nothing runs.

    The other CPU kind: ONEDNN_MAX_CPU_ISA=AVX2 makes oneDNN pick the kernels of a CPU
    with AVX2 and no AVX-512 (such as the AMD EPYCs here), and the training record says so.
    """
    store = tmp_path / "store"
    dvc("remote", "modify", "--local", "store", "url", str(store), cwd=workspace)
    dvc("push", "--run-cache", cwd=workspace)
    assert (store / "files" / "md5").is_dir() and (store / "runs").is_dir()  # outputs and the run-cache

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(workspace), str(clone)], tmp_path)
    assert not (clone / "models" / "base.keras").exists()
    dvc("remote", "modify", "--local", "store", "url", str(store), cwd=clone)
    other_cpu = {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    dvc("pull", "--run-cache", cwd=clone, env=other_cpu)
    assert outputs(clone) == outputs(workspace)
    pulled = sorted(str(p.relative_to(clone)) for p in (clone / "models").iterdir() if not p.name.startswith("."))
    assert pulled == sorted(path for path in outputs(workspace) if path.startswith("models/"))  # all, nothing else
    assert_up_to_date(clone, env=other_cpu)
    shown = dvc("metrics", "show", "--json", cwd=clone).stdout
    assert json.loads(shown) == json.loads(dvc("metrics", "show", "--json", cwd=workspace).stdout)
    result = dvc("repro", cwd=clone, env=other_cpu)
    assert ran(result.stdout) == restored(result.stdout) == set()
    assert_up_to_date(clone, env=other_cpu)


def test_an_experiment_reruns_its_stages_and_its_review_shows_the_param_and_the_metrics_it_moved(
    workspace: Path, tmp_path: Path
) -> None:
    """`dvc exp run -S` on the 0/1 transfer reruns its stages alone, `dvc exp show` and `dvc metrics diff` show it;
    committed, the review of the two commits says exactly that one param changed and what it moved."""
    result = dvc("exp", "run", "-S", "transfer_01.learning_rate=0.05", cwd=workspace)
    assert ran(result.stdout) | restored(result.stdout) == {
        "transfer_01@softmax",
        "transfer_01@sigmoid",
        "evaluate@transfer_01_softmax",
        "evaluate@transfer_01_sigmoid",
        "report",
    }
    shown = json.loads(dvc("exp", "show", "--json", cwd=workspace).stdout)
    text = json.dumps(shown)
    assert '"learning_rate": 0.05' in text
    assert "metrics/transfer_01_softmax.json" in text
    diff = json.loads(dvc("metrics", "diff", "--json", cwd=workspace).stdout)
    transfer = {
        f"{folder}/transfer_01_{kind}{suffix}"
        for kind in ("softmax", "sigmoid")
        for folder, suffix in (("metrics", ".json"), ("results", ".json"), ("dvclive", "/metrics.json"))
    } | {"metrics/headline.json"}
    assert diff and set(diff) <= transfer  # unchanged models show no difference

    run(["git", "add", "-A"], workspace)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "transfer lr"], workspace)
    try:
        out = tmp_path / "review"
        run([sys.executable, "-m", "review", "HEAD~1", "HEAD", "--out", str(out)], workspace)
        text = (out / "review.md").read_text()
        sections = dict(re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M))
        param_rows = [line for line in sections["Params that changed"].splitlines() if line.startswith("| params")]
        assert len(param_rows) == 1 and "| transfer_01.learning_rate |" in param_rows[0]
        assert "0.05" in param_rows[0]
        rows = [line for line in sections["Metrics that moved"].splitlines() if line.startswith("| ")]
        moved = {row.split("|")[1].strip() for row in rows[1:]}  # less the header
        assert moved & {"metrics/transfer_01_softmax.json", "metrics/transfer_01_sigmoid.json"} and moved <= transfer
        # the headline first: every model, and in bold the ones the change moved
        assert next(iter(sections)).startswith("Headline")
        headline = [
            line
            for line in next(iter(sections.values())).splitlines()
            if line.startswith("| ") and not line.startswith("| test accuracy |")
        ]
        numbers = json.loads((workspace / "metrics" / "headline.json").read_text())
        names = [  # in the file's order: the models' section, the strategies' section ("strategy <name>")
            name if section == "test_accuracy" else f"strategy {name}"
            for section, values in numbers.items()
            for name in values
        ]
        assert sorted(row.split("|")[1].strip(" *") for row in headline) == sorted(names)
        bold = [row.split("|")[1].strip(" *") for row in headline if row.startswith("| **")]
        assert bold and set(bold) <= {"transfer_01_softmax", "transfer_01_sigmoid"}
        assert [row.startswith("| **") for row in headline] == sorted(
            (row.startswith("| **") for row in headline), reverse=True
        )  # the changed rows first
        continual = sections[next(key for key in sections if key.startswith("Continual learning"))]
        scenarios = _params(workspace)["scenarios"]
        assert all(f"**{name}** (unchanged)" in continual for name in scenarios)  # a transfer change moves none
        ran_under = sections["What each side ran under"]
        assert "| precision | float32 | float32 |" in ran_under
        assert f"| CPU kind of the training runs | {compute.machine()['cpu_isa']} |" in ran_under
        assert f"| device of the training runs | CPU {compute.machine()['cpu_isa']} |" in ran_under
        reports = [body for key, body in sections.items() if key.startswith("Report")]
        assert len(reports) == 1 and "| replay (scenario notebook) |" in reports[0]
        assert "** (" in reports[0]  # a changed cell, with the base's value beside it
        assert len(text) <= 60_000 and (out / "review_full.md").read_text() == text
        assert (out / "plots" / "index.html").is_file()
    finally:
        run(["git", "reset", "-q", "--hard", "HEAD~1"], workspace)
        dvc("checkout", "--force", cwd=workspace)
    assert_up_to_date(workspace)


def test_the_review_of_an_experiment_takes_its_name(workspace: Path, tmp_path: Path) -> None:
    """After `dvc exp run -n` of one param, `python -m review HEAD <name>` reviews the experiment; `dvc metrics
    diff` lists only the metrics files of the stages that reran, and not one unchanged metric."""
    result = dvc("exp", "run", "-n", "lr-up", "-S", "freeze.learning_rate=0.01", cwd=workspace)
    assert ran(result.stdout) | restored(result.stdout) == {"freeze", "evaluate@freeze", "report"}
    diff = json.loads(dvc("metrics", "diff", "--json", cwd=workspace).stdout)
    reran = {"metrics/freeze.json", "results/freeze.json", "dvclive/freeze/metrics.json", "metrics/headline.json"}
    assert "metrics/freeze.json" in diff and set(diff) <= reran, diff
    out = tmp_path / "review"
    run([sys.executable, "-m", "review", "HEAD", "lr-up", "--out", str(out)], workspace)
    text = (out / "review.md").read_text()
    assert text.startswith("# Review: `HEAD` (") and "→ `lr-up` (" in text.splitlines()[0]
    assert "| freeze.learning_rate |" in text
    assert "metrics/freeze.json" in text.split("## Metrics that moved", 1)[1].split("## ", 1)[0]


def test_prepared_splits_hold_out_validation_images(base_run: Path) -> None:
    """Validation images are the last quarter of the training images, in every subset alike; never trained on."""
    from mnist_transfer.data import load_split

    splits = {name: load_split(name, base_run / "data" / "prepared") for name in ("0-4", "5-9", "0-9", "0-1")}
    assert len(splits["0-9"].y_train) == 1500 and len(splits["0-9"].y_val) == 500  # 2000 images, 25% held out
    for part in ("train", "val"):
        halves = [getattr(splits[name], f"x_{part}") for name in ("0-4", "5-9")]
        assert sum(len(x) for x in halves) == len(getattr(splits["0-9"], f"x_{part}"))
    training_bytes = {image.tobytes() for image in splits["0-9"].x_train}
    assert not any(image.tobytes() in training_bytes for image in splits["0-9"].x_val)


def test_forced_repro_reproduces_every_hash(workspace: Path) -> None:
    """Bit-reproducible: every stage script and every strategy rerun gives the same bytes for every output.

    Each script runs once (evaluate on the two-head model, the strategies on the five-task
    scenario): the stages it leaves out run the same code on other inputs or params.
    """
    strategies = [f"continual@split_mnist-{name}" for name in _params(workspace)["strategies"]]
    scripts = ["dataset", "prepare", "base", "freeze", "branch_base", "branch", "full", "transfer_01@sigmoid"]
    targets = [*scripts, "evaluate@branch", *strategies, "continual_report@split_mnist", "report"]
    before = (workspace / "dvc.lock").read_text()
    result = dvc("repro", "--force", "--single-item", *targets, cwd=workspace)
    assert ran(result.stdout) == set(targets)
    assert (workspace / "dvc.lock").read_text() == before
    assert run(["git", "status", "--porcelain"], workspace).stdout == ""


def test_other_tasks_are_a_params_change_of_their_scenarios_stages_alone(workspace: Path) -> None:
    """Digits 0-6, then 7-9, in split_mnist: its strategies' stages are out of date, and nothing else.

    (Its report reads their metrics, not the param: it reruns when they change.)
    """
    stages = dvc("stage", "list", "--name-only", cwd=workspace).stdout.split()
    set_params(
        workspace, lambda params: params["scenarios"]["split_mnist"].update(tasks=[[0, 1, 2, 3, 4, 5, 6], [7, 8, 9]])
    )
    own = {stage for stage in stages if stage.startswith("continual@split_mnist-")}
    assert len(own) == len(_params(workspace)["strategies"])
    assert set(json.loads(dvc("status", "--json", cwd=workspace).stdout)) == own


def test_a_scenario_added_by_an_experiment_runs_end_to_end(workspace: Path) -> None:
    """`dvc exp run -S '+scenarios.<new>=...'`: the matrix gets the new scenario's stages and report, and runs them."""
    before = set(dvc("stage", "list", "--name-only", cwd=workspace).stdout.split())
    scenario = (
        "{tasks: [[0,1,2],[3,4,5],[6,7,8,9]], network: mlp, iterations: 20, batch_size: 32, learning_rate: 1e-3, "
        "incremental: class, active_outputs: seen, task_order: fixed}"
    )
    result = dvc("exp", "run", "-S", f"+scenarios.three_tasks={scenario}", cwd=workspace)
    added = set(dvc("stage", "list", "--name-only", cwd=workspace).stdout.split()) - before
    strategies = _params(workspace)["strategies"]
    assert added == {f"continual@three_tasks-{name}" for name in strategies} | {"continual_report@three_tasks"}
    assert ran(result.stdout) == added
    tasks = ["task 1", "task 2", "task 3"]
    for name in strategies:
        metrics = json.loads((workspace / "metrics" / "continual" / "three_tasks" / f"{name}.json").read_text())
        assert set(metrics) == set(scenarios.METRICS), name  # the scalars alone
        record = json.loads((workspace / "results" / "continual" / "three_tasks" / f"{name}.json").read_text())
        assert {key: record[key] for key in scenarios.METRICS} == metrics, name
        metrics = record
        assert list(metrics["R"]) == [f"after {task}" for task in tasks], name
        assert list(metrics["R"]["after task 1"]) == tasks
        assert metrics["R"]["after task 1"]["task 3"] == 0.0  # digits 6-9 not yet seen
        assert sorted(metrics["per_class_accuracy"]) == [str(d) for d in range(10)]
    table = (workspace / "metrics" / "continual" / "three_tasks.md").read_text()
    assert all(f"| {name} |" in table for name in strategies)
    curve = (workspace / "plots" / "continual" / "three_tasks" / "average_accuracy.csv").read_text().splitlines()
    assert curve[0] == "task,strategy,average accuracy" and {line.split(",")[0] for line in curve[1:]} == {
        "1",
        "2",
        "3",
    }


def test_a_comment_in_one_strategy_reruns_only_its_stages(workspace: Path) -> None:
    """Each stage depends on the code it runs: an edit of ppca's module touches its stages alone."""
    module = workspace / "mnist_transfer" / "strategies" / "ppca.py"
    module.write_text(module.read_text() + "# a comment\n")
    own = {f"continual@{scenario}-ppca" for scenario in _params(workspace)["scenarios"]}
    status = json.loads(dvc("status", "--json", cwd=workspace).stdout)
    assert set(status) == own
    result = dvc("repro", cwd=workspace)
    reports = {f"continual_report@{scenario}" for scenario in _params(workspace)["scenarios"]}
    assert own <= ran(result.stdout) <= own | reports  # the reports rerun only if the metrics moved
    assert run(["git", "status", "--porcelain", "metrics", "plots"], workspace).stdout == ""  # a comment: same results


MINE = '''"""Fine-tuning at a scaled learning rate: a strategy added as docs/contributing.md says."""

from mnist_transfer.params import Float, Group
from mnist_transfer.quiet_tf import keras
from mnist_transfer.strategies.network import NetworkStrategy


class Params(Group):
    learning_rate_scale: Float("a finite number > 0", gt=0.0)


class Strategy(NetworkStrategy):
    def make_optimizer(self) -> keras.optimizers.Optimizer:
        rate = self.scenario["learning_rate"] * self.params["learning_rate_scale"]
        return keras.optimizers.Adam(learning_rate=rate)
'''


def test_a_strategy_added_as_the_recipe_says_runs_on_every_scenario(workspace: Path) -> None:
    """docs/contributing.md: a module and a params group, nothing else, and `dvc repro` runs it and reports it."""
    recipe = (ROOT / "docs" / "contributing.md").read_text()
    assert "## Adding a strategy" in recipe and "strategies.<name>" in recipe
    (workspace / "mnist_transfer" / "strategies" / "mine.py").write_text(MINE)
    set_params(workspace, lambda params: params["strategies"].update(mine={"learning_rate_scale": 0.5}))
    changed = run(["git", "status", "--porcelain"], workspace).stdout.split("\n")
    assert sorted(line[3:] for line in changed if line) == ["mnist_transfer/strategies/mine.py", "params.yaml"]
    scenarios = list(_params(workspace)["scenarios"])
    mine = {f"continual@{scenario}-mine" for scenario in scenarios}
    # and the report, which reads the strategies' names from params
    assert set(json.loads(dvc("status", "--json", cwd=workspace).stdout)) == mine | {"report"}
    result = dvc("repro", cwd=workspace)
    assert ran(result.stdout) == mine | {f"continual_report@{scenario}" for scenario in scenarios} | {"report"}
    for scenario in scenarios:
        assert "| mine |" in (workspace / "metrics" / "continual" / f"{scenario}.md").read_text()
    assert "| mine (scenario notebook) |" in (workspace / "metrics" / "report.md").read_text()


def test_a_per_scenario_override_reruns_only_its_strategy_and_applies_to_its_scenario(
    workspace: Path, tmp_path: Path
) -> None:
    """`strategies.ppca.per_scenario.notebook.components` sets ppca's directions on that scenario alone.

    The strategy's stages rerun (its params group changed) with the reports that read them;
    on split_mnist it gives the same results as before. The review of the experiment, by
    its name, marks the changed cells of the notebook scenario's table and folds the others.
    """
    split_mnist = workspace / "metrics" / "continual" / "split_mnist" / "ppca.json"
    before = split_mnist.read_bytes()
    change = "+strategies.ppca.per_scenario.notebook.components=5"
    result = dvc("exp", "run", "-n", "ppca-5", "-S", change, cwd=workspace)
    ppca = {f"continual@{scenario}-ppca" for scenario in _params(workspace)["scenarios"]}
    reports = {f"continual_report@{scenario}" for scenario in _params(workspace)["scenarios"]} | {"report"}
    assert ppca <= ran(result.stdout) | restored(result.stdout) <= ppca | reports
    notebook = json.loads((workspace / "metrics" / "continual" / "notebook" / "ppca.json").read_text())
    assert notebook["held_bytes"] == 10 * (784 * 6 + 5 + 1) * 4  # per digit: the mean, 5 directions, 5 variances, σ²
    assert split_mnist.read_bytes() == before
    out = tmp_path / "review"
    run([sys.executable, "-m", "review", "HEAD", "ppca-5", "--out", str(out)], workspace)
    text = (out / "review.md").read_text()
    continual = text.split("## Continual learning", 1)[1].split("\n## ", 1)[0]
    assert continual.index("**notebook** (changed)") < continual.index("(unchanged)")  # the changed scenario first
    ppca_row = next(line for line in continual.splitlines() if line.startswith("| ppca |"))
    assert "** (" in ppca_row  # a changed cell, in bold, with the base's value beside it
    assert "**split_mnist** (unchanged)" in continual


def test_precision_experiment_reruns_the_tensorflow_stages(workspace: Path) -> None:
    """Another precision changes every TensorFlow stage (and evaluate, which reads it), and a stage runs under it.

    `dvc status` names the stages whose own inputs changed, without running the whole
    pipeline again; one model and one strategy then run under the new precision.
    """
    every_stage = set(dvc("stage", "list", "--name-only", cwd=workspace).stdout.split())
    untouched = {"dataset", "prepare", "report"} | {s for s in every_stage if s.startswith("continual_report@")}
    set_params(workspace, lambda params: params.update(precision="mixed_bfloat16"))
    assert set(json.loads(dvc("status", "--json", cwd=workspace).stdout)) == every_stage - untouched
    run(["git", "checkout", "--", "params.yaml"], workspace)
    targets = ["evaluate@base", "continual@split_mnist-finetune"]
    result = dvc("exp", "run", "-S", "precision=mixed_bfloat16", *targets, cwd=workspace)
    assert ran(result.stdout) == {"base", *targets}
    assert json.loads((workspace / "results" / "base.json").read_text())["precision"] == "mixed_bfloat16"
    before = json.loads(run(["git", "show", "HEAD:metrics/base.json"], workspace).stdout)["accuracy"]
    after = json.loads((workspace / "metrics" / "base.json").read_text())["accuracy"]
    assert abs(after - before) < 0.1  # one epoch on 2000 images: a loose bound that catches a broken policy


def test_seed_study_runs_on_the_queue_and_summarises(workspace: Path) -> None:
    """A scenario's study on DVC's queue (`dvc exp run --queue`, `dvc queue start`, `python -m seeds <scenario>`).

    Seed 0 is the committed run: the run-cache restores it. The whole pipeline's study takes
    the same path over every stage (its choice of runs is unit-tested in test_seeds.py).
    """
    dvc("exp", "run", "--queue", "-S", "seed=range(0,2)", "continual_report@split_mnist", cwd=workspace)
    dvc("queue", "start", "-j", "2", cwd=workspace)
    run([sys.executable, "-m", "seeds", "split_mnist", "--wait"], workspace)
    summary = json.loads((workspace / "metrics" / "seeds" / "split_mnist.json").read_text())
    assert set(summary["results"]) == set(_params(workspace)["strategies"])
    assert all(row["seeds"] == [0, 1] for row in summary["results"].values())
    shown = json.loads(dvc("exp", "show", "--json", cwd=workspace).stdout)
    experiments = {
        entry["data"]["params"]["params.yaml"]["data"]["seed"]: entry["name"]
        for group in shown[1]["experiments"]
        for entry in group["revs"]
    }
    logs = dvc("queue", "logs", experiments[0], cwd=workspace).stdout
    assert ran(logs) == set() and "Stage 'continual@split_mnist-finetune'" in logs  # seed 0: nothing trains
    finetune = summary["results"]["finetune"]["average_accuracy"]
    committed = json.loads((workspace / "metrics" / "continual" / "split_mnist" / "finetune.json").read_text())
    assert finetune["min"] <= committed["average_accuracy"] <= finetune["max"]
    assert (workspace / "metrics" / "seeds" / "split_mnist.md").read_text().startswith("| split_mnist |")


def test_seeds_spread_over_two_machines_gather_into_one_machines_study(workspace: Path, tmp_path: Path) -> None:
    """docs/seeds.md's several machines: two clones as the machines, a bare git repository as the git remote and a
    folder as the DVC remote. Each machine runs one seed of a scenario's stages (`dvc exp run -S seed=N`) and
    pushes it (`dvc exp push`); a third clone pulls them (`dvc exp pull`) and summarises (`python -m seeds`). The
    summary is the one a single machine's queue gives for the same seeds."""
    store, remote = tmp_path / "store", tmp_path / "remote.git"
    dvc("remote", "modify", "--local", "store", "url", str(store), cwd=workspace)
    dvc("push", cwd=workspace)  # the commit's data and models, as its author would
    run(["git", "clone", "-q", "--bare", str(workspace), str(remote)], tmp_path)

    def machine(name: str) -> Path:
        clone = tmp_path / name
        run(["git", "clone", "-q", str(remote), str(clone)], tmp_path)
        dvc("remote", "modify", "--local", "store", "url", str(store), cwd=clone)
        dvc("pull", cwd=clone)
        return clone

    for seed in (1, 2):
        clone = machine(f"machine-{seed}")
        target = "continual_report@split_mnist"
        result = dvc("exp", "run", "-n", f"seed-{seed}", "-S", f"seed={seed}", target, cwd=clone)
        assert "continual@split_mnist-finetune" in ran(result.stdout)  # computed here, not restored
        dvc("exp", "push", "origin", f"seed-{seed}", cwd=clone)
    gather = machine("gather")
    dvc("exp", "pull", "origin", cwd=gather)
    run([sys.executable, "-m", "seeds", "split_mnist"], gather)
    spread = json.loads((gather / "metrics" / "seeds" / "split_mnist.json").read_text())
    assert all(row["seeds"] == [0, 1, 2] for row in spread["results"].values())

    dvc("exp", "run", "--queue", "-S", "seed=range(1,3)", "continual_report@split_mnist", cwd=workspace)
    dvc("queue", "start", cwd=workspace)
    run([sys.executable, "-m", "seeds", "split_mnist", "--wait"], workspace)
    assert json.loads((workspace / "metrics" / "seeds" / "split_mnist.json").read_text()) == spread


def test_interrupted_stage_leaves_nothing_and_reruns(workspace: Path) -> None:
    """SIGTERM mid-epoch: exit non-zero, no partial output; a second copy is refused; repro recovers."""
    model = workspace / "models" / "base.keras"
    original = model.read_bytes()
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["base"]["epochs"] = 100
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    model.unlink()  # as dvc does before it runs a stage
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "stages.base"]
    stage = subprocess.Popen(command, cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    curves = {path: path.read_bytes() for path in (workspace / "plots" / "curves" / "base").iterdir()}
    partial = workspace / "dvclive" / ".base.partial" / "plots"
    deadline = time.monotonic() + 120
    while not partial.exists() and stage.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until the first epoch has been logged: training is under way
    assert stage.poll() is None, stage.communicate()
    second = run([sys.executable, "-m", "stages.base"], workspace, check=False)
    assert second.returncode == 2
    assert "already running" in second.stderr
    time.sleep(0.5)
    stage.send_signal(signal.SIGTERM)
    _, stderr = stage.communicate(timeout=120)
    assert stage.returncode != 0
    assert "interrupted (SIGTERM)" in stderr.decode()
    assert not model.exists()
    assert {path: path.read_bytes() for path in (workspace / "plots" / "curves" / "base").iterdir()} == curves
    leftovers = [p.name for p in (workspace / "models").iterdir() if p.name.startswith(".") and p.name != ".gitignore"]
    leftovers += [p.name for p in (workspace / "dvclive").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    run(["git", "checkout", "--", "params.yaml"], workspace)
    dvc("repro", cwd=workspace)  # dvc restores the missing model from its cache
    assert model.read_bytes() == original
    result = dvc("repro", "--force", "--single-item", "base", cwd=workspace)  # and the stage reruns cleanly
    assert ran(result.stdout) == {"base"}
    assert model.read_bytes() == original
    assert_up_to_date(workspace)
