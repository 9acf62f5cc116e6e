"""Precision policies and the throughput log, on small synthetic arrays."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_transfer import training
from mnist_transfer.artifacts import save_model
from mnist_transfer.errors import StageError
from mnist_transfer.models import (
    build_base_cnn,
    build_branch_cnn,
    build_full_cnn,
    grow_branch,
    load_model,
    precision,
    rehead_full_cnn,
)


@pytest.fixture
def mixed_bfloat16():
    """New layers compute in bfloat16 for the test; float32 again afterwards."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_float32_is_the_default_policy() -> None:
    for model in (build_base_cnn(), build_branch_cnn(), build_full_cnn()):
        assert precision(model) == "float32"
        assert all(layer.dtype_policy.name == "float32" for layer in model.layers)


@pytest.mark.usefixtures("mixed_bfloat16")
def test_mixed_models_compute_in_bfloat16_with_float32_outputs(tmp_path: Path) -> None:
    models = {
        "base": build_base_cnn(),
        "branch": grow_branch(build_branch_cnn()),
        "transfer": rehead_full_cnn(build_full_cnn(), 1),
    }
    for name, model in models.items():
        assert precision(model) == "mixed_bfloat16", name
        assert model.get_layer("conv2d_1").compute_dtype == "bfloat16"
        assert model.get_layer("conv2d_1").kernel.dtype == "float32"  # variables stay float32
        assert all(output.dtype == "float32" for output in model.outputs), name
    save_model(models["base"], tmp_path / "base.keras")
    keras.mixed_precision.set_global_policy("float32")
    assert precision(load_model(tmp_path / "base.keras")) == "mixed_bfloat16"  # a model keeps its policy


@pytest.mark.usefixtures("mixed_bfloat16")
def test_mixed_frozen_trunk_head_trains_on_cached_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 28, 28, 1)).astype("float32")
    y = training.targets(rng.integers(0, 10, size=64), 10)
    model = build_base_cnn()
    before = model.get_layer("dense_2").get_weights()[0]
    params = {
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "momentum": 0.0,
        "loss": "crossentropy",
        "batch_size": 16,
        "epochs": 2,
    }
    trunk = ["conv2d_1", "conv2d_2", "conv2d_3", "max_pooling2d_1", "flatten_1"]
    training.fit_head_on_frozen_trunk(
        model, trunk, ["dense_1", "dropout_1", "dense_2"], (x[:48], y[:48]), (x[48:], y[48:]), params, "mixed_head"
    )  # bfloat16 features through the scratch file
    model.compile(loss="categorical_crossentropy")
    assert np.isfinite(model.evaluate(x, y, verbose=0))
    assert not np.array_equal(model.get_layer("dense_2").get_weights()[0], before)
    assert (tmp_path / "dvclive" / "mixed_head" / "metrics.json").is_file()


def test_fit_logs_throughput(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    params = {
        "optimizer": "sgd",
        "learning_rate": 0.1,
        "momentum": 0.0,
        "loss": "crossentropy",
        "batch_size": 8,
        "epochs": 3,
    }
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = training.targets(np.arange(40) % 2, 2)
    with caplog.at_level(logging.INFO, logger="mnist_transfer.training"):
        training.fit(model, x[:20], y[:20], params, "tiny", validation=(x[20:], y[20:]))
    lines = [record.getMessage() for record in caplog.records if "images/s" in record.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("tiny: training ") and "(mean of epochs 2-3)" in lines[0]


def test_non_finite_loss_stops_training_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A learning rate that blows the loss up: one-line StageError, no curves, no scratch folder."""
    monkeypatch.chdir(tmp_path)
    training.seed_everything(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])  # linear: nothing bounds the loss
    params = {"optimizer": "sgd", "learning_rate": 1e30, "momentum": 0.0, "loss": "mse", "batch_size": 4, "epochs": 3}
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32") * 1e10
    y = training.targets(np.arange(40) % 2, 2)
    with pytest.raises(StageError, match=r"training loss became (nan|inf).*lower blowup.learning_rate") as raised:
        training.fit(model, x, y, params, "blowup", validation=(x[:4], y[:4]))
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "dvclive").exists() or list((tmp_path / "dvclive").iterdir()) == []


def test_validation_curves_use_the_given_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fit watches the held-out images it is given, not a slice of the training images."""
    monkeypatch.chdir(tmp_path)
    training.seed_everything(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    params = {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.0, "loss": "crossentropy", "batch_size": 8}
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = training.targets((x[:, 0] > 0).astype(int), 2)
    wrong = 1.0 - y  # every validation label flipped: validation accuracy = 1 - training accuracy on them
    training.fit(model, x, y, {**params, "epochs": 1}, "held_out", validation=(x, wrong))
    logged = json.loads((tmp_path / "dvclive" / "held_out" / "metrics.json").read_text())
    assert logged["eval"]["accuracy"] == pytest.approx(1.0 - model.evaluate(x, y, verbose=0)[1])


def test_keras2_crossentropy_has_the_dead_zone_keras3_does_not() -> None:
    """The notebooks' Keras 2 loss gives no gradient where the true class is below 1e-7; Keras 3's does."""
    import tensorflow as tf

    labels = np.eye(3, dtype="float32")[[0, 1]]
    logits = tf.Variable([[2.0, 0.5, 0.0], [30.0, 0.0, 0.0]])  # image 2: its class 1 at e^-30, below 1e-7
    gradients = {}
    for name in ("keras2_crossentropy", "crossentropy"):
        with tf.GradientTape() as tape:
            loss = training.make_loss(name, 3)(labels, keras.activations.softmax(logits))
        gradients[name] = tape.gradient(loss, logits).numpy()
    np.testing.assert_array_equal(gradients["keras2_crossentropy"][1], 0.0)
    assert abs(gradients["crossentropy"][1, 1]) > 0.4
    np.testing.assert_allclose(gradients["keras2_crossentropy"][0], gradients["crossentropy"][0], atol=1e-6)


def test_head_on_cached_features_trains_like_fit_with_the_trunk_frozen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One epoch of fit_head_on_frozen_trunk gives the weights model.fit gives with the trunk frozen."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 28, 28, 1)).astype("float32")
    y = training.targets(rng.integers(0, 10, size=40), 10)
    trunk = ["conv2d_1", "conv2d_2", "conv2d_3", "max_pooling2d_1", "flatten_1"]
    head = ["dense_1", "dropout_1", "dense_2"]
    params = {"optimizer": "adam", "learning_rate": 1e-3, "momentum": 0.0, "loss": "crossentropy"}
    params |= {"batch_size": 32, "epochs": 1}
    models = []
    for cached in (True, False):
        training.seed_everything(0)
        model = build_base_cnn()  # same initial weights and dropout seeds both times
        initial = model.get_layer("dense_2").get_weights()[0]
        if cached:
            training.fit_head_on_frozen_trunk(model, trunk, head, (x[:32], y[:32]), (x[32:], y[32:]), params, "cached")
        else:
            for name in trunk:
                model.get_layer(name).trainable = False
            training.fit(model, x[:32], y[:32], params, "plain", validation=(x[32:], y[32:]))
        models.append(model)
    cached_model, plain_model = models
    for name in ["dense_1", "dense_2"]:
        for after_cached, after_plain in zip(
            cached_model.get_layer(name).get_weights(), plain_model.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_allclose(after_cached, after_plain, rtol=1e-5, atol=1e-6)
    for name in trunk[:3]:  # the frozen trunk did not move in either
        np.testing.assert_array_equal(
            cached_model.get_layer(name).get_weights()[0], plain_model.get_layer(name).get_weights()[0]
        )
    assert not np.allclose(plain_model.get_layer("dense_2").get_weights()[0], initial)  # it did train


def _head(width: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((width,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def test_head_fitted_on_feature_rows_is_bit_identical_to_fit_on_the_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row numbers are shuffled and batched as the features would be: the same weights, bit for bit.

    200 examples in batches of 32 (a partial last batch), 3 epochs, dropout: any change
    of order, batching or dropout draws would show.
    """
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    features = rng.random((260, 12)).astype("float32")
    y = training.targets(rng.integers(0, 10, size=260), 10)
    params = {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.5, "loss": "crossentropy"}
    params |= {"batch_size": 32, "epochs": 3}
    weights = []
    for from_file in (False, True):
        training.seed_everything(0)
        head = _head(12)
        if from_file:
            path = tmp_path / "features.bin"
            path.write_bytes(features.tobytes())
            index = keras.Input((1,), dtype="int64")
            with training.FeatureRows(path, (12,), np.dtype("float32")) as rows:
                indexed = keras.Model(index, head(rows(index)))
                numbers = np.arange(260, dtype=np.int64)[:, None]
                training.fit(indexed, numbers[:200], y[:200], params, "rows", (numbers[200:], y[200:]))
        else:
            training.fit(head, features[:200], y[:200], params, "arrays", (features[200:], y[200:]))
        weights.append(head.get_weights())
    for from_arrays, from_rows in zip(*weights, strict=True):
        np.testing.assert_array_equal(from_arrays, from_rows)
    curves = [(tmp_path / "dvclive" / s / "metrics.json").read_text() for s in ("arrays", "rows")]
    assert curves[0] == curves[1]  # validation figures too


def test_feature_rows_reads_the_rows_asked_for_and_refuses_a_short_file(tmp_path: Path) -> None:
    features = np.arange(5 * 6, dtype="float32").reshape(5, 2, 3)
    path = tmp_path / "features.bin"
    with path.open("wb") as file:
        training.write_features(keras.Sequential([keras.Input((2, 3)), keras.layers.Identity()]), features, file)
    assert path.read_bytes() == features.tobytes()
    with training.FeatureRows(path, (2, 3), np.dtype("float32")) as rows:
        np.testing.assert_array_equal(rows.read(np.array([[4], [0], [4]])), features[[4, 0, 4]])
        with pytest.raises(StageError, match="row 5 is missing"):
            rows.read(np.array([[5]]))


CPU_ONLY_START = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1.5 3504 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical",
    "I0000 00:00:1.5 3504 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
    "E0000 00:00:1.9 3504 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: UNKNOWN ERROR (303)",
    "something TensorFlow has not said before",
]


@pytest.mark.parametrize("wanted", [False, True])
def test_device_lines_reach_the_user_when_a_gpu_is_wanted(wanted: bool) -> None:
    from mnist_transfer.quiet_tf import sort_lines

    shown, device = sort_lines(CPU_ONLY_START, wanted)
    assert device == CPU_ONLY_START[2:4]
    assert shown == (CPU_ONLY_START[2:] if wanted else CPU_ONLY_START[4:])  # start-up noise never, news always


@pytest.fixture
def devices(monkeypatch: pytest.MonkeyPatch):
    """use_device against a faked TensorFlow device list: `devices(gpus)` sets the GPUs it finds."""
    from mnist_transfer import quiet_tf

    def fake(gpus: list[str]) -> None:
        found = [type("Device", (), {"name": name})() for name in gpus]
        monkeypatch.setattr(quiet_tf.tf.config, "list_physical_devices", lambda kind=None: found)
        monkeypatch.setattr(quiet_tf.tf.config, "set_visible_devices", lambda *args: found.clear())
        monkeypatch.setattr(
            quiet_tf.tf.config.experimental, "get_device_details", lambda d: {"device_name": "NVIDIA L4"}
        )
        monkeypatch.setattr(quiet_tf, "DEVICE_LINES", [CPU_ONLY_START[2]])
        training.use_device.cache_clear()

    yield fake
    training.use_device.cache_clear()


def test_the_device_is_the_gpu_found_or_the_cpu_kind(devices, monkeypatch: pytest.MonkeyPatch) -> None:
    from mnist_transfer import compute

    cpu = f"CPU {compute.machine()['cpu_isa']}"
    monkeypatch.delenv("MNIST_TRANSFER_DEVICE", raising=False)
    devices([])
    assert training.use_device() == cpu
    devices(["/physical_device:GPU:0"])
    assert training.use_device() == "GPU NVIDIA L4"  # TensorFlow's own choice: a GPU it can use
    monkeypatch.setenv("MNIST_TRANSFER_DEVICE", "cpu")
    devices(["/physical_device:GPU:0"])
    assert training.use_device() == cpu  # asked for the CPU: the GPU is hidden


def test_a_gpu_asked_for_and_not_found_is_refused_with_tensorflows_reason(
    devices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_TRANSFER_DEVICE", "gpu")
    devices([])
    with pytest.raises(StageError) as raised:
        training.use_device()
    message = str(raised.value)
    assert message.startswith("MNIST_TRANSFER_DEVICE=gpu, but TensorFlow finds no usable GPU (")
    assert "Could not find cuda drivers on your machine, GPU will not be used." in message
    assert "requirements-gpu.lock" in message and "unset MNIST_TRANSFER_DEVICE" in message
    monkeypatch.setenv("MNIST_TRANSFER_DEVICE", "tpu")
    devices([])
    with pytest.raises(StageError, match="MNIST_TRANSFER_DEVICE='tpu': set it to gpu or cpu, or unset it"):
        training.use_device()
