"""Stage fisher: EWC's diagonal Fisher information of the base model on 0-4 -> models/fisher.npz.

Computed once after the base, over `ewc.fisher_samples` training images drawn
class-balanced from 0-4; the `ewc` stage reads it. Stores no images.
"""

from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params


def main() -> None:
    params = load_params()["ewc"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_npz
    from mnist_transfer.continual import balanced_buffer, fisher_diagonal
    from mnist_transfer.data import load_split
    from mnist_transfer.models import load_model

    digits = load_split("0-4")
    training.use_compute()
    training.seed_everything(params["seed"])
    model = load_model("models/base.keras")
    chosen = balanced_buffer(digits.y_train, min(params["fisher_samples"], len(digits.y_train)), params["seed"])
    fisher = fisher_diagonal(model, training.images(digits.x_train[chosen]), digits.y_train[chosen])
    save_npz("models/fisher.npz", {weight.path: f for weight, f in zip(model.trainable_variables, fisher, strict=True)})


if __name__ == "__main__":
    run_stage("fisher", main)
