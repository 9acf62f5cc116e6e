"""The quick profile: params overrides that run the whole pipeline in minutes, for a first look.

    dvc exp run -n quick $(python -m mnist_transfer.quick)

It keeps the first 2,000 training and 600 test images, trains one epoch in every
training stage and 20 steps per task in every scenario, and shrinks the samples that
would not fit in so few images. The
numbers it gives say that the pipeline works, not what the methods can do. The
integration tests run the same profile.
"""

from __future__ import annotations

import sys
from typing import Any

from mnist_transfer.errors import StageError
from mnist_transfer.params import Params, Training, load_params

FIXED = {
    "prepare.train_limit": 2000,
    "prepare.test_limit": 600,
    "strategies.ewc.fisher_samples": 50,  # of each task's training images
}
SCENARIO_ITERATIONS = 20  # steps per task


def overrides(params: dict) -> dict[str, Any]:
    """params key -> value: FIXED, `epochs: 1` for every group that trains (as Params lists them) and
    SCENARIO_ITERATIONS for every scenario of `params`."""
    epochs = {
        f"{group}.epochs": 1
        for group, field in Params.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, Training)
    }
    iterations = {f"scenarios.{name}.iterations": SCENARIO_ITERATIONS for name in params["scenarios"]}
    return {**FIXED, **epochs, **iterations}


def apply(params: dict) -> dict:
    """`params` (params.yaml as read) with the overrides set."""
    for key, value in overrides(params).items():
        *groups, name = key.split(".")
        place = params
        for group in groups:
            place = place[group]
        place[name] = value
    return params


def main(argv: list[str]) -> int:
    """Print the overrides as `dvc exp run` options; a bad params.yaml or an argument is one line, exit 2."""
    try:
        if argv:
            usage = "dvc exp run -n quick $(python -m mnist_transfer.quick)"
            raise StageError(f"unexpected argument {argv[0]!r}; usage: {usage}")
        print(" ".join(f"-S {key}={value}" for key, value in overrides(load_params()).items()))
    except StageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
