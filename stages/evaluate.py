"""Stage evaluate: one trained model on the test sets -> metrics/<model>.json and its confusion data.

Usage: python -m stages.evaluate <model>   (models/<model>.keras)
Ten-digit models (and the two-head branching model, whose prediction is the argmax
over both heads) are scored on 0-4, 5-9 and 0-9; 0-vs-1 models on 0-1. Writes
plots/confusion/<model>.csv (actual, predicted) for `dvc plots show`.
"""

import logging
import sys

from mnist_transfer.errors import StageError, run_stage
from mnist_transfer.params import load_params

log = logging.getLogger("stages.evaluate")


def main() -> None:
    if len(sys.argv) != 2:
        raise StageError("usage: python -m stages.evaluate <model name in models/>")
    name = sys.argv[1]
    load_params()  # validated, though evaluation reads no params
    from mnist_transfer import training
    from mnist_transfer.artifacts import write_json, write_text
    from mnist_transfer.data import load_split
    from mnist_transfer.metrics import class_probabilities, confusion_csv, digit_metrics, head_accuracy
    from mnist_transfer.models import load_model

    model = load_model(f"models/{name}.keras")
    two_class = len(model.outputs) == 1 and model.output_shape[-1] in (1, 2)
    test_sets = ("0-1",) if two_class else ("0-4", "5-9", "0-9")
    digits = load_split(test_sets[-1])
    outputs = model.predict(training.images(digits.x_test), batch_size=1024, verbose=0)
    probabilities = class_probabilities(outputs)
    result = digit_metrics(probabilities, digits.y_test, test_sets)
    if isinstance(outputs, list):
        result["head_accuracy"] = head_accuracy(outputs, digits.y_test)
    write_json(f"metrics/{name}.json", result)
    write_text(f"plots/confusion/{name}.csv", confusion_csv(probabilities.argmax(axis=1), digits.y_test))
    log.info("%s: accuracy %s", name, result["accuracy"])


if __name__ == "__main__":
    run_stage("evaluate", main)
