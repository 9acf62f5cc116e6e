"""params.yaml: its schema, and the one place where it is read and validated.

Every stage calls `load_params()` first thing, before any data is loaded or
TensorFlow is imported, so a typo or a wrong value stops the stage with one line
that names the key, the bad value and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mnist_transfer.errors import ParamsError

PARAMS_FILE = Path("params.yaml")

# PyYAML reads YAML 1.1, where `7e-5` (no dot) is a string; DVC and YAML 1.2 read it
# as a float. Accept such strings for float keys so both readers agree.
_FLOAT_STRING = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


# Past these, TensorFlow's int32 step counters, NumPy's seeds and float32 arithmetic
# refuse a value or silently turn it into garbage (an overflow, inf, or 0).
INT32_MAX = 2**31 - 1
SEED_MAX = 2**32 - 1  # numpy.random.seed and keras.utils.set_random_seed
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal float32: a value > 0 below it becomes 0


@dataclass(frozen=True)
class Int:
    """An integer in [low, high]; None allowed when `optional`."""

    low: int | None = None
    high: int | None = INT32_MAX
    optional: bool = False

    def describe(self) -> str:
        bounds = _bounds(self.low, self.high, "<=")
        return f"an integer{bounds}" + (" or null" if self.optional else "")

    def check(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError
        _check_range(value, self.low, self.high, high_inclusive=True)
        return value


@dataclass(frozen=True)
class Float:
    """A finite number in [low, high) (or (low, high) when `low_exclusive`) that float32 can hold.

    NaN and infinity are refused, and so are numbers float32 would turn into inf, or
    (for a number that must be > 0) into 0: TensorFlow computes in float32.
    """

    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False

    def describe(self) -> str:
        if self.low is not None and self.low_exclusive:
            return f"a finite number > {self.low}" + ("" if self.high is None else f" and < {self.high}")
        return f"a finite number{_bounds(self.low, self.high, '<')}"

    def check(self, value: Any) -> Any:
        if isinstance(value, str) and _FLOAT_STRING.match(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError
        value = float(value)
        if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
            raise ValueError
        if self.low_exclusive and self.low is not None and (value <= self.low or 0 < value < FLOAT32_TINY):
            raise ValueError
        _check_range(value, self.low, self.high, high_inclusive=False)
        return value


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of names."""

    options: tuple[str, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(self.options)

    def check(self, value: Any) -> Any:
        if value not in self.options:
            raise ValueError
        return value


@dataclass(frozen=True)
class Text:
    """A string, optionally matching a pattern."""

    pattern: str = r".+"
    meaning: str = "a non-empty string"

    def describe(self) -> str:
        return self.meaning

    def check(self, value: Any) -> Any:
        if not isinstance(value, str) or not re.fullmatch(self.pattern, value):
            raise ValueError
        return value


def _bounds(low: float | None, high: float | None, high_op: str) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}{']' if high_op == '<=' else ')'}"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" {high_op} {high}"
    return ""


def _check_range(value: float, low: float | None, high: float | None, high_inclusive: bool) -> None:
    if low is not None and value < low:
        raise ValueError
    if high is not None and (value > high if high_inclusive else value >= high):
        raise ValueError


# Layers of the notebook-000 CNN after its input (see models.build_base_cnn): three
# convs, pool, flatten, dense, dropout, dense. Freezing all of them leaves nothing to train.
BASE_CNN_LAYERS = 8

OPTIMIZERS = ("adam", "sgd")
LOSSES = ("crossentropy", "mse", "keras2_crossentropy")

TRAINING = {
    "epochs": Int(low=1),
    "batch_size": Int(low=1),
    "optimizer": Choice(OPTIMIZERS),
    "learning_rate": Float(low=0.0, low_exclusive=True),
    "momentum": Float(low=0.0, high=1.0),
    "loss": Choice(LOSSES),
}
# 255 / input_divisor must stay a finite float32.
FROM_SCRATCH = {**TRAINING, "input_divisor": Float(low=1e-30, high=FLOAT32_MAX)}

# Keras dtype policies for params `precision` (compute.py: which CPUs run each fast).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

# A top-level key holds a rule; a group holds its keys' rules.
SCHEMA: dict[str, Any] = {
    "seed": Int(low=0, high=SEED_MAX),
    "precision": Choice(PRECISIONS),
    "dataset": {
        "url": Text(r"(https?|file)://\S+", "an http(s):// or file:// URL"),
        "sha256": Text(r"[0-9a-f]{64}", "64 lowercase hex digits"),
        "content_sha256": Text(r"[0-9a-f]{64}", "64 lowercase hex digits"),
    },
    "prepare": {
        "validation_fraction": Float(low=0.0, high=1.0, low_exclusive=True),
        "train_limit": Int(low=1, optional=True),
        "test_limit": Int(low=1, optional=True),
    },
    "train_base": FROM_SCRATCH,
    "freeze_retrain": {
        **TRAINING,
        "frozen_layers": Int(low=0, high=BASE_CNN_LAYERS - 1),
        "l2": Float(low=0.0),
    },
    "train_branch_base": FROM_SCRATCH,
    "train_branch": TRAINING,
    "train_full": FROM_SCRATCH,
    "transfer_01": TRAINING,
    # Learning 5-9 after 0-4 (finetune, lwf, ewc, replay, joint start from train_base; gaussian from its own 0-4 model).
    "finetune": TRAINING,
    "lwf": {**TRAINING, "temperature": Float(low=0.0, low_exclusive=True), "weight": Float(low=0.0)},
    "ewc": {**TRAINING, "strength": Float(low=0.0), "fisher_samples": Int(low=1)},
    "replay": {
        **TRAINING,
        "buffer_size": Int(low=5),
        "replay_batch_size": Int(low=1),
    },
    "joint": TRAINING,
    "gaussian": {
        "feature_model": Choice(("branch_base", "base")),
        "covariance": Choice(("per_class", "shared")),
        "shrinkage": Float(low=0.0, high=1.0),
    },
}


def validate(raw: Any, source: str = str(PARAMS_FILE)) -> dict[str, Any]:
    """Check `raw` (parsed params.yaml) against SCHEMA; return it with numbers normalised.

    Raises ParamsError naming the first problem found.
    """
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of params groups, got {type(raw).__name__}")
    _no_unknown(raw, SCHEMA, source, prefix="")
    clean: dict[str, Any] = {}
    for group, keys in SCHEMA.items():
        if not isinstance(keys, dict):  # a top-level key
            clean[group] = _checked(raw, group, keys, source, prefix="")
            continue
        if group not in raw:
            raise ParamsError(f"{source}: missing params group '{group}' (keys: {', '.join(keys)})")
        values = raw[group]
        if not isinstance(values, dict):
            raise ParamsError(f"{source}: '{group}' must be a mapping of keys, got {values!r}")
        _no_unknown(values, keys, source, prefix=f"{group}.")
        clean[group] = {key: _checked(values, key, rule, source, prefix=f"{group}.") for key, rule in keys.items()}
    return clean


def _checked(values: dict, key: str, rule: Any, source: str, prefix: str) -> Any:
    if key not in values:
        raise ParamsError(f"{source}: missing key {prefix}{key} ({rule.describe()})")
    try:
        return rule.check(values[key])
    except ValueError:
        raise ParamsError(
            f"{source}: {prefix}{key} = {values[key]!r} is not allowed; expected {rule.describe()}"
        ) from None


def _no_unknown(given: dict, allowed: dict, source: str, prefix: str) -> None:
    for key in given:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; allowed: {', '.join(allowed)}"
            raise ParamsError(f"{source}: unknown key '{prefix}{key}'{hint}")


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
    loader = type("Loader", (_UniqueKeyLoader,), {"source": str(path)})
    try:
        raw = yaml.load(text, Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    return validate(raw, source=str(path))
