"""MNIST validation, digit splits and the dataset stage's refusals (synthetic arrays only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_transfer.artifacts import save_npz
from mnist_transfer.data import (
    SPLITS,
    load_split,
    make_splits,
    read_npz,
    select_digits,
    split_path,
    validate_mnist,
    validation_start,
)
from mnist_transfer.errors import DataError

from .conftest import ROOT


def test_valid_mnist_passes(fake_mnist: dict) -> None:
    validate_mnist(fake_mnist, "fake")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda a: a.pop("y_test"), "keys are"),
        (lambda a: a.update(x_train=a["x_train"][:, :27]), "x_train has shape (60000, 27, 28)"),
        (lambda a: a.update(x_test=a["x_test"].astype(np.float32)), "x_test has dtype float32"),
        (lambda a: a["y_train"].__setitem__(0, 11), "label 11"),
        (lambda a: a["y_test"].__setitem__(np.flatnonzero(a["y_test"] == 3)[0], 4), "digit counts"),
    ],
    ids=["missing key", "wrong shape", "wrong dtype", "label out of range", "mislabelled"],
)
def test_invalid_mnist_is_named(fake_mnist: dict, change, words: str) -> None:
    change(fake_mnist)
    with pytest.raises(DataError, match=None) as raised:
        validate_mnist(fake_mnist, "fake.npz")
    assert words in str(raised.value)
    assert str(raised.value).startswith("fake.npz: ")


def test_truncated_npz_is_refused(tmp_path: Path, fake_mnist: dict) -> None:
    path = tmp_path / "mnist.npz"
    save_npz(path, fake_mnist)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        read_npz(path)


def test_missing_npz_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing; restore it with"):
        read_npz(tmp_path / "absent.npz")


def test_select_digits_keeps_order_and_labels() -> None:
    x = np.arange(10)[:, None, None] * np.ones((1, 28, 28), dtype=np.uint8)
    y = np.array([5, 0, 4, 1, 9, 2, 1, 3, 1, 4], dtype=np.uint8)
    xs, ys = select_digits(x, y, SPLITS["0-4"])
    assert ys.tolist() == [0, 4, 1, 2, 1, 3, 1, 4]
    assert xs[:, 0, 0].tolist() == [1, 2, 3, 5, 6, 7, 8, 9]


def test_make_splits_counts(fake_mnist: dict) -> None:
    splits = make_splits(fake_mnist, validation_fraction=0.25)
    train = {name: len(s["y_train"]) + len(s["y_val"]) for name, s in splits.items()}
    assert train == {"0-4": 30596, "5-9": 29404, "0-1": 12665, "0-9": 60000}
    assert len(splits["0-9"]["y_val"]) == 15000  # the last quarter of MNIST's training images
    assert {name: len(s["y_test"]) for name, s in splits.items()} == {
        "0-4": 5139,
        "5-9": 4861,
        "0-1": 2115,
        "0-9": 10000,
    }
    for name, split in splits.items():
        for part in ("train", "val", "test"):
            assert set(np.unique(split[f"y_{part}"])) <= set(SPLITS[name])


def test_validation_images_are_the_last_training_images_in_every_subset(fake_mnist: dict) -> None:
    """The same held-out images everywhere: a 0-9 model is never trained on a 0-4 model's validation images."""
    splits = make_splits(fake_mnist, validation_fraction=0.25)
    np.testing.assert_array_equal(splits["0-9"]["x_val"], fake_mnist["x_train"][45000:])
    np.testing.assert_array_equal(splits["0-9"]["x_train"], fake_mnist["x_train"][:45000])
    low, high = fake_mnist["y_train"][45000:] < 5, fake_mnist["y_train"][45000:] >= 5
    np.testing.assert_array_equal(splits["0-4"]["x_val"], fake_mnist["x_train"][45000:][low])
    np.testing.assert_array_equal(splits["5-9"]["x_val"], fake_mnist["x_train"][45000:][high])
    assert validation_start(10, 0.25) == 8  # as Keras' validation_split: train on the first ceil(7.5)


def test_make_splits_limits_take_first_images(fake_mnist: dict) -> None:
    splits = make_splits(fake_mnist, validation_fraction=0.2, train_limit=100, test_limit=50)
    assert len(splits["0-9"]["y_train"]) == 80 and len(splits["0-9"]["y_val"]) == 20
    assert len(splits["0-9"]["y_test"]) == 50
    np.testing.assert_array_equal(splits["0-9"]["x_train"], fake_mnist["x_train"][:80])
    assert len(splits["0-4"]["y_train"]) + len(splits["5-9"]["y_train"]) == 80


def test_load_split_refuses_empty_set(tmp_path: Path) -> None:
    empty = np.zeros((0, 28, 28), np.uint8)
    save_npz(
        split_path("0-1", tmp_path),
        {
            "x_train": np.zeros((3, 28, 28), np.uint8),
            "y_train": np.array([0, 1, 1], np.uint8),
            "x_val": np.zeros((1, 28, 28), np.uint8),
            "y_val": np.array([1], np.uint8),
            "x_test": empty,
            "y_test": np.zeros(0, np.uint8),
        },
    )
    with pytest.raises(DataError, match=r"its test set is empty; raise prepare\.train_limit / test_limit"):
        load_split("0-1", tmp_path)


def test_load_split_refuses_wrong_image_size(tmp_path: Path) -> None:
    save_npz(
        split_path("0-1", tmp_path),
        {
            "x_train": np.zeros((3, 32, 32), np.uint8),
            "y_train": np.array([0, 1, 1], np.uint8),
            "x_test": np.zeros((1, 32, 32), np.uint8),
            "y_test": np.zeros(1, np.uint8),
        },
    )
    with pytest.raises(DataError, match=r"x_train has shape \(3, 32, 32\), expected \(N, 28, 28\)"):
        load_split("0-1", tmp_path)


def run_dataset_stage(workdir: Path, mirror: str | None, url: str | None = None) -> subprocess.CompletedProcess:
    params = (ROOT / "params.yaml").read_text()
    if url:
        params = params.replace("https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz", url)
    (workdir / "params.yaml").write_text(params)
    env = {k: v for k, v in os.environ.items() if k != "MNIST_NPZ"}
    env["PYTHONPATH"] = str(ROOT)
    if mirror is not None:
        env["MNIST_NPZ"] = mirror
    return subprocess.run(
        [sys.executable, "-m", "stages.dataset"], cwd=workdir, capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("case", ["missing", "truncated", "mislabelled", "wrong keys"])
def test_dataset_stage_refuses_bad_mirror(tmp_path: Path, fake_mnist: dict, case: str) -> None:
    mirror = tmp_path / "mirror.npz"
    if case == "mislabelled":
        fake_mnist["y_train"][np.flatnonzero(fake_mnist["y_train"] == 1)[:5]] = 7
    if case == "wrong keys":
        fake_mnist["images"] = fake_mnist.pop("x_train")
    if case != "missing":
        save_npz(mirror, fake_mnist)
    if case == "truncated":
        mirror.write_bytes(mirror.read_bytes()[:1000])
    work = tmp_path / "work"
    work.mkdir()
    result = run_dataset_stage(work, str(mirror))
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith(f"error: {mirror}: ")
    assert "Traceback" not in result.stderr
    assert not (work / "data").exists()


def test_dataset_stage_failed_download_says_set_mirror(tmp_path: Path) -> None:
    """No network and no mirror: one line that says to set MNIST_NPZ."""
    result = run_dataset_stage(tmp_path, None, url="http://127.0.0.1:9/mnist.npz")
    assert result.returncode == 2
    assert "could not download http://127.0.0.1:9/mnist.npz" in result.stderr
    assert "set MNIST_NPZ" in result.stderr
    assert not (tmp_path / "data").exists()


def test_dataset_stage_checks_sha256_of_download(tmp_path: Path, fake_mnist: dict) -> None:
    served = tmp_path / "served.npz"
    save_npz(served, fake_mnist)
    result = run_dataset_stage(tmp_path, None, url=served.as_uri())
    assert result.returncode == 2
    assert "does not match dataset.sha256" in result.stderr
    assert not (tmp_path / "data").exists()
