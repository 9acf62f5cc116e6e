"""Stage lwf: Learning without Forgetting -> models/lwf.keras.

The base model trains on 5-9 with cross-entropy on the labels plus a distillation term
that keeps its 0-4 outputs on the new images close to what the base model said, both
softened at temperature `temperature`, weighted by `weight` (Li & Hoiem's lambda_o).
Both terms are computed from logits (continual.DistillationLoss). No 0-4 image is stored;
the base model's outputs on the 5-9 images are computed before training starts.
"""

from mnist_transfer.stage import run_stage


def main(all_params: dict) -> None:
    params = all_params["lwf"]
    import numpy as np

    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.continual import DistillationLoss, label_accuracy, logits_model
    from mnist_transfer.data import load_split
    from mnist_transfer.models import build_base_cnn, load_model, model_path

    digits = load_split("5-9")
    training.use_precision(all_params["precision"])
    training.seed_everything(all_params["seed"])
    model = load_model(model_path("base"), like=build_base_cnn)
    logits = logits_model(model)  # shares model's layers: training it trains model

    def distillation_examples(part: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and packed targets: one-hot labels, then the base model's 0-4 logits."""
        images, labels = training.examples(digits, part, 10)
        old_logits = logits.predict(images, batch_size=1024, verbose=0)[:, :5]
        return images, np.concatenate([labels, old_logits], axis=1)

    train, val = distillation_examples("train"), distillation_examples("val")
    loss = DistillationLoss(params["temperature"], params["weight"])
    training.fit(logits, *train, params, "lwf", validation=val, loss=loss, metrics=[label_accuracy])
    save_model(model, model_path("lwf"))


if __name__ == "__main__":
    run_stage("lwf", main)
