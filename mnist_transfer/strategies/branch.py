"""Branching, notebook 000's second method in the scenario's budget: a new head per task on the frozen trunk.

The whole network (trunk and head 1) learns the first task; the trunk is then frozen, and
each later task gets a head of its own, newly initialised, trained with the softmax over
its own classes. An image's class is the argmax over every head of its log-probabilities
(a class two heads share, in domain-incremental learning, takes the larger), computed in
float64 from the logits: in float32 a confident head's top probability rounds to 1.0 (its
log to 0), and two heads at 1.0 would tie. Kept: the earlier heads.
"""

from __future__ import annotations

import numpy as np

from mnist_transfer.metrics import log_softmax
from mnist_transfer.models import SCORE_BATCH, split_network
from mnist_transfer.params import NoParams as Params
from mnist_transfer.quiet_tf import keras
from mnist_transfer.scenarios import Task
from mnist_transfer.strategies.network import NetworkStrategy, variable_bytes

__all__ = ["Params", "Strategy"]


class Strategy(NetworkStrategy):
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        super().__init__(params, scenario, seed)
        trunk, _ = split_network(self.network, scenario["network"])
        self.features = keras.Model(self.network.input, trunk[-1].output, name="trunk")
        self.heads: list[tuple[keras.Model, tuple[int, ...]]] = []  # (trunk features -> logits, its classes)

    def training_classes(self, task: Task, seen: tuple[int, ...]) -> tuple[int, ...]:
        return task.classes

    def learn(self, task: Task, seen: tuple[int, ...]) -> None:
        if self.heads:  # a new head, initialised as a new network's, on the frozen trunk
            _, layers = split_network(self.new_network(), self.scenario["network"])
            x = self.features.output
            for layer in layers:
                x = layer(x)
            self.network = keras.Model(self.features.input, x, name=f"head_{len(self.heads) + 1}")
            self.optimizer = self.make_optimizer()  # Adam's state is per variable: the head's are new
        super().learn(task, seen)
        self.heads.append((self.network, task.classes))  # each head's model runs the trunk too
        for layer in self.features.layers:
            layer.trainable = False

    def scores(self, x: np.ndarray) -> np.ndarray:
        pixels = self.pixels(x)
        scores = np.full((len(x), self.outputs), -np.inf)
        for head, classes in self.heads:  # one head at a time: their layers share names
            logits = head.predict(pixels, batch_size=SCORE_BATCH, verbose=0)
            columns = list(classes)
            scores[:, columns] = np.maximum(scores[:, columns], log_softmax(logits[:, columns]))
        return scores

    def kept_bytes(self) -> int:
        trunk = variable_bytes(self.features.weights)
        return sum(variable_bytes(head.weights) - trunk for head, _ in self.heads[:-1])
