"""Stage ewc: Elastic Weight Consolidation -> models/ewc.keras.

The base model trains on 5-9 with a quadratic penalty, strength / 2 * sum F (w - w_base)^2,
that holds each weight near its base value in proportion to its Fisher information on
0-4 (models/fisher.npz). No 0-4 image is stored.
"""

from mnist_transfer.errors import DataError
from mnist_transfer.stage import run_stage


def main(all_params: dict) -> None:
    params = all_params["ewc"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.continual import add_ewc_penalty
    from mnist_transfer.data import load_split, read_npz
    from mnist_transfer.models import build_base_cnn, load_model, model_path

    digits = load_split("5-9")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = load_model(model_path("base"), like=build_base_cnn)
    fisher = read_npz(model_path("fisher", ".npz"))
    missing = [w.path for w in model.trainable_variables if w.path not in fisher]
    if missing:
        raise DataError(f"models/fisher.npz has no Fisher values for {missing}; rerun `dvc repro fisher`")
    add_ewc_penalty(model, [fisher[w.path] for w in model.trainable_variables], params["strength"])
    train, val = (training.examples(digits, part, 10) for part in ("train", "val"))
    training.fit(model, *train, params, "ewc", validation=val)
    save_model(model, model_path("ewc"))


if __name__ == "__main__":
    run_stage("ewc", main)
