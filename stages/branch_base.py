"""Stage branch_base: notebook 000's branching model, trunk and 0-4 head, trained on 0-4.

-> models/branch_base.keras
"""

from mnist_transfer.stage import run_stage


def main(all_params: dict) -> None:
    params = all_params["branch_base"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import build_branch_cnn, model_path

    digits = load_split("0-4")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = build_branch_cnn(params["input_divisor"])
    train, val = (training.examples(digits, part, 5) for part in ("train", "val"))
    training.fit(model, *train, params, "branch_base", validation=val)
    save_model(model, model_path("branch_base"))


if __name__ == "__main__":
    run_stage("branch_base", main)
