"""params.yaml validation: the committed file passes, each kind of mistake is named."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from mnist_transfer.errors import ParamsError
from mnist_transfer.params import load_params, validate

from .conftest import ROOT, stage_process


@pytest.fixture(scope="module")
def committed() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_committed_params_are_valid() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params["base"]["epochs"] == 10
    assert params["freeze"]["learning_rate"] == pytest.approx(7e-5)


def with_change(params: dict, group: str | None, key: str, value: object) -> dict:
    """`params` with group.key (or the top-level key, group None) set to `value`, or deleted."""
    changed = copy.deepcopy(params)
    where = changed if group is None else changed[group]
    if value is _DELETE:
        del where[key]
    else:
        where[key] = value
    return changed


_DELETE = object()

BAD = [
    # (group, key, value, words the message must contain)
    ("base", "epoch", 10, ["unknown key 'base.epoch'", "did you mean 'base.epochs'"]),
    ("base", "epochs", _DELETE, ["missing key base.epochs", "integer"]),
    ("base", "epochs", "ten", ["base.epochs", "'ten'", "an integer in [1, 2147483647]"]),
    ("base", "epochs", 0, ["base.epochs", "an integer in [1, 2147483647]"]),
    ("base", "epochs", 2**31, ["base.epochs", "[1, 2147483647]"]),
    (None, "seed", 2**32, ["seed = 4294967296", "[0, 4294967295]"]),
    (None, "seed", _DELETE, ["missing key seed", "integer"]),
    (None, "sede", 1, ["unknown key 'sede'", "did you mean 'seed'"]),
    ("base", "epochs", 2.5, ["base.epochs", "integer"]),
    ("base", "epochs", True, ["base.epochs", "integer"]),
    ("base", "batch_size", 0, ["base.batch_size", "[1, "]),
    ("freeze", "learning_rate", "fast", ["freeze.learning_rate", "'fast'", "a finite number > 0"]),
    ("freeze", "learning_rate", 0, ["freeze.learning_rate", "> 0"]),
    ("freeze", "learning_rate", -1e-3, ["freeze.learning_rate", "> 0"]),
    ("freeze", "learning_rate", float("nan"), ["freeze.learning_rate", "nan", "a finite number > 0"]),
    ("freeze", "learning_rate", float("inf"), ["freeze.learning_rate", "inf", "finite"]),
    ("freeze", "learning_rate", "1e39", ["freeze.learning_rate", "finite"]),  # inf in float32
    ("freeze", "learning_rate", 1e-40, ["freeze.learning_rate", "> 0"]),  # 0 in float32
    ("freeze", "l2", float("nan"), ["freeze.l2", "finite"]),
    ("freeze", "momentum", float("nan"), ["freeze.momentum", "finite"]),
    ("base", "momentum", 0.9, ["base.momentum is read by optimizer sgd only", "remove base.momentum"]),
    ("lwf", "temperature", float("-inf"), ["lwf.temperature", "finite"]),
    ("ewc", "strength", float("inf"), ["ewc.strength", "finite"]),
    ("gaussian", "shrinkage", float("nan"), ["gaussian.shrinkage", "finite"]),
    ("gaussian", "covariance", "diagonal", ["gaussian.covariance", "one of per_class, shared"]),
    ("prepare", "validation_fraction", 0.0, ["prepare.validation_fraction", "> 0.0 and < 1.0"]),
    ("prepare", "validation_fraction", 1.0, ["prepare.validation_fraction", "> 0.0 and < 1.0"]),
    ("full", "input_divisor", 1e-38, ["full.input_divisor", "finite"]),  # 255 / it is inf
    ("freeze", "frozen_layers", 8, ["freeze.frozen_layers", "[0, 7]"]),
    ("freeze", "frozen_layers", 99, ["freeze.frozen_layers", "[0, 7]"]),
    ("base", "optimizer", "adamw", ["base.optimizer", "one of adam, sgd"]),
    ("transfer_01", "loss", "hinge", ["transfer_01.loss", "one of crossentropy, mse, keras2_crossentropy"]),
    ("full", "input_divisor", 0, ["full.input_divisor", "[1e-30, "]),
    ("prepare", "train_limit", 0, ["prepare.train_limit", "[1, "]),
    ("dataset", "sha256", "abc", ["dataset.sha256", "64 lowercase hex"]),
    (None, "precision", "bf16", ["precision = 'bf16'", "one of float32, mixed_bfloat16, mixed_float16"]),
    (None, "precision", "auto", ["precision = 'auto'", "one of float32, mixed_bfloat16, mixed_float16"]),
]


@pytest.mark.parametrize(
    ("group", "key", "value", "words"), BAD, ids=[f"{g or ''}.{k}={v!r}"[:40] for g, k, v, _ in BAD]
)
def test_bad_value_is_named(committed: dict, group: str, key: str, value: object, words: list[str]) -> None:
    with pytest.raises(ParamsError) as raised:
        validate(with_change(committed, group, key, value))
    message = str(raised.value)
    for word in words:
        assert word in message
    assert "\n" not in message


DOCUMENTED = [  # the examples docs/params.md shows
    ("base", "epoch", 10),
    ("freeze", "learning_rate", "fast"),
    ("lwf", "temperature", float("-inf")),
    ("base", "momentum", 0.9),
]


def test_the_messages_the_docs_show_are_the_ones_given(committed: dict) -> None:
    text = (ROOT / "docs" / "params.md").read_text()
    shown = [line for line in text.splitlines() if line.startswith("error: params.yaml: ")]
    given = []
    for group, key, value in DOCUMENTED:
        with pytest.raises(ParamsError) as raised:
            validate(with_change(committed, group, key, value))
        given.append(f"error: {raised.value}")
    assert shown == given


def test_unknown_group_suggests_close_match(committed: dict) -> None:
    changed = copy.deepcopy(committed)
    changed["bsae"] = changed.pop("base")
    with pytest.raises(ParamsError, match="unknown key 'bsae'; did you mean 'base'"):
        validate(changed)


def test_yaml11_float_string_is_a_number(committed: dict) -> None:
    """PyYAML reads `7e-5` as a string; DVC's YAML 1.2 reads a float. Both must mean 7e-5."""
    params = validate(with_change(committed, "freeze", "learning_rate", "7e-5"))
    assert params["freeze"]["learning_rate"] == pytest.approx(7e-5)


def test_broken_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("base:\n  epochs: [1,\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(path)


def run_stage(workdir: Path, stage: str, params: dict) -> subprocess.CompletedProcess:
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    return stage_process(workdir, f"stages.{stage}", *(["base"] if stage == "evaluate" else []))


@pytest.mark.parametrize(
    ("group", "key", "value", "words"), BAD, ids=[f"{g or ''}.{k}={v!r}"[:40] for g, k, v, _ in BAD]
)
def test_stage_exits_with_one_line_and_writes_nothing(
    tmp_path: Path, committed: dict, group: str, key: str, value: object, words: list[str]
) -> None:
    """Every bad params case, through a real stage process: exit 2, one line naming it, no output."""
    result = run_stage(tmp_path, "base", with_change(committed, group, key, value))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: params.yaml: ")
    assert all(word in lines[0] for word in words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing created, not even the stage lock


@pytest.mark.parametrize("stage", ["dataset", "prepare", "base", "freeze", "evaluate", "replay", "fisher"])
def test_every_stage_validates_params_first(tmp_path: Path, committed: dict, stage: str) -> None:
    result = run_stage(tmp_path, stage, with_change(committed, "base", "epochs", "ten"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: params.yaml: base.epochs = 'ten' is not allowed; expected an integer in [1, 2147483647]"]


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        ("seed: 0\nseed: 1\n", "seed", (1, 2)),
        ("base:\n  epochs: 10\n  batch_size: 8\n  epochs: 3\n", "epochs", (2, 4)),
        ("prepare:\n  train_limit: null\nprepare:\n  test_limit: null\n", "prepare", (1, 3)),
    ],
    ids=["top-level key", "key in a group", "group"],
)
def test_a_repeated_key_is_refused_with_both_lines(tmp_path: Path, committed: dict, text: str, key: str, lines) -> None:
    """A line or group pasted twice: PyYAML would keep the last one silently; the stage names both lines."""
    body = yaml.safe_dump({k: v for k, v in committed.items() if k not in ("seed", "base", "prepare")})
    (tmp_path / "params.yaml").write_text(text + body)
    result = stage_process(tmp_path, "stages.base")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: params.yaml: key '{key}' is given twice, at lines {lines[0]} and {lines[1]}; keep one of them"
    ]


def test_the_same_key_in_two_groups_is_no_repeat(committed: dict, tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(committed))
    assert load_params(path)["base"]["epochs"] == load_params(path)["full"]["epochs"] == 10


def test_a_stage_run_outside_the_project_creates_nothing(tmp_path: Path) -> None:
    result = stage_process(tmp_path, "stages.base")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: params.yaml: not found; run the stage from the project root"]
    assert list(tmp_path.iterdir()) == []


NESTED_BAD = [
    # (path below the top level, value, words the message must contain)
    (
        ("scenarios", "split_mnist", "tasks"),
        [[0, 1], [1, 2]],
        ["scenarios.split_mnist.tasks = [[0, 1], [1, 2]]", "no digit in two tasks"],
    ),
    (("scenarios", "split_mnist", "tasks"), [[0, 10], [2]], ["scenarios.split_mnist.tasks", "digits 0-9"]),
    (("scenarios", "split_mnist", "tasks"), [[0, 1, 2]], ["scenarios.split_mnist.tasks", "two or more tasks"]),
    (("scenarios", "split_mnist", "tasks"), [[0, 1], []], ["scenarios.split_mnist.tasks", "each a list of digits"]),
    (("scenarios", "split_mnist", "network"), "vgg", ["scenarios.split_mnist.network = 'vgg'", "one of mlp, cnn"]),
    (("scenarios", "split_mnist", "iterations"), 0, ["scenarios.split_mnist.iterations", "[1, 2147483647]"]),
    (
        ("scenarios", "split_mnist", "itrations"),
        5,
        ["unknown key 'scenarios.split_mnist.itrations'", "did you mean 'scenarios.split_mnist.iterations'"],
    ),
    (("strategies", "ppca", "deskew"), "yes", ["strategies.ppca.deskew = 'yes'", "true or false"]),
    (("strategies", "replay", "per_class"), 0, ["strategies.replay.per_class", "[1, "]),
    (("strategies", "lwf", "temprature"), 2.0, ["did you mean 'strategies.lwf.temperature'"]),
    (("strategies", "hybrid_replay", "shift"), 14, ["strategies.hybrid_replay.shift = 14", "[0, 13]"]),
]


@pytest.mark.parametrize(("path", "value", "words"), NESTED_BAD, ids=[".".join(p) for p, _, _ in NESTED_BAD])
def test_bad_scenario_or_strategy_is_named(committed: dict, path: tuple, value: object, words: list[str]) -> None:
    changed = copy.deepcopy(committed)
    place = changed
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    with pytest.raises(ParamsError) as raised:
        validate(changed)
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_a_scenario_is_a_params_edit(committed: dict) -> None:
    """Any name, any tasks: a new scenario needs no code."""
    changed = copy.deepcopy(committed)
    changed["scenarios"]["seven_then_three"] = {
        **changed["scenarios"]["split_mnist"],
        "tasks": [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9]],
    }
    assert validate(changed)["scenarios"]["seven_then_three"]["tasks"] == [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9]]


@pytest.mark.integration  # reads the real MNIST
def test_the_sample_size_message_the_docs_show_is_the_one_given_on_mnist(committed: dict) -> None:
    """docs/params.md's example, from the real MNIST's split_mnist tasks."""
    from mnist_transfer.data import PARTS, Split, make_splits, read_npz
    from mnist_transfer.scenarios import check_samples, make_tasks

    from .conftest import mnist_path

    arrays = make_splits(read_npz(mnist_path()), committed["prepare"]["validation_fraction"])["0-9"]
    split = Split("0-9", *(arrays[f"{xy}_{part}"] for part in PARTS for xy in ("x", "y")))
    tasks = make_tasks(committed["scenarios"]["split_mnist"]["tasks"], split)
    with pytest.raises(ParamsError) as raised:
        check_samples("replay", {"per_class": 6000, "max_images": 1000}, tasks, "split_mnist", None)
    shown = [line for line in (ROOT / "docs" / "params.md").read_text().splitlines() if "per_class = 6000" in line]
    assert shown == [f"error: {raised.value}"]
