"""Stage replay: experience replay -> models/replay.keras.

The base model trains on 5-9 with `replay_batch_size` images from a class-balanced buffer
of `buffer_size` stored 0-4 training images added to every batch.
"""

from mnist_transfer.stage import run_stage


def main(all_params: dict) -> None:
    params = all_params["replay"]
    from mnist_transfer.data import balanced_buffer, check_sample, load_split

    old, new = load_split("0-4"), load_split("5-9")
    check_sample(old.y_train, params["buffer_size"], "replay.buffer_size", "0-4", all_params["prepare"]["train_limit"])
    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.continual import ReplayBatches
    from mnist_transfer.models import build_base_cnn, load_model, model_path

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
    model = load_model(model_path("base"), like=build_base_cnn)
    val = training.examples(new, "val", 10)  # 5-9 only: the buffer is all it may keep of 0-4
    training.fit(model, batches, None, params, "replay", validation=val)
    save_model(model, model_path("replay"))


if __name__ == "__main__":
    run_stage("replay", main)
