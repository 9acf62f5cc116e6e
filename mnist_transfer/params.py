"""params.yaml: its schema (pydantic models, one per params group), read and validated in one place.

stage.run_stage calls `load_params()` first thing, before any data is loaded,
TensorFlow is imported or any file is created, and hands the result to the stage: a typo
or a wrong value stops the stage with one line that names the key, the bad value and what
is allowed.
"""

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from mnist_transfer.errors import ParamsError

PARAMS_FILE = Path("params.yaml")

# Past these, TensorFlow's int32 step counters, NumPy's seeds and float32 arithmetic
# refuse a value or silently turn it into garbage (an overflow, inf, or 0).
INT32_MAX = 2**31 - 1
SEED_MAX = 2**32 - 1  # numpy.random.seed and keras.utils.set_random_seed
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal float32: a value > 0 below it becomes 0


class Expect(str):
    """What a key allows, in words: the end of the one-line message for a bad value."""


def Int(low: int, high: int = INT32_MAX, optional: bool = False) -> Any:
    """An integer in [low, high] (never a bool or a float); None too when `optional`."""
    number = Annotated[StrictInt, Field(ge=low, le=high)]
    words = f"an integer in [{low}, {high}]" + (" or null" if optional else "")
    return Annotated[number | None if optional else number, Expect(words)]


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic would read True as 1.0
        raise ValueError("a bool")
    return value


def _float32(value: float) -> float:
    if abs(value) > FLOAT32_MAX or 0 < abs(value) < FLOAT32_TINY:  # TensorFlow computes in float32: inf or 0
        raise ValueError("outside float32")
    return value


def Float(words: str, **bounds: float) -> Any:
    """A finite number that float32 holds, within pydantic `bounds` (gt, ge, lt).

    Numbers written as strings count: PyYAML reads YAML 1.1, where `7e-5` (no dot) is a
    string, while DVC and YAML 1.2 read a float; both readers must agree.
    """
    return Annotated[
        float, BeforeValidator(_no_bool), Field(allow_inf_nan=False, **bounds), AfterValidator(_float32), Expect(words)
    ]


def _year_as_text(value: Any) -> Any:
    # YAML reads an option such as 2019 as a number; the options are words
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def Choice(*options: str) -> Any:
    return Annotated[Literal[options], BeforeValidator(_year_as_text), Expect("one of " + ", ".join(options))]


def Text(pattern: str, words: str) -> Any:
    return Annotated[StrictStr, Field(pattern=pattern), Expect(words)]


class Group(BaseModel):
    """A params group: every key given, no other key."""

    model_config = ConfigDict(extra="forbid")


class Dataset(Group):
    url: Text(r"^(https?|file)://\S+$", "an http(s):// or file:// URL")
    sha256: Text(r"^[0-9a-f]{64}$", "64 lowercase hex digits")
    content_sha256: Text(r"^[0-9a-f]{64}$", "64 lowercase hex digits")


class Prepare(Group):
    validation_fraction: Float("a finite number > 0.0 and < 1.0", gt=0.0, lt=1.0)
    train_limit: Int(1, optional=True)
    test_limit: Int(1, optional=True)


OPTIMIZERS = ("adam", "sgd")
LOSSES = ("crossentropy", "mse", "keras2_crossentropy")


class Training(Group):
    """What training.fit reads: the optimizer, the loss, the batches and the epochs."""

    optimizer: Choice(*OPTIMIZERS)
    learning_rate: Float("a finite number > 0", gt=0.0)
    momentum: Float("a finite number in [0.0, 1.0)", ge=0.0, lt=1.0) = 0.0  # SGD's; Adam has none
    loss: Choice(*LOSSES)
    batch_size: Int(1)
    epochs: Int(1)

    @model_validator(mode="after")
    def _momentum_is_sgd_only(self) -> Self:
        if "momentum" in self.model_fields_set and self.optimizer != "sgd":
            raise ValueError(
                f"{{group}}.momentum is read by optimizer sgd only, and {{group}}.optimizer is {self.optimizer}; "
                "remove {group}.momentum"
            )
        return self


class FromScratch(Training):
    input_divisor: Float("a finite number in [1e-30, 3.4028234663852886e+38)", ge=1e-30)  # 255 / it stays finite


# Layers of the notebook-000 CNN after its input (see models.build_base_cnn): three
# convs, pool, flatten, dense, dropout, dense. Freezing all of them leaves nothing to train.
BASE_CNN_LAYERS = 8


class Freeze(Training):
    frozen_layers: Int(0, BASE_CNN_LAYERS - 1)
    l2: Float("a finite number >= 0.0", ge=0.0)


def _tasks_apart(tasks: list[list[int]]) -> list[list[int]]:
    digits = [digit for task in tasks for digit in task]
    if len(set(digits)) != len(digits):
        raise ValueError("a digit in two tasks")
    return tasks


# Scenario names become command-line arguments and file names (dvc.yaml's ${item.scenario},
# metrics/continual/<name>.json): a space would split the command, a '-' blur DVC's stage names.
NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class Sample:
    """Marks a count the scenario's data bounds (scenarios.check_samples).

    per "digit" or "task": the training images of each digit or task must hold it, with
    `spare` over; per "scenario": a budget shared by every digit of the scenario, at least
    one each.
    """

    def __init__(self, per: Literal["digit", "task", "scenario"], spare: int = 0, why: str = "") -> None:
        self.per, self.spare, self.why = per, spare, why


def sample_fields(group: type[BaseModel]) -> dict[str, Sample]:
    """The keys of a params group that count training images (marked with Sample), and their marks."""
    return {
        name: next(item for item in field.metadata if isinstance(item, Sample))
        for name, field in group.model_fields.items()
        if any(isinstance(item, Sample) for item in field.metadata)
    }


def _names_are_identifiers(scenarios: dict) -> dict:
    for name in scenarios:
        if not isinstance(name, str) or not re.fullmatch(NAME, name):
            raise ValueError(
                f"scenario name {name!r} is not an identifier (letters, digits and _, not starting with a digit); "
                "rename it"
            )
    return scenarios


# van de Ven et al.'s three scenarios: told the task at test, the same outputs for every
# task and never told it, or one output per digit and never told it.
INCREMENTAL = ("task", "domain", "class")


class Scenario(Group):
    """A sequence of tasks, and the budget of the network strategies on it (scenarios.py)."""

    tasks: Annotated[
        list[Annotated[list[Annotated[StrictInt, Field(ge=0, le=9)]], Field(min_length=1)]],
        Field(min_length=2),
        AfterValidator(_tasks_apart),
        Expect("a list of two or more tasks, each a list of digits 0-9, no digit in two tasks"),
    ]
    network: Choice("mlp", "cnn")
    iterations: Int(1)  # per task
    batch_size: Int(1)
    learning_rate: Float("a finite number > 0", gt=0.0)  # Adam's
    incremental: Choice(*INCREMENTAL)  # van de Ven et al.'s three scenarios (scenarios.py)
    active_outputs: Choice("all", "seen")  # the softmax in training: every output, or the digits seen so far
    task_order: Choice("fixed", "seeded")  # as written, or the digits drawn from the seed (scenarios.task_order)

    @model_validator(mode="after")
    def _domain_tasks_alike(self) -> Self:
        if self.incremental == "domain" and len({len(task) for task in self.tasks}) > 1:
            raise ValueError(
                "{group}.incremental is domain, whose tasks share their outputs, but its tasks have "
                f"{sorted({len(task) for task in self.tasks})} digits; give every task as many digits"
            )
        return self


class NoParams(Group):
    """The params of a strategy with nothing to set (fine-tuning, joint training)."""


# A PPCA of n images has at most n - 1 directions of non-zero variance, and its noise is the
# mean variance of the directions it leaves out: it needs one of those to be non-zero.
PPCA_SPARE = 2
PPCA_COMPONENTS = Annotated[Int(1, 783), Sample("digit", PPCA_SPARE, "its PPCA needs 2 more images than directions")]

STRATEGIES_DIR = Path(__file__).parent / "strategies"


def _strategy_groups(strategies: dict) -> dict:
    for name, group in strategies.items():
        if not isinstance(name, str) or not re.fullmatch(NAME, name):
            raise ValueError(f"strategy name {name!r} is not an identifier (letters, digits and _); rename it")
        if not (STRATEGIES_DIR / f"{name}.py").is_file():
            raise ValueError(
                f"strategy {name!r} has no module mnist_transfer/strategies/{name}.py; "
                "add it (docs/contributing.md) or remove the group"
            )
        if not isinstance(group, dict):
            raise ValueError(f"strategy {name!r} must be a mapping of its params ({{}} for none), got {group!r}")
    return strategies


# Keras dtype policies for params `precision` (compute.py: which CPUs run each fast).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


class Params(Group):
    """The whole of params.yaml: the top-level keys, then one group per stage (dvc.yaml)."""

    seed: Int(0, SEED_MAX)
    precision: Choice(*PRECISIONS)
    dataset: Dataset
    prepare: Prepare
    base: FromScratch
    freeze: Freeze
    branch_base: FromScratch
    branch: Training
    full: FromScratch
    transfer_01: Training
    scenarios: Annotated[
        dict[Any, Scenario],  # names checked by _names_are_identifiers, in its own words
        AfterValidator(_names_are_identifiers),
        Expect("a mapping of scenario names to scenarios"),
    ]
    strategies: Annotated[
        dict[Any, Any],  # each group is checked against its module's schema by validate_strategy
        AfterValidator(_strategy_groups),
        Expect("a mapping of strategy names to params groups"),
    ]


def validate(raw: Any, source: str = str(PARAMS_FILE)) -> dict[str, Any]:
    """Check `raw` (parsed params.yaml) against Params; return it as plain dicts, numbers normalised.

    Raises ParamsError naming the first problem found.
    """
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of params groups, got {type(raw).__name__}")
    return _checked(Params, raw, source, ())


def validate_strategy(
    name: str, schema: type[Group], group: dict, scenario: str, scenarios: list[str], source: str = str(PARAMS_FILE)
) -> dict[str, Any]:
    """strategies.<name> as run on `scenario`: its keys, with those of its per_scenario.<scenario> over them.

    `schema` is the strategy module's Params. Keys under `per_scenario` override the group's
    own on the scenario they name (each must be a scenario of `scenarios`); the group alone
    and the group as overridden for each scenario must all fit the schema. Raises ParamsError naming the first
    problem found, at the key where it is written.
    """
    group = dict(group)
    where = f"strategies.{name}"
    per_scenario = group.pop("per_scenario", {})
    if not isinstance(per_scenario, dict):
        raise ParamsError(f"{source}: {where}.per_scenario must map scenario names to params, got {per_scenario!r}")
    for key, values in per_scenario.items():
        if key not in scenarios:
            raise ParamsError(
                f"{source}: {where}.per_scenario.{key}: no scenario {key!r} in scenarios "
                f"({', '.join(scenarios)}); rename it or remove it"
            )
        if not isinstance(values, dict):
            raise ParamsError(f"{source}: {where}.per_scenario.{key} must be a mapping of params, got {values!r}")
    checked = _checked(schema, group, source, ("strategies", name))
    for key, override in per_scenario.items():  # every override, whichever scenario runs: one stage refuses them all
        # the group alone fits, so any problem now is an overriding key's: named where it is written
        merged = _checked(schema, {**group, **override}, source, ("strategies", name, "per_scenario", key))
        if key == scenario:
            checked = merged
    return checked


def _checked(root: type[Group], raw: dict, source: str, prefix: tuple[str, ...]) -> dict[str, Any]:
    """`raw` validated against `root` (found at key `prefix` of the params file), as plain dicts."""
    try:
        return root.model_validate(raw).model_dump()
    except ValidationError as err:
        # An unknown key first: it is often a typo of the key reported missing.
        first = min(err.errors(), key=lambda error: error["type"] != "extra_forbidden")
        raise ParamsError(f"{source}: {_message(first, raw, root, prefix)}") from None


def _message(error: dict, raw: dict, root: type[Group], prefix: tuple[str, ...]) -> str:
    """One pydantic error as a line naming the key, the value and what is allowed."""
    keys, parent, node, field = _walk(error["loc"], root)
    name = ".".join([*prefix, *keys])
    if error["type"] == "extra_forbidden":
        where = "".join(f"{key}." for key in [*prefix, *keys[:-1]])
        close = difflib.get_close_matches(keys[-1], list(parent.model_fields), n=1)
        allowed = ", ".join(parent.model_fields) or f"none ({where.rstrip('.')} takes no params)"
        hint = f"did you mean '{where}{close[0]}'?" if close else f"allowed: {allowed}"
        return f"unknown key '{name}'; {hint}"
    if isinstance(node, type) and issubclass(node, Group):
        if error["type"] == "value_error":  # a check across the keys of the group
            return error["msg"].removeprefix("Value error, ").format(group=name)
        if error["type"] == "missing":
            return f"missing params group '{name}' (keys: {', '.join(node.model_fields)})"
        return f"'{name}' must be a mapping of keys, got {error['input']!r}"
    expect = next(item for item in field.metadata if isinstance(item, Expect))
    if error["type"] == "value_error" and get_origin(node) is dict:  # a name in a mapping of names
        return f"{name}: {error['msg'].removeprefix('Value error, ')}"
    if error["type"] == "missing":
        return f"missing key {name} ({expect})"
    value = raw
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return f"{name} = {value!r} is not allowed; expected {expect}"


def _walk(loc: tuple, root: type[Group]) -> tuple[list[str], Any, Any, Any]:
    """(the keys down to the params key an error is about, the group holding it, its type, its field).

    A location inside a value (a list's items) stops at the key of the whole value.
    """
    keys: list[str] = []
    parent, node, field = root, root, None
    for part in loc:
        if isinstance(part, int):
            break
        keys.append(str(part))
        if get_origin(node) is dict:  # a mapping of names to groups (scenarios)
            node = get_args(node)[1]
            continue
        parent, field = node, node.model_fields.get(part)
        if field is None:
            break
        node = field.annotation
    return keys, parent, node, field


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    source = str(PARAMS_FILE)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ParamsError(
                    f"{self.source}: key '{key}' is given twice, at lines {seen[key]} and {line}; keep one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_params(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """Read and validate the whole params file (every stage validates all of it)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run the stage from the project root") from None
    except IsADirectoryError:
        raise ParamsError(f"{path}: is a folder, not a file; restore it with `git checkout -- {path}`") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ParamsError(f"{path}: cannot be read ({reason}); check its permissions with ls -l") from None
    loader = type("Loader", (_UniqueKeyLoader,), {"source": str(path)})
    try:
        raw = yaml.load(text, Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    return validate(raw, source=str(path))
