"""What the network strategies share: one network trained task after task, as the reference protocol does.

van de Ven et al.'s protocol: for each task, `iterations` Adam steps on batches of
`batch_size` of the task's training images, Adam's state carried from task to task. The
softmax in training covers the classes `training_classes` gives: in task-incremental
learning the task's own; else every output (`active_outputs: all`, the reference's
current default) or the classes seen so far (`seen`, its 2019 rule). A strategy adds to
this loop through hooks: a batch of kept images mixed into every step (`replay_batch`) or
a loss on what it kept from earlier tasks (`kept_loss`), weighted against the new task's
loss by `loss_weights` (1/t and 1 - 1/t at task t, as the reference weights replay); a
penalty added to the loss (`penalty`); what it keeps when a task ends (`after_task`).
Experience replay, which two strategies build on, is here too.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from mnist_transfer import pixels
from mnist_transfer.models import SCORE_BATCH, build_network
from mnist_transfer.params import Group, Int, Sample
from mnist_transfer.quiet_tf import keras, tf
from mnist_transfer.scenarios import IMAGE_BYTES, Task, outputs


def masked_logits(logits: tf.Tensor, allowed: tf.Tensor) -> tf.Tensor:
    """Logits with every class outside `allowed` (a 0/1 mask, one per output or one row per image) very negative."""
    return tf.where(allowed > 0, logits, tf.fill(tf.shape(logits), -1e9))


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def variable_bytes(variables: list) -> int:
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)


class NetworkStrategy:
    """Fine-tuning: the loop with no hook. Subclasses override the hooks."""

    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        self.params, self.scenario = params, scenario
        self.outputs = outputs(scenario)
        self.rng = np.random.default_rng(seed)
        self.network = self.new_network()
        self.optimizer = self.make_optimizer()
        self.images_trained = 0
        self.tasks_seen = 0
        self.allowed = np.ones(self.outputs, dtype="float32")  # the mask the last task trained under

    def new_network(self) -> keras.Model:
        return build_network(self.scenario["network"], self.outputs)

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        optimizer = keras.optimizers.Adam(learning_rate=self.scenario["learning_rate"])
        if keras.mixed_precision.global_policy().name == "mixed_float16":  # float16 gradients underflow unscaled
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def mask(self, classes: tuple[int, ...]) -> np.ndarray:
        """A 0/1 float32 mask over the outputs, 1 for `classes`."""
        return np.isin(np.arange(self.outputs), classes).astype("float32")

    # -- hooks --
    def pixels(self, images: np.ndarray) -> np.ndarray:
        """The network's input for `images` (uint8, 28 x 28): flat pixels in [0, 1]."""
        return pixels.flat(images)

    def training_images(self, task: Task) -> tuple[np.ndarray, np.ndarray]:
        """The images this task trains on (joint: every task's so far)."""
        return task.x_train, task.y_train

    def training_masks(self, task: Task) -> np.ndarray | None:
        """One output mask per training image, where they differ (joint, told the task), or None: all `allowed`."""
        return None

    def training_classes(self, task: Task, seen: tuple[int, ...]) -> tuple[int, ...]:
        """The classes the softmax covers while learning `task` (the module docstring)."""
        if self.scenario["incremental"] == "task":
            return task.classes
        if self.scenario["incremental"] == "domain" or self.scenario["active_outputs"] == "all":
            return tuple(range(self.outputs))
        return seen

    def loss_weights(self, t: int) -> tuple[float, float]:
        """The weights of the new task's loss and of the kept loss at task t (from 1)."""
        new = np.float32(1.0 / t)
        return float(new), float(np.float32(1.0) - new)  # 1 - 1/t rounded as float32 arithmetic rounds it

    def replay_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Kept images, their labels and their output masks to mix into this step, or None."""
        return None

    def kept_loss(self, x: tf.Tensor, logits: tf.Tensor, allowed: tf.Tensor) -> tf.Tensor | None:
        """A loss on what is kept from earlier tasks, for this batch (inside the traced step), or None.

        `logits` are the network's on `x`; `allowed` masks the classes it trains on.
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
        self.allowed = self.mask(self.training_classes(task, seen))
        masks = self.training_masks(task)
        weights = [tf.constant(w, dtype="float32") for w in self.loss_weights(self.tasks_seen)]
        step = tf.function(self._step)  # traced again per task: the hooks' state changes between tasks
        batch, order = self.scenario["batch_size"], np.empty(0, dtype=np.int64)
        for _ in range(self.scenario["iterations"]):
            if len(order) < batch:
                order = np.concatenate([order, self.rng.permutation(len(x))])
            chosen, order = order[:batch], order[batch:]
            replay = self.replay_batch()
            kept = () if replay is None else replay
            allowed = self.allowed if masks is None else masks[chosen]
            step(x[chosen], y[chosen], tf.constant(allowed), *weights, *kept)
            self.images_trained += len(chosen) + (0 if replay is None else len(replay[1]))
        self.after_task(task, seen)

    def _step(self, x, y, allowed, new_weight, kept_weight, x_kept=None, y_kept=None, mask_kept=None) -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = self.network(x, training=True)
            loss = cross_entropy(y, masked_logits(logits, allowed))
            kept = self.kept_loss(x, logits, allowed)
            if x_kept is not None:
                kept = cross_entropy(y_kept, masked_logits(self.network(x_kept, training=True), mask_kept))
            if kept is not None:
                loss = new_weight * loss + kept_weight * kept
            penalty = self.penalty()
            if penalty is not None:
                loss = loss + penalty
            scaled = self.optimizer.scale_loss(loss)  # the loss itself but under mixed_float16
        variables = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables, strict=True))
        return loss

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.network.predict(self.pixels(x), batch_size=SCORE_BATCH, verbose=0)

    def held_bytes(self) -> int:
        """The network's weights, the optimizer's state, and what the strategy keeps (kept_bytes)."""
        return variable_bytes(self.network.weights) + variable_bytes(self.optimizer.variables) + self.kept_bytes()

    def kept_bytes(self) -> int:
        """Bytes kept from earlier tasks besides the network and its optimizer."""
        return 0

    def stored_images(self) -> int:
        return 0


class ReplayParams(Group):
    per_class: Annotated[Int(1), Sample("digit")]  # stored training images per digit
    max_images: Annotated[Int(1), Sample("scenario")]  # stored images in all, at most


class ReplayStrategy(NetworkStrategy):
    """Experience replay (strategy replay; hybrid_replay builds on it): stored images, a batch of them every step.

    After each task, `per_class` images of each of its classes join the buffer (at most
    `max_images` in all: each class's share shrinks as classes arrive; in domain-incremental
    learning a class of each task, i.e. a digit). At task t every step adds `batch_size`
    buffer images, their loss weighted 1 - 1/t (van de Ven et al.); in task-incremental
    learning each over its own task's classes.
    """

    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        super().__init__(params, scenario, seed)
        self.stored: dict[tuple[int, int], np.ndarray] = {}  # (task index, class) -> its stored images (uint8)
        self.key_masks: dict[tuple[int, int], np.ndarray] = {}  # (task index, class) -> its replay mask

    def after_task(self, task: Task, seen: tuple[int, ...]) -> None:
        keys = len(self.stored) + len(task.classes)
        share = min(self.params["per_class"], self.params["max_images"] // keys)
        for cls in task.classes:
            own = task.x_train[task.y_train == cls]
            self.stored[task.index, cls] = own[np.sort(self.rng.choice(len(own), min(share, len(own)), replace=False))]
            self.key_masks[task.index, cls] = self.mask(task.classes)
        self.stored = {key: images[:share] for key, images in self.stored.items()}
        self.x = self.pixels(np.concatenate(list(self.stored.values())))
        self.y = np.concatenate([np.full(len(images), key[1]) for key, images in self.stored.items()]).astype("int64")
        self.masks = np.concatenate([np.tile(self.key_masks[key], (len(x), 1)) for key, x in self.stored.items()])

    def replay_masks(self, masks: np.ndarray) -> np.ndarray:
        """Each replayed image's output mask: its task's classes if the learner is told the task, else the step's."""
        return masks if self.scenario["incremental"] == "task" else np.tile(self.allowed, (len(masks), 1))

    def replay_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if not self.stored:
            return None
        chosen = self.rng.choice(len(self.y), min(self.scenario["batch_size"], len(self.y)), replace=False)
        return self.x[chosen], self.y[chosen], self.replay_masks(self.masks[chosen])

    def kept_bytes(self) -> int:
        return self.stored_images() * IMAGE_BYTES

    def stored_images(self) -> int:
        return sum(len(images) for images in self.stored.values())
