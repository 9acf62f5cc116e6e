"""Stage full: notebook 003's CNN trained on all ten digits -> models/full.keras.

Notebook defaults: MSE loss, plain SGD (lr 0.01), batch 100, 10 epochs, unscaled
0-255 inputs (input_divisor 1).
"""

from mnist_transfer.stage import run_stage


def main(all_params: dict) -> None:
    params = all_params["full"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import build_full_cnn, model_path

    digits = load_split("0-9")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = build_full_cnn(params["input_divisor"])
    train, val = (training.examples(digits, part, 10) for part in ("train", "val"))
    training.fit(model, *train, params, "full", validation=val)
    save_model(model, model_path("full"))


if __name__ == "__main__":
    run_stage("full", main)
