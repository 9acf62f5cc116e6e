"""Elastic Weight Consolidation: after each task, the diagonal Fisher and the weights; a pull back to each.

The loss adds strength / 2 x sum over earlier tasks of F_t (w - w_t)^2 (offline EWC, one
term per task, as van de Ven et al. run it). F_t is the mean squared gradient of the log
probability of the network's own predicted digit (among the digits seen) over
`fisher_samples` training images of task t, taken FISHER_CHUNK images at a time.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from mnist_transfer.params import Float, Group, Int, Sample
from mnist_transfer.quiet_tf import tf
from mnist_transfer.scenarios import FLOAT_BYTES, Task
from mnist_transfer.strategies.network import NetworkStrategy, digit_mask, masked_logits

# Images whose gradients are held at once: one gradient of the notebook's CNN is 6.5 MB,
# so the 500 of a Fisher at once took 4.5 GB.
FISHER_CHUNK = 50


class Params(Group):
    strength: Float("a finite number >= 0.0", ge=0.0)  # lambda
    fisher_samples: Annotated[Int(1), Sample("task")]  # training images of each task the Fisher is averaged over


class Strategy(NetworkStrategy):
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        super().__init__(params, scenario, seed)
        self.terms: list[tuple[list[tf.Tensor], list[tf.Tensor]]] = []  # (Fisher, weights) per task

    def after_task(self, task: Task, seen: tuple[int, ...]) -> None:
        chosen = self.rng.choice(
            len(task.y_train), min(self.params["fisher_samples"], len(task.y_train)), replace=False
        )
        x = self.pixels(task.x_train[np.sort(chosen)])  # the network's own input, as it trains on
        allowed, fisher = digit_mask(seen), None
        for start in range(0, len(x), FISHER_CHUNK):
            sums = self._squared_gradient_sums(tf.constant(x[start : start + FISHER_CHUNK]), allowed)
            fisher = sums if fisher is None else [f + s for f, s in zip(fisher, sums, strict=True)]
        fisher = [f / len(x) for f in fisher]
        self.terms.append((fisher, [tf.identity(w) for w in self.network.trainable_variables]))

    @tf.function
    def _squared_gradient_sums(self, x: tf.Tensor, allowed: tf.Tensor) -> list[tf.Tensor]:
        def squared_gradients(image: tf.Tensor) -> list[tf.Tensor]:
            with tf.GradientTape() as tape:
                log_p = tf.nn.log_softmax(masked_logits(self.network(image[None], training=False), allowed))[0]
                chosen = tf.gather(log_p, tf.argmax(log_p))
            return [g**2 for g in tape.gradient(chosen, self.network.trainable_variables)]

        per_image = tf.vectorized_map(squared_gradients, x)
        return [tf.reduce_sum(g, axis=0) for g in per_image]

    def penalty(self) -> tf.Tensor | None:
        if not self.terms:
            return None
        pulls = [
            tf.reduce_sum(f * (w - anchor) ** 2)
            for fisher, anchors in self.terms
            for f, w, anchor in zip(fisher, self.network.trainable_variables, anchors, strict=True)
        ]
        return self.params["strength"] / 2 * tf.add_n(pulls)

    def kept_bytes(self) -> int:
        weights = sum(int(np.prod(w.shape)) for w in self.network.trainable_variables)
        return len(self.terms) * 2 * weights * FLOAT_BYTES
