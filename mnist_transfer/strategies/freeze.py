"""Freeze and retrain, notebook 000's first method in the scenario's budget: the trunk frozen after task 1.

The whole network learns the first task; from then on the trunk (the CNN's conv blocks,
the MLP's first layer: models.TRUNK_END) stays as it is and only the head trains, with the
softmax over every digit seen so far. Nothing is kept besides the network.
"""

from __future__ import annotations

from mnist_transfer.models import split_network
from mnist_transfer.params import NoParams as Params
from mnist_transfer.scenarios import Task
from mnist_transfer.strategies.network import NetworkStrategy

__all__ = ["Params", "Strategy"]


class Strategy(NetworkStrategy):
    def after_task(self, task: Task, seen: tuple[int, ...]) -> None:
        trunk, _ = split_network(self.network, self.scenario["network"])
        for layer in trunk:
            layer.trainable = False  # the next task's step is traced anew and trains the head alone
