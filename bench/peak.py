"""This machine's measured matmul peak per precision, the work of one base-CNN training image, and its speed.

Usage: python -m bench.peak <result.json>

Peak: the best of several large matrix products in TensorFlow (all cores, the same
oneDNN/Eigen kernels the models use), in GFLOP/s, in float32 and in bfloat16 (the
arithmetic of mixed_bfloat16: AMX or AVX512-BF16 where the CPU has them). Work: the base CNN's
multiply-adds per image from its layer shapes, times 2 FLOPs, times 3 for training
(forward, gradient of the inputs, gradient of the weights). Speed: the base CNN's
training images/s under each Keras precision policy, on random images (speed does not
depend on the pixels), mean of epochs 2-3 (the first one traces the graph).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

SIZE = 2048
REPEATS = 10
POLICIES = ("float32", "mixed_bfloat16")
SPEED_IMAGES = 8192
SPEED_EPOCHS = 3


def matmul_gflops(dtype: str = "float32") -> float:
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal((SIZE, SIZE), seed=(0, 0)), dtype)
    b = tf.cast(tf.random.stateless_normal((SIZE, SIZE), seed=(0, 1)), dtype)
    product = tf.function(lambda a, b: tf.linalg.matmul(a, b))
    product(a, b).numpy()  # warm-up
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * SIZE**3 / best / 1e9


def multiply_adds(layer) -> int:
    """Multiply-adds per image of a Conv2D or Dense layer; 0 for the others."""
    import keras

    if isinstance(layer, keras.layers.Conv2D):
        _, height, width, filters = layer.output.shape
        kernel_h, kernel_w, channels, _ = layer.kernel.shape
        return height * width * filters * kernel_h * kernel_w * channels
    if isinstance(layer, keras.layers.Dense):
        return layer.kernel.shape[0] * layer.kernel.shape[1]
    return 0


def training_flops_per_image() -> float:
    """3 x 2 x multiply-adds of build_base_cnn's conv and dense layers for one image."""
    from mnist_transfer.models import build_base_cnn

    return 3 * 2 * sum(multiply_adds(layer) for layer in build_base_cnn().layers)


def training_images_per_second(policy: str) -> float:
    """The base CNN's training speed under `policy`: batch 128, Adam, as base trains it."""
    import keras
    import numpy as np

    from mnist_transfer import training
    from mnist_transfer.models import build_base_cnn

    keras.mixed_precision.set_global_policy(policy)
    training.seed_everything(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (SPEED_IMAGES, 28, 28, 1)).astype("float32")
    y = training.targets(rng.integers(0, 10, SPEED_IMAGES), 10)
    model = build_base_cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    throughput = training.Throughput(policy, SPEED_IMAGES)
    model.fit(x, y, batch_size=128, epochs=SPEED_EPOCHS, callbacks=[throughput], verbose=0)
    keras.mixed_precision.set_global_policy("float32")
    steady = throughput.seconds[1:]
    return SPEED_IMAGES * len(steady) / sum(steady)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bench.peak <result.json>")
    result = {
        "peak_gflops": matmul_gflops(),
        "peak_gflops_by_precision": {"float32": matmul_gflops("float32"), "mixed_bfloat16": matmul_gflops("bfloat16")},
        "base_training_flops_per_image": training_flops_per_image(),
        "base_images_per_second_by_precision": {policy: training_images_per_second(policy) for policy in POLICIES},
    }
    Path(sys.argv[1]).write_text(json.dumps(result, indent=2) + "\n")
