"""Stage compute: what `compute.precision: auto` and the libraries resolve to here -> metrics/compute.json.

Always run (dvc.yaml `always_changed`): it reads this machine's CPU flags and library
versions. When the file comes out the same, DVC reruns nothing downstream; when it
differs (another CPU or TensorFlow), every stage that runs TensorFlow reruns.
"""

import logging

from mnist_transfer.artifacts import write_json
from mnist_transfer.compute import COMPUTE_PATH, describe
from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params

log = logging.getLogger("stages.compute")


def main() -> None:
    params = load_params()["compute"]
    compute = describe(params["precision"])
    write_json(COMPUTE_PATH, compute)
    log.info("compute: %s", compute)


if __name__ == "__main__":
    run_stage("compute", main)
