"""Test-set metrics from predicted class log-probabilities (NumPy only).

The record every evaluated model gets (results/<model>.json; its DVC metrics file,
metrics/<model>.json, holds the scalars of stages/evaluate.py):
- "accuracy" and "loss" keyed by test set ("0-4", "5-9", "0-9" or "0-1"); the loss is
  the cross-entropy of the predicted class distribution, for every one-output model
  whatever loss it was trained with, so that their losses compare. The two-head branching
  model has no "loss": its two heads' probabilities add up to 2, and renormalising them
  caps the true class near 0.5 whenever both heads are confident, so its cross-entropy
  would be about ln 2 or more however right it is, and would not compare;
- "per_class_accuracy" keyed by class index ("0".."9" for ten-digit models, "0", "1" for
  the 0-vs-1 models): a class at 0 is a class the model lost;
- "test_images" keyed by test set.
Objects keyed by name, never lists, so that a record reads the same in any tool.
"""

from __future__ import annotations

import numpy as np

from mnist_transfer.data import SPLITS

_EPSILON = 1e-7


def log_probabilities(outputs: np.ndarray) -> np.ndarray:
    """A one-output model's outputs as (N, classes) float64 log-probabilities (log 0 = -inf).

    One softmax output is used as is; one sigmoid unit p becomes [1 - p, p]. The two-head
    branching model's log-probabilities come from its heads' logits instead
    (stages.evaluate.head_log_probabilities), side by side in ten columns: comparing
    them, rather than the heads' float32 probabilities, never meets two heads tied at 1.0.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.shape[1] == 1:
        outputs = np.concatenate([1.0 - outputs, outputs], axis=1)
    with np.errstate(divide="ignore"):
        return np.log(outputs)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64, exact for the top class too.

    The top class's log-probability is -log1p(sum of exp(z_j - z_max) over the others):
    written as z_max - log(sum of exp), it rounds to 0.0 once the others are about 37
    below, and two such confident heads would tie.
    """
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    others = np.exp(z)
    others[np.arange(len(z)), z.argmax(axis=1)] = 0.0  # the top class's own exp(0) = 1, left out
    return z - np.log1p(others.sum(axis=1, keepdims=True))


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predicted == labels))


def cross_entropy(log_probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-probability of the true class (probabilities clipped at 1e-7)."""
    picked = log_probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.maximum(picked, np.log(_EPSILON))))


def per_class_accuracy(predicted: np.ndarray, labels: np.ndarray, classes: int) -> dict[str, float]:
    """Recall of each class, keyed "0".."classes-1" (NaN-free: a class with no images is left out)."""
    return {
        str(digit): accuracy(predicted[labels == digit], labels[labels == digit])
        for digit in range(classes)
        if np.any(labels == digit)
    }


def digit_metrics(log_probabilities: np.ndarray, labels: np.ndarray, test_sets: tuple[str, ...]) -> dict:
    """Accuracy and loss on each digit subset of one test set, and per-class accuracy.

    The prediction is the class of highest log-probability. `labels` are the class indices
    of the columns (digits for the 10-way models, 0/1 for the 0-vs-1 models).
    """
    labels = labels.astype(np.int64)
    predicted = log_probabilities.argmax(axis=1)
    result: dict = {"accuracy": {}, "loss": {}, "test_images": {}}
    for name in test_sets:
        mask = np.isin(labels, SPLITS[name])
        result["accuracy"][name] = accuracy(predicted[mask], labels[mask])
        result["loss"][name] = cross_entropy(log_probabilities[mask], labels[mask])
        result["test_images"][name] = int(mask.sum())
    result["per_class_accuracy"] = per_class_accuracy(predicted, labels, log_probabilities.shape[1])
    return result


def head_accuracy(heads: list[np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Each branch head alone on its own half: head 1 on digits 0-4, head 2 on 5-9 (offset by 5).

    For a one-head 5-way model pass its output twice: "5-9" is then notebook 000's reading
    of the 0-4 head on 5-9 images, output k counted right for digit 5 + k.
    """
    labels = labels.astype(np.int64)
    low, high = labels < 5, labels >= 5
    return {
        "0-4": accuracy(heads[0][low].argmax(axis=1), labels[low]),
        "5-9": accuracy(heads[1][high].argmax(axis=1) + 5, labels[high]),
    }


def dual_label_accuracy(heads: list[np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Notebook 000's per-head accuracy over all ten digits with "dual" labels (its cell 40).

    Each head is scored on every image: on its own half against the digit (offset by 5
    for head 2), on the other half against an all-zero target, which Keras 2's accuracy
    counted right whenever the head's first output was its largest.
    """
    labels = labels.astype(np.int64)
    result = {}
    for index, (head, own) in enumerate(zip(heads, (labels < 5, labels >= 5), strict=True), start=1):
        predicted = head.argmax(axis=1)
        target = np.where(own, labels - 5 * (index - 1), 0)
        result[f"head {index}"] = accuracy(predicted, target)
    return result


def confusion_csv(predicted: np.ndarray, labels: np.ndarray) -> str:
    """One `actual,predicted` row per test image, for DVC's confusion-matrix template."""
    rows = [f"{int(a)},{int(p)}" for a, p in zip(labels, predicted, strict=True)]
    return "actual,predicted\n" + "\n".join(rows) + "\n"


def continual_metrics(accuracy_matrix: np.ndarray) -> dict[str, float]:
    """Average accuracy, backward transfer and forgetting from R[i, j], the accuracy on task j after task i.

    With T tasks (rows and columns in training order, 0-based here):
    - average accuracy: mean over tasks of R[T-1, j], after the last task;
    - BWT (Lopez-Paz & Ranzato 2017): mean over j < T-1 of R[T-1, j] - R[j, j];
    - forgetting (Chaudhry et al. 2018): mean over j < T-1 of max over l < T-1 of R[l, j] - R[T-1, j];
    - learning accuracy: mean over j of R[j, j], each task just after it was learnt, so that
      a learner that stops learning does not read as one that never forgets.
    For two tasks, BWT = R[1,0] - R[0,0] and forgetting = R[0,0] - R[1,0].
    """
    r = np.asarray(accuracy_matrix, dtype=np.float64)
    last = r.shape[0] - 1
    earlier = range(last)
    return {
        "average_accuracy": float(np.mean(r[last])),
        "learning_accuracy": float(np.mean(np.diag(r))),
        "bwt": float(np.mean([r[last, j] - r[j, j] for j in earlier])),
        "forgetting": float(np.mean([r[:last, j].max() - r[last, j] for j in earlier])),
    }
