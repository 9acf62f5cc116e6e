"""Stage gaussian: class-conditional Gaussians on frozen 0-4 features -> models/gaussian.keras.

Deep streaming LDA (Hayes & Kanan 2020) with one covariance per class: the feature
extractor of a model trained on 0-4 stays frozen, and each digit is a Gaussian over its
features (mean and shrunk covariance). Learning 0-4 leaves their statistics behind; learning
5-9 adds five more from the 5-9 images alone. Prediction: the most likely digit. Stores
no 0-4 image, only 5 means and 5 covariance matrices.
"""

from mnist_transfer.errors import run_stage
from mnist_transfer.params import load_params

# The layer whose output is the feature vector, for each model trained on 0-4.
FEATURE_LAYER = {"branch_base": "branch_1_dense_1", "base": "dense_1"}


def main() -> None:
    params = load_params()["gaussian"]
    import keras
    import numpy as np

    from mnist_transfer import training
    from mnist_transfer.artifacts import save_model
    from mnist_transfer.continual import gaussian_statistics
    from mnist_transfer.data import SPLITS, load_split
    from mnist_transfer.models import GaussianClassifier, load_model

    training.use_compute()
    source = load_model(f"models/{params['feature_model']}.keras")
    extractor = keras.Model(source.input, source.get_layer(FEATURE_LAYER[params["feature_model"]]).output)
    for layer in extractor.layers:
        layer.trainable = False
    statistics = []
    for task in ("0-4", "5-9"):  # in order: the 0-4 statistics are all that task 1 leaves behind
        digits = load_split(task)
        features = extractor.predict(training.images(digits.x_train), batch_size=1024, verbose=0)
        statistics += [gaussian_statistics(features[digits.y_train == d], params["shrinkage"]) for d in SPLITS[task]]
    classifier = GaussianClassifier(10, extractor.output.shape[-1], name="gaussian_classifier", dtype="float32")
    model = keras.Model(extractor.input, classifier(extractor.output), name="gaussian")
    means, precisions, log_dets = (np.stack(parts).astype("float32") for parts in zip(*statistics, strict=True))
    classifier.set_weights([means, precisions, log_dets])
    save_model(model, "models/gaussian.keras")


if __name__ == "__main__":
    run_stage("gaussian", main)
