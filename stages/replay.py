"""Stage replay: experience replay -> models/replay.keras.

The base model trains on 5-9 with `replay_batch_size` images from a class-balanced buffer
of `buffer_size` stored 0-4 training images added to every batch.
"""

from mnist_transfer.errors import DataError, run_stage
from mnist_transfer.params import load_params


def main() -> None:
    params = load_params()["replay"]
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.continual import ReplayBatches, balanced_buffer
    from mnist_transfer.data import load_split
    from mnist_transfer.models import load_model

    old, new = load_split("0-4"), load_split("5-9")
    if params["buffer_size"] > len(old.y_train):
        raise DataError(
            f"replay.buffer_size = {params['buffer_size']} is more than the {len(old.y_train)} 0-4 training images"
        )
    training.use_compute()
    training.seed_everything(params["seed"])
    stored = balanced_buffer(old.y_train, params["buffer_size"], params["seed"])
    batches = ReplayBatches(
        new=(training.images(new.x_train), training.targets(new.y_train, 10)),
        buffer=(training.images(old.x_train[stored]), training.targets(old.y_train[stored], 10)),
        batch_size=params["batch_size"],
        replay_size=params["replay_batch_size"],
        seed=params["seed"],
    )
    model = load_model("models/base.keras")
    val = training.examples(new, "val", 10)  # 5-9 only: the buffer is all it may keep of 0-4
    training.fit(model, batches, None, params, "replay", validation=val)
    save_model(model, "models/replay.keras")


if __name__ == "__main__":
    run_stage("replay", main)
