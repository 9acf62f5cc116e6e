"""Stage joint: the base model trained further on all ten digits -> models/joint.keras.

The upper bound of the continual-learning comparison: it keeps every 0-4 image.
"""

from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params


def main() -> None:
    params = load_params()["joint"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import load_model

    digits = load_split("0-9")
    training.seed_everything(params["seed"])
    model = load_model("models/base.keras")
    training.fit(model, training.images(digits.x_train), training.targets(digits.y_train, 10), params, "joint")
    save_model(model, "models/joint.keras")


if __name__ == "__main__":
    run_stage("joint", main)
