"""The two notebooks replayed in plain Keras: one process, float32, `model.fit` on NumPy arrays.

Usage: python -m bench.notebooks <mnist.npz> <params.yaml> <result.json> [--precision POLICY]

The baseline the pipeline is measured against (python -m bench). Same architectures,
data, epochs, batch sizes, optimizers and seeds as the pipeline's params, trained the
way the notebooks train them: frozen layers stay in the model and run forward every
epoch, no feature caching, float32 (the notebooks) unless --precision names another Keras
policy (the pipeline's resolved one, to split its speed-up into precision and design).
Writes each model's test accuracy, the base training's images/s and each part's seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from contextlib import contextmanager
from pathlib import Path

from mnist_transfer.data import SPLITS, read_npz, select_digits, validation_start
from mnist_transfer.params import load_params

log = logging.getLogger("bench.notebooks")

# The notebooks' own validation_split per step (the pipeline holds out prepare.validation_fraction instead).
VALIDATION_SPLIT = {"base": 0.25, "freeze": 0.2, "branch_base": 0.25, "branch": 0.25}


def main(mnist: Path, params_file: Path, result_file: Path, precision: str = "float32") -> None:
    started = time.perf_counter()
    params = load_params(params_file)
    import keras

    keras.mixed_precision.set_global_policy(precision)
    parts: dict[str, float] = {"start-up (imports, data)": 0.0}

    from mnist_transfer import training
    from mnist_transfer.metrics import digit_metrics, log_probabilities
    from mnist_transfer.models import (
        add_dense_l2,
        body_layers,
        build_base_cnn,
        build_branch_cnn,
        build_full_cnn,
        grow_branch,
        rehead_full_cnn,
    )
    from stages.evaluate import head_log_probabilities

    raw = read_npz(mnist)
    limits = {"train": params["prepare"]["train_limit"], "test": params["prepare"]["test_limit"]}
    raw = {key: value[: limits[key.split("_")[1]]] for key, value in raw.items()}  # as prepare cuts them
    data = {name: select_digits(raw["x_train"], raw["y_train"], digits) for name, digits in SPLITS.items()}
    test = {name: select_digits(raw["x_test"], raw["y_test"], digits) for name, digits in SPLITS.items()}
    parts["start-up (imports, data)"] = time.perf_counter() - started

    @contextmanager
    def part(name: str):
        """Time a step of the replay under `name` (the pipeline stage it corresponds to)."""
        start = time.perf_counter()
        yield
        parts[name] = parts.get(name, 0.0) + time.perf_counter() - start

    def fit(model: keras.Model, split: str, group: str, units: int, offset: int = 0) -> training.Throughput:
        """model.fit as the notebooks do it, with the pipeline's hyperparameters for `group`."""
        p = params[group]
        x, y = data[split]
        model.compile(
            optimizer=training.make_optimizer(p), loss=training.make_loss(p["loss"], units), metrics=["accuracy"]
        )
        validation_split = VALIDATION_SPLIT.get(group, 0.0)
        trained = validation_start(len(x), validation_split)  # Keras trains on the images before it
        throughput = training.Throughput(group, trained)
        log.info("%s: fitting %s on %d images of %s for %d epochs", group, model.name, trained, split, p["epochs"])
        model.fit(
            training.images(x),
            training.targets(y, units, offset),
            batch_size=p["batch_size"],
            epochs=p["epochs"],
            validation_split=validation_split,
            callbacks=[throughput],
            verbose=2,
        )
        return throughput

    def accuracy(model: keras.Model, split: str) -> float:
        x, y = test[split]
        if len(model.outputs) > 1:  # the two-head model: its heads' log-probabilities, as stage evaluate compares them
            logs = head_log_probabilities(model, x)
        else:
            logs = log_probabilities(model.predict(training.images(x), batch_size=1024, verbose=0))
        return digit_metrics(logs, y, (split,))["accuracy"][split]

    results: dict[str, float] = {}

    # Notebook 000, sequential: CNN on 0-4, then its conv layers frozen and the dense layers retrained on 5-9.
    with part("base"):
        keras.utils.set_random_seed(params["seed"])
        base = build_base_cnn(params["base"]["input_divisor"])
        base_fit = fit(base, "0-4", "base", 10)
    with part("evaluate"):
        results["base 0-4"], results["base 0-9"] = accuracy(base, "0-4"), accuracy(base, "0-9")
    with part("freeze"):
        keras.utils.set_random_seed(params["seed"])
        for layer in body_layers(base)[: params["freeze"]["frozen_layers"]]:
            layer.trainable = False
        add_dense_l2(base, params["freeze"]["l2"])
        fit(base, "5-9", "freeze", 10)
    with part("evaluate"):
        results["freeze 0-9"] = accuracy(base, "0-9")

    # Notebook 000, branching: trunk + 0-4 head on 0-4, then a 5-9 head trained with everything else frozen.
    with part("branch_base"):
        keras.utils.set_random_seed(params["seed"])
        branch_base = build_branch_cnn(params["branch_base"]["input_divisor"])
        fit(branch_base, "0-4", "branch_base", 5)
    with part("branch"):
        keras.utils.set_random_seed(params["seed"])
        branch = grow_branch(branch_base)
        for layer in body_layers(branch_base):
            layer.trainable = False
        fit(keras.Model(branch.input, branch.outputs[1], name="branch_2"), "5-9", "branch", 5, offset=5)
    with part("evaluate"):
        results["branch 0-9"] = accuracy(branch, "0-9")

    # Notebook 003: CNN on all ten digits, then its frozen conv blocks under a new 0-vs-1 head.
    with part("full"):
        keras.utils.set_random_seed(params["seed"])
        full = build_full_cnn(params["full"]["input_divisor"])
        fit(full, "0-9", "full", 10)
    with part("evaluate"):
        results["full 0-9"] = accuracy(full, "0-9")
    for layer in full.layers:  # the conv blocks both 0-vs-1 models share; their new heads train
        layer.trainable = False
    for head, units in (("softmax", 2), ("sigmoid", 1)):
        with part(f"transfer_01@{head}"):
            keras.utils.set_random_seed(params["seed"])
            transfer = rehead_full_cnn(full, units)
            fit(transfer, "0-1", "transfer_01", units)
        with part("evaluate"):
            results[f"transfer_01_{head} 0-1"] = accuracy(transfer, "0-1")

    steady = base_fit.seconds[1:] or base_fit.seconds
    summary = {
        "accuracy": results,
        "base_images_per_second": base_fit.images_per_epoch * len(steady) / sum(steady),
        "precision": precision,
        "parts": parts,
        "seconds": time.perf_counter() - started,
    }
    result_file.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("replay finished in %.1f s", summary["seconds"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    parser = argparse.ArgumentParser(prog="python -m bench.notebooks", description=__doc__.split("\n")[0])
    parser.add_argument("mnist", type=Path)
    parser.add_argument("params", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    args = parser.parse_args()
    main(args.mnist, args.params, args.result, args.precision)
