"""Continual-learning pieces on tiny hand-made inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from mnist_transfer.artifacts import save_npz
from mnist_transfer.continual import (
    DistillationLoss,
    EWCPenalty,
    ReplayBatches,
    add_ewc_penalty,
    balanced_buffer,
    fisher_diagonal,
    gaussian_statistics,
)
from mnist_transfer.data import split_path
from mnist_transfer.models import GaussianClassifier

from .conftest import ROOT


def test_distillation_is_cross_entropy_plus_softened_kl() -> None:
    labels = np.eye(10)[[7]]
    old = np.array([[0.7, 0.1, 0.1, 0.05, 0.05]])
    pred = np.array([[0.2, 0.1, 0.05, 0.05, 0.1, 0.0, 0.0, 0.5, 0.0, 0.0]])
    t = 2.0
    loss = DistillationLoss(temperature=t, weight=0.5)(np.concatenate([labels, old], axis=1), pred)

    def soften(p: np.ndarray) -> np.ndarray:
        z = np.exp(np.log(p) / t)
        return z / z.sum()

    old_t, new_t = soften(old[0]), soften(pred[0, :5])
    expected = -np.log(0.5) + 0.5 * t**2 * np.sum(old_t * np.log(old_t / new_t))
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_distillation_without_weight_is_plain_cross_entropy() -> None:
    labels, old = np.eye(10)[[5]], np.full((1, 5), 0.2)
    pred = np.full((1, 10), 0.1)
    loss = DistillationLoss(temperature=3.0, weight=0.0)(np.concatenate([labels, old], axis=1), pred)
    assert float(loss) == pytest.approx(-np.log(0.1), rel=1e-5)


def test_ewc_penalty_is_fisher_weighted_distance() -> None:
    fisher, anchor = np.array([1.0, 0.0, 4.0], "float32"), np.array([0.5, 0.5, 0.5], "float32")
    penalty = EWCPenalty(fisher, anchor, strength=10.0)
    assert float(penalty(anchor)) == 0.0
    assert float(penalty(np.array([1.5, 9.0, 0.0], "float32"))) == pytest.approx(0.5 * 10 * (1.0 + 0 + 4 * 0.25))


def test_add_ewc_penalty_anchors_every_trainable_weight() -> None:
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    add_ewc_penalty(model, [np.ones((3, 2), "float32"), np.ones(2, "float32")], strength=2.0)
    assert [float(loss) for loss in model.losses] == [0.0, 0.0]  # at the anchor
    model.layers[-1].bias.assign([1.0, 1.0])
    assert float(sum(model.losses)) == pytest.approx(0.5 * 2.0 * 2.0)


def test_fisher_of_a_softmax_bias_is_mean_squared_residual() -> None:
    """For p = softmax(Wx + b), d log p_y / d b = onehot(y) - p."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    y = np.array([0, 1, 2, 2, 1, 0])
    _, bias_fisher = fisher_diagonal(model, x, y)
    residual = np.eye(3)[y] - model.predict(x, verbose=0)
    np.testing.assert_allclose(bias_fisher, np.mean(residual**2, axis=0), rtol=1e-4)


def test_balanced_buffer_spreads_over_classes_and_repeats() -> None:
    labels = np.repeat(np.arange(5), [50, 60, 70, 80, 90])
    chosen = balanced_buffer(labels, 23, seed=3)
    assert len(chosen) == len(set(chosen)) == 23
    assert sorted(np.bincount(labels[chosen]).tolist()) == [4, 4, 5, 5, 5]
    np.testing.assert_array_equal(chosen, balanced_buffer(labels, 23, seed=3))


def test_replay_batches_mix_new_and_stored() -> None:
    new = (np.zeros((10, 2), "float32"), np.zeros((10, 1), "float32"))
    stored = (np.ones((4, 2), "float32"), np.ones((4, 1), "float32"))
    batches = ReplayBatches(new, stored, batch_size=4, replay_size=2, seed=0)
    assert len(batches) == 3
    x, y = batches[0]
    assert x.shape == (6, 2) and y[:4].sum() == 0 and y[4:].sum() == 2
    assert len(batches[2][0]) == 2 + 2  # last batch: the 2 remaining new examples


def test_gaussian_classifier_picks_the_likeliest_class() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal([0, 0], [1.0, 0.1], size=(500, 2))
    b = rng.normal([0, 1], [0.1, 1.0], size=(500, 2))
    stats = [gaussian_statistics(a, 0.0), gaussian_statistics(b, 0.0)]
    layer = GaussianClassifier(2, 2)
    layer.set_weights([np.stack(p).astype("float32") for p in zip(*stats, strict=True)])
    probs = np.asarray(layer(np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 0.05]], "float32")))
    assert probs.argmax(axis=1).tolist() == [0, 1, 0]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_gaussian_shrinkage_pulls_towards_identity() -> None:
    features = np.random.default_rng(0).normal(size=(1000, 3)) * [1.0, 2.0, 3.0]
    _, precision, _ = gaussian_statistics(features, shrinkage=0.999)
    np.testing.assert_allclose(np.linalg.inv(precision), np.eye(3) * np.trace(np.cov(features.T)) / 3, atol=0.01)


def test_replay_stage_refuses_buffer_larger_than_data(tmp_path: Path) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["replay"]["buffer_size"] = 50
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for name, digits in (("0-4", [0, 1, 2, 3, 4]), ("5-9", [5, 6, 7, 8, 9])):
        y = np.array(digits * 4, np.uint8)
        save_npz(split_path(name, tmp_path / "data" / "prepared"), {
            "x_train": np.zeros((20, 28, 28), np.uint8), "y_train": y,
            "x_val": np.zeros((5, 28, 28), np.uint8), "y_val": y[:5],
            "x_test": np.zeros((5, 28, 28), np.uint8), "y_test": y[:5],
        })  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "stages.replay"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: replay.buffer_size = 50 is more than the 20 0-4 training images"
    )
    assert not (tmp_path / "models").exists()
