"""Stage dataset: MNIST into data/raw/mnist.npz, in keras.datasets.mnist layout.

Downloads params `dataset.url` and checks `dataset.sha256`, or, where the environment
variable MNIST_NPZ names a local copy (air-gapped machines, CI), takes that file. Either
way the content is validated and rewritten with reproducible bytes, so the output (and
its hash in dvc.lock) is the same whichever source it came from.
"""

import logging
import os
import tempfile
from pathlib import Path

from mnist_transfer.artifacts import save_npz
from mnist_transfer.data import MIRROR_ENV, RAW_PATH, download, read_npz, validate_mnist
from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params

log = logging.getLogger("stages.dataset")


def main() -> None:
    params = load_params()["dataset"]
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        log.info("reading the local mirror %s=%s", MIRROR_ENV, mirror)
        arrays, source = read_npz(mirror), mirror
    else:
        log.info("downloading %s", params["url"])
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "mnist.npz"
            download(params["url"], path, params["sha256"])
            arrays, source = read_npz(path), params["url"]
    validate_mnist(arrays, source)
    save_npz(RAW_PATH, arrays)
    log.info("wrote %s", RAW_PATH)


if __name__ == "__main__":
    run_stage("dataset", main)
