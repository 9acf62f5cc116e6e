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
    training.set_precision(all_params["compute"]["precision"])
    training.seed_everything(params["seed"])
    model = build_branch_cnn(params["input_divisor"])
    training.fit(
        model, training.images(digits.x_train), training.targets(digits.y_train, 5), params, "train_branch_base"
    )
    save_model(model, "models/branch_base.keras")


if __name__ == "__main__":
    run_stage("train_branch_base", main)
