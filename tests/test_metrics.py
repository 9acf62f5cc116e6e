"""Metric functions on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_transfer.metrics import (
    accuracy,
    class_probabilities,
    confusion_csv,
    continual_metrics,
    cross_entropy,
    digit_metrics,
    dual_label_accuracy,
    head_accuracy,
    per_class_accuracy,
)


def test_branch_argmax_over_both_heads() -> None:
    """The notebook's prediction: argmax over the concatenated 0-4 and 5-9 softmaxes."""
    head_low = np.array([[0.9, 0.1, 0, 0, 0], [0.2, 0.2, 0.2, 0.2, 0.2], [0.0, 0.0, 0.6, 0.4, 0.0]])
    head_high = np.array([[0.5, 0.5, 0, 0, 0], [0.0, 0.0, 0.0, 0.1, 0.9], [0.0, 0.7, 0.3, 0.0, 0.0]])
    probs = class_probabilities([head_low, head_high])
    assert probs.argmax(axis=1).tolist() == [0, 9, 6]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_sigmoid_unit_becomes_two_classes() -> None:
    probs = class_probabilities(np.array([[0.2], [0.9]]))
    np.testing.assert_allclose(probs, [[0.8, 0.2], [0.1, 0.9]])


def test_accuracy_and_cross_entropy() -> None:
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1], [0.5, 0.5]])
    labels = np.array([0, 1, 1, 0])
    assert accuracy(probs.argmax(axis=1), labels) == 0.75
    assert cross_entropy(probs, labels) == pytest.approx(-np.mean(np.log([0.7, 0.6, 0.1, 0.5])))
    assert cross_entropy(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-np.log(1e-7))


def test_per_class_accuracy_is_an_object_of_recalls() -> None:
    predicted = np.array([0, 0, 1, 2, 2, 2])
    labels = np.array([0, 1, 1, 2, 2, 0])
    assert per_class_accuracy(predicted, labels, 3) == {"0": 0.5, "1": 0.5, "2": 1.0}


def test_digit_metrics_schema_and_subsets() -> None:
    labels = np.array([0, 3, 5, 9, 9])
    predicted = np.array([0, 3, 3, 9, 1])  # 5 -> 3 wrong, last 9 -> 1 wrong
    probs = np.full((5, 10), 0.01)
    probs[np.arange(5), predicted] = 0.91
    result = digit_metrics(probs, labels, ("0-4", "5-9", "0-9"))
    assert set(result) == {"accuracy", "loss", "test_images", "per_class_accuracy"}
    assert result["accuracy"] == {"0-4": 1.0, "5-9": pytest.approx(1 / 3), "0-9": 0.6}
    assert result["test_images"] == {"0-4": 2, "5-9": 3, "0-9": 5}
    assert set(result["per_class_accuracy"]) == {"0", "3", "5", "9"}
    assert all(isinstance(v, float) for group in ("accuracy", "loss") for v in result[group].values())


def test_two_class_metrics_show_a_lost_class() -> None:
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.6, 0.4]])  # always 0: class 1 is lost
    result = digit_metrics(probs, np.array([0, 1, 1]), ("0-1",))
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
    assert result == pytest.approx({"average_accuracy": 0.78, "bwt": -0.158, "forgetting": 0.158})


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
