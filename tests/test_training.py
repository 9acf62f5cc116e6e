"""Precision policies and the throughput log, on small synthetic arrays."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_transfer import training
from mnist_transfer.artifacts import save_model
from mnist_transfer.models import (
    build_base_cnn,
    build_branch_cnn,
    build_full_cnn,
    freeze_trunk,
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


@pytest.mark.parametrize(
    ("choice", "has_bfloat16", "policy"),
    [
        ("auto", True, "mixed_bfloat16"),
        ("auto", False, "float32"),
        ("float32", True, "float32"),
        ("mixed_bfloat16", False, "mixed_bfloat16"),
        ("mixed_float16", False, "mixed_float16"),
    ],
)
def test_resolve_precision(choice: str, has_bfloat16: bool, policy: str) -> None:
    assert training.resolve_precision(choice, has_bfloat16) == policy


def test_cpu_has_bfloat16_reads_the_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_vnni\n")
    assert not training.cpu_has_bfloat16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 avx512_vnni\n")
    assert training.cpu_has_bfloat16(cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu amx_bf16 amx_tile\n")
    assert training.cpu_has_bfloat16(cpuinfo)
    assert not training.cpu_has_bfloat16(tmp_path / "missing")


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
    trunk, head = freeze_trunk(
        model, ["conv2d_1", "conv2d_2", "conv2d_3", "max_pooling2d_1", "flatten_1"], ["dense_1", "dropout_1", "dense_2"]
    )
    features = trunk.predict(x, batch_size=32, verbose=0)
    params = {
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "momentum": 0.0,
        "loss": "crossentropy",
        "batch_size": 16,
        "epochs": 2,
        "validation_split": 0.25,
    }
    training.fit(head, features, y, params, "mixed_head")
    assert np.isfinite(head.evaluate(features, y, verbose=0)[0])
    assert (tmp_path / "dvclive" / "mixed_head" / "metrics.json").is_file()


def test_training_images_follows_keras_validation_split() -> None:
    assert training.training_images(np.zeros((10, 3)), 0.25) == 8  # Keras trains on the first ceil(7.5)
    assert training.training_images(np.zeros((100, 3)), 0.0) == 100


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
        "validation_split": 0.5,
    }
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    with caplog.at_level(logging.INFO, logger="mnist_transfer.training"):
        training.fit(model, x, training.targets(np.arange(40) % 2, 2), params, "tiny")
    lines = [record.getMessage() for record in caplog.records if "images/s" in record.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("tiny: training ") and "(mean of epochs 2-3)" in lines[0]
