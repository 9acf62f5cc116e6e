"""Continual-learning pieces on tiny hand-made inputs."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from mnist_transfer.artifacts import save_npz
from mnist_transfer.continual import (
    DistillationLoss,
    EWCPenalty,
    ReplayBatches,
    StreamingLDA,
    add_ewc_penalty,
    class_gaussians,
    fisher_diagonal,
    gaussian_statistics,
    kept_bytes,
    logits_model,
)
from mnist_transfer.data import balanced_buffer, split_path
from mnist_transfer.models import GaussianClassifier, build_base_cnn

from .conftest import ROOT, stage_process


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_distillation_is_cross_entropy_plus_softened_kl_on_logits() -> None:
    labels = np.eye(10)[[7]]
    old = np.array([[2.0, 0.5, 0.1, -1.0, -0.5]])
    new = np.array([[1.0, 0.3, -0.2, 0.0, 0.4, -3.0, 0.0, 2.5, -1.0, 0.0]])
    t = 2.0
    loss = DistillationLoss(temperature=t, weight=0.5)(np.concatenate([labels, old], axis=1), new)
    old_t, new_t = softmax(old[0] / t), softmax(new[0, :5] / t)
    expected = -np.log(softmax(new[0])[7]) + 0.5 * np.sum(old_t * np.log(old_t / new_t))  # Li & Hoiem: no T^2
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_distillation_without_weight_is_plain_cross_entropy() -> None:
    labels, old = np.eye(10)[[5]], np.zeros((1, 5))
    new = np.zeros((1, 10))
    loss = DistillationLoss(temperature=3.0, weight=0.0)(np.concatenate([labels, old], axis=1), new)
    assert float(loss) == pytest.approx(-np.log(0.1), rel=1e-5)


def test_distillation_gradient_does_not_vanish_where_old_probabilities_are_tiny() -> None:
    """The new model puts < 1e-7 on every 0-4 digit: distillation must still pull them back."""
    labels = np.eye(10, dtype="float32")[[6]]
    old = np.array([[3.0, 1.0, 0.0, -1.0, -2.0]], "float32")
    new = tf.Variable(np.array([[-30.0] * 5 + [0.0, 5.0, 0.0, 0.0, 0.0]], "float32"))
    assert softmax(new.numpy())[0, :5].max() < 1e-7
    loss = DistillationLoss(temperature=2.0, weight=1.0)
    with tf.GradientTape() as tape:
        value = loss(np.concatenate([labels, old], axis=1), new)
    gradient = tape.gradient(value, new).numpy()[0, :5]
    # d KL / d new_i = (new_T - old_T)_i / T: here new_T is uniform over 0-4 (all logits equal)
    np.testing.assert_allclose(gradient, (softmax(new.numpy()[0, :5] / 2) - softmax(old[0] / 2)) / 2, atol=1e-6)
    assert np.abs(gradient).min() > 1e-3


def test_logits_model_shares_weights_and_gives_the_softmax_logits() -> None:
    keras.utils.set_random_seed(0)
    model = build_base_cnn()
    logits = logits_model(model)
    x = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(softmax(logits.predict(x, verbose=0)), model.predict(x, verbose=0), atol=1e-6)
    assert {id(w) for w in logits.trainable_variables} == {id(w) for w in model.trainable_variables}


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


def test_replay_sees_only_buffer_images_of_the_old_task() -> None:
    """Over an epoch every old-task image in a batch is one of the stored ones, replay_size per batch."""
    old_images = np.arange(100, dtype="float32")[:, None] + 1000  # ids 1000..1099: 0-4 images
    stored = balanced_buffer(np.repeat(np.arange(5), 20), 10, seed=0)
    new = (np.arange(37, dtype="float32")[:, None], np.full((37, 1), 7.0, "float32"))
    batches = ReplayBatches(new, (old_images[stored], np.full((10, 1), 1.0, "float32")), 8, 3, seed=0)
    seen_old, seen_new = [], []
    for index in range(len(batches)):
        x, _ = batches[index]
        seen_old += [v for v in x[:, 0] if v >= 1000]
        seen_new += [v for v in x[:, 0] if v < 1000]
    assert len(seen_old) == 3 * len(batches) == 15
    assert set(seen_old) <= set(old_images[stored, 0])
    assert sorted(seen_new) == list(range(37))  # every new image once per epoch


def test_class_gaussians_of_old_digits_ignore_new_data() -> None:
    rng = np.random.default_rng(0)
    old_x, old_y = rng.normal(size=(200, 4)), np.repeat(np.arange(5), 40)
    new_x, new_y = rng.normal(5.0, size=(100, 4)), np.repeat(np.arange(5, 10), 20)
    alone = class_gaussians(old_x, old_y, list(range(5)), 0.1)
    both = class_gaussians(np.concatenate([old_x, new_x]), np.concatenate([old_y, new_y]), list(range(10)), 0.1)
    for before, after in zip(alone, both[:5], strict=True):
        for a, b in zip(before, after, strict=True):
            np.testing.assert_array_equal(a, b)


def test_streaming_lda_means_of_old_digits_ignore_new_data_and_streaming_is_exact() -> None:
    rng = np.random.default_rng(1)
    old_x, old_y = rng.normal(size=(150, 3)), np.repeat(np.arange(5), 30)
    lda = StreamingLDA(3)
    lda.update(old_x, old_y)
    means = {c: m.copy() for c, m in lda.means.items()}
    lda.update(rng.normal(4.0, size=(50, 3)), np.repeat(np.arange(5, 10), 10))
    for digit in range(5):
        np.testing.assert_array_equal(lda.means[digit], means[digit])
        np.testing.assert_allclose(means[digit], old_x[old_y == digit].mean(axis=0))
    assert lda.counts == {d: 30 for d in range(5)} | {d: 10 for d in range(5, 10)}
    # one class: Hayes & Kanan's update is Welford's, the exact (population) covariance
    single = StreamingLDA(3)
    single.update(old_x, np.zeros(150))
    np.testing.assert_allclose(single.covariance, np.cov(old_x, rowvar=False, ddof=0), atol=1e-12)


def test_streaming_lda_classifies_with_one_shared_covariance() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal([0, 0], [1.0, 0.2], (300, 2)), rng.normal([0, 1], [1.0, 0.2], (300, 2))])
    lda = StreamingLDA(2)
    lda.update(x, np.repeat([0, 1], 300))
    stats = lda.statistics([0, 1], shrinkage=0.0)
    np.testing.assert_array_equal(stats[0][1], stats[1][1])
    layer = GaussianClassifier(2, 2)
    layer.set_weights([np.stack(p).astype("float32") for p in zip(*stats, strict=True)])
    probs = np.asarray(layer(np.array([[5.0, 0.1], [-5.0, 0.9], [0.0, 0.45]], "float32")))
    assert probs.argmax(axis=1).tolist() == [0, 1, 0]


def test_kept_bytes_counts_what_each_strategy_keeps() -> None:
    keras.utils.set_random_seed(0)
    model = build_base_cnn()
    weights = model.count_params()
    assert kept_bytes("finetune", model, 0, "per_class", 0) == 0
    assert kept_bytes("branch", model, 0, "per_class", 0) == 0
    assert kept_bytes("replay", model, 1000, "per_class", 0) == 1000 * 785  # uint8 image + label
    assert kept_bytes("lwf", model, 0, "per_class", 0) == 4 * weights  # the old model, float32
    assert kept_bytes("ewc", model, 0, "per_class", 0) == 2 * 4 * weights  # Fisher + anchor per weight
    assert kept_bytes("gaussian", model, 0, "per_class", 128) == 5 * (128 + 128 * 128 + 1) * 4 == 330_260
    assert kept_bytes("gaussian", model, 0, "shared", 128) == (5 * 128 + 128 * 128 + 6) * 4


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


@pytest.mark.parametrize(
    ("stage", "param"), [("replay", ("replay", "buffer_size")), ("fisher", ("ewc", "fisher_samples"))]
)
def test_a_sample_larger_than_a_class_is_refused_naming_both_params(tmp_path: Path, stage: str, param) -> None:
    """Checked before any work starts: one line naming the sample's param and the limit on the data."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params[param[0]][param[1]] = 50  # 10 images of each 0-4 digit, where the split holds 4
    params["prepare"]["train_limit"] = 2000
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for name, digits in (("0-4", [0, 1, 2, 3, 4]), ("5-9", [5, 6, 7, 8, 9])):
        y = np.array(digits * 4, np.uint8)
        save_npz(split_path(name, tmp_path / "data" / "prepared"), {
            "x_train": np.zeros((20, 28, 28), np.uint8), "y_train": y,
            "x_val": np.zeros((5, 28, 28), np.uint8), "y_val": y[:5],
            "x_test": np.zeros((5, 28, 28), np.uint8), "y_test": y[:5],
        })  # fmt: skip
    result = stage_process(tmp_path, f"stages.{stage}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {param[0]}.{param[1]} = 50 takes 10 images of digit 0, but the 0-4 training images "
        f"(prepare.train_limit = 2000) hold only 4 of them; lower {param[0]}.{param[1]} or keep more images"
    ]
    assert not (tmp_path / "models").exists()
