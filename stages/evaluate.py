"""Stage evaluate: one trained model on the test sets -> metrics/<model>.json and its confusion data.

The only stage that reads the test images. It also scores the validation images (the
held-out training images every training stage leaves alone) as "validation_accuracy":
choices between settings are made on those, never on the test set.

Usage: python -m stages.evaluate <model> [--incremental]   (models/<model>.keras)
Ten-digit models (and the two-head branching model, whose prediction is the argmax
over both heads) are scored on 0-4, 5-9 and 0-9; 0-vs-1 models on 0-1. Writes
plots/confusion/<model>.csv (actual, predicted) for `dvc plots show`.

With --incremental the model is a strategy for learning 5-9 after the base model: it
writes metrics/incremental/<model>.json instead, adding the continual-learning figures
(average accuracy, BWT, forgetting) against the base's 0-4 accuracy in metrics/base.json.
"""

import json
import logging
import sys
from pathlib import Path

from mnist_transfer.errors import DataError, StageError, run_stage
from mnist_transfer.params import load_params

log = logging.getLogger("stages.evaluate")


def main() -> None:
    args = sys.argv[1:]
    incremental = "--incremental" in args
    names = [arg for arg in args if arg != "--incremental"]
    if len(names) != 1:
        raise StageError("usage: python -m stages.evaluate <model name in models/> [--incremental]")
    name = names[0]
    load_params()  # validated, though evaluation reads no params
    import numpy as np

    from mnist_transfer import training
    from mnist_transfer.artifacts import write_json, write_text
    from mnist_transfer.data import load_split
    from mnist_transfer.metrics import (
        class_probabilities,
        confusion_csv,
        continual_metrics,
        digit_metrics,
        head_accuracy,
    )
    from mnist_transfer.models import load_model, precision

    training.use_compute()
    model = load_model(f"models/{name}.keras")
    two_class = len(model.outputs) == 1 and model.output_shape[-1] in (1, 2)
    test_sets = ("0-1",) if two_class else ("0-4", "5-9", "0-9")
    digits = load_split(test_sets[-1])

    def predict(x: np.ndarray) -> tuple[np.ndarray | list[np.ndarray], np.ndarray]:
        outputs = model.predict(training.images(x), batch_size=1024, verbose=0)
        probabilities = class_probabilities(outputs)
        if not np.isfinite(probabilities).all():
            raise DataError(f"models/{name}.keras gives non-finite outputs; retrain it (`dvc repro --force`)")
        return outputs, probabilities

    outputs, probabilities = predict(digits.x_test)
    result = digit_metrics(probabilities, digits.y_test, test_sets)
    result["validation_accuracy"] = digit_metrics(predict(digits.x_val)[1], digits.y_val, test_sets)["accuracy"]
    result["precision"] = precision(model)  # the dtype policy it was trained under (params compute.precision)
    if isinstance(outputs, list):
        result["head_accuracy"] = head_accuracy(outputs, digits.y_test)
    if incremental:
        base = json.loads(Path("metrics/base.json").read_text())["accuracy"]
        after = result["accuracy"]
        # R[i, j]: accuracy on task j (0-4, 5-9) after training task i (base, this strategy)
        result.update(continual_metrics([[base["0-4"], base["5-9"]], [after["0-4"], after["5-9"]]]))
        write_json(f"metrics/incremental/{name}.json", result)
    else:
        write_json(f"metrics/{name}.json", result)
        write_text(f"plots/confusion/{name}.csv", confusion_csv(probabilities.argmax(axis=1), digits.y_test))
    log.info("%s: accuracy %s", name, result["accuracy"])


if __name__ == "__main__":
    run_stage("evaluate", main)
