"""Stage evaluate: one trained model on the test sets -> metrics/<model>.json and its confusion data.

The only stage that reads the test images. It also scores the validation images (the
held-out training images every training stage leaves alone) as "validation_accuracy":
choices between settings are made on those, never on the test set.

Usage: python -m stages.evaluate <model> [--incremental --start <model>]   (models/<model>.keras)
Digit models (ten-way, the five-way 0-4 models, and the two-head branching model, whose
prediction is the argmax over both heads) are scored on 0-4, 5-9 and 0-9; 0-vs-1 models
on 0-1. The branching model also gets exact_argmax_accuracy (and its validation twin):
the same argmax over the heads' log-probabilities, which float32 does not round to 1.0
(head_log_probabilities), and both_heads_at_1, the test images on which it does so in
both heads. Writes plots/confusion/<model>.csv (actual, predicted) for `dvc plots show`.

With --incremental the model is a strategy for learning 5-9 after the 0-4 model <start>:
it writes metrics/incremental/<model>.json instead, adding the continual-learning
figures (average accuracy, BWT, forgetting) against the start model's accuracies in
metrics/<start>.json, and the bytes of 0-4 state the strategy kept (continual.kept_bytes).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from mnist_transfer.errors import DataError, StageError
from mnist_transfer.inputs import read_json
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

    from mnist_transfer import training
    from mnist_transfer.quiet_tf import keras

    heads = [model.get_layer(f"branch_{branch}_dense_3") for branch in (1, 2)]
    features = keras.Model(model.input, [head.input for head in heads])
    parts = []
    for head, h in zip(heads, features.predict(training.images(x), batch_size=1024, verbose=0), strict=True):
        kernel, bias = (weights.astype(np.float64) for weights in head.get_weights())
        logits = h.astype(np.float64) @ kernel + bias
        logits -= logits.max(axis=1, keepdims=True)
        parts.append(logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)))
    return np.concatenate(parts, axis=1)


def main(params: dict) -> None:
    args = sys.argv[1:]
    usage = "usage: python -m stages.evaluate <model name in models/> [--incremental --start <0-4 model name>]"
    start = None
    if len(args) == 4 and args[1:3] == ["--incremental", "--start"]:
        start = args[3]
    elif len(args) != 1 or args[0].startswith("-"):
        raise StageError(usage)
    name = args[0]
    import numpy as np

    from mnist_transfer import training
    from mnist_transfer.artifacts import write_json, write_text
    from mnist_transfer.continual import kept_bytes
    from mnist_transfer.data import load_split
    from mnist_transfer.metrics import (
        class_probabilities,
        confusion_csv,
        continual_metrics,
        digit_metrics,
        dual_label_accuracy,
        head_accuracy,
    )
    from mnist_transfer.models import load_model, model_path, precision

    training.use_precision(params["precision"])
    model = load_model(model_path(name))
    two_class = len(model.outputs) == 1 and model.output_shape[-1] in (1, 2)
    test_sets = ("0-1",) if two_class else ("0-4", "5-9", "0-9")
    digits = load_split(test_sets[-1])

    def predict(x: np.ndarray) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
        outputs = model.predict(training.images(x), batch_size=1024, verbose=0)
        probabilities = class_probabilities(outputs)
        if not np.isfinite(probabilities).all():
            raise DataError(f"models/{name}.keras gives non-finite outputs; retrain it (`dvc repro --force`)")
        if not two_class and probabilities.shape[1] == 5:  # a 0-4 model: no digit 5-9 is ever predicted
            probabilities = np.pad(probabilities, ((0, 0), (0, 5)))
        return outputs, probabilities

    outputs, probabilities = predict(digits.x_test)
    result = digit_metrics(probabilities, digits.y_test, test_sets)
    result["validation_accuracy"] = digit_metrics(predict(digits.x_val)[1], digits.y_val, test_sets)["accuracy"]
    result["precision"] = precision(model)  # the dtype policy it was trained under (params precision)
    if isinstance(outputs, list):  # the two-head branching model
        del result["loss"]  # not comparable with one-softmax models (mnist_transfer/metrics.py)
        result["head_accuracy"] = head_accuracy(outputs, digits.y_test)
        result["dual_label_accuracy"] = dual_label_accuracy(outputs, digits.y_test)
        # the same argmax over both heads, on log-probabilities (head_log_probabilities)
        for part, key in (("test", "exact_argmax_accuracy"), ("val", "exact_argmax_validation_accuracy")):
            predicted = head_log_probabilities(model, getattr(digits, f"x_{part}")).argmax(axis=1)
            result[key] = digit_metrics(np.eye(10)[predicted], getattr(digits, f"y_{part}"), test_sets)["accuracy"]
        result["both_heads_at_1"] = int(np.sum((outputs[0].max(axis=1) == 1.0) & (outputs[1].max(axis=1) == 1.0)))
    elif name == "branch_base":  # notebook 000 read its 0-4 head on 5-9 images as digit - 5
        result["head_accuracy"] = head_accuracy([outputs, outputs], digits.y_test)
    if start is not None:
        before = read_json(f"metrics/{start}.json")["accuracy"]
        after = result["accuracy"]
        # R[i, j]: accuracy on task j (0-4, 5-9) after training task i (start model, this strategy)
        result.update(continual_metrics([[before["0-4"], before["5-9"]], [after["0-4"], after["5-9"]]]))
        # what it kept of 0-4, from its own params group only (dvc.yaml evaluate_incremental)
        stored, covariance, width = 0, None, 0
        if name == "replay":
            stored = params["replay"]["buffer_size"]
        elif name == "joint":
            stored = int(np.sum(digits.y_train < 5))  # every 0-4 training image
        elif name == "gaussian":
            covariance = params["gaussian"]["covariance"]
            width = model.get_layer("gaussian_classifier").features
        result["stored_images"] = stored
        result["starts_from"] = start
        if covariance is not None:
            result["covariance"] = covariance
        result["kept_bytes"] = kept_bytes(name, model, stored, covariance, width)
        write_json(f"metrics/incremental/{name}.json", result)
    else:
        write_json(f"metrics/{name}.json", result)
        write_text(f"plots/confusion/{name}.csv", confusion_csv(probabilities.argmax(axis=1), digits.y_test))
    log.info("%s: accuracy %s", name, result["accuracy"])


if __name__ == "__main__":
    run_stage("evaluate", main)
