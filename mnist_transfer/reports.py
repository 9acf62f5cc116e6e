"""What the report stages share: the metrics they read, checked, and the Markdown tables they write."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, StrictInt, ValidationError

from mnist_transfer.errors import DataError
from mnist_transfer.inputs import read_json, restore_hint


def record_path(name: str) -> str:
    """Where the reports read `name`: results/<model>.json, or results/continual/<scenario>/<strategy>.json.

    The DVC metrics files (metrics/) hold the scalars a reader compares; the reports need
    the whole record (accuracy by test set, the accuracy matrix R), which results/ holds.
    """
    return f"results/{name}.json"


class StrategyMetrics(BaseModel):
    """What the reports read of results/continual/<scenario>/<strategy>.json (stage continual writes more)."""

    model_config = ConfigDict(strict=True)  # "0.9" or true is no accuracy

    incremental: str
    tasks: list[list[int]]  # in the order learnt
    average_accuracy: float
    accuracy: float
    learning_accuracy: float
    validation_accuracy: float
    validation_average_accuracy: float
    bwt: float
    forgetting: float
    R: dict[str, dict[str, float]]
    stored_images: StrictInt
    carried_bytes: StrictInt
    held_bytes: StrictInt
    images_trained: StrictInt


class ModelMetrics(BaseModel):
    """What the report reads of results/<model>.json (stage evaluate writes more): accuracies by test set."""

    model_config = ConfigDict(strict=True)

    accuracy: dict[str, float]
    validation_accuracy: dict[str, float]
    head_accuracy: dict[str, float] | None = None  # the two-head models'
    dual_label_accuracy: dict[str, float] | None = None


def read_checked(path: Path, schema: type[BaseModel]) -> dict:
    """A metrics file's content, or a one-line DataError naming its first key missing or of the wrong type."""
    content = read_json(path)
    try:
        schema.model_validate(content)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        expected = {"int": "an integer", "float": "a number", "dict": "an object", "model": "an object"}.get(
            first["type"].split("_")[0]
        )
        problem = "is missing" if first["type"] == "missing" else f"is {first['input']!r}, not {expected or 'valid'}"
        raise DataError(f"{path}: key {key} {problem}; {restore_hint(path)}") from None
    return content


def read_strategy_metrics(path: Path) -> dict:
    """A strategy's metrics (StrategyMetrics), its accuracy matrix square."""
    content = read_checked(path, StrategyMetrics)
    rows = content["R"]
    if not rows or any(len(row) != len(rows) for row in rows.values()):
        raise DataError(f"{path}: R is not a square matrix; {restore_hint(path)}")
    return content


def markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table (pandas' to_markdown needs the tabulate package)."""
    header = "| " + " | ".join([table.index.name or "", *table.columns]) + " |"
    rule = "|" + "---|" * (len(table.columns) + 1)
    rows = ["| " + " | ".join([str(index), *row]) + " |" for index, row in zip(table.index, table.values, strict=True)]
    return "\n".join([header, rule, *rows]) + "\n"
