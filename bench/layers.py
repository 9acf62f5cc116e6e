"""Where the base CNN's training time goes: each layer's share of a training step, and its GFLOP/s.

Usage: python -m bench.layers [--precision POLICY] [--batch N] [--steps N]

Times each layer of the base CNN on its own, on the activations it gets in the model
(random images through the layers before it): its forward pass and the backward pass a
training step needs, the gradients of its weights and, past the first conv, of its input,
for a random upstream gradient. Its FLOPs are those of `bench.peak` (3 x 2 x multiply-adds
per image), so its GFLOP/s compare with the machine's matmul peak there. The last line is
the rest of a real training step: loss, Adam's update, Keras and what fusing the layers in
one graph saves or costs (`bench.peak`'s measured images/s minus the layers' sum). Each
time is the median of 5 rounds of `--steps` steps after a warm-up; seeded, deterministic
kernels, as the stages.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from bench.peak import matmul_gflops, multiply_adds, training_images_per_second

log = logging.getLogger("bench.layers")

ROUNDS = 5


def step_seconds(layer, x, input_gradient: bool, steps: int) -> float:
    """Median seconds of `layer`'s forward and backward pass on `x` (weights' and, if asked, input's gradient)."""
    import tensorflow as tf

    upstream = tf.random.stateless_normal(layer(x).shape, seed=(0, 0), dtype=layer.compute_dtype)
    x = tf.constant(x)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(layer(x, training=True) * upstream, "float32"))
        return loss, tape.gradient(loss, [*layer.trainable_weights, *([x] if input_gradient else [])])

    step(x)  # warm-up: traces the graph
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(steps):
            loss, _ = step(x)
        loss.numpy()
        rounds.append((time.perf_counter() - start) / steps)
    return statistics.median(rounds)


def layer_times(precision: str = "float32", batch: int = 128, steps: int = 20) -> list[dict]:
    """Each layer of the base CNN: seconds per batch of its forward and backward pass, and its FLOPs."""
    import keras
    import numpy as np

    from mnist_transfer import training
    from mnist_transfer.models import build_base_cnn

    keras.mixed_precision.set_global_policy(precision)
    training.seed_everything(0)
    x = np.random.default_rng(0).integers(0, 256, (batch, 28, 28, 1)).astype("float32")
    model = build_base_cnn()
    rows, input_gradient = [], False  # nothing before the first weights needs a gradient
    for layer in model.layers[1:]:  # after the Input
        seconds = step_seconds(layer, x, input_gradient, steps)
        rows.append({"layer": layer.name, "seconds": seconds, "flops": 3 * 2 * multiply_adds(layer) * batch})
        log.info("%s: %.2f ms per batch of %d", layer.name, 1e3 * seconds, batch)
        input_gradient = input_gradient or bool(layer.trainable_weights)
        x = layer(x, training=True)
    keras.mixed_precision.set_global_policy("float32")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__.split("\n")[0])
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--batch", type=int, default=128, help="images per step (base: 128)")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round (default 20)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    peak = matmul_gflops("float32" if args.precision == "float32" else "bfloat16")
    rows = layer_times(args.precision, args.batch, args.steps)
    passes = sum(row["seconds"] for row in rows)
    fit_step = args.batch / training_images_per_second(args.precision)
    rows.append({"layer": "rest of the fit step", "seconds": fit_step - passes, "flops": 0})

    print(f"\nbase CNN, {args.precision}, batch {args.batch}: one training step {1e3 * fit_step:.1f} ms")
    print(f"matmul peak {peak:.0f} GFLOP/s")
    print(f"{'layer':26}{'ms/batch':>10}{'share':>8}{'GFLOP/s':>10}{'of peak':>9}")
    for row in rows:
        rate = row["flops"] / row["seconds"] / 1e9 if row["flops"] and row["seconds"] > 0 else None
        cells = f"{rate:10.0f}{rate / peak:9.0%}" if rate else f"{'-':>10}{'-':>9}"
        print(f"{row['layer']:26}{1e3 * row['seconds']:10.2f}{row['seconds'] / fit_step:8.0%}{cells}")
    rate = sum(row["flops"] for row in rows) / fit_step / 1e9
    print(f"{'whole step':26}{1e3 * fit_step:10.2f}{1:8.0%}{rate:10.0f}{rate / peak:9.0%}")


if __name__ == "__main__":
    main()
