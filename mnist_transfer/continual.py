"""Continual-learning strategies for learning digits 5-9 after 0-4 with one 10-way head.

Class-incremental Split MNIST with two tasks. Each strategy is a small Keras piece used by
its stage: Learning without Forgetting's distillation loss, Elastic Weight Consolidation's
Fisher diagonal and quadratic penalty, and experience replay's mixed batches.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops


class DistillationLoss(keras.losses.Loss):
    """Learning without Forgetting (Li & Hoiem 2016) for a shared 10-way softmax.

    `y_true` packs [one-hot labels (10) | the old model's probabilities for 0-4 (5)].
    Loss = cross-entropy on the labels + weight * T^2 * KL(old || new), where both
    distributions are the 0-4 outputs renormalised and softened at temperature T.
    """

    def __init__(self, temperature: float, weight: float, name: str = "lwf_loss", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.temperature = temperature
        self.weight = weight

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        labels, old = y_true[:, :10], y_true[:, 10:]
        y_pred = ops.clip(y_pred, 1e-7, 1.0)
        new_task = keras.losses.categorical_crossentropy(labels, y_pred)
        old_soft = ops.softmax(ops.log(ops.clip(old, 1e-7, 1.0)) / self.temperature, axis=-1)
        new_soft = ops.softmax(ops.log(y_pred[:, :5]) / self.temperature, axis=-1)
        kl = ops.sum(old_soft * (ops.log(ops.clip(old_soft, 1e-7, 1.0)) - ops.log(new_soft + 1e-7)), axis=-1)
        return new_task + self.weight * self.temperature**2 * kl

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature, "weight": self.weight}


def label_accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Accuracy against the one-hot labels in the first ten columns of packed LwF targets."""
    return keras.metrics.categorical_accuracy(y_true[:, :10], y_pred)


def fisher_diagonal(model: keras.Model, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Empirical diagonal Fisher information of `model`'s trainable weights on (x, y).

    The mean over examples of the squared gradient of log p(true label | x), one example
    at a time (dropout off), as in Kirkpatrick et al. (2017).
    """
    weights = model.trainable_variables

    @tf.function
    def squared_gradients(image: tf.Tensor, label: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            probabilities = model(image[None], training=False)
            log_likelihood = tf.math.log(tf.gather(probabilities[0], label) + 1e-12)
        return [tf.square(g) for g in tape.gradient(log_likelihood, weights)]

    total = [np.zeros(w.shape, dtype=np.float64) for w in weights]
    for image, label in zip(x, y, strict=True):
        for accumulated, squared in zip(total, squared_gradients(image, int(label)), strict=True):
            accumulated += squared.numpy()
    return [(t / len(x)).astype(np.float32) for t in total]


class EWCPenalty(keras.regularizers.Regularizer):
    """strength / 2 * sum(F * (w - w_old)^2) on one weight (Elastic Weight Consolidation)."""

    def __init__(self, fisher: np.ndarray, anchor: np.ndarray, strength: float) -> None:
        self.fisher = ops.convert_to_tensor(fisher)
        self.anchor = ops.convert_to_tensor(anchor)
        self.strength = strength

    def __call__(self, weight: tf.Tensor) -> tf.Tensor:
        return 0.5 * self.strength * ops.sum(self.fisher * ops.square(weight - self.anchor))


def add_ewc_penalty(model: keras.Model, fisher: list[np.ndarray], strength: float) -> None:
    """Anchor every trainable weight of `model` at its current value, weighted by `fisher`."""
    for weight, importance in zip(model.trainable_variables, fisher, strict=True):
        if tuple(weight.shape) != importance.shape:
            raise ValueError(f"Fisher shape {importance.shape} does not match weight {weight.path} {weight.shape}")
        weight.regularizer = EWCPenalty(importance, weight.numpy(), strength)


def balanced_buffer(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of `size` examples, as evenly spread over the classes present as possible."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = [size // len(classes) + (i < size % len(classes)) for i in range(len(classes))]
    chosen = [
        rng.choice(np.flatnonzero(labels == c), n, replace=False) for c, n in zip(classes, per_class, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


class ReplayBatches(keras.utils.PyDataset):
    """Batches of new examples, each with `replay_size` examples drawn from a stored buffer.

    The new examples are reshuffled every epoch; the buffer examples are drawn with
    replacement, seeded, so every run sees the same batches.
    """

    def __init__(
        self,
        new: tuple[np.ndarray, np.ndarray],
        buffer: tuple[np.ndarray, np.ndarray],
        batch_size: int,
        replay_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.new, self.buffer = new, buffer
        self.batch_size, self.replay_size = batch_size, replay_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(new[0]))

    def __len__(self) -> int:
        return math.ceil(len(self.new[0]) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        picked = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        replayed = self.rng.integers(0, len(self.buffer[0]), self.replay_size)
        x = np.concatenate([self.new[0][picked], self.buffer[0][replayed]])
        y = np.concatenate([self.new[1][picked], self.buffer[1][replayed]])
        return x, y

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.new[0]))


def gaussian_statistics(features: np.ndarray, shrinkage: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, precision and log-determinant of one class's features.

    The covariance is shrunk towards a multiple of the identity,
    (1 - shrinkage) * S + shrinkage * trace(S) / d * I, so it stays invertible.
    """
    features = np.asarray(features, dtype=np.float64)
    mean = features.mean(axis=0)
    covariance = np.cov(features, rowvar=False)
    dims = len(covariance)
    covariance = (1 - shrinkage) * covariance + shrinkage * np.trace(covariance) / dims * np.eye(dims)
    _, log_det = np.linalg.slogdet(covariance)
    return mean, np.linalg.inv(covariance), float(log_det)
