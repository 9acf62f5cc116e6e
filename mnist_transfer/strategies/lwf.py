"""Learning without Forgetting: the network before the task, distilled on the new task's images.

At task t > 1 the loss is 1/t x cross-entropy on the labels plus (1 - 1/t) x the
distillation of the previous network's softmax over the earlier digits into the new
network's softmax over every digit seen so far, at temperature T, scaled by T^2 (Hinton
et al.). As in van de Ven et al.'s code, the target gives the new digits probability 0
and the weighting is theirs.
"""

from __future__ import annotations

from mnist_transfer.models import build_network
from mnist_transfer.params import Float, Group
from mnist_transfer.quiet_tf import tf
from mnist_transfer.scenarios import FLOAT_BYTES, Task
from mnist_transfer.strategies.network import NetworkStrategy, digit_mask, masked_logits


class Params(Group):
    temperature: Float("a finite number > 0", gt=0.0)


class Strategy(NetworkStrategy):
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        super().__init__(params, scenario, seed)
        self.previous = None
        self.earlier = None

    def after_task(self, task: Task, seen: tuple[int, ...]) -> None:
        if self.previous is None:
            self.previous = build_network(self.scenario["network"])
        self.previous.set_weights(self.network.get_weights())
        self.earlier = digit_mask(seen)

    def kept_loss(self, x: tf.Tensor, logits: tf.Tensor, allowed: tf.Tensor) -> tf.Tensor | None:
        if self.earlier is None:
            return None
        temperature = self.params["temperature"]
        target = tf.nn.softmax(masked_logits(self.previous(x, training=False), self.earlier) / temperature)
        log_new = tf.nn.log_softmax(masked_logits(logits, allowed) / temperature)
        distilled = -tf.reduce_sum(tf.where(self.earlier > 0, target * log_new, 0.0), axis=1)
        return tf.reduce_mean(distilled) * temperature**2

    def kept_bytes(self) -> int:
        return 0 if self.previous is None else self.previous.count_params() * FLOAT_BYTES
