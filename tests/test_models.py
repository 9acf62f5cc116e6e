"""Model builders against the notebooks' model.summary() tables; freezing and trunk/head splits."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnist_transfer.models import (
    add_dense_l2,
    body_layers,
    build_base_cnn,
    build_branch_cnn,
    build_full_cnn,
    freeze_trunk,
    grow_branch,
    rehead_full_cnn,
)


def summary(model: keras.Model) -> list[tuple[str, int]]:
    """(layer name, parameter count) after the input and rescale layers, as the notebooks list them."""
    return [(layer.name, layer.count_params()) for layer in body_layers(model)]


# Notebook 000, In [7]: the sequential CNN (its printed table is cut after dropout_1;
# dense_2 is 128 * 10 + 10).
BASE_000 = [
    ("conv2d_1", 160),
    ("conv2d_2", 4640),
    ("conv2d_3", 18496),
    ("max_pooling2d_1", 0),
    ("flatten_1", 0),
    ("dense_1", 1605760),
    ("dropout_1", 0),
    ("dense_2", 1290),
]
# Notebook 000, In [27]: the branching CNN with its 0-4 head.
BRANCH_HEAD_1 = [
    ("branch_1_dense_1", 1605760),
    ("branch_1_dense_2", 16512),
    ("branch_1_dropout_1", 0),
    ("branch_1_dense_3", 645),
]
BRANCH_000 = BASE_000[:5] + BRANCH_HEAD_1
# Notebook 003, In [6]: the 0-9 CNN.
FULL_003 = [
    ("conv2d_1", 320),
    ("activation_1", 0),
    ("max_pooling2d_1", 0),
    ("conv2d_2", 18496),
    ("activation_2", 0),
    ("max_pooling2d_2", 0),
    ("conv2d_3", 73856),
    ("activation_3", 0),
    ("max_pooling2d_3", 0),
    ("flatten_1", 0),
    ("dense_1", 230600),
    ("activation_4", 0),
    ("dense_2", 2010),
    ("activation_5", 0),
]


def test_base_cnn_matches_notebook_000() -> None:
    model = build_base_cnn()
    assert summary(model) == BASE_000
    assert model.count_params() == 1630346
    assert model.output_shape == (None, 10)


def test_branch_cnn_matches_notebook_000() -> None:
    model = build_branch_cnn()
    assert summary(model) == BRANCH_000
    assert model.output_shape == (None, 5)


def test_grown_branch_shares_trunk_and_adds_second_head() -> None:
    base = build_branch_cnn()
    grown = grow_branch(base)
    names = dict(summary(grown))
    assert {name: names[name] for name in ("branch_2_dense_1", "branch_2_dense_2", "branch_2_dense_3")} == {
        "branch_2_dense_1": 1605760,
        "branch_2_dense_2": 16512,
        "branch_2_dense_3": 645,
    }
    assert grown.get_layer("conv2d_1") is base.get_layer("conv2d_1")
    assert [tuple(shape) for shape in (o.shape for o in grown.outputs)] == [(None, 5), (None, 5)]


def test_full_cnn_matches_notebook_003() -> None:
    model = build_full_cnn()
    assert summary(model) == FULL_003
    assert model.get_layer("rescale").scale == 1.0  # unscaled pixels, as in the notebook


@pytest.mark.parametrize(("outputs", "dense_2"), [(2, 402), (1, 201)])
def test_rehead_full_cnn_replaces_only_the_head(outputs: int, dense_2: int) -> None:
    full = build_full_cnn()
    transfer = rehead_full_cnn(full, outputs)
    assert summary(transfer)[:10] == FULL_003[:10]
    assert dict(summary(transfer))["dense_2"] == dense_2
    assert transfer.get_layer("conv2d_3") is full.get_layer("conv2d_3")
    assert transfer.get_layer("dense_1") is not full.get_layer("dense_1")
    last = transfer.get_layer("activation_5").get_config()["activation"]
    assert last == ("sigmoid" if outputs == 1 else "softmax")


def test_add_dense_l2_really_penalises() -> None:
    model = build_base_cnn()
    assert not model.losses
    add_dense_l2(model, 0.001)
    assert len(model.losses) == 2  # one L2 term per dense kernel
    kernel = model.get_layer("dense_2").kernel.numpy()
    assert float(model.losses[1]) == pytest.approx(0.001 * np.sum(np.square(kernel)), rel=1e-4)


def test_freeze_trunk_freezes_first_layers_and_head_matches_model() -> None:
    keras.utils.set_random_seed(1)
    model = build_base_cnn()
    names = [layer.name for layer in body_layers(model)]
    trunk, head = freeze_trunk(model, names[:5], names[5:])
    assert [layer.trainable for layer in body_layers(model)] == [False] * 5 + [True] * 3
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias", "kernel", "bias"]
    assert trunk.output_shape == (None, 12544)
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(head(trunk(images)), model(images), rtol=1e-5, atol=1e-6)
    assert len(head.trainable_weights) == 4


def test_load_model_refuses_wrong_input_size(tmp_path) -> None:
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.errors import DataError
    from mnist_transfer.models import load_model

    inputs = keras.Input(shape=(32, 32, 3))
    save_model(keras.Model(inputs, keras.layers.Flatten()(inputs)), tmp_path / "cifar.keras")
    with pytest.raises(DataError, match=r"takes inputs of shape \(32, 32, 3\), expected \(28, 28, 1\)"):
        load_model(tmp_path / "cifar.keras")


def test_load_model_refuses_corrupt_file(tmp_path) -> None:
    from mnist_transfer.errors import DataError
    from mnist_transfer.models import load_model

    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"damaged, not a readable \.keras file"):
        load_model(tmp_path / "broken.keras")


def test_the_scenario_cnn_is_the_base_cnn_on_flat_pixels_with_logits_out() -> None:
    from mnist_transfer.models import build_cnn

    cnn = build_cnn()
    assert [(layer.name, layer.count_params()) for layer in cnn.layers[2:]] == BASE_000
    assert cnn.input_shape == (None, 28 * 28)
    logits = cnn(np.random.default_rng(0).random((3, 28 * 28), dtype="float32"), training=False)
    assert np.asarray(logits).min() < 0  # not probabilities: the continual loss holds the softmax


def test_params_accept_exactly_the_networks_a_scenario_can_build() -> None:
    from typing import get_args

    from mnist_transfer.models import NETWORKS
    from mnist_transfer.params import Scenario

    assert set(get_args(Scenario.model_fields["network"].annotation)) == set(NETWORKS)
