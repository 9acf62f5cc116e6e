"""The notebooks' three architectures, one builder each, plus freezing and splitting.

Layer names follow the notebooks' `model.summary()` tables. Each model starts with a
`rescale` layer (pixel / input_divisor) so that a saved model carries its own input
scaling and every stage can feed it raw 0-255 images.

Under a mixed-precision policy (params `precision`) the layers compute in
bfloat16 or float16, except each model's output layer, which stays float32 so that
probabilities and losses keep their precision (Keras' mixed-precision guide).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_transfer.errors import DataError
from mnist_transfer.inputs import read_zip, restore_hint
from mnist_transfer.quiet_tf import keras

layers, ops = keras.layers, keras.ops

INPUT_SHAPE = (28, 28, 1)


MODELS_DIR = Path("models")


# Images predicted at once, by evaluate and the continual strategies: a CNN's conv activations
# for 2,048 images take about 0.4 GB a layer.
SCORE_BATCH = 256


def model_path(name: str, suffix: str = ".keras") -> Path:
    """The file of stage output `name` (dvc.yaml declares the same paths as outs)."""
    return MODELS_DIR / f"{name}{suffix}"


def _input(input_divisor: float) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    inputs = keras.Input(shape=INPUT_SHAPE, name="input")
    return inputs, layers.Rescaling(1.0 / input_divisor, name="rescale")(inputs)


def _conv_trunk_000(x: keras.KerasTensor) -> keras.KerasTensor:
    """Notebook 000's feature extractor: three 3x3 convs (16, 32, 64), one 2x2 max-pool."""
    for index, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv2D(
            filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"conv2d_{index}"
        )(x)
    x = layers.MaxPooling2D(2, name="max_pooling2d_1")(x)
    return layers.Flatten(name="flatten_1")(x)


def _dense_head_000(x: keras.KerasTensor, activation: str | None, outputs: int = 10) -> keras.KerasTensor:
    """Notebook 000's sequential classifier: dense 128 relu, dropout 0.5, dense 10 (`activation`: softmax or logits)."""
    x = layers.Dense(128, activation="relu", kernel_initializer="he_normal", name="dense_1")(x)
    x = layers.Dropout(0.5, name="dropout_1")(x)
    return layers.Dense(
        outputs, activation=activation, kernel_initializer="he_normal", name="dense_2", dtype="float32"
    )(x)


def build_base_cnn(input_divisor: float = 255.0) -> keras.Model:
    """Notebook 000, sequential approach: conv trunk, dense 128, dropout 0.5, softmax over 10."""
    inputs, x = _input(input_divisor)
    return keras.Model(inputs, _dense_head_000(_conv_trunk_000(x), "softmax"), name="base_cnn")


def add_dense_l2(model: keras.Model, l2: float) -> None:
    """Put an L2 penalty of `l2` on every Dense kernel of `model`, in place.

    Keras counts a weight's own `regularizer`. Notebook 000 set the layers'
    `kernel_regularizer` attribute after they were built, which nothing reads any more,
    so its "L2 0.001" never took effect; this one does.
    """
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            layer.kernel.regularizer = keras.regularizers.L2(l2)


def _branch_head(x: keras.KerasTensor, branch: int) -> keras.KerasTensor:
    """Notebook 000's 5-way head: dense 128 elu, dense 128 elu, dropout 0.5, softmax 5."""
    for index in (1, 2):
        x = layers.Dense(128, activation="elu", kernel_initializer="he_normal", name=f"branch_{branch}_dense_{index}")(
            x
        )
    x = layers.Dropout(0.5, name=f"branch_{branch}_dropout_1")(x)
    return layers.Dense(
        5, activation="softmax", kernel_initializer="he_normal", name=f"branch_{branch}_dense_3", dtype="float32"
    )(x)


def build_branch_cnn(input_divisor: float = 255.0) -> keras.Model:
    """Notebook 000, branching approach: the conv trunk and one 5-way head, for digits 0-4."""
    inputs, x = _input(input_divisor)
    return keras.Model(inputs, _branch_head(_conv_trunk_000(x), branch=1), name="branch_cnn")


def grow_branch(model: keras.Model) -> keras.Model:
    """Add a second 5-way head (digits 5-9) on the trunk of a one-head branch model.

    The new model shares the trunk and first head with `model`; its outputs are
    [0-4 probabilities, 5-9 probabilities].
    """
    features = model.get_layer("flatten_1").output
    return keras.Model(model.input, [model.output, _branch_head(features, branch=2)], name="branch_cnn_2")


def _fc_head_003(x: keras.KerasTensor, outputs: int) -> keras.KerasTensor:
    """Notebook 003's classifier: dense 200 relu, then softmax (or sigmoid for one unit)."""
    x = layers.Dense(200, name="dense_1")(x)
    x = layers.Activation("relu", name="activation_4")(x)
    x = layers.Dense(outputs, name="dense_2")(x)
    return layers.Activation("sigmoid" if outputs == 1 else "softmax", name="activation_5", dtype="float32")(x)


def build_full_cnn(input_divisor: float = 1.0) -> keras.Model:
    """Notebook 003: three conv(3x3)-relu-maxpool blocks (32, 64, 128), dense 200, softmax over 10.

    The notebook feeds unscaled 0-255 pixels, hence input_divisor=1.
    """
    inputs, x = _input(input_divisor)
    for block, filters in enumerate((32, 64, 128), start=1):
        x = layers.Conv2D(filters, 3, padding="same", name=f"conv2d_{block}")(x)
        x = layers.Activation("relu", name=f"activation_{block}")(x)
        x = layers.MaxPooling2D(2, name=f"max_pooling2d_{block}")(x)
    x = layers.Flatten(name="flatten_1")(x)
    return keras.Model(inputs, _fc_head_003(x, 10), name="full_cnn")


def build_mlp(outputs: int = 10) -> keras.Model:
    """van de Ven et al.'s network for Split MNIST: 784-400-400-10, ReLU; logits out (the loss holds the softmax).

    Inputs are flattened pixels in [0, 1]; `outputs` logits (2 for domain-incremental Split MNIST).
    """
    inputs = keras.Input((28 * 28,), name="pixels")
    x = layers.Dense(400, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(400, activation="relu", name="dense_2")(x)
    return keras.Model(inputs, layers.Dense(outputs, dtype="float32", name="logits")(x), name="mlp")


def build_cnn(outputs: int = 10) -> keras.Model:
    """Notebook 000's sequential CNN (build_base_cnn) as a scenario's network: flat pixels in [0, 1] in, logits out."""
    inputs = keras.Input((28 * 28,), name="pixels")
    x = _conv_trunk_000(layers.Reshape(INPUT_SHAPE, name="image")(inputs))
    return keras.Model(inputs, _dense_head_000(x, None, outputs), name="cnn")


# The networks a scenario can name (params scenarios.<name>.network).
NETWORKS = {"mlp": build_mlp, "cnn": build_cnn}

# The last layer of each network's trunk, the part the freeze and branch strategies share
# and freeze after the first task: the CNN's conv blocks (the notebook's frozen layers),
# the MLP's first layer. The layers after it are the head.
TRUNK_END = {"mlp": "dense_1", "cnn": "flatten_1"}


def build_network(name: str, outputs: int = 10) -> keras.Model:
    return NETWORKS[name](outputs)


def split_network(model: keras.Model, name: str) -> tuple[list[keras.layers.Layer], list[keras.layers.Layer]]:
    """(trunk layers, head layers) of a network built by build_network(name), in order, its input left out."""
    body = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    end = [layer.name for layer in body].index(TRUNK_END[name]) + 1
    return body[:end], body[end:]


def rehead_full_cnn(model: keras.Model, outputs: int) -> keras.Model:
    """Notebook 003's transfer: the trained conv blocks of `model` under a new, fresh head.

    outputs=2 gives a softmax 0/1 classifier, outputs=1 a sigmoid one. The conv layers
    are shared with `model`, not copied.
    """
    features = model.get_layer("flatten_1").output
    return keras.Model(model.input, _fc_head_003(features, outputs), name=f"full_cnn_{outputs}")


def precision(model: keras.Model) -> str:
    """The dtype policy `model` was built under: that of its first layer with weights."""
    return next(layer for layer in model.layers if layer.weights).dtype_policy.name


def body_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers after its input and rescale layers, in order."""
    return [layer for layer in model.layers if layer.name not in ("input", "rescale")]


def chain(stack: list[keras.layers.Layer], input_shape: tuple[int, ...], name: str) -> keras.Model:
    """A model that applies `stack` in order, sharing the layers (and so the weights)."""
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = inputs
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def freeze_trunk(model: keras.Model, trunk: list[str], head: list[str]) -> tuple[keras.Model, keras.Model]:
    """Freeze the `trunk` layers of `model`; return (images -> trunk features, features -> head output).

    Both models share `model`'s layers, so training the head trains `model`. Fitting
    the head on features the frozen trunk computed once gives the same updates as
    fitting the whole model with the trunk frozen, without running the trunk every epoch.
    """
    for name in trunk:
        model.get_layer(name).trainable = False
    stem = [model.get_layer("rescale")] + [model.get_layer(name) for name in trunk]
    trunk_model = chain(stem, INPUT_SHAPE, "trunk")
    head_model = chain([model.get_layer(name) for name in head], tuple(trunk_model.output.shape[1:]), "head")
    return trunk_model, head_model


def architecture(model: keras.Model) -> list[tuple[str, str, list[tuple[int, ...]]]]:
    """What a model is, weights aside: each layer's class, name and weight shapes, in order."""
    return [
        (type(layer).__name__, layer.name, [tuple(weight.shape) for weight in layer.weights]) for layer in model.layers
    ]


def load_model(path: Path | str, like: Callable[[], keras.Model] | None = None) -> keras.Model:
    """Load a stage's .keras model: whole, taking 28x28x1 images and, given `like`, of its architecture.

    `like` is the builder of the architecture the producing stage builds; the model it
    builds for the comparison leaves every random state as it was, so seeded training
    draws the same numbers with or without the check. Every problem is a one-line
    DataError with the fix.
    """
    path = Path(path)
    fix = restore_hint(path)
    if "config.json" not in read_zip(path, fix, ".keras file"):
        raise DataError(f"{path}: damaged, it has no config.json; {fix}")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as err:  # Keras raises many types for a bad file
        raise DataError(f"{path}: not a loadable Keras model ({type(err).__name__}: {err}); {fix}") from None
    if tuple(model.input_shape[1:]) != INPUT_SHAPE:
        raise DataError(f"{path}: model takes inputs of shape {model.input_shape[1:]}, expected {INPUT_SHAPE}; {fix}")
    if like is not None:
        python_state, numpy_state = random.getstate(), np.random.get_state()
        try:
            reference = like()  # its layers draw their initialiser seeds from Python's random
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
        if architecture(model) != architecture(reference):
            found = ", ".join(layer.name for layer in model.layers)
            raise DataError(f"{path}: not a {reference.name} model (its layers: {found}); {fix}")
    return model
