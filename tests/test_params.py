"""params.yaml validation: the committed file passes, each kind of mistake is named."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_transfer import strategies
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


class _Deleted:
    """The value of a key to delete; its repr names the test the same in every pytest-xdist worker."""

    def __repr__(self) -> str:
        return "<deleted>"


_DELETE = _Deleted()

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
    ("strategies.lwf", "temperature", float("-inf")),  # a strategy's: refused by the continual stage
    ("base", "momentum", 0.9),
]


def test_the_messages_the_docs_show_are_the_ones_given(committed: dict) -> None:
    text = (ROOT / "docs" / "params.md").read_text()
    shown = [line for line in text.splitlines() if line.startswith("error: params.yaml: ")]
    given = []
    for group, key, value in DOCUMENTED:
        with pytest.raises(ParamsError) as raised:
            if group.startswith("strategies."):
                name = group.removeprefix("strategies.")
                changed = copy.deepcopy(committed)
                changed["strategies"][name][key] = value
                strategies.params_for(name, validate(changed), "split_mnist")
            else:
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


@pytest.mark.parametrize(
    "stage", ["dataset", "prepare", "base", "freeze", "branch", "evaluate", "continual", "continual_report", "report"]
)
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
        ("scenarios", "split_mnist", "incremental"),
        "online",
        ["scenarios.split_mnist.incremental = 'online'", "one of task, domain, class"],
    ),
    (("scenarios", "split_mnist", "task_order"), "random", ["scenarios.split_mnist.task_order", "fixed, seeded"]),
    (("scenarios", "split_mnist", "active_outputs"), "new", ["scenarios.split_mnist.active_outputs", "all, seen"]),
    (
        ("scenarios", "split_mnist_domain", "tasks"),
        [[0, 1], [2, 3, 4]],
        ["scenarios.split_mnist_domain.incremental is domain", "give every task as many digits"],
    ),
    (
        ("scenarios", "split_mnist", "itrations"),
        5,
        ["unknown key 'scenarios.split_mnist.itrations'", "did you mean 'scenarios.split_mnist.iterations'"],
    ),
    (
        ("strategies", "ewc"),
        3,
        ["strategies: strategy 'ewc' must be a mapping of its params ({} for none), got 3"],
    ),
    (("strategies",), [], ["strategies = []", "a mapping of strategy names to params groups"]),
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


STRATEGY_BAD = [
    # (strategy, key, value, words the message must contain): checked against the strategy module's Params
    ("ppca", "deskew", "yes", ["strategies.ppca.deskew = 'yes'", "true or false"]),
    ("replay", "per_class", 0, ["strategies.replay.per_class", "[1, "]),
    (
        "lwf",
        "temprature",
        2.0,
        ["unknown key 'strategies.lwf.temprature'", "did you mean 'strategies.lwf.temperature'"],
    ),
    ("lwf", "temperature", float("-inf"), ["strategies.lwf.temperature = -inf", "finite"]),
    ("ewc", "strength", float("inf"), ["strategies.ewc.strength = inf", "finite"]),
    ("ewc", "strength", -1.0, ["strategies.ewc.strength = -1.0", "a finite number >= 0.0"]),
    ("ewc", "fisher_samples", _DELETE, ["missing key strategies.ewc.fisher_samples", "integer"]),
    ("hybrid_replay", "shift", 14, ["strategies.hybrid_replay.shift = 14", "[0, 13]"]),
    ("finetune", "epochs", 3, ["unknown key 'strategies.finetune.epochs'"]),  # NoParams: no key at all
    ("freeze", "lr", 0.1, ["unknown key 'strategies.freeze.lr'"]),
    ("branch", "lr", 0.1, ["unknown key 'strategies.branch.lr'"]),
]


@pytest.mark.parametrize(
    ("strategy", "key", "value", "words"), STRATEGY_BAD, ids=[f"{n}.{k}={v!r}"[:40] for n, k, v, _ in STRATEGY_BAD]
)
def test_bad_strategy_param_is_named(committed: dict, strategy: str, key: str, value: object, words: list) -> None:
    """The whole file passes `validate` (every stage but continual runs); the strategy's own schema refuses it."""
    params = validate(with_strategy(committed, strategy, {key: value}))
    with pytest.raises(ParamsError) as raised:
        strategies.params_for(strategy, params, "split_mnist")
    message = str(raised.value)
    assert message.startswith("params.yaml: ") and "\n" not in message
    assert all(word in message for word in words), message


def with_strategy(params: dict, name: str, changes: dict) -> dict:
    """`params` with keys of strategies.<name> set (or deleted, value _DELETE)."""
    changed = copy.deepcopy(params)
    group = changed["strategies"].setdefault(name, {})
    for key, value in changes.items():
        if value is _DELETE:
            del group[key]
        else:
            group[key] = value
    return changed


def test_every_committed_strategy_group_fits_its_module(committed: dict) -> None:
    params = validate(committed)
    for name in params["strategies"]:
        for scenario in params["scenarios"]:
            group = dict(committed["strategies"][name])
            override = group.pop("per_scenario", {}).get(scenario, {})
            assert strategies.params_for(name, params, scenario) == {**group, **override}
    ewc = {"strength": 1e9, "fisher": "current", "fisher_samples": None}
    assert strategies.params_for("ewc", params, "split_mnist") == ewc
    assert strategies.params_for("ewc", params, "split_mnist_task") == {**ewc, "strength": 1e5}
    assert strategies.params_for("lwf", params, "notebook") == {"temperature": 0.5, "weighting": "2019"}


def test_a_per_scenario_override_replaces_the_key_on_its_scenario_only(committed: dict) -> None:
    params = validate(with_strategy(committed, "ewc", {"per_scenario": {"notebook": {"strength": 1e6}}}))
    notebook = strategies.params_for("ewc", params, "notebook")
    split = strategies.params_for("ewc", params, "split_mnist")
    assert notebook == {"strength": 1e6, "fisher": "current", "fisher_samples": None}  # the others as the group's
    assert split == {"strength": 1e9, "fisher": "current", "fisher_samples": None}  # no per_scenario key


def test_an_override_may_be_empty_and_other_scenarios_need_none(committed: dict) -> None:
    params = validate(with_strategy(committed, "replay", {"per_scenario": {"notebook": {}}}))
    assert strategies.params_for("replay", params, "notebook") == committed["strategies"]["replay"]


PER_SCENARIO_BAD = [
    # (per_scenario, the one line given, less "params.yaml: ")
    (
        {"notebok": {"strength": 1e6}},
        "strategies.ewc.per_scenario.notebok: no scenario 'notebok' in scenarios (notebook, split_mnist, "
        "split_mnist_task, split_mnist_domain); rename it or remove it",
    ),
    (
        {"notebook": {"strenght": 1e6}},
        "unknown key 'strategies.ewc.per_scenario.notebook.strenght'; "
        "did you mean 'strategies.ewc.per_scenario.notebook.strength'?",
    ),
    (
        {"notebook": {"strength": -1.0}},
        "strategies.ewc.per_scenario.notebook.strength = -1.0 is not allowed; expected a finite number >= 0.0",
    ),
    (
        {"notebook": {"fisher_samples": "many"}},
        "strategies.ewc.per_scenario.notebook.fisher_samples = 'many' is not allowed; "
        "expected an integer in [1, 2147483647] or null",
    ),
    (
        {"notebook": 5},
        "strategies.ewc.per_scenario.notebook must be a mapping of params, got 5",
    ),
    (
        ["notebook"],
        "strategies.ewc.per_scenario must map scenario names to params, got ['notebook']",
    ),
]


@pytest.mark.parametrize(
    ("per_scenario", "said"),
    PER_SCENARIO_BAD,
    ids=["unknown scenario", "unknown key", "bad value", "bad integer", "override not a mapping", "not a mapping"],
)
def test_a_bad_override_is_one_line_naming_the_key_where_it_is_written(committed: dict, per_scenario, said) -> None:
    params = validate(with_strategy(committed, "ewc", {"per_scenario": per_scenario}))
    with pytest.raises(ParamsError) as raised:
        strategies.params_for("ewc", params, "notebook")
    assert str(raised.value) == f"params.yaml: {said}"


def test_validate_strategy_takes_the_module_schema_and_the_scenario_names() -> None:
    from mnist_transfer.params import validate_strategy
    from mnist_transfer.strategies import lwf

    group = {"temperature": 2.0, "weighting": "current", "per_scenario": {"b": {"temperature": 4, "weighting": 2019}}}
    assert validate_strategy("lwf", lwf.Params, group, "a", ["a", "b"]) == {"temperature": 2.0, "weighting": "current"}
    # YAML reads 2019 as a number: the option is the word
    assert validate_strategy("lwf", lwf.Params, group, "b", ["a", "b"]) == {"temperature": 4.0, "weighting": "2019"}
    assert group["per_scenario"] == {"b": {"temperature": 4, "weighting": 2019}}  # left as it was
    with pytest.raises(
        ParamsError, match=r"^x.yaml: strategies.lwf.per_scenario.b: no scenario 'b' in scenarios \(a\)"
    ):
        validate_strategy("lwf", lwf.Params, group, "a", ["a"], source="x.yaml")


def test_a_strategy_group_without_a_module_is_refused_by_every_stage(committed: dict, tmp_path: Path) -> None:
    changed = with_strategy(committed, "hybrid_reply", {})
    said = (
        "params.yaml: strategies: strategy 'hybrid_reply' has no module mnist_transfer/strategies/hybrid_reply.py; "
        "add it (docs/contributing.md) or remove the group"
    )
    with pytest.raises(ParamsError) as raised:
        validate(changed)
    assert str(raised.value) == said
    result = run_stage(tmp_path, "base", changed)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [f"error: {said}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize("name", ["hybrid-replay", "2ewc"])
def test_a_strategy_name_that_is_no_identifier_is_refused(committed: dict, name: str) -> None:
    with pytest.raises(ParamsError) as raised:
        validate(with_strategy(committed, name, {}))
    assert str(raised.value) == (
        f"params.yaml: strategies: strategy name '{name}' is not an identifier (letters, digits and _); rename it"
    )


def toy_tasks(digit_lists: list[list[int]], per_digit: dict[int, int]) -> list:
    """Tasks holding `per_digit[d]` training images of each digit d (no pixels needed)."""
    from mnist_transfer.scenarios import Task

    tasks = []
    for digits in digit_lists:
        y = np.concatenate([np.full(per_digit[d], d, dtype=np.uint8) for d in digits])
        empty = np.zeros((0, 28, 28), dtype=np.uint8)
        x = np.zeros((len(y), 28, 28), dtype=np.uint8)
        tasks.append(Task(len(tasks), tuple(digits), tuple(digits), x, y, empty, y[:0], empty, y[:0]))
    return tasks


def test_check_samples_reads_the_schema_and_names_the_key_where_it_is_written() -> None:
    from mnist_transfer.scenarios import check_samples
    from mnist_transfer.strategies import ewc, hybrid_replay, ppca, replay

    tasks = toy_tasks([[0, 1], [2, 3]], {0: 50, 1: 40, 2: 60, 3: 70})
    where = lambda key: f"strategies.replay.per_scenario.two.{key}"  # noqa: E731
    check_samples(replay.Params, {"per_class": 40, "max_images": 4}, where, tasks, "two", 100)  # fits exactly
    with pytest.raises(ParamsError) as raised:
        check_samples(replay.Params, {"per_class": 41, "max_images": 100}, where, tasks, "two", 100)
    assert str(raised.value) == (
        "strategies.replay.per_scenario.two.per_class = 41 is more than scenario two allows: digit 1 has 40 "
        "training images (prepare.train_limit = 100); set it to at most 40, or raise prepare.train_limit"
    )
    with pytest.raises(ParamsError) as raised:
        check_samples(replay.Params, {"per_class": 5, "max_images": 3}, where, tasks, "two", None)
    assert str(raised.value) == (
        "strategies.replay.per_scenario.two.max_images = 3 leaves some of the 4 digits of scenario two "
        "no stored image; set it to at least 4"
    )
    name = lambda key: f"strategies.ewc.{key}"  # noqa: E731
    with pytest.raises(ParamsError, match=r"^strategies.ewc.fisher_samples = 91 .*task 1 \[0, 1\] has 90 "):
        check_samples(ewc.Params, {"strength": 1.0, "fisher_samples": 91}, name, tasks, "two", None)
    components = {"components": 39, "deskew": True}  # 40 images of digit 1: the PPCA needs 2 spare
    with pytest.raises(ParamsError, match=r"^strategies.ppca.components = 39 .*\(its PPCA needs 2 more images"):
        check_samples(ppca.Params, components, lambda key: f"strategies.ppca.{key}", tasks, "two", None)
    hybrid = {"per_class": 3, "max_images": 10, "shift": 2, "components": 38, "drawn_per_stored": 1}
    check_samples(hybrid_replay.Params, hybrid, lambda key: key, tasks, "two", None)


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
    from mnist_transfer.strategies import replay

    from .conftest import mnist_path

    name = lambda key: f"strategies.replay.{key}"  # noqa: E731
    arrays = make_splits(read_npz(mnist_path()), committed["prepare"]["validation_fraction"])["0-9"]
    split = Split("0-9", *(arrays[f"{xy}_{part}"] for part in PARTS for xy in ("x", "y")))
    tasks = make_tasks(committed["scenarios"]["split_mnist"]["tasks"], split)
    with pytest.raises(ParamsError) as raised:
        check_samples(replay.Params, {"per_class": 6000, "max_images": 1000}, name, tasks, "split_mnist", None)
    shown = [line for line in (ROOT / "docs" / "params.md").read_text().splitlines() if "per_class = 6000" in line]
    assert shown == [f"error: {raised.value}"]
