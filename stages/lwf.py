"""Stage lwf: Learning without Forgetting -> models/lwf.keras.

The base model trains on 5-9 with cross-entropy on the labels plus a distillation term
that keeps its 0-4 outputs on the new images close to what the base model said (at
temperature `temperature`, weighted by `weight`). No 0-4 image is stored.
"""

from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params


def main() -> None:
    params = load_params()["lwf"]
    import numpy as np

    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.continual import DistillationLoss, label_accuracy
    from mnist_transfer.data import load_split
    from mnist_transfer.models import load_model

    digits = load_split("5-9")
    training.seed_everything(params["seed"])
    model = load_model("models/base.keras")
    x = training.images(digits.x_train)
    old_outputs = model.predict(x, batch_size=1024, verbose=0)[:, :5]
    packed = np.concatenate([training.targets(digits.y_train, 10), old_outputs], axis=1)
    loss = DistillationLoss(params["temperature"], params["weight"])
    training.fit(model, x, packed, params, "lwf", loss=loss, metrics=[label_accuracy])
    save_model(model, "models/lwf.keras")


if __name__ == "__main__":
    run_stage("lwf", main)
