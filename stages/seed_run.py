"""Stage seed_run (seed study): the whole pipeline with every stage's seed set to N -> seeds/runs/<N>.json.

Usage: python -m stages.seed_run <N>

Copies the pipeline (dvc.yaml, params.yaml with every `seed` set to N, the code) into a
scratch DVC project that shares this project's cache, runs `dvc repro` there on this
project's validated MNIST (data/raw/mnist.npz), and keeps every metrics file it wrote.
Sharing the cache means a seed whose stages already ran here (seed 0: the default run)
is restored from DVC's run-cache instead of trained again.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from mnist_transfer.artifacts import write_json
from mnist_transfer.errors import StageError, run_stage
from mnist_transfer.params import PARAMS_FILE, load_params

log = logging.getLogger("stages.seed_run")

PIPELINE = ["dvc.yaml", "stages", "mnist_transfer", ".dvcignore"]


def with_seed(params: dict, seed: int) -> dict:
    """params with every group's `seed` set to `seed`."""
    return {group: {**values, "seed": seed} if "seed" in values else values for group, values in params.items()}


def main() -> None:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        raise StageError("usage: python -m stages.seed_run <seed>")
    seed = int(sys.argv[1])
    load_params()  # refuse bad params before anything runs
    root = Path.cwd()
    raw = yaml.safe_load(PARAMS_FILE.read_text())
    with tempfile.TemporaryDirectory(prefix=f"seed-run-{seed}-") as scratch_name:
        scratch = Path(scratch_name)
        for name in PIPELINE:
            copy = shutil.copytree if (root / name).is_dir() else shutil.copy
            copy(root / name, scratch / name)
        (scratch / "params.yaml").write_text(yaml.safe_dump(with_seed(raw, seed), sort_keys=False))
        dvc = [sys.executable, "-m", "dvc"]
        env = {**os.environ, "MNIST_NPZ": str(root / "data" / "raw" / "mnist.npz"), "DVC_NO_ANALYTICS": "1"}
        for command in (
            ["init", "--no-scm", "--quiet"],
            ["config", "cache.dir", str(root / ".dvc" / "cache")],
            ["repro"],
        ):
            log.info("seed %d: dvc %s", seed, " ".join(command))
            result = subprocess.run([*dvc, *command], cwd=scratch, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                log.error("%s", "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:]))
                raise StageError(f"seed {seed}: `dvc {' '.join(command)}` failed (exit {result.returncode}); see above")
        metrics = {
            str(path.relative_to(scratch / "metrics").with_suffix("")): json.loads(path.read_text())
            for path in sorted((scratch / "metrics").rglob("*.json"))
        }
    write_json(f"seeds/runs/{seed}.json", {"seed": seed, "metrics": metrics})


if __name__ == "__main__":
    run_stage(f"seed_run@{sys.argv[1]}" if len(sys.argv) == 2 else "seed_run", main)  # seeds may run side by side
