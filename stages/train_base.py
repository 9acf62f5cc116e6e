"""Stage train_base: notebook 000's CNN trained on digits 0-4 -> models/base.keras."""

from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params


def main() -> None:
    all_params = load_params()
    params = all_params["train_base"]
    # TensorFlow is imported only once the params are known to be valid.
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import build_base_cnn

    digits = load_split("0-4")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = build_base_cnn(params["input_divisor"])
    train, val = (training.examples(digits, part, 10) for part in ("train", "val"))
    training.fit(model, *train, params, "train_base", validation=val)
    save_model(model, "models/base.keras")


if __name__ == "__main__":
    run_stage("train_base", main)
