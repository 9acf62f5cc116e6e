"""Continual learning on a sequence of tasks: a scenario's tasks, the run through them, the accuracy matrix.

A scenario (params `scenarios.<name>`) is a list of tasks, each a list of digits, the way
the learner is told them apart, and the budget of its network strategies. A strategy
learns the tasks in order, seeing only the current task's training images (and what it
chose to keep). After each task it is tested on the test images of every task so far
(R[i, j]: accuracy on task j after training task i; 0 for tasks not yet seen); after the
last, on the held-out validation images of every task, which tuning reads.

van de Ven et al.'s three scenarios (params `incremental`; their "three types of
incremental learning"):

- class: an output per digit; the prediction is among every digit seen so far, and the
  learner is never told the task;
- task: an output per digit too, but in training and at test only the task's own digits
  compete (the reference's multi-head network, by masking): the learner is told the task;
- domain: every task has k digits and shares k outputs, "the first digit of its task", ...,
  "the k-th"; the learner is never told the task.

The headline is the reference's: the mean over tasks of each task's test accuracy after
the last task (GMvandeVen/continual-learning, main.py); the accuracy over every test image
is beside it.
"""

from __future__ import annotations

import itertools
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
    """One task: its digits and their training, validation and test images, labelled by class.

    A class is the output an image belongs to: its digit, or in domain-incremental learning
    its digit's place in the task (0 for `digits[0]`, ...).
    """

    index: int  # its place in the sequence, from 0
    digits: tuple[int, ...]
    classes: tuple[int, ...]  # the label of each of `digits`
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def digit_of(self, labels: np.ndarray) -> np.ndarray:
        """The digit of each label."""
        digits = np.zeros(max(self.classes) + 1, dtype=np.int64)
        digits[list(self.classes)] = self.digits
        return digits[labels]


def outputs(scenario: dict) -> int:
    """The network's outputs: one per digit, or in domain-incremental learning one per place in a task."""
    return len(scenario["tasks"][0]) if scenario["incremental"] == "domain" else 10


def task_order(digit_lists: list[list[int]], order: str, seed: int) -> list[list[int]]:
    """The tasks in the order a run learns them.

    fixed: as written. seeded: as the reference draws them (its data/load.py and main.py):
    for seed 0 as written; for any other seed, `np.random.seed(seed)` then
    `np.random.permutation` over the scenario's digits, sorted, gives digit d the place
    p[d], and the tasks, of the sizes written, take the digits in order of place.
    """
    if order == "fixed" or seed == 0:
        return [list(task) for task in digit_lists]
    digits = sorted(digit for task in digit_lists for digit in task)
    place = np.random.RandomState(seed).permutation(len(digits))
    ordered = [digits[i] for i in np.argsort(place)]
    sizes = np.cumsum([0, *map(len, digit_lists)])
    return [ordered[start:stop] for start, stop in itertools.pairwise(sizes)]


def make_tasks(digit_lists: list[list[int]], split: Split, incremental: str = "class") -> list[Task]:
    """The tasks of a scenario, cut from the 0-9 split (its validation images stay held out)."""
    tasks = []
    for index, digits in enumerate(digit_lists):
        classes = tuple(range(len(digits))) if incremental == "domain" else tuple(digits)
        parts = {}
        for part in ("train", "val", "test"):
            x, y = getattr(split, f"x_{part}"), getattr(split, f"y_{part}")
            label = np.zeros(10, dtype=y.dtype)
            label[list(digits)] = classes
            keep = np.isin(y, digits)
            parts[f"x_{part}"], parts[f"y_{part}"] = x[keep], label[y[keep]]
        tasks.append(Task(index, tuple(digits), classes, **parts))
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
        if params[key] is None:  # null: every image there is
            continue
        if sample.per == "scenario":
            digits = sum(len(t.digits) for t in tasks)
            if params[key] < digits:
                raise ParamsError(
                    f"{key_name(key)} = {params[key]} leaves some of the {digits} digits of scenario "
                    f"{scenario} no stored image; set it to at least {digits}"
                )
            continue
        if sample.per == "digit":
            counts = {f"digit {d}": int(np.sum(t.digit_of(t.y_train) == d)) for t in tasks for d in t.digits}
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
        """Learn `task`; `seen` holds every class of the tasks so far, this one's included."""

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(N, outputs) scores, higher for a more likely class; only the seen classes' columns are read."""

    def held_bytes(self) -> int:
        """Bytes of everything it holds now to go on learning: network, optimizer state, anything kept."""

    def stored_images(self) -> int:
        """Training images it holds now."""


def restricted_prediction(scores: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """The highest-scoring class among `classes` for each row."""
    allowed = np.asarray(classes)
    return allowed[np.argmax(scores[:, allowed], axis=1)]


def checked_scores(strategy: Strategy, x: np.ndarray, seen: tuple[int, ...], images: str) -> np.ndarray:
    """strategy.scores(x), refused if a seen class's score is NaN or +inf: argmax would pick a class at random."""
    scores = strategy.scores(x)
    bad = np.isnan(scores[:, list(seen)]) | np.isposinf(scores[:, list(seen)])
    if bad.any():
        raise StageError(
            f"the strategy scored {int(bad.any(axis=1).sum())} of {len(x)} {images} NaN or +inf after learning "
            f"classes {', '.join(map(str, seen))}: its training diverged; lower the scenario's learning_rate, "
            "or set precision: float32"
        )
    return scores


def predict(
    strategy: Strategy, task: Task, x: np.ndarray, seen: tuple[int, ...], incremental: str, images: str
) -> np.ndarray:
    """The class of each image `x` of `task`: among the task's classes if the learner is told it, else the seen."""
    scores = checked_scores(strategy, x, seen, images)
    return restricted_prediction(scores, task.classes if incremental == "task" else seen)


# The scalars of a run that a reader compares: stage continual writes these as the DVC metrics
# (metrics/continual/<scenario>/<strategy>.json, one row each in `dvc metrics show`), and the
# whole record, R and the per-digit accuracy with them, to results/continual/ for the reports.
METRICS = (
    "average_accuracy",
    "accuracy",
    "learning_accuracy",
    "bwt",
    "forgetting",
    "validation_average_accuracy",
    "stored_images",
    "carried_bytes",
    "held_bytes",
    "images_trained",
    "seed",
)


def run(strategy: Strategy, tasks: list[Task], incremental: str = "class") -> dict:
    """Train `strategy` through `tasks` in order; its metrics (see the module docstring and continual_metrics)."""
    count = len(tasks)
    r = np.zeros((count, count))
    seen: tuple[int, ...] = ()
    carried = 0
    for i, task in enumerate(tasks):
        seen = seen + tuple(c for c in task.classes if c not in seen)
        strategy.learn(task, seen)
        correct = []
        for j, tested in enumerate(tasks[: i + 1]):
            correct.append(predict(strategy, tested, tested.x_test, seen, incremental, "test images") == tested.y_test)
            r[i, j] = np.mean(correct[-1])
        if i < count - 1:
            carried = max(carried, int(strategy.held_bytes()))
        log.info("after task %d %s: accuracy per task %s", i + 1, task.digits, r[i, : i + 1])
    digits = np.concatenate([task.digit_of(task.y_test) for task in tasks])
    correct = np.concatenate(correct)  # after the last task, of every task
    validation = [predict(strategy, t, t.x_val, seen, incremental, "validation images") == t.y_val for t in tasks]
    return {
        "incremental": incremental,
        "tasks": [list(task.digits) for task in tasks],  # in the order learnt
        **continual_metrics(r),
        "accuracy": float(np.mean(correct)),  # over every test image of the scenario's digits
        "validation_average_accuracy": float(np.mean([np.mean(v) for v in validation])),  # the headline's rule
        "validation_accuracy": float(np.mean(np.concatenate(validation))),
        "R": _rows(r),
        "per_class_accuracy": {str(d): float(np.mean(correct[digits == d])) for d in sorted(set(digits.tolist()))},
        "stored_images": int(strategy.stored_images()),
        "carried_bytes": carried,  # the most it held between two tasks
        "held_bytes": int(strategy.held_bytes()),  # what it holds at the end
        "images_trained": int(strategy.images_trained),
        "test_images": len(digits),
    }


def _rows(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    """R as objects keyed "after task i" -> "task j" (1-based), the reports' rows and columns."""
    return {
        f"after task {i + 1}": {f"task {j + 1}": float(matrix[i, j]) for j in range(matrix.shape[1])}
        for i in range(matrix.shape[0])
    }
