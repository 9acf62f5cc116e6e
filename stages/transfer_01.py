"""Stage transfer_01: the 0-9 model's conv blocks, frozen, under a new 0-vs-1 head.

Usage: python -m stages.transfer_01 softmax|sigmoid
softmax: dense 200 + 2-unit softmax; sigmoid: dense 200 + 1-unit sigmoid (notebook 003).
-> models/transfer_01_<head>.keras
"""

import sys

from mnist_transfer.errors import StageError
from mnist_transfer.stage import run_stage

HEADS = {"softmax": 2, "sigmoid": 1}


def main(all_params: dict) -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in HEADS:
        raise StageError(f"usage: python -m stages.transfer_01 {{{'|'.join(HEADS)}}}")
    head_name = sys.argv[1]
    params = all_params["transfer_01"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import body_layers, build_full_cnn, load_model, model_path, rehead_full_cnn

    digits = load_split("0-1")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = rehead_full_cnn(load_model(model_path("full"), like=build_full_cnn), HEADS[head_name])
    names = [layer.name for layer in body_layers(model)]
    split = names.index("flatten_1") + 1
    train, val = (training.examples(digits, part, HEADS[head_name]) for part in ("train", "val"))
    training.fit_head_on_frozen_trunk(
        model, names[:split], names[split:], train, val, params, f"transfer_01_{head_name}"
    )
    save_model(model, model_path(f"transfer_01_{head_name}"))


if __name__ == "__main__":
    run_stage("transfer_01", main)
