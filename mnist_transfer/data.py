"""MNIST: fetching, validating, splitting by digit and loading the prepared splits.

Pure NumPy: no TensorFlow here, so the dataset and prepare stages start fast.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_transfer.errors import DataError
from mnist_transfer.inputs import read_zip, restore_hint

log = logging.getLogger(__name__)

RAW_PATH = Path("data/raw/mnist.npz")
PREPARED_DIR = Path("data/prepared")
MIRROR_ENV = "MNIST_NPZ"

IMAGE_SHAPE = (28, 28)
# keras.datasets.mnist layout: key -> number of images
LAYOUT = {"x_train": 60000, "y_train": 60000, "x_test": 10000, "y_test": 10000}
# Images per digit 0..9 in the official train and test sets.
TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)

# The digit subsets the experiments use.
SPLITS: dict[str, tuple[int, ...]] = {
    "0-4": (0, 1, 2, 3, 4),
    "5-9": (5, 6, 7, 8, 9),
    "0-1": (0, 1),
    "0-9": tuple(range(10)),
}
# Each subset's parts: training, validation (held-out training images), test images.
PARTS = ("train", "val", "test")


def read_npz(path: Path | str, fix: str | None = None) -> dict[str, np.ndarray]:
    """Load every array of an .npz into memory, or a one-line DataError saying what is wrong and `fix`.

    Catches every way an .npz is damaged: not a zip, truncated, a member whose compressed
    data or CRC is wrong, a member that is not a NumPy array (or holds pickled objects).
    `fix` defaults to restoring the file as a stage output (inputs.restore_hint).
    """
    fix = fix or restore_hint(path)
    arrays = {}
    for name, raw in read_zip(path, fix, ".npz").items():
        try:
            arrays[name.removesuffix(".npy")] = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, EOFError) as err:  # not the .npy format, or pickled objects
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DataError(f"{path}: member {name} is not a NumPy array ({reason}); {fix}") from None
    return arrays


def validate_mnist(arrays: dict[str, np.ndarray], source: str) -> None:
    """Check keys, shapes, dtypes, label range and per-digit counts of a full MNIST."""
    if set(arrays) != set(LAYOUT):
        raise DataError(f"{source}: keys are {sorted(arrays)}, expected {sorted(LAYOUT)} (keras.datasets.mnist layout)")
    for key, count in LAYOUT.items():
        array = arrays[key]
        shape = (count, *IMAGE_SHAPE) if key.startswith("x") else (count,)
        if array.shape != shape:
            raise DataError(f"{source}: {key} has shape {array.shape}, expected {shape}")
        if array.dtype != np.uint8:
            raise DataError(f"{source}: {key} has dtype {array.dtype}, expected uint8")
    for key, expected in (("y_train", TRAIN_COUNTS), ("y_test", TEST_COUNTS)):
        labels = arrays[key]
        if labels.max() > 9:
            raise DataError(f"{source}: {key} has label {labels.max()}, expected digits 0-9")
        counts = tuple(int(c) for c in np.bincount(labels, minlength=10))
        if counts != expected:
            raise DataError(f"{source}: {key} digit counts {counts} differ from MNIST's {expected}")


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the arrays themselves (key, dtype, shape, bytes, keys sorted), whatever file packs them.

    The same MNIST comes as different files (compressed or not, other zip tools): this
    hash is the same for all of them, and params `dataset.content_sha256` holds MNIST's.
    """
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def sha256_of(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, sha256: str, timeout: float = 60.0) -> None:
    """Download `url` to `dest` and check its SHA-256; DataError on any failure."""
    hint = f"without network, set {MIRROR_ENV} to a local copy of mnist.npz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(f"could not download {url} ({reason}); {hint}") from None
    actual = sha256_of(dest)
    if actual != sha256:
        raise DataError(f"{url}: SHA-256 {actual} does not match dataset.sha256 {sha256}; {hint}")


def select_digits(x: np.ndarray, y: np.ndarray, digits: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels whose label is in `digits`, in their original order."""
    keep = np.isin(y, digits)
    return x[keep], y[keep]


def validation_start(train_images: int, validation_fraction: float) -> int:
    """Index of the first validation image: the last `validation_fraction` of the training set.

    As Keras' validation_split takes it (the first ceil(n * (1 - fraction)) images train).
    """
    return math.ceil(train_images * (1.0 - validation_fraction))


def make_splits(
    arrays: dict[str, np.ndarray],
    validation_fraction: float,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Split MNIST by digit subset, each into train, validation and test images.

    The validation images are the last `validation_fraction` of MNIST's training images,
    the same ones in every subset (the 0-9 validation set is the 0-4 one plus the 5-9 one),
    so no stage ever trains on an image that another stage is validated on. The limits
    keep only the first N images (small profiles).
    """
    x_train, y_train = arrays["x_train"][:train_limit], arrays["y_train"][:train_limit]
    x_test, y_test = arrays["x_test"][:test_limit], arrays["y_test"][:test_limit]
    start = validation_start(len(y_train), validation_fraction)
    parts = {
        "train": (x_train[:start], y_train[:start]),
        "val": (x_train[start:], y_train[start:]),
        "test": (x_test, y_test),
    }
    splits: dict[str, dict[str, np.ndarray]] = {}
    for name, digits in SPLITS.items():
        splits[name] = {}
        for part, (x, y) in parts.items():
            splits[name][f"x_{part}"], splits[name][f"y_{part}"] = select_digits(x, y, digits)
    return splits


def split_path(name: str, prepared_dir: Path = PREPARED_DIR) -> Path:
    return prepared_dir / f"{name}.npz"


@dataclass(frozen=True)
class Split:
    """One digit subset: images (N, 28, 28) uint8 and digit labels 0-9.

    Training stages train on `train` and watch `val`; only the evaluate stage reads `test`.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_split(name: str, prepared_dir: Path = PREPARED_DIR) -> Split:
    """Load a prepared split, checking it is non-empty 28x28 images with labels of its digits."""
    path = split_path(name, prepared_dir)
    arrays = read_npz(path)
    for part in PARTS:
        x, y = arrays.get(f"x_{part}"), arrays.get(f"y_{part}")
        if x is None or y is None:
            raise DataError(f"{path}: no x_{part}/y_{part}; {restore_hint(path)}")
        if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE or len(x) != len(y):
            raise DataError(f"{path}: x_{part} has shape {x.shape}, expected (N, 28, 28) with N = {len(y)}")
        if len(x) == 0:
            raise DataError(f"{path}: its {part} set is empty; raise prepare.train_limit / test_limit")
        if not np.isin(y, SPLITS[name]).all():
            raise DataError(f"{path}: y_{part} has labels outside {name}; {restore_hint(path)}")
    return Split(name, *(arrays[f"{xy}_{part}"] for part in PARTS for xy in ("x", "y")))
