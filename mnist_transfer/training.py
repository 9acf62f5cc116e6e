"""Training shared by every stage: seeding, optimizer and loss from params, fit with dvclive."""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter out of stage logs

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from mnist_transfer.models import freeze_trunk

log = logging.getLogger(__name__)

LIVE_DIR = Path("dvclive")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


# CPU flags that mean native bfloat16 arithmetic (AVX512-BF16 dot products, AMX tiles).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bfloat16 natively (otherwise it is emulated, and slower)."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in BF16_FLAGS)


def resolve_precision(choice: str, has_bfloat16: bool | None = None) -> str:
    """The Keras dtype policy for params `compute.precision`.

    `auto` is mixed_bfloat16 where the CPU has bfloat16 instructions and float32
    elsewhere: without them bfloat16 is emulated and about 3x slower than float32.
    """
    if choice != "auto":
        return choice
    if has_bfloat16 is None:
        has_bfloat16 = cpu_has_bfloat16()
    return "mixed_bfloat16" if has_bfloat16 else "float32"


def set_precision(choice: str) -> str:
    """Make new layers compute in `choice` (resolved when `auto`); return the policy name.

    Output layers are float32 whatever the policy (see models.py), and a loaded model
    keeps the policy it was trained with, so only stages that build layers need this.
    """
    policy = resolve_precision(choice)
    keras.mixed_precision.set_global_policy(policy)
    log.info("precision: %s -> %s", choice, policy)
    return policy


def make_optimizer(params: dict[str, Any]) -> keras.optimizers.Optimizer:
    if params["optimizer"] == "adam":
        return keras.optimizers.Adam(learning_rate=params["learning_rate"])
    return keras.optimizers.SGD(learning_rate=params["learning_rate"], momentum=params["momentum"])


def make_loss(name: str, output_units: int) -> keras.losses.Loss:
    """`crossentropy` means binary for a single sigmoid unit, categorical otherwise."""
    if name == "mse":
        return keras.losses.MeanSquaredError()
    if output_units == 1:
        return keras.losses.BinaryCrossentropy()
    return keras.losses.CategoricalCrossentropy()


def targets(labels: np.ndarray, output_units: int, offset: int = 0) -> np.ndarray:
    """Training targets for a model with `output_units` outputs: one-hot, or 0/1 for one unit.

    `offset` maps digit labels onto output indices (digit 7 is unit 2 of a 5-9 head).
    """
    index = labels.astype(np.int64) - offset
    if output_units == 1:
        return index.astype("float32")[:, None]
    return keras.utils.to_categorical(index, output_units).astype("float32")


def images(x: np.ndarray) -> np.ndarray:
    """Raw (N, 28, 28) uint8 images as the models' (N, 28, 28, 1) float32 input."""
    return x.astype("float32")[..., None]


class Throughput(keras.callbacks.Callback):
    """Logs training images per second, from the second epoch on (the first one traces the graph).

    Times each epoch's training batches only, not its validation pass. Goes to the log,
    never into an output: outputs must be the same bytes on every run.
    """

    def __init__(self, stage: str, images_per_epoch: int | None) -> None:
        super().__init__()
        self.stage, self.images_per_epoch = stage, images_per_epoch
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = self.last_batch = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.last_batch = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(self.last_batch - self.start)

    def on_train_end(self, logs: dict | None = None) -> None:
        steady = self.seconds[1:] or self.seconds
        per_epoch = sum(steady) / len(steady)
        rate = f", {self.images_per_epoch / per_epoch:.0f} images/s" if self.images_per_epoch else ""
        log.info(
            "%s: training %.2f s/epoch%s (mean of epochs %d-%d)",
            self.stage,
            per_epoch,
            rate,
            len(self.seconds) - len(steady) + 1,
            len(self.seconds),
        )


def training_images(x: np.ndarray | keras.utils.PyDataset, validation_split: float) -> int | None:
    """How many images one epoch trains on (Keras keeps the first ceil(n * (1 - split)))."""
    if isinstance(x, keras.utils.PyDataset):
        return None
    return math.ceil(len(x) * (1.0 - validation_split))


def fit(
    model: keras.Model,
    x: np.ndarray | keras.utils.PyDataset,
    y: np.ndarray | None,
    params: dict[str, Any],
    stage: str,
    loss: keras.losses.Loss | None = None,
    metrics: list | None = None,
) -> keras.Model:
    """Compile and fit `model` with a stage's training params; curves go to dvclive/<stage>/.

    `x` is images (or features) with targets `y`, or a PyDataset of batches (y=None),
    which brings its own batches and no validation split. `loss` and `metrics` replace
    the params' loss and plain accuracy. Call seed_everything before building the model
    so initial weights are seeded too.
    """
    model.compile(
        optimizer=make_optimizer(params),
        loss=loss or make_loss(params["loss"], model.output_shape[-1]),
        metrics=metrics or ["accuracy"],
    )
    batches = {} if y is None else {"batch_size": params["batch_size"], "validation_split": params["validation_split"]}
    # dvclive appends to its files epoch by epoch: log into a scratch folder and move it
    # into place only when training has finished, so no half-written curves survive.
    final, scratch = LIVE_DIR / stage, LIVE_DIR / f".{stage}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        live = Live(dir=str(scratch), save_dvc_exp=False, dvcyaml=None, report=None)
        log.info("%s: fitting %s for %d epochs", stage, model.name, params["epochs"])
        throughput = Throughput(stage, training_images(x, batches.get("validation_split", 0.0)))
        model.fit(
            x, y, epochs=params["epochs"], callbacks=[DVCLiveCallback(live=live), throughput], verbose=2, **batches
        )
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return model


def fit_head_on_frozen_trunk(
    model: keras.Model,
    trunk: list[str],
    head: list[str],
    x: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    stage: str,
) -> keras.Model:
    """Train the `head` layers of `model` on raw images `x` with its `trunk` layers frozen.

    The frozen trunk runs once over the images, not once per epoch: the head is fitted on
    the features it computed (models.freeze_trunk), which gives the same updates as
    fitting `model` with the trunk frozen, as no trunk layer has dropout or batch statistics.
    """
    trunk_model, head_model = freeze_trunk(model, trunk, head)
    features = trunk_model.predict(images(x), batch_size=1024, verbose=0)
    fit(head_model, features, y, params, stage)
    return model
