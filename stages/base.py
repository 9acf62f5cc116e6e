"""Stage base: notebook 000's CNN trained on digits 0-4 -> models/base.keras."""

from mnist_transfer.stage import run_stage


def main(all_params: dict) -> None:
    params = all_params["base"]
    # TensorFlow is imported only once the params are known to be valid.
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import build_base_cnn, model_path

    digits = load_split("0-4")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = build_base_cnn(params["input_divisor"])
    train, val = (training.examples(digits, part, 10) for part in ("train", "val"))
    training.fit(model, *train, params, "base", validation=val)
    save_model(model, model_path("base"))


if __name__ == "__main__":
    run_stage("base", main)
