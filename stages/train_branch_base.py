"""Stage train_branch_base: notebook 000's branching model, trunk and 0-4 head, trained on 0-4.

-> models/branch_base.keras
"""

from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params


def main() -> None:
    all_params = load_params()
    params = all_params["train_branch_base"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import build_branch_cnn

    digits = load_split("0-4")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = build_branch_cnn(params["input_divisor"])
    train, val = (training.examples(digits, part, 5) for part in ("train", "val"))
    training.fit(model, *train, params, "train_branch_base", validation=val)
    save_model(model, "models/branch_base.keras")


if __name__ == "__main__":
    run_stage("train_branch_base", main)
