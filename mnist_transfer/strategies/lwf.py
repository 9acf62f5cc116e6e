"""Learning without Forgetting: the network before the task, distilled on the new task's images.

At task t > 1 the loss adds to the cross-entropy on the labels the distillation of the
previous network's softmax into the new network's, at temperature T, on the new task's
images: the cross-entropy of the new softmax against the previous one. Over which outputs,
as in van de Ven et al.'s code: those the previous task trained on, the new network's over
those it trains on now (the target gives the new classes probability 0); in
task-incremental learning one term per earlier task, each over that task's own classes,
averaged. `weighting` chooses the reference's rule:

- current (its master branch, models/classifier.py): labels 1 and distillation 1 in
  class-incremental learning, labels 1 and distillation t - 1 in the other two; no T^2;
- 2019 (its 2019 preprints): labels 1/t and distillation 1 - 1/t, scaled by T^2 (Hinton et al.).
"""

from __future__ import annotations

import numpy as np

from mnist_transfer.params import Choice, Float, Group
from mnist_transfer.quiet_tf import tf
from mnist_transfer.scenarios import Task
from mnist_transfer.strategies.network import NetworkStrategy, masked_logits, variable_bytes


class Params(Group):
    temperature: Float("a finite number > 0", gt=0.0)
    weighting: Choice("current", "2019")  # the reference's rule, above


class Strategy(NetworkStrategy):
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        super().__init__(params, scenario, seed)
        self.previous = None
        self.earlier: list[np.ndarray] = []  # the output masks the previous network is distilled over

    def after_task(self, task: Task, seen: tuple[int, ...]) -> None:
        if self.previous is None:
            self.previous = self.new_network()
        self.previous.set_weights(self.network.get_weights())
        if self.scenario["incremental"] == "task":
            self.earlier.append(self.allowed)  # one term per task, over its own classes
        else:
            self.earlier = [self.allowed]

    def loss_weights(self, t: int) -> tuple[float, float]:
        if self.params["weighting"] == "2019":
            return super().loss_weights(t)
        return 1.0, 1.0 if self.scenario["incremental"] == "class" else float(t - 1)

    def kept_loss(self, x: tf.Tensor, logits: tf.Tensor, allowed: tf.Tensor) -> tf.Tensor | None:
        if not self.earlier:
            return None
        temperature = self.params["temperature"]
        previous = self.previous(x, training=False)
        terms = []
        for earlier in self.earlier:
            target = tf.nn.softmax(masked_logits(previous, earlier) / temperature)
            own = earlier if self.scenario["incremental"] == "task" else allowed
            log_new = tf.nn.log_softmax(masked_logits(logits, own) / temperature)
            terms.append(tf.reduce_mean(-tf.reduce_sum(tf.where(earlier > 0, target * log_new, 0.0), axis=1)))
        distilled = tf.add_n(terms) / len(terms)
        return distilled * temperature**2 if self.params["weighting"] == "2019" else distilled

    def kept_bytes(self) -> int:
        return 0 if self.previous is None else variable_bytes(self.previous.weights)
