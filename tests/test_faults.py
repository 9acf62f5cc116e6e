"""Faults of real machines and hands, each through the stage's own process.

Every fault ends with a non-zero exit, one line on stderr (no traceback, no TensorFlow
start-up chatter) and every file that existed before byte-identical, with no temporary
file left behind.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_transfer.artifacts import save_model, save_npz
from mnist_transfer.data import make_splits, split_path

from .conftest import ROOT, files_outside_dvc_tmp, stage_process


def small_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for group in params.values():
        if isinstance(group, dict) and "epochs" in group:
            group["epochs"] = 1
    params["prepare"].update(train_limit=600, test_limit=200)  # as the workspace's splits are made
    return params


@pytest.fixture
def workspace(tmp_path: Path, fake_mnist: dict) -> Path:
    """A project folder with small prepared splits, as a stage finds it; no outputs yet."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(small_params(), sort_keys=False))
    for name in ("dvc.yaml", "dvc.lock", "requirements.lock"):
        shutil.copy(ROOT / name, work / name)
    for name, split in make_splits(fake_mnist, 0.25, train_limit=600, test_limit=200).items():
        save_npz(split_path(name, work / "data" / "prepared"), split)
    return work


OWN_LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (mnist_transfer|stages)[\w.]*: ")  # stage.run_stage's logging format


def refused(result: subprocess.CompletedProcess) -> str:
    """The one line a refused stage printed, besides its own progress log: no traceback, no TensorFlow chatter."""
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not OWN_LOG_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def temporary_files(work: Path) -> list[str]:
    return [str(p) for p in work.rglob(".*") if p.is_file() and ".dvc" not in p.parts and p.suffix == ".tmp"]


def base_model_bytes() -> bytes:
    from mnist_transfer.models import build_base_cnn

    buffer = io.BytesIO()
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"base-{os.getpid()}.keras"
    save_model(build_base_cnn(), path)
    buffer.write(path.read_bytes())
    path.unlink()
    return buffer.getvalue()


@pytest.mark.parametrize("damage", ["truncated", "empty", "not a zip"])
def test_a_damaged_model_is_named_with_its_fix(workspace: Path, damage: str) -> None:
    whole = base_model_bytes()
    damaged = {"truncated": whole[: len(whole) // 2], "empty": b"", "not a zip": b"<html>404</html>"}[damage]
    (workspace / "models").mkdir()
    (workspace / "models" / "base.keras").write_bytes(damaged)
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.freeze"))
    assert line.startswith("error: models/base.keras: damaged"), line
    assert "dvc checkout models/base.keras" in line and "dvc repro --force base" in line
    assert files_outside_dvc_tmp(workspace) == before


def test_a_model_of_another_architecture_is_refused(workspace: Path) -> None:
    from mnist_transfer.models import build_branch_cnn

    save_model(build_branch_cnn(), workspace / "models" / "base.keras")
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.freeze"))
    assert line.startswith("error: models/base.keras: not a base_cnn model (its layers: input, rescale, conv2d_1"), line
    assert files_outside_dvc_tmp(workspace) == before


def test_a_damaged_prepared_split_is_named(workspace: Path) -> None:
    path = workspace / "data" / "prepared" / "0-4.npz"
    path.write_bytes(path.read_bytes()[:5000])
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.base"))
    assert line.startswith("error: data/prepared/0-4.npz: damaged"), line
    assert "dvc checkout data/prepared/0-4.npz" in line and "dvc repro --force prepare" in line
    assert files_outside_dvc_tmp(workspace) == before


def test_a_report_without_a_strategys_metrics_is_one_line(workspace: Path) -> None:
    shutil.copytree(ROOT / "results", workspace / "results", ignore=shutil.ignore_patterns("finetune.json"))
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.report"))
    assert line.startswith("error: results/continual/notebook/finetune.json: "), line
    assert "continual@notebook-finetune" in line
    assert files_outside_dvc_tmp(workspace) == before


def test_a_report_on_other_notebook_tasks_is_one_line(workspace: Path) -> None:
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["scenarios"]["notebook"]["tasks"] = [[0, 1, 2], [3, 4, 5, 6, 7, 8, 9]]
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.report"))
    assert line.startswith("error: scenarios.notebook.tasks = [[0, 1, 2], [3, 4, 5, 6, 7, 8, 9]]: "), line
    assert files_outside_dvc_tmp(workspace) == before


@pytest.mark.parametrize("damage", ["missing", "not JSON", "a list"])
def test_a_damaged_record_stops_the_report(workspace: Path, damage: str) -> None:
    records = workspace / "results"
    records.mkdir()
    if damage != "missing":
        (records / "base.json").write_text('{"accuracy": {"0-4": 0.9' if damage == "not JSON" else "[1, 2]")
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.report"))
    assert line.startswith("error: results/base.json: "), line
    assert "git checkout -- results/base.json" in line and "dvc repro --force evaluate@base" in line
    assert files_outside_dvc_tmp(workspace) == before


@pytest.mark.parametrize(
    ("name", "damage", "said"),
    [
        ("base", lambda m: m.pop("validation_accuracy"), "key validation_accuracy is missing"),
        ("base", lambda m: m.update(accuracy="0.9"), "key accuracy is '0.9', not an object"),
        (
            "branch",
            lambda m: m["head_accuracy"].update({"0-4": "high"}),
            "key head_accuracy.0-4 is 'high', not a number",
        ),
        (
            "continual/notebook/ewc",
            lambda m: m.pop("validation_accuracy"),
            "key validation_accuracy is missing",
        ),
    ],
    ids=["no validation accuracy", "accuracy a string", "a head's accuracy a string", "a strategy's, no validation"],
)
def test_a_record_without_its_keys_stops_the_report(workspace: Path, name: str, damage, said: str) -> None:
    shutil.copytree(ROOT / "results", workspace / "results")
    path = workspace / "results" / f"{name}.json"
    metrics = json.loads(path.read_text())
    damage(metrics)
    path.write_text(json.dumps(metrics))
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.report"))
    assert line.startswith(f"error: results/{name}.json: {said}; "), line
    assert f"git checkout -- results/{name}.json" in line
    assert files_outside_dvc_tmp(workspace) == before


def npz_damaged(path: Path, damage: str) -> None:
    """An .npz damaged the ways files get damaged."""
    arrays = {"x_train": np.arange(30000, dtype=np.uint8).reshape(-1, 10), "y_train": np.zeros(3000, np.uint8)}
    if damage in ("zlib", "crc"):
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        raw = bytearray(buffer.getvalue())
        if damage == "zlib":
            raw[200:4296] = bytes(4096)  # 4 KB zeroed inside the compressed data
        else:
            raw[400] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif damage == "truncated member":
        save_npz(path, arrays)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "member not an array":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("x_train.npy", b"hello, not a .npy")
    elif damage == "pickled objects":
        np.savez(path, x_train=np.array([{"a": 1}], dtype=object))
    elif damage == "empty":
        path.write_bytes(b"")


def dataset_stage(tmp_path: Path, mirror: Path) -> tuple[Path, subprocess.CompletedProcess]:
    """The dataset stage in a fresh project folder, reading the local mirror `mirror`."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    return work, stage_process(work, "stages.dataset", env={"MNIST_NPZ": str(mirror)})


@pytest.mark.parametrize(
    "damage", ["zlib", "crc", "truncated member", "member not an array", "pickled objects", "empty"]
)
def test_every_kind_of_damaged_npz_is_one_line(tmp_path: Path, damage: str) -> None:
    mirror = tmp_path / "mirror.npz"
    npz_damaged(mirror, damage)
    work, result = dataset_stage(tmp_path, mirror)
    line = refused(result)
    assert line.startswith(f"error: {mirror}: "), line
    assert "point MNIST_NPZ at a good copy of mnist.npz" in line
    assert sorted(p.name for p in work.iterdir()) == [".dvc", "params.yaml"]  # .dvc: the stage lock


def test_a_mirror_that_is_not_mnist_is_accepted_with_one_warning(tmp_path: Path, fake_mnist: dict) -> None:
    """MNIST's layout and digit counts but other pixels: accepted, with one line naming both hashes."""
    from mnist_transfer.data import content_sha256

    mirror = tmp_path / "mirror.npz"
    save_npz(mirror, fake_mnist)
    work, result = dataset_stage(tmp_path, mirror)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "not the canonical MNIST" in line]
    canonical = yaml.safe_load((ROOT / "params.yaml").read_text())["dataset"]["content_sha256"]
    assert len(warnings) == 1 and content_sha256(fake_mnist) in warnings[0] and canonical in warnings[0]
    assert (work / "data" / "raw" / "mnist.npz").is_file()


def test_prepare_limits_that_leave_a_set_empty_are_refused_naming_both_params(tmp_path: Path, fake_mnist) -> None:
    work = tmp_path / "work"
    save_npz(work / "data" / "raw" / "mnist.npz", fake_mnist)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["prepare"]["train_limit"] = 3
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    before = files_outside_dvc_tmp(work)
    line = refused(stage_process(work, "stages.prepare"))
    assert line.startswith("error: prepare.train_limit = 3 with prepare.validation_fraction = 0.25 leaves no "), line
    assert files_outside_dvc_tmp(work) == before


# Runs a stage in a mount namespace of the test's own (unshare): on a small tmpfs (a disk
# that fills up), or with one folder of the workspace bind-mounted read-only.
IN_NAMESPACE = textwrap.dedent(
    """
    import hashlib, json, os, shutil, subprocess, sys
    source, (work, size), read_only = sys.argv[1], sys.argv[2].split(), sys.argv[3]
    os.makedirs(work)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", work], check=True)
    shutil.copytree(source, work, dirs_exist_ok=True)
    if read_only:
        folder = os.path.join(work, read_only)
        subprocess.run(["mount", "--bind", folder, folder], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", folder], check=True)
    def files():
        found = {}
        for folder, _, names in os.walk(work):
            if "/.dvc" not in folder + "/":
                for name in names:
                    path = os.path.join(folder, name)
                    found[os.path.relpath(path, work)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
        return found
    before = files()
    stage = subprocess.run([sys.executable, "-m", "stages.base"], cwd=work, capture_output=True, text=True)
    after = files()
    print(json.dumps({"returncode": stage.returncode, "stderr": stage.stderr, "before": before, "after": after}))
    """
)

PREVIOUS_OUTPUTS = {
    "models/base.keras": b"the previous model",
    "dvclive/base/metrics.json": b'{"step": 4}',
    "plots/curves/base/loss.csv": b"epoch,split,loss\n1,train,9\n",
}


def base_stage_in_namespace(workspace: Path, tmp_path: Path, room: int, read_only: str = "") -> dict:
    """The base stage over PREVIOUS_OUTPUTS, on a disk with `room` bytes free; its exit, stderr and files."""
    for name, content in PREVIOUS_OUTPUTS.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_bytes(content)
    used = sum(path.stat().st_size for path in workspace.rglob("*") if path.is_file())
    disk = f"{tmp_path / 'disk'} {used + room}"
    unshare = shutil.which("unshare")
    assert unshare, "the file-system fault tests need util-linux's unshare (apt-get install util-linux)"
    result = subprocess.run(
        [unshare, "--map-root-user", "--mount", sys.executable, "-c", IN_NAMESPACE, *(str(workspace), disk, read_only)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    report["lines"] = [line for line in report["stderr"].strip().splitlines() if not OWN_LOG_LINE.match(line)]
    return report


def test_a_full_disk_while_saving_keeps_the_previous_outputs(workspace: Path, tmp_path: Path) -> None:
    """Room for the new curves but not the new model (about 6.5 MB): one line naming the model, nothing replaced."""
    report = base_stage_in_namespace(workspace, tmp_path, room=2 * 2**20)
    assert report["returncode"] == 2
    assert report["lines"] == [
        "error: models/base.keras: no space left on the device while writing it; free some space and rerun"
    ], report["stderr"]
    assert report["after"] == report["before"]  # the old model, curves and summary, byte for byte; no temporary file


@pytest.mark.parametrize(
    ("folder", "named"),
    [("models", "models/base.keras"), ("plots/curves/base", "plots/curves/base/"), ("dvclive", "dvclive/")],
)
def test_a_read_only_output_folder_is_one_line(workspace: Path, tmp_path: Path, folder: str, named: str) -> None:
    """A folder the stage writes into, mounted read-only: one line naming the file and the fix, nothing replaced."""
    report = base_stage_in_namespace(workspace, tmp_path, room=64 * 2**20, read_only=folder)
    assert report["returncode"] == 2
    assert len(report["lines"]) == 1, report["stderr"]
    line = report["lines"][0]
    assert line.startswith(f"error: {named}") and line.endswith(
        ": on a read-only file system; run the pipeline in a writable copy of the project"
    ), line
    assert report["after"] == report["before"]


def test_a_params_file_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").mkdir()
    line = refused(stage_process(tmp_path, "stages.base"))
    assert line == "error: params.yaml: is a folder, not a file; restore it with `git checkout -- params.yaml`"
    assert [p.name for p in tmp_path.iterdir()] == ["params.yaml"]  # nothing created before the refusal


@pytest.fixture
def locked_out(tmp_path: Path):
    """(a project folder, the command prefix that makes file permissions bind on the stage).

    Root reads and writes every file whatever its mode. As root, the stage runs as root
    without the two capabilities that let it ignore file modes (setpriv drops them from the
    bounding set before it starts the stage), so it still reaches the checkout, its virtual
    environment and the test's folder wherever they live, a private folder included.
    """
    work, home = tmp_path / "work", tmp_path / "home"  # home: matplotlib's font cache, outside the project
    for folder in (work, home):
        folder.mkdir()
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "the permission tests need util-linux's setpriv when run as root"
        drop = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}"]
    yield work, prefix
    for path in tmp_path.rglob("*"):  # let pytest clean up
        if path.is_dir():
            path.chmod(0o777)


def run_as(prefix: list[str], work: Path, module: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", module],
        cwd=work,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(work.parent / "home")},
    )


def test_an_unreadable_params_file_is_one_line(locked_out) -> None:
    work, prefix = locked_out
    (work / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (work / "params.yaml").chmod(0o000)
    line = refused(run_as(prefix, work, "stages.base"))
    assert line == "error: params.yaml: cannot be read (Permission denied); check its permissions with ls -l"
    assert [p.name for p in work.iterdir()] == ["params.yaml"]


def test_an_output_folder_without_write_permission_is_one_line(locked_out, fake_mnist: dict) -> None:
    """models/ not writable for the user running the stage: one line naming the model; nothing replaced."""
    work, prefix = locked_out
    (work / "params.yaml").write_text(yaml.safe_dump(small_params(), sort_keys=False))
    for name in ("dvc.yaml", "dvc.lock", "requirements.lock"):
        shutil.copy(ROOT / name, work / name)
    for name, split in make_splits(fake_mnist, 0.25, train_limit=600, test_limit=200).items():
        save_npz(split_path(name, work / "data" / "prepared"), split)
    (work / "models").mkdir()
    (work / "models" / "base.keras").write_bytes(b"the previous model")
    for path in [work, *work.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    (work / "models").chmod(0o555)
    before = files_outside_dvc_tmp(work)
    line = refused(run_as(prefix, work, "stages.base"))
    assert line == "error: models/base.keras: permission denied; check its permissions and its folder's with ls -l"
    assert files_outside_dvc_tmp(work) == before


def test_a_git_repository_without_a_commit_is_one_line(workspace: Path) -> None:
    """dvclive reads the commit a run starts from; in a fresh `git init` there is none."""
    subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
    (workspace / ".dvc").mkdir()
    (workspace / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")  # as `dvc init` leaves it
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.base"))
    assert line == (
        "error: dvclive cannot read this git repository (Empty git repo); make a first commit, "
        "e.g. git commit --allow-empty -m start"
    )
    assert files_outside_dvc_tmp(workspace) == before


OVERSIZED_SAMPLES = [  # (strategy, key, value, where the message says the images run short)
    ("replay", "per_class", 500, "digit "),
    ("hybrid_replay", "per_class", 500, "digit "),
    ("ewc", "fisher_samples", 5000, "task "),
    ("ppca", "components", 300, "digit "),
]


@pytest.mark.parametrize(("strategy", "key", "value", "where"), OVERSIZED_SAMPLES)
def test_a_strategy_sample_larger_than_the_scenario_holds_is_one_line(
    workspace: Path, strategy: str, key: str, value: int, where: str
) -> None:
    """The small workspace holds about 45 training images a digit, 90 a split_mnist task."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["strategies"][strategy][key] = value
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.continual", "split_mnist", strategy))
    assert line.startswith(
        f"error: strategies.{strategy}.{key} = {value} is more than scenario split_mnist allows: {where}"
    ), line
    assert "training images (prepare.train_limit = 600)" in line and "; set it to at most " in line
    assert line.endswith(", or raise prepare.train_limit")
    assert files_outside_dvc_tmp(workspace) == before


def test_an_override_under_per_scenario_is_named_where_it_is_written(workspace: Path) -> None:
    """A too-large sample set for one scenario only: the message names the key under per_scenario."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["strategies"]["replay"]["per_scenario"] = {"split_mnist": {"per_class": 500}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.continual", "split_mnist", "replay"))
    assert line.startswith(
        "error: strategies.replay.per_scenario.split_mnist.per_class = 500 is more than scenario split_mnist allows: "
    ), line
    assert files_outside_dvc_tmp(workspace) == before


@pytest.mark.parametrize(
    ("override", "said"),
    [
        (
            {"notebok": {"strength": 1.0e6}},
            "error: params.yaml: strategies.ewc.per_scenario.notebok: no scenario 'notebok' in scenarios "
            "(notebook, split_mnist, split_mnist_task, split_mnist_domain); rename it or remove it",
        ),
        (
            {"split_mnist": {"strenght": 1.0e6}},
            "error: params.yaml: unknown key 'strategies.ewc.per_scenario.split_mnist.strenght'; "
            "did you mean 'strategies.ewc.per_scenario.split_mnist.strength'?",
        ),
    ],
    ids=["no such scenario", "unknown key"],
)
def test_a_bad_per_scenario_override_stops_the_continual_stage(workspace: Path, override: dict, said: str) -> None:
    """Checked by the continual stage only (the strategy's module holds its schema): one line, nothing written."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["strategies"]["ewc"]["per_scenario"] = override
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = files_outside_dvc_tmp(workspace)
    assert refused(stage_process(workspace, "stages.continual", "split_mnist", "ewc")) == said
    assert files_outside_dvc_tmp(workspace) == before


@pytest.mark.parametrize("name", ["split mnist", "split-mnist", "2tasks"])
def test_a_scenario_name_dvc_cannot_pass_is_one_line(workspace: Path, name: str) -> None:
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["scenarios"][name] = params["scenarios"]["split_mnist"]
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.continual", name, "finetune"))
    assert line == (
        f"error: params.yaml: scenarios: scenario name '{name}' is not an identifier "
        "(letters, digits and _, not starting with a digit); rename it"
    )
    assert files_outside_dvc_tmp(workspace) == before


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda m: m.pop("R"), "key R is missing"),
        (lambda m: m.pop("held_bytes"), "key held_bytes is missing"),
        (lambda m: m.update(carried_bytes="many"), "key carried_bytes is 'many', not an integer"),
        (lambda m: m.update(R=3), "key R is 3, not an object"),
        (lambda m: m.update(average_accuracy="0.9"), "key average_accuracy is '0.9', not a number"),
        (lambda m: m["R"].popitem(), "R is not a square matrix"),
    ],
    ids=["no R", "no held_bytes", "carried_bytes a string", "R a number", "accuracy a string", "R ragged"],
)
def test_a_continual_record_without_its_keys_stops_the_report(workspace: Path, damage, said: str) -> None:
    folder = workspace / "results" / "continual" / "split_mnist"
    folder.mkdir(parents=True)
    for source in sorted((ROOT / "results" / "continual" / "split_mnist").glob("*.json")):
        shutil.copy(source, folder / source.name)
    metrics = json.loads((folder / "lwf.json").read_text())
    damage(metrics)
    (folder / "lwf.json").write_text(json.dumps(metrics))
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.continual_report", "split_mnist"))
    path = "results/continual/split_mnist/lwf.json"
    assert line.startswith(f"error: {path}: {said}; "), line
    assert f"git checkout -- {path}" in line and "dvc repro --force continual@split_mnist-lwf" in line
    assert files_outside_dvc_tmp(workspace) == before


def test_a_mirror_that_is_a_folder_is_named_as_one(tmp_path: Path) -> None:
    mirror = tmp_path / "mnist.npz"
    mirror.mkdir()
    work, result = dataset_stage(tmp_path, mirror)
    assert refused(result) == f"error: {mirror}: is a folder, not a file; point MNIST_NPZ at a good copy of mnist.npz"
    assert sorted(p.name for p in work.iterdir()) == [".dvc", "params.yaml"]


def seed_study_repo(tmp_path: Path, committed: dict[str, dict], summary: tuple[str, dict]) -> Path:
    """A git and DVC repository whose commit holds metrics files `committed` and the seed summary `summary`."""
    from mnist_transfer.artifacts import write_json

    work = tmp_path / "study"
    work.mkdir()
    (work / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    for name, content in committed.items():
        write_json(work / name, content)
    write_json(work / summary[0], summary[1])
    (work / "dvc.yaml").write_text(yaml.safe_dump({"metrics": sorted(committed)}))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=work, check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", "run"], cwd=work, check=True)
    return work


def seeds_process(work: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m seeds` in `work`, with dvc on the PATH and a home of its own beside `work` (matplotlib's config)."""
    home = work.parent / "home"
    home.mkdir(exist_ok=True)
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    return stage_process(work, "seeds", *args, env={"PATH": path, "DVC_NO_ANALYTICS": "1", "HOME": str(home)})


def test_a_seed_study_with_fewer_seeds_than_its_summary_is_refused(tmp_path: Path) -> None:
    """Only the commit's own run (seed 0) has finished: the five-seed summary stays unless asked."""
    from seeds.__main__ import ROWS, summarise

    from .test_seeds import fake_run

    run = fake_run(0, 0.9)
    committed = {f"metrics/{name}.json": run["metrics"][name] for name, *_ in ROWS}
    five = summarise([fake_run(seed, 0.9 - seed / 100) for seed in range(5)])
    work = seed_study_repo(tmp_path, committed, ("metrics/seeds.json", five))
    before = files_outside_dvc_tmp(work)
    line = refused(seeds_process(work))
    assert line.startswith("error: metrics/seeds.json holds more seeds than this summary would: "), line
    assert "seeds 0, 1, 2, 3, 4 there, and the finished experiments give it 1 (0)" in line
    assert line.endswith("wait for the queue (--wait), or pass --allow-fewer to replace it")
    assert files_outside_dvc_tmp(work) == before
    assert seeds_process(work, "--allow-fewer").returncode == 0
    assert json.loads((work / "metrics" / "seeds.json").read_text())["seeds"] == [0]


def test_a_scenario_study_with_fewer_seeds_than_its_summary_is_refused(tmp_path: Path) -> None:
    from seeds.__main__ import summarise_scenario

    from .test_seeds import continual_metrics

    runs = [{"seed": s, "metrics": {"continual/split_mnist/finetune": continual_metrics(s, 0.2)}} for s in range(5)]
    five = summarise_scenario("split_mnist", runs, ["finetune"])
    committed = {"metrics/continual/split_mnist/finetune.json": continual_metrics(0, 0.2)}
    work = seed_study_repo(tmp_path, committed, ("metrics/seeds/split_mnist.json", five))
    before = files_outside_dvc_tmp(work)
    line = refused(seeds_process(work, "split_mnist"))
    assert line.startswith("error: metrics/seeds/split_mnist.json holds more seeds than this summary would: "), line
    assert "finetune has seeds 0, 1, 2, 3, 4 there, and the finished experiments give it 1 (0)" in line
    assert files_outside_dvc_tmp(work) == before


def test_a_seed_study_of_no_such_scenario_lists_the_ones_there_are(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    line = refused(seeds_process(work, "nosuch"))
    assert line == (
        "error: params.yaml has no scenario 'nosuch'; choose one of notebook, split_mnist, split_mnist_task, "
        "split_mnist_domain, or none for the whole pipeline's study"
    )
    assert [p.name for p in work.iterdir()] == ["params.yaml"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "error: params.yaml: not found; run the stage from the project root"),
        (("now",), "error: unexpected argument 'now'; usage: python -m mnist_transfer.quick [--options]"),
    ],
    ids=["outside the project", "an argument"],
)
def test_the_quick_profile_refuses_in_one_line(tmp_path: Path, args: tuple, said: str) -> None:
    if args:
        (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    before = files_outside_dvc_tmp(tmp_path)
    result = stage_process(tmp_path, "mnist_transfer.quick", *args)
    assert refused(result) == said and result.stdout == ""  # nothing for `dvc exp run` to take as options
    assert files_outside_dvc_tmp(tmp_path) == before


@pytest.mark.parametrize("strategy", ["replay", "hybrid_replay"])
def test_a_replay_budget_below_one_image_a_digit_is_one_line(workspace: Path, strategy: str) -> None:
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["strategies"][strategy].update(max_images=9, per_class=5)  # 5: within the small workspace's images
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    before = files_outside_dvc_tmp(workspace)
    line = refused(stage_process(workspace, "stages.continual", "split_mnist", strategy))
    assert line == (
        f"error: strategies.{strategy}.max_images = 9 leaves some of the 10 digits of scenario split_mnist "
        "no stored image; set it to at least 10"
    )
    assert files_outside_dvc_tmp(workspace) == before


def test_a_value_refused_under_dvc_says_how_to_get_the_outputs_back(workspace: Path, tmp_path: Path) -> None:
    """`dvc repro` and `dvc exp run` remove a stage's outputs before they start it (DVC_STAGE, DVC_ROOT set)."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["base"]["epochs"] = 0
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    line = refused(stage_process(workspace, "stages.base", env={"DVC_STAGE": "base", "DVC_ROOT": str(workspace)}))
    assert line == (
        "error: params.yaml: base.epochs = 0 is not allowed; expected an integer in [1, 2147483647] "
        "(dvc removed base's outputs before running it; with the committed value back, "
        "`dvc repro base` restores them from the run-cache)"
    )
    queued = {"DVC_STAGE": "base", "DVC_ROOT": str(tmp_path)}  # a queued experiment's copy: nothing removed here
    assert "dvc removed" not in refused(stage_process(workspace, "stages.base", env=queued))
    assert "dvc removed" not in refused(stage_process(workspace, "stages.base"))  # run by hand
