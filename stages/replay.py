"""Stage replay: experience replay -> models/replay.keras.

The base model trains on 5-9 with `replay_batch_size` images from a class-balanced buffer
of `buffer_size` stored 0-4 training images added to every batch.
"""

from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params


def main() -> None:
    all_params = load_params()
    params = all_params["replay"]
    from mnist_transfer.data import balanced_buffer, check_sample, load_split

    old, new = load_split("0-4"), load_split("5-9")
    limit = "null" if all_params["prepare"]["train_limit"] is None else all_params["prepare"]["train_limit"]
    check_sample(
        old.y_train, params["buffer_size"], "replay.buffer_size", f"0-4 training images (prepare.train_limit = {limit})"
    )
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.continual import ReplayBatches
    from mnist_transfer.models import build_base_cnn, load_model

    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    stored = balanced_buffer(old.y_train, params["buffer_size"], all_params["seed"])
    batches = ReplayBatches(
        new=(training.images(new.x_train), training.targets(new.y_train, 10)),
        buffer=(training.images(old.x_train[stored]), training.targets(old.y_train[stored], 10)),
        batch_size=params["batch_size"],
        replay_size=params["replay_batch_size"],
        seed=all_params["seed"],
    )
    model = load_model("models/base.keras", like=build_base_cnn)
    val = training.examples(new, "val", 10)  # 5-9 only: the buffer is all it may keep of 0-4
    training.fit(model, batches, None, params, "replay", validation=val)
    save_model(model, "models/replay.keras")


if __name__ == "__main__":
    run_stage("replay", main)
