"""Stage finetune: the base model, every layer trainable, trained on 5-9 -> models/finetune.keras.

The lower bound of the continual-learning comparison: nothing protects 0-4.
"""

from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params


def main() -> None:
    params = load_params()["finetune"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import load_model

    digits = load_split("5-9")
    training.seed_everything(params["seed"])
    model = load_model("models/base.keras")
    training.fit(model, training.images(digits.x_train), training.targets(digits.y_train, 10), params, "finetune")
    save_model(model, "models/finetune.keras")


if __name__ == "__main__":
    run_stage("finetune", main)
