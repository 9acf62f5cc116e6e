"""Stage gaussian: Gaussian class models on frozen 0-4 features -> models/gaussian.keras, models/gaussian_base.keras.

The feature extractor of a model trained on 0-4 stays frozen, and each digit is a Gaussian
over its features; prediction is the most likely digit (equal priors). Two kinds
(`covariance`):
- per_class: a mean and a shrunk covariance per digit, from that digit's images
  (quadratic discriminant analysis, fitted in one pass per task);
- shared: deep streaming LDA (Hayes & Kanan 2020): a mean per digit and one covariance
  shared by all, updated one image at a time (continual.StreamingLDA).
Task 1 streams the 0-4 training images, task 2 the 5-9 ones. models/gaussian_base.keras is
the 5-digit classifier after task 1 (the strategy's own starting point for BWT and
forgetting); models/gaussian.keras the 10-digit one after task 2. Stores no 0-4 image.
"""

from mnist_transfer.stage import run_stage

# The layer whose output is the feature vector, for each model trained on 0-4.
FEATURE_LAYER = {"branch_base": "branch_1_dense_1", "base": "dense_1"}


def main(all_params: dict) -> None:
    params = all_params["gaussian"]
    import numpy as np

    from mnist_transfer import models, training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.continual import StreamingLDA, class_gaussians
    from mnist_transfer.data import SPLITS, load_split
    from mnist_transfer.models import GaussianClassifier, load_model, model_path
    from mnist_transfer.quiet_tf import keras

    training.use_precision(all_params["precision"])
    builder = {"branch_base": models.build_branch_cnn, "base": models.build_base_cnn}[params["feature_model"]]
    source = load_model(model_path(params["feature_model"]), like=builder)
    extractor = keras.Model(source.input, source.get_layer(FEATURE_LAYER[params["feature_model"]]).output)
    for layer in extractor.layers:
        layer.trainable = False
    width = extractor.output.shape[-1]

    def classifier(statistics: list, name: str) -> keras.Model:
        """The extractor under a GaussianClassifier holding `statistics`, one (mean, precision, log-det) per digit."""
        layer = GaussianClassifier(len(statistics), width, name="gaussian_classifier", dtype="float32")
        model = keras.Model(extractor.input, layer(extractor.output), name=name)
        layer.set_weights([np.stack(part).astype("float32") for part in zip(*statistics, strict=True)])
        return model

    lda, statistics = StreamingLDA(width), []
    for task in ("0-4", "5-9"):  # in order: task 2 never sees a 0-4 image
        digits = load_split(task)
        features = extractor.predict(training.images(digits.x_train), batch_size=1024, verbose=0)
        if params["covariance"] == "shared":
            lda.update(features, digits.y_train)
            statistics = lda.statistics(list(range(SPLITS[task][-1] + 1)), params["shrinkage"])
        else:
            statistics += class_gaussians(features, digits.y_train, list(SPLITS[task]), params["shrinkage"])
        if task == "0-4":
            task_1 = classifier(statistics, "gaussian_base")
    save_model(task_1, model_path("gaussian_base"))
    save_model(classifier(statistics, "gaussian"), model_path("gaussian"))


if __name__ == "__main__":
    run_stage("gaussian", main)
