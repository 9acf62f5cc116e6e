"""What the network strategies share: one network trained task after task, as the reference protocol does.

van de Ven et al.'s class-incremental protocol: for each task, `iterations` Adam steps on
batches of `batch_size` of the task's training images; the softmax covers only the digits
seen so far. A strategy adds to this loop through hooks: a batch of kept images mixed
into every step (`replay_batch`) or a loss on what it kept from earlier tasks
(`kept_loss`), both weighted 1 - 1/t against the new task's 1/t at task t as in the
reference; a penalty added to the loss (`penalty`); and what it keeps when a task ends
(`after_task`); the digits the softmax covers (`training_digits`). Experience replay,
which two strategies build on, is here too.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from mnist_transfer import pixels
from mnist_transfer.models import build_network
from mnist_transfer.params import Group, Int, Sample
from mnist_transfer.quiet_tf import keras, tf
from mnist_transfer.scenarios import IMAGE_BYTES, Task

# Images scored at once: the CNN's conv activations for 2,048 images take about 0.4 GB a layer.
SCORE_BATCH = 256


def masked_logits(logits: tf.Tensor, allowed: tf.Tensor) -> tf.Tensor:
    """Logits with every digit outside `allowed` (a 10-long 0/1 mask) at a large negative value."""
    return tf.where(allowed > 0, logits, tf.fill(tf.shape(logits), -1e9))


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def digit_mask(digits: tuple[int, ...]) -> tf.Tensor:
    return tf.constant(np.isin(np.arange(10), digits).astype("float32"))


class NetworkStrategy:
    """Fine-tuning: the loop with no hook. Subclasses override the hooks."""

    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        self.params, self.scenario = params, scenario
        self.rng = np.random.default_rng(seed)
        self.network = build_network(scenario["network"])
        self.optimizer = self.make_optimizer()
        self.images_trained = 0
        self.tasks_seen = 0

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        optimizer = keras.optimizers.Adam(learning_rate=self.scenario["learning_rate"])
        if keras.mixed_precision.global_policy().name == "mixed_float16":  # float16 gradients underflow unscaled
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    # -- hooks --
    def pixels(self, images: np.ndarray) -> np.ndarray:
        """The network's input for `images` (uint8, 28 x 28): flat pixels in [0, 1]."""
        return pixels.flat(images)

    def training_images(self, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """The images this task trains on (joint: every task's so far)."""
        return task.x_train, task.y_train

    def training_digits(self, task: Task, seen: tuple[int, ...]) -> tuple[int, ...]:
        """The digits the softmax covers while learning `task` (branch: the task's own)."""
        return seen

    def replay_batch(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Kept images and labels to mix into this step, or None."""
        return None

    def kept_loss(self, x: tf.Tensor, logits: tf.Tensor, allowed: tf.Tensor) -> tf.Tensor | None:
        """A loss on what is kept from earlier tasks, for this batch (inside the traced step), or None.

        `logits` are the network's on `x`; `allowed` masks the digits seen so far.
        """
        return None

    def penalty(self) -> tf.Tensor | None:
        """A term added to every step's loss (inside the traced step), or None."""
        return None

    def after_task(self, task: Task, seen: tuple[int, ...]) -> None:
        """Keep what the strategy needs from `task` once it is learnt."""

    # -- the loop --
    def learn(self, task: Task, seen: tuple[int, ...]) -> None:
        self.tasks_seen += 1
        x, y = self.training_images(task)
        x, y = self.pixels(x), y.astype("int64")
        allowed, new_weight = digit_mask(self.training_digits(task, seen)), 1.0 / self.tasks_seen
        step = tf.function(self._step)  # traced again per task: the hooks' state changes between tasks
        batch, order = self.scenario["batch_size"], np.empty(0, dtype=np.int64)
        for _ in range(self.scenario["iterations"]):
            if len(order) < batch:
                order = np.concatenate([order, self.rng.permutation(len(x))])
            chosen, order = order[:batch], order[batch:]
            replay = self.replay_batch()
            kept = () if replay is None else replay
            step(x[chosen], y[chosen], allowed, tf.constant(new_weight, dtype="float32"), *kept)
            self.images_trained += len(chosen) + (0 if replay is None else len(replay[1]))
        self.after_task(task, seen)

    def _step(self, x, y, allowed, new_weight, x_kept=None, y_kept=None) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = self.network(x, training=True)
            loss = cross_entropy(y, masked_logits(logits, allowed))
            kept = self.kept_loss(x, logits, allowed)
            if x_kept is not None:
                kept = cross_entropy(y_kept, masked_logits(self.network(x_kept, training=True), allowed))
            if kept is not None:
                loss = new_weight * loss + (1.0 - new_weight) * kept
            penalty = self.penalty()
            if penalty is not None:
                loss = loss + penalty
            scaled = self.optimizer.scale_loss(loss)  # the loss itself but under mixed_float16
        variables = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables, strict=True))
        return loss

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.network.predict(self.pixels(x), batch_size=SCORE_BATCH, verbose=0)

    def kept_bytes(self) -> int:
        return 0


class ReplayParams(Group):
    per_class: Annotated[Int(1), Sample("digit")]  # stored training images per digit
    max_images: Annotated[Int(1), Sample("scenario")]  # stored images in all, at most


class ReplayStrategy(NetworkStrategy):
    """Experience replay (strategy replay; hybrid_replay builds on it): stored images, a batch of them every step.

    After each task, `per_class` images of each of its digits join the buffer (at most
    `max_images` in all: each digit's share shrinks as digits arrive). At task t every step
    adds `batch_size` buffer images, their loss weighted 1 - 1/t (van de Ven et al.).
    """

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
