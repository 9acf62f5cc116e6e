"""Continual learning on a sequence of tasks: a scenario's tasks, the run through them, the accuracy matrix.

A scenario (params `scenarios.<name>`) is a list of tasks, each a list of digits, plus
the network and training budget its network strategies use. A strategy learns the tasks
in order, seeing only the current task's training images (and what it chose to keep);
after each task it is tested on every task's test images (and, after the last, on the
held-out validation images of every task, which tuning reads):

- class-incremental: one prediction among all digits seen so far, never told the task
  (R[i, j]: accuracy on task j after training task i; 0 for tasks not yet seen);
- task-incremental: the prediction among the digits of the image's own task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mnist_transfer.data import Split
from mnist_transfer.errors import ParamsError, StageError
from mnist_transfer.metrics import continual_metrics
from mnist_transfer.params import Group, sample_fields

log = logging.getLogger(__name__)

IMAGE_BYTES = 28 * 28 + 1  # one stored uint8 image and its uint8 label
FLOAT_BYTES = 4  # every kept number is stored as float32


@dataclass(frozen=True)
class Task:
    """One task: its digits and their training, validation and test images."""

    digits: tuple[int, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def make_tasks(digit_lists: list[list[int]], split: Split) -> list[Task]:
    """The tasks of a scenario, cut from the 0-9 split (its validation images stay held out)."""
    tasks = []
    for digits in digit_lists:
        parts = {}
        for part in ("train", "val", "test"):
            x, y = getattr(split, f"x_{part}"), getattr(split, f"y_{part}")
            keep = np.isin(y, digits)
            parts[f"x_{part}"], parts[f"y_{part}"] = x[keep], y[keep]
        tasks.append(Task(tuple(digits), **parts))
    return tasks


def check_samples(
    schema: type[Group],
    params: dict,
    key_name: Callable[[str], str],
    tasks: list[Task],
    scenario: str,
    train_limit: int | None,
) -> None:
    """Refuse, in one line, a strategy param that counts more training images than the scenario's tasks hold.

    The keys are those the strategy's params schema marks with params.Sample: a count per digit must fit
    the digit with the fewest training images, a count per task the smallest task, a budget
    of the whole scenario must leave each of its digits one image at least. `key_name` gives
    a key's full name in params.yaml, where it is written.
    """
    limit = "null" if train_limit is None else train_limit
    for key, sample in sample_fields(schema).items():
        if sample.per == "scenario":
            digits = sum(len(t.digits) for t in tasks)
            if params[key] < digits:
                raise ParamsError(
                    f"{key_name(key)} = {params[key]} leaves some of the {digits} digits of scenario "
                    f"{scenario} no stored image; set it to at least {digits}"
                )
            continue
        if sample.per == "digit":
            counts = {f"digit {d}": int(np.sum(t.y_train == d)) for t in tasks for d in t.digits}
        else:
            counts = {f"task {i + 1} {list(t.digits)}": len(t.y_train) for i, t in enumerate(tasks)}
        where, held = min(counts.items(), key=lambda item: item[1])
        most = held - sample.spare
        if params[key] > most:
            why = f" ({sample.why})" if sample.why else ""
            raise ParamsError(
                f"{key_name(key)} = {params[key]} is more than scenario {scenario} allows: "
                f"{where} has {held} training images (prepare.train_limit = {limit}){why}; "
                f"set it to at most {most}" + ("" if train_limit is None else ", or raise prepare.train_limit")
            )


class Strategy(Protocol):
    """A way of learning a sequence of tasks (one module in mnist_transfer/strategies/)."""

    images_trained: int  # images passed through training so far, replayed ones included

    def learn(self, task: Task, seen: tuple[int, ...]) -> None:
        """Learn `task`; `seen` holds every digit of the tasks so far, this one's included."""

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(N, 10) scores, higher for a more likely digit; only the seen digits' columns are read."""

    def kept_bytes(self) -> int:
        """Bytes of state kept from earlier tasks to learn the next, besides the network it trains."""


def restricted_prediction(scores: np.ndarray, digits: tuple[int, ...]) -> np.ndarray:
    """The highest-scoring digit among `digits` for each row."""
    allowed = np.asarray(digits)
    return allowed[np.argmax(scores[:, allowed], axis=1)]


def checked_scores(strategy: Strategy, x: np.ndarray, seen: tuple[int, ...], images: str) -> np.ndarray:
    """strategy.scores(x), refused if a seen digit's score is NaN or +inf: argmax would pick a digit at random."""
    scores = strategy.scores(x)
    bad = np.isnan(scores[:, list(seen)]) | np.isposinf(scores[:, list(seen)])
    if bad.any():
        raise StageError(
            f"the strategy scored {int(bad.any(axis=1).sum())} of {len(x)} {images} NaN or +inf after learning "
            f"digits {', '.join(map(str, seen))}: its training diverged; lower the scenario's learning_rate, "
            "or set precision: float32"
        )
    return scores


def score_tasks(strategy: Strategy, tested: list[Task], seen: tuple[int, ...]) -> tuple[list, list, np.ndarray]:
    """Per tested task its class- and task-incremental accuracy; the predicted digit of every test image."""
    class_il, task_il, predicted = [], [], []
    for task in tested:
        scores = checked_scores(strategy, task.x_test, seen, "test images")
        predicted.append(restricted_prediction(scores, seen))
        class_il.append(np.mean(predicted[-1] == task.y_test))
        task_il.append(np.mean(restricted_prediction(scores, task.digits) == task.y_test))
    return class_il, task_il, np.concatenate(predicted)


def run(strategy: Strategy, tasks: list[Task]) -> dict:
    """Train `strategy` through `tasks` in order; its metrics (see the module docstring and continual_metrics)."""
    count = len(tasks)
    class_il, task_il = np.zeros((count, count)), np.zeros((count, count))
    seen: tuple[int, ...] = ()
    for i, task in enumerate(tasks):
        seen = seen + task.digits
        strategy.learn(task, seen)
        class_il[i, : i + 1], task_il[i, : i + 1], predicted = score_tasks(strategy, tasks[: i + 1], seen)
        log.info("after task %d %s: class-incremental accuracy per task %s", i + 1, task.digits, class_il[i, : i + 1])
    y_test = np.concatenate([task.y_test for task in tasks])  # `predicted`: after the last task, of every task
    x_val, y_val = np.concatenate([task.x_val for task in tasks]), np.concatenate([task.y_val for task in tasks])
    return {
        "accuracy": float(np.mean(predicted == y_test)),  # over every test image of the scenario's digits
        "validation_accuracy": float(
            np.mean(restricted_prediction(checked_scores(strategy, x_val, seen, "validation images"), seen) == y_val)
        ),
        "per_class_accuracy": {str(d): float(np.mean(predicted[y_test == d] == d)) for d in sorted(seen)},
        "class_incremental": {**continual_metrics(class_il), "R": _rows(class_il)},
        "task_incremental": {**continual_metrics(task_il), "R": _rows(task_il)},
        "kept_bytes": int(strategy.kept_bytes()),
        "images_trained": int(strategy.images_trained),
        "test_images": len(y_test),
    }


def _rows(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    """R as objects keyed "after task i" -> "task j" (1-based): `dvc metrics diff` skips lists."""
    return {
        f"after task {i + 1}": {f"task {j + 1}": float(matrix[i, j]) for j in range(matrix.shape[1])}
        for i in range(matrix.shape[0])
    }
