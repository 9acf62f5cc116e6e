"""Stage prepare: split MNIST into digit subsets 0-4, 5-9, 0-1 and 0-9 (train, validation, test).

Writes data/prepared/<subset>.npz with raw uint8 images and digit labels; each training
stage scales its own inputs. The validation images are the last
`prepare.validation_fraction` of MNIST's training images, held out of every subset's
training part. `prepare.train_limit` / `test_limit` keep only the first N images of each
set (small profiles for tests); null keeps all.
"""

import logging

from mnist_transfer.artifacts import save_npz
from mnist_transfer.data import PARTS, RAW_PATH, make_splits, read_npz, split_path, validate_mnist
from mnist_transfer.errors import DataError
from mnist_transfer.stage import run_stage

log = logging.getLogger("stages.prepare")


def main(all_params: dict) -> None:
    params = all_params["prepare"]
    arrays = read_npz(RAW_PATH)
    validate_mnist(arrays, str(RAW_PATH))
    splits = make_splits(arrays, params["validation_fraction"], params["train_limit"], params["test_limit"])
    for name, split in splits.items():  # every part of every subset must hold images, before anything is written
        for part in PARTS:
            if len(split[f"y_{part}"]) == 0:
                limit = "test_limit" if part == "test" else "train_limit"
                raise DataError(
                    f"prepare.{limit} = {params[limit]} with prepare.validation_fraction = "
                    f"{params['validation_fraction']} leaves no {part} images of digits {name}; raise prepare.{limit}"
                )
    for name, split in splits.items():
        save_npz(split_path(name), split)
        counts = ", ".join(f"{len(split[f'y_{part}'])} {part}" for part in PARTS)
        log.info("%s: %s images", name, counts)


if __name__ == "__main__":
    run_stage("prepare", main)
