"""Stage finetune (and joint): the base model, every layer trainable, trained further on one digit set.

Usage: python -m stages.finetune finetune|joint   (params group of the same name)
finetune trains on 5-9 alone: the lower bound of the continual-learning comparison,
nothing protects 0-4. joint trains on all ten digits: the upper bound, it keeps every
0-4 image. -> models/<name>.keras
"""

import sys

from mnist_transfer.errors import StageError, run_stage
from mnist_transfer.params import load_params

TRAINING_SET = {"finetune": "5-9", "joint": "0-9"}


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in TRAINING_SET:
        raise StageError(f"usage: python -m stages.finetune {{{'|'.join(TRAINING_SET)}}}")
    name = sys.argv[1]
    all_params = load_params()
    params = all_params[name]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import build_base_cnn, load_model

    digits = load_split(TRAINING_SET[name])
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = load_model("models/base.keras", like=build_base_cnn)
    train, val = (training.examples(digits, part, 10) for part in ("train", "val"))
    training.fit(model, *train, params, name, validation=val)
    save_model(model, f"models/{name}.keras")


if __name__ == "__main__":
    run_stage("finetune", main)
