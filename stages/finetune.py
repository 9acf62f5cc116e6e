"""Stage finetune: the base model, every layer trainable, trained further on 5-9 -> models/finetune.keras.

The lower bound of the continual-learning comparison: nothing protects 0-4.
"""

from mnist_transfer.stage import run_stage


def train_from_base(all_params: dict, name: str, training_set: str) -> None:
    """models/base.keras trained on `training_set` with params group `name` -> models/<name>.keras."""
    params = all_params[name]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import build_base_cnn, load_model, model_path

    digits = load_split(training_set)
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = load_model(model_path("base"), like=build_base_cnn)
    train, val = (training.examples(digits, part, 10) for part in ("train", "val"))
    training.fit(model, *train, params, name, validation=val)
    save_model(model, model_path(name))


if __name__ == "__main__":
    run_stage("finetune", lambda all_params: train_from_base(all_params, "finetune", "5-9"))
