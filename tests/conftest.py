"""Shared fixtures: the project root and the real MNIST for integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The integration tests first: with `-n auto --dist worksteal` (pyproject.toml), one worker starts the
    shared small-profile run at once while the others take the unit tests, then every worker steals the rest."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)  # a stable sort: else as collected


def mnist_path() -> Path:
    """The real MNIST: $MNIST_NPZ, else ../shared/data/mnist.npz beside the project."""
    path = Path(os.environ.get("MNIST_NPZ", ROOT.parent / "shared" / "data" / "mnist.npz"))
    if not path.is_file():
        pytest.fail(
            f"the integration tests need the real MNIST and found none at {path}; "
            "set MNIST_NPZ to a copy of mnist.npz (keras.datasets.mnist layout)"
        )
    return path


@pytest.fixture
def fake_mnist() -> dict[str, np.ndarray]:
    """Random images with labels in MNIST's exact per-digit counts: passes validation."""
    from mnist_transfer.data import TEST_COUNTS, TRAIN_COUNTS

    rng = np.random.default_rng(0)

    def labels(counts: tuple[int, ...]) -> np.ndarray:
        y = np.repeat(np.arange(10, dtype=np.uint8), counts)
        return rng.permutation(y)

    y_train, y_test = labels(TRAIN_COUNTS), labels(TEST_COUNTS)
    return {
        "x_train": rng.integers(0, 256, (len(y_train), 28, 28), dtype=np.uint8),
        "y_train": y_train,
        "x_test": rng.integers(0, 256, (len(y_test), 28, 28), dtype=np.uint8),
        "y_test": y_test,
    }


def files_outside_dvc_tmp(root: Path) -> dict[Path, bytes]:
    """Every file under `root` and its bytes, less .dvc/tmp (DVC's scratch, where stages keep their locks)."""
    scratch = root / ".dvc" / "tmp"
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file() and scratch not in path.parents}


def stage_process(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m <args>` in `cwd`, as dvc runs a stage, with the project importable and no other environment."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **(env or {})},
    )
