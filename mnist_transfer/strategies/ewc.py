"""Elastic Weight Consolidation: after each task, the diagonal Fisher and the weights; a pull back to each.

The loss adds strength / 2 x sum over earlier tasks of F_t (w - w_t)^2 (offline EWC, one
term per task, as van de Ven et al. run it). F_t is the mean over `fisher_samples`
training images of task t (null: all of them) of the squared gradient of a log
probability, over the outputs the task trained on, FISHER_CHUNK gradients at a time. As
in the reference, the last task of the scenario gets no Fisher: nothing would use it.
Whose log probability, `fisher` chooses by the reference's rule:

- current (its master branch, models/cl/continual_learner.py): every class's, weighted by
  its predicted probability (the Fisher's expectation over the network's own predictions);
- 2019 (its 2019 preprints): the predicted class's alone.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from mnist_transfer.params import Choice, Float, Group, Int, Sample
from mnist_transfer.quiet_tf import tf
from mnist_transfer.scenarios import Task
from mnist_transfer.strategies.network import NetworkStrategy, masked_logits, variable_bytes

# Gradients held at once (the current rule takes one per class an image could be): one
# gradient of the notebook's CNN is 6.5 MB, so the 500 of a Fisher at once took 4.5 GB.
FISHER_CHUNK = 50


class Params(Group):
    strength: Float("a finite number >= 0.0", ge=0.0)  # lambda
    fisher: Choice("current", "2019")  # the reference's rule, above
    fisher_samples: Annotated[Int(1, optional=True), Sample("task")]  # training images of each task; null: all


class Strategy(NetworkStrategy):
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        super().__init__(params, scenario, seed)
        self.terms: list[tuple[list[tf.Tensor], list[tf.Tensor]]] = []  # (Fisher, weights) per task

    def after_task(self, task: Task, seen: tuple[int, ...]) -> None:
        if self.tasks_seen == len(self.scenario["tasks"]):
            return
        x = task.x_train
        if self.params["fisher_samples"] is not None:
            chosen = self.rng.choice(len(x), min(self.params["fisher_samples"], len(x)), replace=False)
            x = x[np.sort(chosen)]
        x = self.pixels(x)  # the network's own input, as it trains on
        classes = tuple(int(c) for c in np.flatnonzero(self.allowed))
        images = max(1, FISHER_CHUNK // (1 if self.params["fisher"] == "2019" else len(classes)))
        fisher = None
        for start in range(0, len(x), images):
            chunk = self._squared_gradient_sums(
                tf.constant(x[start : start + images]), tf.constant(self.allowed), classes
            )
            fisher = chunk if fisher is None else [f + s for f, s in zip(fisher, chunk, strict=True)]
        fisher = [f / len(x) for f in fisher]
        self.terms.append((fisher, [tf.identity(w) for w in self.network.trainable_variables]))

    @tf.function  # traced again for other classes (a Python tuple) or another chunk size
    def _squared_gradient_sums(self, x: tf.Tensor, allowed: tf.Tensor, classes: tuple[int, ...]) -> list[tf.Tensor]:
        variables = self.network.trainable_variables

        def squared_gradients(image: tf.Tensor) -> list[tf.Tensor]:
            with tf.GradientTape(persistent=True) as tape:
                log_p = tf.nn.log_softmax(masked_logits(self.network(image[None], training=False), allowed))[0]
                if self.params["fisher"] == "2019":
                    picked = [(tf.constant(1.0), tf.gather(log_p, tf.argmax(log_p)))]
                else:  # each class its probability's share
                    picked = [(tf.stop_gradient(tf.exp(log_p[c])), log_p[c]) for c in classes]
            squared = None
            for weight, chosen in picked:
                terms = [weight * g**2 for g in tape.gradient(chosen, variables)]
                squared = terms if squared is None else [s + t for s, t in zip(squared, terms, strict=True)]
            return squared

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
        return len(self.terms) * 2 * variable_bytes(self.network.trainable_variables)
