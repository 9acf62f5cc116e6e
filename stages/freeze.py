"""Stage freeze: the base model's conv layers frozen, its dense layers retrained on 5-9.

Notebook 000's sequential approach: the first `frozen_layers` layers (5: three convs,
pool, flatten) keep the base's weights; the dense layers get an L2 penalty (applied for
real, unlike the notebook) and slow SGD on digits 5-9. -> models/freeze.keras
"""

from mnist_transfer.stage import run_stage


def main(all_params: dict) -> None:
    params = all_params["freeze"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import add_dense_l2, body_layers, build_base_cnn, load_model, model_path

    digits = load_split("5-9")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = load_model(model_path("base"), like=build_base_cnn)
    add_dense_l2(model, params["l2"])
    names = [layer.name for layer in body_layers(model)]
    frozen = params["frozen_layers"]
    train, val = (training.examples(digits, part, 10) for part in ("train", "val"))
    training.fit_head_on_frozen_trunk(model, names[:frozen], names[frozen:], train, val, params, "freeze")
    save_model(model, model_path("freeze"))


if __name__ == "__main__":
    run_stage("freeze", main)
