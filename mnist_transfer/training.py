"""Training shared by every stage: seeding, optimizer and loss from params, fit with dvclive."""

from __future__ import annotations

import csv
import functools
import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mnist_transfer import compute, quiet_tf
from mnist_transfer.artifacts import write_text
from mnist_transfer.data import Split
from mnist_transfer.errors import StageError
from mnist_transfer.models import freeze_trunk
from mnist_transfer.quiet_tf import keras, tf

log = logging.getLogger(__name__)

LIVE_DIR = Path("dvclive")  # dvclive/<stage>/metrics.json: each training run's last-epoch figures
CURVES_DIR = Path("plots/curves")  # plots/curves/<stage>/<quantity>.csv: train and validation by epoch


def write_curves(live_dir: Path, stage: str) -> None:
    """dvclive's per-metric TSVs in `live_dir` as one CSV per chart, and its summary, for `stage`.

    plots/curves/<stage>/<quantity>.csv has columns epoch (from 1), split (train or
    validation; dvclive calls validation "eval") and the quantity: one file is one chart of
    `dvc plots show` (dvc.yaml), both curves in it.
    """
    metrics = live_dir / "plots" / "metrics"
    outputs = {}
    for path in sorted((metrics / "train").glob("*.tsv")):
        quantity, rows = path.stem, []
        for split, folder in (("train", "train"), ("validation", "eval")):
            with (metrics / folder / path.name).open(newline="") as file:
                rows += [
                    f"{int(row['step']) + 1},{split},{row[quantity]}" for row in csv.DictReader(file, delimiter="\t")
                ]
        outputs[CURVES_DIR / stage / f"{quantity}.csv"] = f"epoch,split,{quantity}\n" + "\n".join(rows) + "\n"
    outputs[LIVE_DIR / stage / "metrics.json"] = (live_dir / "metrics.json").read_text()
    for path, text in outputs.items():
        write_text(path, text)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@functools.cache  # decided once per process: TensorFlow fixes the visible devices at first use
def use_device() -> str:
    """The device this stage computes on, as the run record names it: the GPU's name, or the CPU kind.

    MNIST_TRANSFER_DEVICE (quiet_tf.DEVICE_ENV) unset: TensorFlow's own choice, a usable
    GPU if there is one. `gpu`: a GPU, or a one-line refusal that quotes TensorFlow's
    reason. `cpu`: the CPU, with any GPU hidden. Results on a GPU differ from the CPU's in
    rounding (docs/reproducibility.md).
    """
    asked = os.environ.get(quiet_tf.DEVICE_ENV, "").strip().lower()
    if asked not in ("", "gpu", "cpu"):
        raise StageError(f"{quiet_tf.DEVICE_ENV}={asked!r}: set it to gpu or cpu, or unset it")
    gpus = tf.config.list_physical_devices("GPU")
    if asked == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
        gpus = []
    if asked == "gpu" and not gpus:
        why = "; ".join(line.split("] ", 1)[-1] for line in quiet_tf.DEVICE_LINES) or "no GPU visible"
        raise StageError(
            f"{quiet_tf.DEVICE_ENV}=gpu, but TensorFlow finds no usable GPU ({why}); install the GPU lock "
            f"(pip install --no-deps -r requirements-gpu.lock) on a machine with a CUDA driver, "
            f"or unset {quiet_tf.DEVICE_ENV} to run on the CPU"
        )
    if gpus:
        return "GPU " + tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    return f"CPU {compute.machine()['cpu_isa']}"


def use_precision(precision: str) -> None:
    """Set params `precision` as the Keras dtype policy for new layers, under the locked library versions.

    Every stage that runs TensorFlow calls this first: it refuses to run under other
    TensorFlow, Keras or NumPy versions than requirements.lock pins, and picks the device
    (use_device). Output layers are
    float32 whatever the policy (see models.py), and a loaded model keeps the policy it
    was trained with.
    """
    versions = compute.check_versions()
    device = use_device()
    keras.mixed_precision.set_global_policy(precision)
    flags = compute.cpu_flags()
    libraries = ", ".join(f"{name} {version}" for name, version in versions.items())
    log.info("precision %s, %s, on %s", precision, libraries, device)
    if precision == "mixed_bfloat16" and not compute.cpu_has_fast_bfloat16(flags):
        log.warning("mixed_bfloat16 on a CPU without AMX trains slower than float32 (docs/performance.md)")


def make_optimizer(params: dict[str, Any]) -> keras.optimizers.Optimizer:
    if params["optimizer"] == "adam":
        return keras.optimizers.Adam(learning_rate=params["learning_rate"])
    return keras.optimizers.SGD(learning_rate=params["learning_rate"], momentum=params["momentum"])


class Keras2Crossentropy(keras.losses.Loss):
    """Categorical cross-entropy as Keras 2 computed it on probabilities, as the notebooks ran.

    Keras 2 clipped the probabilities to [1e-7, 1 - 1e-7] before the log, so wherever the
    true class is below 1e-7 the gradient is zero. Keras 3 computes the loss from the
    softmax's logits and has no such dead zone: for a model that has never seen the new
    classes (all of them far below 1e-7) the two train very differently (README).
    """

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        y_pred = y_pred / keras.ops.sum(y_pred, axis=-1, keepdims=True)
        y_pred = keras.ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
        return -keras.ops.sum(y_true * keras.ops.log(y_pred), axis=-1)


def make_loss(name: str, output_units: int) -> keras.losses.Loss:
    """`crossentropy` means binary for a single sigmoid unit, categorical otherwise.

    `keras2_crossentropy` is the notebooks' Keras 2 categorical cross-entropy (softmax outputs only).
    """
    if name == "mse":
        return keras.losses.MeanSquaredError()
    if name == "keras2_crossentropy":
        return Keras2Crossentropy(name="keras2_crossentropy")
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


def examples(split: Split, part: str, output_units: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One part ("train", "val") of a digit subset as (model inputs, training targets)."""
    return images(getattr(split, f"x_{part}")), targets(getattr(split, f"y_{part}"), output_units, offset)


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


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training with a one-line StageError as soon as the loss is NaN or infinite.

    The error leaves fit() before anything is saved, so the stage writes no model and
    no curves (unlike Keras' TerminateOnNaN, which ends training quietly).
    """

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage, self.epoch = stage, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise StageError(
                f"{self.stage}: the training loss became {loss} (epoch {self.epoch + 1}, batch {batch + 1}); "
                f"lower {self.stage}.learning_rate or check its other params; nothing was written"
            )


def fit(
    model: keras.Model,
    x: np.ndarray | keras.utils.PyDataset,
    y: np.ndarray | None,
    params: dict[str, Any],
    stage: str,
    validation: tuple[np.ndarray, np.ndarray],
    loss: keras.losses.Loss | None = None,
    metrics: list | None = None,
) -> keras.Model:
    """Compile and fit `model` with a stage's training params; curves go to dvclive/<stage>/.

    `x` is images (or features) with targets `y`, or a PyDataset of batches (y=None)
    that brings its own batches. `validation` is the held-out (inputs, targets) that
    the validation curves are measured on (data.Split's validation images). `loss` and
    `metrics` replace the params' loss and plain accuracy. Call seed_everything before
    building the model so initial weights are seeded too.
    """
    model.compile(
        optimizer=make_optimizer(params),
        loss=loss or make_loss(params["loss"], model.output_shape[-1]),
        metrics=metrics or ["accuracy"],
    )
    batches = {} if y is None else {"batch_size": params["batch_size"]}
    # dvclive appends to its files epoch by epoch: it logs into a scratch folder, and the
    # stage's outputs (the summary and one CSV per chart) are written only once training
    # has finished, so no half-written curves survive.
    from dvclive import Live  # after quiet_tf: dvclive.keras imports TensorFlow
    from dvclive.keras import DVCLiveCallback
    from scmrepo.exceptions import SCMError

    scratch = LIVE_DIR / f".{stage}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        try:
            live = Live(dir=str(scratch), save_dvc_exp=False, dvcyaml=None, report=None)
        except SCMError as err:  # dvclive reads the commit the run starts from
            raise StageError(
                f"dvclive cannot read this git repository ({err}); make a first commit, "
                "e.g. git commit --allow-empty -m start"
            ) from None
        # what it trained on, for the review (not a DVC input): the CPU kind sets oneDNN's
        # rounding, and the device is the GPU's name where one was used
        live.summary.update({**compute.machine(), "device": use_device()})
        log.info("%s: fitting %s for %d epochs", stage, model.name, params["epochs"])
        callbacks = [
            StopOnNonFinite(stage),
            DVCLiveCallback(live=live),
            Throughput(stage, None if y is None else len(x)),
        ]
        model.fit(x, y, epochs=params["epochs"], validation_data=validation, callbacks=callbacks, verbose=2, **batches)
        write_curves(scratch, stage)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return model


def fit_head_on_frozen_trunk(
    model: keras.Model,
    trunk: list[str],
    head: list[str],
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    params: dict[str, Any],
    stage: str,
) -> keras.Model:
    """Train the `head` layers of `model` on (images, targets) with its `trunk` layers frozen.

    The frozen trunk runs once over the images, not once per epoch: the head is fitted on
    the features it computed (models.freeze_trunk), which gives the same updates as
    fitting `model` with the trunk frozen, as no trunk layer has dropout or batch statistics.

    The features (22,000 x 12,544 floats for freeze, 1.1 GB) wait in a scratch
    file, not in memory: the head is fitted on row numbers, which Keras shuffles and
    batches exactly as it would the features themselves, and a FeatureRows layer reads
    each batch's rows from the file.
    """
    trunk_model, head_model = freeze_trunk(model, trunk, head)
    scratch = Path(".dvc/tmp") if Path(".dvc/tmp").is_dir() else None  # on disk, beside DVC's own scratch
    with tempfile.TemporaryDirectory(prefix=f"{stage}-features-", dir=scratch) as folder:
        path = Path(folder) / "features.bin"
        with path.open("wb") as file:
            row_shape, dtype = write_features(trunk_model, train[0], file)
            write_features(trunk_model, validation[0], file)
        rows = len(train[0]), len(validation[0])
        index = keras.Input(shape=(1,), dtype="int64", name="feature_row")
        with FeatureRows(path, row_shape, dtype) as lookup:
            indexed = keras.Model(index, head_model(lookup(index)), name=head_model.name)
            row_numbers = np.arange(sum(rows), dtype=np.int64)[:, None]
            fit(indexed, row_numbers[: rows[0]], train[1], params, stage, (row_numbers[rows[0] :], validation[1]))
    return model


FEATURE_BATCH = 1024  # images per trunk call, as `predict(batch_size=1024)` would take them


def write_features(trunk_model: keras.Model, x: np.ndarray, file: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    """Append the trunk's outputs for inputs `x` to `file`, row after row; return one row's shape and dtype."""
    for start in range(0, len(x), FEATURE_BATCH):
        batch = np.ascontiguousarray(trunk_model.predict_on_batch(x[start : start + FEATURE_BATCH]))
        file.write(batch.reshape(len(batch), -1).view(np.uint8))  # bytes of any dtype, bfloat16 too
    return batch.shape[1:], batch.dtype


class FeatureRows(keras.layers.Layer):
    """Rows of a features file, looked up by row number: (batch, 1) int64 -> (batch, *row_shape).

    Reads only the rows a batch needs, so the features never sit in this process's memory
    (the OS's file cache holds them, outside its RSS). Use as a context manager: it keeps
    the file open until the block ends. Not for saving: it exists only while a head trains.
    """

    def __init__(self, path: Path, row_shape: tuple[int, ...], dtype: np.dtype, **kwargs: Any) -> None:
        super().__init__(trainable=False, **kwargs)
        self.features_path, self.row_shape, self.row_dtype = path, tuple(row_shape), np.dtype(dtype)
        self.row_bytes = math.prod(self.row_shape) * self.row_dtype.itemsize

    def __enter__(self) -> FeatureRows:
        self.file = self.features_path.open("rb", buffering=0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def read(self, index: np.ndarray) -> np.ndarray:
        out = np.empty((len(index), *self.row_shape), self.row_dtype)
        raw, fd = out.reshape(len(index), -1).view(np.uint8), self.file.fileno()
        for i, row in enumerate(index.reshape(-1)):
            if os.preadv(fd, [raw[i]], int(row) * self.row_bytes) != self.row_bytes:
                raise StageError(f"{self.features_path}: row {row} is missing; the features file was cut short")
        return out

    def call(self, index: tf.Tensor) -> tf.Tensor:
        rows = tf.numpy_function(self.read, [index], tf.as_dtype(self.row_dtype), stateful=False)
        return tf.ensure_shape(rows, (None, *self.row_shape))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], *self.row_shape)

    def compute_output_spec(self, index: keras.KerasTensor) -> keras.KerasTensor:
        return keras.KerasTensor((index.shape[0], *self.row_shape), dtype=self.row_dtype.name)
