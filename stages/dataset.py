"""Stage dataset: MNIST into data/raw/mnist.npz, in keras.datasets.mnist layout.

Downloads params `dataset.url` and checks `dataset.sha256`, or, where the environment
variable MNIST_NPZ names a local copy (air-gapped machines, CI), takes that file. Either
way the content is validated and rewritten with reproducible bytes, so the output (and
its hash in dvc.lock) is the same whichever source it came from. Arrays that are not
MNIST's own (another hash than `dataset.content_sha256`) are accepted with one warning.
"""

import logging
import os
import tempfile
from pathlib import Path

from mnist_transfer.artifacts import save_npz
from mnist_transfer.data import MIRROR_ENV, RAW_PATH, content_sha256, download, read_npz, validate_mnist
from mnist_transfer.stage import run_stage

log = logging.getLogger("stages.dataset")


def main(all_params: dict) -> None:
    params = all_params["dataset"]
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        log.info("reading the local mirror %s=%s", MIRROR_ENV, mirror)
        arrays, source = read_npz(mirror, fix=f"point {MIRROR_ENV} at a good copy of mnist.npz"), mirror
    else:
        log.info("downloading %s", params["url"])
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "mnist.npz"
            download(params["url"], path, params["sha256"])
            arrays, source = read_npz(path, fix="download it again: dvc repro dataset"), params["url"]
    validate_mnist(arrays, source)
    found = content_sha256(arrays)
    if found != params["content_sha256"]:  # accepted, but results will not match the committed ones
        log.warning(
            "%s is not the canonical MNIST: its arrays hash to %s, MNIST's to %s (dataset.content_sha256)",
            source,
            found,
            params["content_sha256"],
        )
    save_npz(RAW_PATH, arrays)
    log.info("wrote %s", RAW_PATH)


if __name__ == "__main__":
    run_stage("dataset", main)
