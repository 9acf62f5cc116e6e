"""Metric functions on hand-made predictions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mnist_transfer.data import SPLITS
from mnist_transfer.metrics import (
    accuracy,
    confusion_csv,
    continual_metrics,
    cross_entropy,
    digit_metrics,
    dual_label_accuracy,
    head_accuracy,
    log_probabilities,
    per_class_accuracy,
)


def test_softmax_outputs_become_their_logs_in_float64() -> None:
    softmax = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]], dtype=np.float32)
    logs = log_probabilities(softmax)
    assert logs.dtype == np.float64 and logs.shape == (2, 3)
    np.testing.assert_array_equal(logs, np.log(softmax.astype(np.float64)))
    assert logs.argmax(axis=1).tolist() == softmax.argmax(axis=1).tolist()


def test_sigmoid_unit_becomes_two_classes() -> None:
    logs = log_probabilities(np.array([[0.2], [0.9]], dtype=np.float32))
    assert logs.dtype == np.float64 and logs.shape == (2, 2)
    p = np.array([0.2, 0.9], dtype=np.float32).astype(np.float64)
    np.testing.assert_array_equal(logs, np.log(np.stack([1.0 - p, p], axis=1)))
    np.testing.assert_allclose(np.exp(logs), [[0.8, 0.2], [0.1, 0.9]], rtol=1e-6)


def test_a_probability_of_zero_is_a_log_of_minus_infinity_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero RuntimeWarning
        logs = log_probabilities(np.array([[1.0, 0.0], [0.0, 1.0]]))
        ends = log_probabilities(np.array([[0.0], [1.0]]))  # a sigmoid at 0 and at 1
    assert logs.tolist() == [[0.0, -np.inf], [-np.inf, 0.0]]
    assert ends.tolist() == [[0.0, -np.inf], [-np.inf, 0.0]]


def test_accuracy_and_cross_entropy() -> None:
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.5, 0.5]])
    labels = np.array([0, 1, 1, 0])
    assert accuracy(probs.argmax(axis=1), labels) == 0.75
    assert cross_entropy(np.log(probs), labels) == pytest.approx(-np.mean(np.log([0.7, 0.6, 0.1, 0.5])))
    # a true class at probability 0 (log -inf) is clipped at 1e-7, as Keras clips
    assert cross_entropy(log_probabilities(np.array([[1.0, 0.0]])), np.array([1])) == pytest.approx(-np.log(1e-7))
    assert cross_entropy(np.array([[0.0, -50.0]]), np.array([1])) == pytest.approx(-np.log(1e-7))
    assert cross_entropy(np.array([[0.0, -np.inf]]), np.array([0])) == 0.0


@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_digit_metrics_on_log_probabilities_are_those_of_the_probabilities(kind: str) -> None:
    """A one-output model: the same accuracy as the argmax of its outputs, the loss -mean(log(clip(p, 1e-7, 1)))."""
    rng = np.random.default_rng(0)
    if kind == "softmax":
        logits = rng.normal(scale=4.0, size=(200, 10))
        outputs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        outputs[:5] = np.eye(10)[(np.arange(5) + 1) % 10]  # sure and wrong: a true class at exactly 0
        outputs = outputs.astype(np.float32)
        labels, test_sets = rng.integers(0, 10, 200), ("0-4", "5-9", "0-9")
        labels[:5] = np.arange(5)
        probabilities = outputs.astype(np.float64)
    else:
        outputs = rng.uniform(size=(200, 1)).astype(np.float32)
        outputs[:2] = [[0.0], [1.0]]
        labels, test_sets = rng.integers(0, 2, 200), ("0-1",)
        labels[:2] = [1, 0]
        p = outputs.astype(np.float64)
        probabilities = np.concatenate([1.0 - p, p], axis=1)
    result = digit_metrics(log_probabilities(outputs), labels, test_sets)
    predicted = probabilities.argmax(axis=1)
    for name in test_sets:
        mask = np.isin(labels, SPLITS[name])
        picked = probabilities[mask][np.arange(mask.sum()), labels[mask]]
        assert result["accuracy"][name] == np.mean(predicted[mask] == labels[mask])
        assert result["loss"][name] == pytest.approx(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))), rel=1e-12)
    assert result["per_class_accuracy"] == per_class_accuracy(predicted, labels, probabilities.shape[1])


def test_two_heads_both_at_1_in_float32_are_told_apart_by_their_log_probabilities() -> None:
    """Logits 30 and 40 ahead of the rest: both heads' top probability is 1.0 in float32, not in log space."""
    logits = np.zeros((3, 10))
    logits[:, 0] = 30.0  # head 1 (digits 0-4), sure of 0
    logits[:, 7] = [40.0, 25.0, 40.0]  # head 2 (digits 5-9): surer of 7 on rows 0 and 2, less sure on row 1

    def softmax32(z: np.ndarray) -> np.ndarray:
        z = z.astype(np.float32)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def log_softmax64(z: np.ndarray) -> np.ndarray:
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    heads = [logits[:, :5], logits[:, 5:]]
    probabilities = np.concatenate([softmax32(head) for head in heads], axis=1)
    assert (probabilities[[0, 2]].max(axis=1) == 1.0).all()
    assert (probabilities[[0, 2], 0] == probabilities[[0, 2], 7]).all()  # tied at exactly 1.0
    assert probabilities.argmax(axis=1).tolist() == [0, 0, 0]  # the tie goes to the first head
    logs = np.concatenate([log_softmax64(head) for head in heads], axis=1)
    assert logs.argmax(axis=1).tolist() == [7, 0, 7]  # the surer head wins
    assert (logs[:, 0] < 0).all() and (logs[[0, 2], 7] > logs[[0, 2], 0]).all()
    result = digit_metrics(logs, np.array([7, 0, 7]), ("0-4", "5-9", "0-9"))
    assert result["accuracy"] == {"0-4": 1.0, "5-9": 1.0, "0-9": 1.0}


def test_per_class_accuracy_is_an_object_of_recalls() -> None:
    predicted = np.array([0, 0, 1, 2, 2, 2])
    labels = np.array([0, 1, 1, 2, 2, 0])
    assert per_class_accuracy(predicted, labels, 3) == {"0": 0.5, "1": 0.5, "2": 1.0}


def test_digit_metrics_schema_and_subsets() -> None:
    labels = np.array([0, 3, 5, 9, 9])
    predicted = np.array([0, 3, 3, 9, 1])  # 5 -> 3 wrong, last 9 -> 1 wrong
    probs = np.full((5, 10), 0.01)
    probs[np.arange(5), predicted] = 0.91
    result = digit_metrics(np.log(probs), labels, ("0-4", "5-9", "0-9"))
    assert set(result) == {"accuracy", "loss", "test_images", "per_class_accuracy"}
    assert result["accuracy"] == {"0-4": 1.0, "5-9": pytest.approx(1 / 3), "0-9": 0.6}
    assert result["test_images"] == {"0-4": 2, "5-9": 3, "0-9": 5}
    assert result["loss"]["0-4"] == pytest.approx(-np.log(0.91))
    assert set(result["per_class_accuracy"]) == {"0", "3", "5", "9"}
    assert all(isinstance(v, float) for group in ("accuracy", "loss") for v in result[group].values())


def test_two_class_metrics_show_a_lost_class() -> None:
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.6, 0.4]])  # always 0: class 1 is lost
    result = digit_metrics(np.log(probs), np.array([0, 1, 1]), ("0-1",))
    assert result["accuracy"] == {"0-1": 1 / 3}
    assert result["per_class_accuracy"] == {"0": 1.0, "1": 0.0}


def test_head_accuracy_scores_each_head_on_its_half() -> None:
    labels = np.array([1, 2, 6, 8])
    low = np.eye(5)[[1, 0, 3, 3]]  # right on 1, wrong on 2
    high = np.eye(5)[[0, 0, 1, 3]]  # right on 6 (index 1) and 8 (index 3)
    assert head_accuracy([low, high], labels) == {"0-4": 0.5, "5-9": 1.0}


def test_one_head_read_on_both_halves_is_the_notebooks_offset_reading() -> None:
    labels = np.array([0, 3, 5, 9])
    head = np.eye(5)[[0, 3, 0, 1]]  # 5 read as output 0: right; 9 as output 1: wrong (9 - 5 = 4)
    assert head_accuracy([head, head], labels) == {"0-4": 1.0, "5-9": 0.5}


def test_dual_label_accuracy_counts_first_output_as_right_on_the_other_half() -> None:
    labels = np.array([1, 2, 6, 8])
    low = np.eye(5)[[1, 0, 0, 3]]  # own half: right on 1, wrong on 2; other half: first output on 6 only
    high = np.eye(5)[[0, 2, 1, 1]]  # own half: right on 6 only; other half: first output on 1 only
    assert dual_label_accuracy([low, high], labels) == {"head 1": 0.5, "head 2": 0.5}


def test_confusion_csv_rows() -> None:
    assert confusion_csv(np.array([1, 2]), np.array([1, 3])) == "actual,predicted\n1,1\n3,2\n"


def test_continual_metrics_on_hand_made_matrix() -> None:
    # three tasks; rows: after task 1, 2, 3; columns: accuracy on task 1, 2, 3
    r = np.array([[0.9, 0.1, 0.0], [0.7, 0.95, 0.1], [0.6, 0.8, 0.97]])
    result = continual_metrics(r)
    assert result["average_accuracy"] == pytest.approx((0.6 + 0.8 + 0.97) / 3)
    assert result["bwt"] == pytest.approx(((0.6 - 0.9) + (0.8 - 0.95)) / 2)
    assert result["forgetting"] == pytest.approx(((0.9 - 0.6) + (0.95 - 0.8)) / 2)


def test_continual_metrics_two_tasks() -> None:
    result = continual_metrics(np.array([[0.998, 0.0], [0.84, 0.72]]))
    assert result == pytest.approx(
        {"average_accuracy": 0.78, "learning_accuracy": 0.859, "bwt": -0.158, "forgetting": 0.158}
    )


def test_two_saturated_heads_tie_in_float32_and_their_log_probabilities_do_not() -> None:
    """Both heads sure: float32 probabilities give the 0-4 head's digit, log-probabilities the surer head's."""
    from mnist_transfer import training
    from mnist_transfer.models import build_branch_cnn, grow_branch
    from stages.evaluate import head_log_probabilities

    model = grow_branch(build_branch_cnn())
    for branch, bias in ((1, [30.0, 0, 0, 0, 0]), (2, [0, 0, 40.0, 0, 0])):  # head 2 the surer, of digit 7
        head = model.get_layer(f"branch_{branch}_dense_3")
        kernel = np.zeros(head.get_weights()[0].shape, dtype="float32")
        head.set_weights([kernel, np.array(bias, dtype="float32")])
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    first, second = model.predict(training.images(images), verbose=0)
    assert (first.max(axis=1) == 1.0).all() and (second.max(axis=1) == 1.0).all()  # both round to exactly 1
    assert (np.concatenate([first, second], axis=1).argmax(axis=1) == 0).all()  # the tie goes to the first head
    assert (head_log_probabilities(model, images).argmax(axis=1) == 7).all()


def test_log_softmax_keeps_two_very_sure_heads_apart() -> None:
    """With the others 40 and 50 below, the top log-probabilities are -exp(-40) and -exp(-50), not both 0.0."""
    from mnist_transfer.metrics import log_softmax

    heads = [log_softmax(np.array([[40.0, 0.0, 0.0]])), log_softmax(np.array([[50.0, 0.0, 0.0]]))]
    both = np.concatenate(heads, axis=1)
    assert both[0, 0] == pytest.approx(-2 * np.exp(-40.0), rel=1e-12) and both[0, 3] < 0.0
    assert both.argmax(axis=1)[0] == 3  # the surer head wins
    rows = np.random.default_rng(0).normal(size=(5, 7)) * 3
    np.testing.assert_allclose(log_softmax(rows), rows - np.log(np.exp(rows).sum(axis=1, keepdims=True)), atol=1e-12)
