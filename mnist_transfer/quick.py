"""The quick profile: params overrides that run the whole pipeline in minutes, for a first look.

    python -m mnist_transfer.quick             # experiment `quick`, the workspace left as it was
    python -m mnist_transfer.quick --options   # the overrides alone, as `dvc exp run` options

The first runs `dvc exp run --temp -n quick -S ...` (in a temporary copy: nothing in the
workspace changes; an earlier experiment `quick` is replaced) and ends by saying where to
look. It keeps the first 2,000 training and 600 test images, trains one epoch in every
training stage and 20 steps per task in every scenario, and shrinks the samples that
would not fit in so few images. The
numbers it gives say that the pipeline works, not what the methods can do. The
integration tests run the same profile.
"""

from __future__ import annotations

import subprocess
import sys
import time
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


WHERE_TO_LOOK = """
The first look ran as experiment `quick`; the workspace is as it was. Where to look:
  dvc exp show --only-changed           its metrics beside the committed run's
  dvc plots diff HEAD quick --open      its charts beside the committed ones
  python -m review HEAD quick           the review a pull request would carry (dvc_review/review.md)
  dvc exp remove quick                  to drop it"""


def main(argv: list[str]) -> int:
    """Run the quick experiment (or print its options); a bad params.yaml or argument is one line, exit 2."""
    usage = "python -m mnist_transfer.quick [--options]"
    try:
        if argv not in ([], ["--options"]):
            raise StageError(f"unexpected argument {argv[0]!r}; usage: {usage}")
        options = [f"-S {key}={value}" for key, value in overrides(load_params()).items()]
    except StageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if argv:
        print(" ".join(options))
        return 0
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "exp", "remove", "quick"], capture_output=True)  # none yet: nothing to remove
    start = time.perf_counter()
    command = [*dvc, "exp", "run", "--temp", "-n", "quick", *(part for option in options for part in option.split())]
    if subprocess.run(command).returncode != 0:
        print("error: the quick experiment failed (its output is above); the workspace is as it was", file=sys.stderr)
        return 1
    print(f"{WHERE_TO_LOOK}\n({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
