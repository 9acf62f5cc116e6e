"""Stage evaluate: one trained model on the test sets -> results/ and metrics/<model>.json, its confusion data.

The only stage that reads the test images. It also scores the validation images (the
held-out training images every training stage leaves alone) as "validation_accuracy":
choices between settings are made on those, never on the test set.

Usage: python -m stages.evaluate <model> <digits>   (models/<model>.keras, trained on <digits>)
Digit models (ten-way, the five-way 0-4 models, and the two-head branching model) are
scored on 0-4, 5-9 and 0-9; 0-vs-1 models on 0-1. The prediction is the class of highest
log-probability; the branching model's are its two heads' log-probabilities side by side,
computed from their logits (head_log_probabilities), so that two confident heads, both
at 1.0 in float32, do not tie. Writes
- results/<model>.json, the record the reports read: accuracy, loss and image counts by
  test set, per-digit accuracy (mnist_transfer/metrics.py), the heads' own accuracies;
- metrics/<model>.json, its DVC metrics: the scalars a reader compares, on the digits the
  model was trained on (<digits>, dvc.yaml's `trained`: 0-4, 0-9 or 0-1): test and
  validation accuracy, and how many of those digits it never gets right (a collapsed class);
- plots/confusion/<model>.csv (actual, predicted) for `dvc plots show`.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from mnist_transfer.errors import DataError, StageError
from mnist_transfer.stage import run_stage

if TYPE_CHECKING:
    import numpy as np
    from keras import Model

log = logging.getLogger("stages.evaluate")


def head_log_probabilities(model: Model, x: np.ndarray) -> np.ndarray:
    """(N, 10) float64 log-probabilities of the branching model's two heads, from each head's logits.

    A confident head's top probability rounds to exactly 1.0 in float32; when both heads
    do, the argmax over their probabilities takes the 0-4 head's digit, the first column.
    Log-probabilities from the logits (the softmax layer's input times its kernel, plus its
    bias) keep the two heads apart.
    """
    import numpy as np

    from mnist_transfer import models, training
    from mnist_transfer.metrics import log_softmax
    from mnist_transfer.quiet_tf import keras

    heads = [model.get_layer(f"branch_{branch}_dense_3") for branch in (1, 2)]
    features = keras.Model(model.input, [head.input for head in heads])
    parts = []
    outputs = features.predict(training.images(x), batch_size=models.SCORE_BATCH, verbose=0)
    for head, h in zip(heads, outputs, strict=True):
        kernel, bias = (weights.astype(np.float64) for weights in head.get_weights())
        parts.append(log_softmax(h.astype(np.float64) @ kernel + bias))
    return np.concatenate(parts, axis=1)


def main(params: dict) -> None:
    from mnist_transfer.data import SPLITS, load_split

    args = sys.argv[1:]
    usage = "usage: python -m stages.evaluate <model name in models/> <the digits it was trained on, e.g. 0-4>"
    if len(args) != 2 or args[0].startswith("-"):
        raise StageError(usage)
    name, own = args
    if own not in SPLITS:
        raise StageError(f"{own!r} is no digit set (one of {', '.join(SPLITS)}); {usage}")
    import numpy as np

    from mnist_transfer import models, training
    from mnist_transfer.artifacts import write_json, write_text
    from mnist_transfer.metrics import (
        confusion_csv,
        digit_metrics,
        dual_label_accuracy,
        head_accuracy,
        log_probabilities,
    )
    from mnist_transfer.models import load_model, model_path, precision

    training.use_precision(params["precision"])
    model = load_model(model_path(name))
    two_class = len(model.outputs) == 1 and model.output_shape[-1] in (1, 2)
    test_sets = ("0-1",) if two_class else ("0-4", "5-9", "0-9")
    if own not in test_sets:
        raise StageError(f"models/{name}.keras is scored on {', '.join(test_sets)}, not on {own}; {usage}")
    digits = load_split(test_sets[-1])

    def predict(x: np.ndarray) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
        """The model's outputs on `x`, and its (N, classes) log-probabilities."""
        outputs = model.predict(training.images(x), batch_size=models.SCORE_BATCH, verbose=0)
        if not all(np.isfinite(part).all() for part in (outputs if isinstance(outputs, list) else [outputs])):
            raise DataError(f"models/{name}.keras gives non-finite outputs; retrain it (`dvc repro --force`)")
        if isinstance(outputs, list):  # the two-head branching model
            return outputs, head_log_probabilities(model, x)
        logs = log_probabilities(outputs)
        if not two_class and logs.shape[1] == 5:  # a 0-4 model: no digit 5-9 is ever predicted
            logs = np.pad(logs, ((0, 0), (0, 5)), constant_values=-np.inf)
        return outputs, logs

    outputs, logs = predict(digits.x_test)
    result = digit_metrics(logs, digits.y_test, test_sets)
    result["validation_accuracy"] = digit_metrics(predict(digits.x_val)[1], digits.y_val, test_sets)["accuracy"]
    result["precision"] = precision(model)  # the dtype policy it was trained under (params precision)
    if isinstance(outputs, list):  # the two-head branching model
        del result["loss"]  # not comparable with one-softmax models (mnist_transfer/metrics.py)
        result["head_accuracy"] = head_accuracy(outputs, digits.y_test)
        result["dual_label_accuracy"] = dual_label_accuracy(outputs, digits.y_test)
    elif name == "branch_base":  # notebook 000 read its 0-4 head on 5-9 images as digit - 5
        result["head_accuracy"] = head_accuracy([outputs, outputs], digits.y_test)
    write_json(f"results/{name}.json", result)
    trained = [str(digit) for digit in SPLITS[own]]  # per-class keys: digits, or the 0-vs-1 classes 0 and 1
    write_json(
        f"metrics/{name}.json",
        {
            "accuracy": result["accuracy"][own],
            "validation_accuracy": result["validation_accuracy"][own],
            "lost_classes": sum(result["per_class_accuracy"][digit] == 0.0 for digit in trained),
        },
    )
    write_text(f"plots/confusion/{name}.csv", confusion_csv(logs.argmax(axis=1), digits.y_test))
    log.info("%s: accuracy %s", name, result["accuracy"])


if __name__ == "__main__":
    run_stage("evaluate", main)
