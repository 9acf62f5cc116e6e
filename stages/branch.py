"""Stage branch: grow a 5-9 head on the frozen branch base and train it on 5-9.

The trunk and the 0-4 head stay frozen, so training the two-output model against zeros
on the 0-4 head (as the notebook does) moves only the new head: we train that head
alone. Prediction over 0-9 is the argmax over both heads. -> models/branch.keras
"""

from mnist_transfer.stage import run_stage


def main(all_params: dict) -> None:
    params = all_params["branch"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import body_layers, build_branch_cnn, grow_branch, load_model, model_path

    digits = load_split("5-9")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    base = load_model(model_path("branch_base"), like=build_branch_cnn)
    model = grow_branch(base)
    for layer in body_layers(base):
        layer.trainable = False
    names = [layer.name for layer in body_layers(model)]
    trunk_names = names[: names.index("flatten_1") + 1]
    head_names = [name for name in names if name.startswith("branch_2_")]
    train, val = (training.examples(digits, part, 5, offset=5) for part in ("train", "val"))
    training.fit_head_on_frozen_trunk(model, trunk_names, head_names, train, val, params, "branch")
    save_model(model, model_path("branch"))


if __name__ == "__main__":
    run_stage("branch", main)
