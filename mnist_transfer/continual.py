"""Continual-learning strategies for learning digits 5-9 after 0-4 with one 10-way head.

Class-incremental Split MNIST with two tasks. Each strategy is a small Keras piece used by
its stage: Learning without Forgetting's distillation loss, Elastic Weight Consolidation's
Fisher diagonal and quadratic penalty, and experience replay's mixed batches.
"""

from __future__ import annotations

import math

import numpy as np

from mnist_transfer.quiet_tf import keras, tf
from mnist_transfer.scenarios import FLOAT_BYTES, IMAGE_BYTES

ops = keras.ops


class Logits(keras.layers.Layer):
    """A trained softmax Dense layer without its softmax: its logits, sharing its weights.

    Training a model built on this layer trains the Dense layer itself.
    """

    def __init__(self, dense: keras.layers.Dense, **kwargs) -> None:
        super().__init__(dtype="float32", **kwargs)
        self.dense = dense

    def call(self, features: tf.Tensor) -> tf.Tensor:
        features = ops.cast(features, self.dense.kernel.dtype)
        return ops.matmul(features, self.dense.kernel) + self.dense.bias


def logits_model(model: keras.Model) -> keras.Model:
    """`model` (ending in a softmax Dense layer) with its logits as output, sharing every layer."""
    output = model.layers[-1]
    return keras.Model(model.input, Logits(output, name="logits")(output.input), name=f"{model.name}_logits")


class DistillationLoss(keras.losses.Loss):
    """Learning without Forgetting (Li & Hoiem 2016) for a shared 10-way softmax, on logits.

    `y_true` packs [one-hot labels (10) | the old model's logits for 0-4 (5)]; `y_pred`
    is the new model's 10 logits. Loss = cross-entropy on the labels
    + weight * KL(old_T || new_T), where old_T and new_T are the softmax of the 0-4 logits
    divided by the temperature T. This is Li & Hoiem's L_new + lambda_o * L_old with
    lambda_o = weight: their L_old is the cross-entropy against old_T, which differs from
    the KL by old_T's entropy, a constant, so the gradients are the same. (Hinton et al.'s
    distillation multiplies by T^2 instead; weight = lambda_o * T^2 gives that.)
    Everything is computed with log-softmax of logits, so the distillation gradient does
    not vanish where the new model's 0-4 probabilities are tiny: no clipping anywhere.
    """

    def __init__(self, temperature: float, weight: float, name: str = "lwf_loss", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.temperature = temperature
        self.weight = weight

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        labels, old = y_true[:, :10], y_true[:, 10:]
        old_classes = old.shape[-1]
        new_task = keras.losses.categorical_crossentropy(labels, y_pred, from_logits=True)
        old_log = ops.log_softmax(old / self.temperature, axis=-1)
        new_log = ops.log_softmax(y_pred[:, :old_classes] / self.temperature, axis=-1)
        kl = ops.sum(ops.exp(old_log) * (old_log - new_log), axis=-1)
        return new_task + self.weight * kl

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature, "weight": self.weight}


def label_accuracy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Accuracy against the one-hot labels in the first ten columns of packed LwF targets (logits or probabilities)."""
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


def shrink(covariance: np.ndarray, shrinkage: float) -> np.ndarray:
    """(1 - shrinkage) * S + shrinkage * trace(S) / d * I: towards a multiple of the identity, invertible."""
    dims = len(covariance)
    return (1 - shrinkage) * covariance + shrinkage * np.trace(covariance) / dims * np.eye(dims)


def gaussian_statistics(features: np.ndarray, shrinkage: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, precision and log-determinant of one class's features (covariance shrunk, see `shrink`)."""
    features = np.asarray(features, dtype=np.float64)
    covariance = shrink(np.cov(features, rowvar=False), shrinkage)
    _, log_det = np.linalg.slogdet(covariance)
    return features.mean(axis=0), np.linalg.inv(covariance), float(log_det)


class StreamingLDA:
    """Deep streaming LDA (Hayes & Kanan 2020): class means and one shared covariance, one example at a time.

    Each example updates its class's mean and running count and the covariance shared by
    all classes (their update rule, eq. 1-2), then is forgotten. Prediction is linear
    discriminant analysis with equal priors on the shrunk shared covariance.
    """

    def __init__(self, features: int) -> None:
        self.means: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}
        self.covariance = np.zeros((features, features))
        self.seen = 0

    def update(self, features: np.ndarray, labels: np.ndarray) -> None:
        """Learn from (features, labels), one example at a time, in order."""
        for x, label in zip(np.asarray(features, dtype=np.float64), labels.astype(int), strict=True):
            mean = self.means.get(label, np.zeros_like(x))
            count = self.counts.get(label, 0)
            delta = x - mean
            t = self.seen
            self.covariance = (t * self.covariance + t / (t + 1) * np.outer(delta, delta)) / (t + 1)
            self.means[label] = (count * mean + x) / (count + 1)
            self.counts[label] = count + 1
            self.seen = t + 1

    def statistics(self, classes: list[int], shrinkage: float) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """(mean, precision, log-determinant) per class, all with the shared precision: LDA as class Gaussians."""
        precision = np.linalg.inv(shrink(self.covariance, shrinkage))
        return [(self.means[c], precision, 0.0) for c in classes]


def class_gaussians(
    features: np.ndarray, labels: np.ndarray, classes: list[int], shrinkage: float
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(mean, precision, log-determinant) of each class in `classes`, from its own examples alone."""
    return [gaussian_statistics(features[labels == c], shrinkage) for c in classes]


# What each strategy keeps from task 1 (0-4) to learn task 2 (5-9), besides the model it
# trains: "images" (stored 0-4 training images and labels), "old_model" (a frozen copy of
# the start model, to distil from), "fisher_anchor" (one Fisher value and one anchor per
# weight), "class_gaussians" or "shared_gaussian" (0-4 feature statistics). freeze and branch
# keep the 0-4 layers inside the model itself; finetune keeps nothing.
KEPT = {
    "finetune": None,
    "freeze": None,
    "branch": None,
    "lwf": "old_model",
    "ewc": "fisher_anchor",
    "replay": "images",
    "joint": "images",
    "gaussian": "gaussians",
}


def kept_bytes(strategy: str, model: keras.Model, stored_images: int, covariance: str | None, features: int) -> int:
    """Bytes of 0-4 state `strategy` keeps to learn 5-9 (see KEPT); `model` is the trained strategy model.

    `stored_images`: 0-4 images it stores (replay's buffer, joint's whole 0-4 training set);
    `covariance` and `features`: the gaussian strategy's covariance kind and feature width.
    """
    kind = KEPT[strategy]
    if kind is None:
        return 0
    if kind == "images":
        return stored_images * IMAGE_BYTES
    if kind == "old_model":
        return model.count_params() * FLOAT_BYTES
    if kind == "fisher_anchor":
        return 2 * sum(int(np.prod(w.shape)) for w in model.trainable_variables) * FLOAT_BYTES
    old_classes = 5
    if covariance == "shared":  # 5 means, one covariance, 5 counts and the total count
        return (old_classes * features + features * features + old_classes + 1) * FLOAT_BYTES
    return old_classes * (features + features * features + 1) * FLOAT_BYTES  # means, precisions, log-dets
