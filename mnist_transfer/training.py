"""Training shared by every stage: seeding, optimizer and loss from params, fit with dvclive."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter out of stage logs

import keras
import numpy as np
import tensorflow as tf
from dvclive.keras import DVCLiveCallback

from dvclive import Live

log = logging.getLogger(__name__)

LIVE_DIR = Path("dvclive")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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
        model.fit(x, y, epochs=params["epochs"], callbacks=[DVCLiveCallback(live=live)], verbose=2, **batches)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return model
