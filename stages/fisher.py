"""Stage fisher: EWC's diagonal Fisher information of the base model on 0-4 -> models/fisher.npz.

Computed once after the base, over `ewc.fisher_samples` training images drawn
class-balanced from 0-4; the `ewc` stage reads it. Stores no images.
"""

from mnist_transfer.stage import run_stage


def main(all_params: dict) -> None:
    params = all_params["ewc"]
    from mnist_transfer.data import balanced_buffer, check_sample, load_split

    digits = load_split("0-4")
    check_sample(
        digits.y_train, params["fisher_samples"], "ewc.fisher_samples", "0-4", all_params["prepare"]["train_limit"]
    )
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_npz
    from mnist_transfer.continual import fisher_diagonal
    from mnist_transfer.models import build_base_cnn, load_model, model_path

    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = load_model(model_path("base"), like=build_base_cnn)
    chosen = balanced_buffer(digits.y_train, params["fisher_samples"], all_params["seed"])
    fisher = fisher_diagonal(model, training.images(digits.x_train[chosen]), digits.y_train[chosen])
    save_npz(
        model_path("fisher", ".npz"),
        {weight.path: f for weight, f in zip(model.trainable_variables, fisher, strict=True)},
    )


if __name__ == "__main__":
    run_stage("fisher", main)
