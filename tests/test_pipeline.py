"""Integration: the real pipeline, run by real `dvc` commands, on a small profile of the real MNIST.

One workspace (a fresh git repo holding a copy of the project) is shared by the tests
in this module, which run in file order: repro, no-op repro, the remote round trip and
the review command, forced repro, experiments, the seed study, then an interrupted stage.
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

from mnist_transfer import compute

from .conftest import ROOT, mnist_path

pytestmark = pytest.mark.integration

PROJECT = [
    "dvc.yaml",
    "params.yaml",
    "stages",
    "mnist_transfer",
    "review",
    "seeds/dvc.yaml",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
]
METRICS = [
    "base",
    "freeze",
    "branch_base",
    "branch",
    "full",
    "gaussian_base",
    "transfer_01_softmax",
    "transfer_01_sigmoid",
]
# strategy: the 0-4 model it starts from
STRATEGIES = {
    "finetune": "base",
    "freeze": "base",
    "lwf": "base",
    "ewc": "base",
    "replay": "base",
    "joint": "base",
    "branch": "branch_base",
    "gaussian": "gaussian_base",
}


def small_profile(params: dict) -> dict:
    """The first 2000 training and 600 test images, one epoch everywhere, small EWC and replay samples."""
    params["prepare"].update(train_limit=2000, test_limit=600)
    for group in params.values():
        if "epochs" in group:
            group["epochs"] = 1
    params["ewc"]["fisher_samples"] = 50
    params["replay"]["buffer_size"] = 100
    return params


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "MNIST_NPZ": str(mnist_path()), "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd, check)


def stages_run(output: str) -> set[str]:
    """The stages a dvc command reproduced, less `compute`, which reads the machine on every run.

    Reproduced: run, or restored from DVC's run-cache, which holds every run of this
    module's workspace (another test may already have run the same code, params and deps).
    """
    found = re.findall(r"Running stage '([^']+)'|Stage '([^']+)' is cached - skipping run", output)
    return {ran or restored for ran, restored in found} - {"compute"}


def status(workspace: Path) -> dict:
    """`dvc status` of the main pipeline, less `compute`'s standing "always changed"."""
    changed = json.loads(dvc("status", "--json", "dvc.yaml", cwd=workspace).stdout)
    assert changed.pop("compute", ["always changed"]) == ["always changed"]
    return changed


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mnist_path()  # fail early and clearly without the dataset
    work = tmp_path_factory.mktemp("pipeline")
    for name in PROJECT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, work / name)
    params = small_profile(yaml.safe_load((work / "params.yaml").read_text()))
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], work)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "empty"], work)
    result = dvc("repro", cwd=work)
    assert "Running stage 'train_base'" in result.stdout
    run(["git", "add", "-A"], work)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "small profile run"], work)
    return work


def test_repro_writes_every_metrics_file(workspace: Path) -> None:
    for name in METRICS:
        metrics = json.loads((workspace / "metrics" / f"{name}.json").read_text())
        sets = ["0-1"] if name.startswith("transfer_01") else ["0-4", "5-9", "0-9"]
        assert sorted(metrics["accuracy"]) == sorted(sets)
        assert sorted(metrics.get("loss", sets)) == sorted(sets)  # the two-head branch model has none
        assert all(0.0 <= value <= 1.0 for value in metrics["accuracy"].values())
        classes = ["0", "1"] if name.startswith("transfer_01") else [str(d) for d in range(10)]
        assert sorted(metrics["per_class_accuracy"]) == classes
        assert (workspace / "plots" / "confusion" / f"{name}.csv").read_text().startswith("actual,predicted\n")
    # float32, or mixed_bfloat16 on a CPU with AMX: what the compute stage recorded
    policy = compute.describe("auto")["precision"]
    assert json.loads((workspace / "metrics" / "compute.json").read_text()) == compute.describe("auto")
    for name in METRICS:
        metrics = json.loads((workspace / "metrics" / f"{name}.json").read_text())
        assert metrics["precision"] == policy
        assert sorted(metrics["validation_accuracy"]) == sorted(metrics["accuracy"])
        assert all(0.0 <= value <= 1.0 for value in metrics["validation_accuracy"].values())
    branch = json.loads((workspace / "metrics" / "branch.json").read_text())
    assert sorted(branch["head_accuracy"]) == ["0-4", "5-9"]
    assert sorted(branch["dual_label_accuracy"]) == ["head 1", "head 2"]
    assert "loss" not in branch
    # the 0-4 models never saw 5-9: they cannot get any of them right
    for name in ("base", "branch_base", "gaussian_base"):
        assert json.loads((workspace / "metrics" / f"{name}.json").read_text())["accuracy"]["5-9"] == 0.0
    assert (workspace / "dvclive" / "train_base" / "plots" / "metrics" / "train" / "loss.tsv").is_file()
    for name, start in STRATEGIES.items():
        metrics = json.loads((workspace / "metrics" / "incremental" / f"{name}.json").read_text())
        assert {"accuracy", "per_class_accuracy", "average_accuracy", "bwt", "forgetting", "kept_bytes"} <= set(metrics)
        # BWT and forgetting follow from R: the strategy's own start model, then the strategy
        before = json.loads((workspace / "metrics" / f"{start}.json").read_text())["accuracy"]
        after = metrics["accuracy"]
        assert metrics["bwt"] == pytest.approx(after["0-4"] - before["0-4"], abs=1e-12)
        assert metrics["forgetting"] == pytest.approx(before["0-4"] - after["0-4"], abs=1e-12)
        assert metrics["average_accuracy"] == pytest.approx((after["0-4"] + after["5-9"]) / 2, abs=1e-12)
    kept = {name: _kept(workspace, name) for name in STRATEGIES}
    assert kept["finetune"] == kept["freeze"] == kept["branch"] == 0
    assert kept["replay"] == 100 * 785  # the small profile's buffer: 100 images and labels
    assert kept["ewc"] == 2 * kept["lwf"] > 0  # Fisher + anchor per weight; one old model
    assert kept["joint"] > 0 and kept["joint"] % 785 == 0
    per_class, shared = 5 * (128 + 128 * 128 + 1) * 4, (5 * 128 + 128 * 128 + 6) * 4
    assert kept["gaussian"] == {"per_class": per_class, "shared": shared}[_params(workspace)["gaussian"]["covariance"]]
    report = (workspace / "metrics" / "report.md").read_text()
    assert all(f"| {name} " in report for name in STRATEGIES)
    assert (workspace / "plots" / "incremental_accuracy.csv").read_text().startswith("strategy,accuracy\n")


def _params(workspace: Path) -> dict:
    return yaml.safe_load((workspace / "params.yaml").read_text())


def _kept(workspace: Path, strategy: str) -> int:
    return json.loads((workspace / "metrics" / "incremental" / f"{strategy}.json").read_text())["kept_bytes"]


def test_gaussian_keeps_its_0_4_statistics_when_it_learns_5_9(workspace: Path) -> None:
    """models/gaussian.keras holds gaussian_base.keras's 0-4 Gaussians, plus five new ones.

    Per-class covariances: all of the 0-4 statistics are unchanged. Streaming LDA: the 0-4
    means are; the covariance is shared by all digits and goes on learning from 5-9.
    """
    import keras

    from mnist_transfer.models import GaussianClassifier  # noqa: F401 (registers the layer)

    def statistics(name: str) -> list:
        model = keras.models.load_model(workspace / "models" / f"{name}.keras", compile=False)
        return model.get_layer("gaussian_classifier").get_weights()

    before, after = statistics("gaussian_base"), statistics("gaussian")
    assert len(before[0]) == 5 and len(after[0]) == 10
    unchanged = zip(before, after, strict=True)
    if _params(workspace)["gaussian"]["covariance"] == "shared":
        unchanged = [(before[0], after[0])]
    for old, new in unchanged:
        np.testing.assert_array_equal(old, new[:5])


def test_status_is_clean_and_second_repro_does_nothing(workspace: Path) -> None:
    assert status(workspace) == {}
    result = dvc("repro", cwd=workspace)
    assert "Running stage 'compute'" in result.stdout  # it always reads the machine...
    assert stages_run(result.stdout) == set()  # ...and, finding it the same, nothing else runs
    assert run(["git", "status", "--porcelain"], workspace).stdout == ""


def test_remote_round_trip_restores_every_output_without_running(workspace: Path, tmp_path: Path) -> None:
    """Push to a directory remote, clone, pull: every output back, status clean, metrics equal, no stage runs."""
    store = tmp_path / "store"
    dvc("remote", "modify", "--local", "store", "url", str(store), cwd=workspace)
    dvc("push", "--run-cache", cwd=workspace)
    assert (store / "files" / "md5").is_dir() and (store / "runs").is_dir()  # outputs and the run-cache

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(workspace), str(clone)], tmp_path)
    assert not (clone / "models" / "base.keras").exists()
    dvc("remote", "modify", "--local", "store", "url", str(store), cwd=clone)
    dvc("pull", "--run-cache", cwd=clone)
    lock = yaml.safe_load((workspace / "dvc.lock").read_text())["stages"]
    outputs = {out["path"] for stage in lock.values() for out in stage.get("outs", [])}
    outputs = sorted(path for path in outputs if (workspace / path).is_file())  # models, data, metrics
    assert sum(path.startswith("models/") for path in outputs) == 15
    for output in outputs:
        assert (clone / output).read_bytes() == (workspace / output).read_bytes(), output
    assert status(clone) == {}
    shown = dvc("metrics", "show", "--json", cwd=clone).stdout
    assert json.loads(shown) == json.loads(dvc("metrics", "show", "--json", cwd=workspace).stdout)
    assert stages_run(dvc("repro", cwd=clone).stdout) == set()
    assert run(["git", "status", "--porcelain"], clone).stdout == ""


def test_review_shows_the_one_param_changed_and_the_metrics_it_moved(workspace: Path, tmp_path: Path) -> None:
    """Two commits on the small profile, the second changing one param: the review says exactly that."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["transfer_01"]["learning_rate"] = 0.05
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc("repro", cwd=workspace)
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
        assert moved <= {
            "metrics/transfer_01_softmax.json",
            "metrics/transfer_01_sigmoid.json",
            "dvclive/transfer_01_softmax/metrics.json",
            "dvclive/transfer_01_sigmoid/metrics.json",
        }
        assert "metrics/transfer_01_softmax.json" in moved
        assert "| precision " in sections["What each side ran under"]
        reports = [body for key, body in sections.items() if key.startswith("Report at")]
        assert len(reports) == 2 and all("| replay |" in body for body in reports)
        assert (out / "plots" / "index.html").is_file()
    finally:
        run(["git", "reset", "-q", "--hard", "HEAD~1"], workspace)
        dvc("checkout", "--force", cwd=workspace)
    assert status(workspace) == {}


def test_prepared_splits_hold_out_validation_images(workspace: Path) -> None:
    """Validation images are the last quarter of the training images, in every subset alike; never trained on."""
    from mnist_transfer.data import load_split

    splits = {name: load_split(name, workspace / "data" / "prepared") for name in ("0-4", "5-9", "0-9", "0-1")}
    assert len(splits["0-9"].y_train) == 1500 and len(splits["0-9"].y_val) == 500  # 2000 images, 25% held out
    for part in ("train", "val"):
        halves = [getattr(splits[name], f"x_{part}") for name in ("0-4", "5-9")]
        assert sum(len(x) for x in halves) == len(getattr(splits["0-9"], f"x_{part}"))
    training_bytes = {image.tobytes() for image in splits["0-9"].x_train}
    assert not any(image.tobytes() in training_bytes for image in splits["0-9"].x_val)


def test_forced_repro_reproduces_every_hash(workspace: Path) -> None:
    """Bit-reproducible: rerunning every stage gives the same bytes for every output, models included."""
    before = (workspace / "dvc.lock").read_text()
    result = dvc("repro", "--force", cwd=workspace)
    assert "train_full" in stages_run(result.stdout)
    assert (workspace / "dvc.lock").read_text() == before
    assert run(["git", "status", "--porcelain"], workspace).stdout == ""


def test_experiment_reruns_only_the_01_stages(workspace: Path) -> None:
    result = dvc("exp", "run", "-S", "transfer_01.learning_rate=0.05", cwd=workspace)
    assert stages_run(result.stdout) == {
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
    changed = diff["metrics/transfer_01_softmax.json"]["loss.0-1"]
    assert changed["new"] != changed["old"]
    assert "metrics/base.json" not in diff  # unchanged models show no difference
    dvc("exp", "remove", "--all", cwd=workspace, check=False)
    run(["git", "checkout", "--", "."], workspace)
    dvc("checkout", "--force", cwd=workspace)


def test_replay_buffer_experiment_reruns_only_replay_and_report(workspace: Path) -> None:
    result = dvc("exp", "run", "-S", "replay.buffer_size=20", cwd=workspace)
    assert stages_run(result.stdout) == {"replay", "evaluate_incremental@replay", "report"}
    assert "| replay | base | 20 | 15,700 |" in (workspace / "metrics" / "report.md").read_text()  # 20 x 785 bytes
    dvc("exp", "remove", "--all", cwd=workspace, check=False)
    run(["git", "checkout", "--", "."], workspace)
    dvc("checkout", "--force", cwd=workspace)


def test_precision_experiment_reruns_the_tensorflow_stages(workspace: Path) -> None:
    """Forcing the precision `auto` did not pick reruns the layer-building stages and what is downstream of them.

    Every stage but dataset, prepare and report runs TensorFlow and so depends on
    metrics/compute.json; all of them sit downstream of a layer-building stage anyway.
    """
    other = "float32" if compute.describe("auto")["precision"] == "mixed_bfloat16" else "mixed_bfloat16"
    every_stage = set(dvc("stage", "list", "--name-only", cwd=workspace).stdout.split()) - {"compute"}
    result = dvc("exp", "run", "-S", f"compute.precision={other}", cwd=workspace)
    assert stages_run(result.stdout) == every_stage - {"dataset", "prepare"}
    assert json.loads((workspace / "metrics" / "compute.json").read_text())["precision"] == other
    for name in ("base", "branch", "transfer_01_sigmoid", "incremental/gaussian", "incremental/replay"):
        assert json.loads((workspace / "metrics" / f"{name}.json").read_text())["precision"] == other
    before = json.loads(run(["git", "show", "HEAD:metrics/base.json"], workspace).stdout)["accuracy"]["0-4"]
    after = json.loads((workspace / "metrics" / "base.json").read_text())["accuracy"]["0-4"]
    assert abs(after - before) < 0.1  # one epoch on 2000 images: a loose bound that catches a broken policy
    dvc("exp", "remove", "--all", cwd=workspace, check=False)
    run(["git", "checkout", "--", "."], workspace)
    dvc("checkout", "--force", cwd=workspace)


def test_seed_study_runs_every_seed_and_summarises(workspace: Path) -> None:
    """`dvc repro seeds/dvc.yaml`: five whole pipelines, seed 0 restored from the run-cache, one summary."""
    result = dvc("repro", "seeds/dvc.yaml", cwd=workspace)
    expected = {f"seeds/dvc.yaml:seed_run@{seed}" for seed in range(5)} | {"seeds/dvc.yaml:seeds"}
    assert stages_run(result.stdout) == expected
    runs = [json.loads((workspace / "seeds" / "runs" / f"{seed}.json").read_text()) for seed in range(5)]
    # seed 0 is the default run: the same numbers as the workspace's own metrics
    assert runs[0]["metrics"]["full"] == json.loads((workspace / "metrics" / "full.json").read_text())
    assert len({json.dumps(run["metrics"]["base"]["per_class_accuracy"]) for run in runs}) > 1  # seeds differ
    summary = json.loads((workspace / "metrics" / "seeds.json").read_text())
    assert summary["seeds"] == [0, 1, 2, 3, 4]
    base = summary["results"]["base 0-4"]["test_accuracy"]
    values = [run["metrics"]["base"]["accuracy"]["0-4"] for run in runs]
    assert base["min"] == min(values) and base["max"] == max(values)
    assert (workspace / "metrics" / "seeds.md").read_text().startswith("| seeds 0, 1, 2, 3, 4 |")
    assert stages_run(dvc("repro", "seeds/dvc.yaml", cwd=workspace).stdout) == set()  # cached now
    assert stages_run(dvc("repro", cwd=workspace).stdout) == set()  # and the default pipeline never runs it


def test_interrupted_stage_leaves_nothing_and_reruns(workspace: Path) -> None:
    """SIGTERM mid-epoch: exit non-zero, no partial output; a second copy is refused; repro recovers."""
    model = workspace / "models" / "base.keras"
    original = model.read_bytes()
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["train_base"]["epochs"] = 100
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    model.unlink()  # as dvc does before it runs a stage
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "stages.train_base"]
    stage = subprocess.Popen(command, cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    partial = workspace / "dvclive" / ".train_base.partial" / "plots"
    deadline = time.monotonic() + 120
    while not partial.exists() and stage.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until the first epoch has been logged: training is under way
    assert stage.poll() is None, stage.communicate()
    second = run([sys.executable, "-m", "stages.train_base"], workspace, check=False)
    assert second.returncode == 2
    assert "already running" in second.stderr
    time.sleep(0.5)
    stage.send_signal(signal.SIGTERM)
    _, stderr = stage.communicate(timeout=120)
    assert stage.returncode != 0
    assert "interrupted (SIGTERM)" in stderr.decode()
    assert not model.exists()
    leftovers = [p.name for p in (workspace / "models").iterdir() if p.name.startswith(".") and p.name != ".gitignore"]
    leftovers += [p.name for p in (workspace / "dvclive").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    run(["git", "checkout", "--", "params.yaml"], workspace)
    dvc("repro", cwd=workspace)  # dvc restores the missing model from its cache
    assert model.read_bytes() == original
    result = dvc("repro", "--force", "--single-item", "train_base", cwd=workspace)  # and the stage reruns cleanly
    assert stages_run(result.stdout) == {"train_base"}
    assert model.read_bytes() == original
    assert status(workspace) == {}
