"""Joint training: at each task, the training images of every task so far; the upper bound (it keeps them all).

Told the task (task-incremental learning), each image's softmax covers its own task's classes.
"""

from __future__ import annotations

import numpy as np

from mnist_transfer.params import NoParams as Params
from mnist_transfer.scenarios import IMAGE_BYTES, Task
from mnist_transfer.strategies.network import NetworkStrategy

__all__ = ["Params", "Strategy"]


class Strategy(NetworkStrategy):
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        super().__init__(params, scenario, seed)
        self.kept: list[Task] = []

    def training_images(self, task: Task) -> tuple[np.ndarray, np.ndarray]:
        self.kept.append(task)
        return np.concatenate([t.x_train for t in self.kept]), np.concatenate([t.y_train for t in self.kept])

    def training_masks(self, task: Task) -> np.ndarray | None:
        if self.scenario["incremental"] != "task":
            return None
        return np.concatenate([np.tile(self.mask(t.classes), (len(t.y_train), 1)) for t in self.kept])

    def kept_bytes(self) -> int:
        return self.stored_images() * IMAGE_BYTES

    def stored_images(self) -> int:
        return sum(len(t.y_train) for t in self.kept)
