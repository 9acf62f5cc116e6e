"""Experience replay: a class-balanced buffer of stored training images, a batch of them in every step.

After each task, `per_class` images of each of its digits join the buffer (at most
`max_images` in all: each digit's share shrinks as digits arrive). At task t every step
adds `batch_size` buffer images, their loss weighted 1 - 1/t (van de Ven et al.).
"""

from __future__ import annotations

import numpy as np

from mnist_transfer.scenarios import IMAGE_BYTES, Task
from mnist_transfer.strategies.network import NetworkStrategy


class Strategy(NetworkStrategy):
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        super().__init__(params, scenario, seed)
        self.stored: dict[int, np.ndarray] = {}  # digit -> its stored images (uint8)

    def after_task(self, task: Task, seen: tuple[int, ...]) -> None:
        share = min(self.params["per_class"], self.params["max_images"] // len(seen))
        for digit in task.digits:
            own = task.x_train[task.y_train == digit]
            self.stored[digit] = own[np.sort(self.rng.choice(len(own), min(share, len(own)), replace=False))]
        self.stored = {digit: images[:share] for digit, images in self.stored.items()}
        self.x = self.pixels(np.concatenate(list(self.stored.values())))
        self.y = np.concatenate([np.full(len(images), d) for d, images in self.stored.items()]).astype("int64")

    def replay_batch(self) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.stored:
            return None
        chosen = self.rng.choice(len(self.y), min(self.scenario["batch_size"], len(self.y)), replace=False)
        return self.x[chosen], self.y[chosen]

    def kept_bytes(self) -> int:
        return sum(len(images) for images in self.stored.values()) * IMAGE_BYTES
