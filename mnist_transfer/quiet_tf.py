"""TensorFlow and Keras, imported without their start-up chatter: `from mnist_transfer.quiet_tf import keras, tf`.

TensorFlow's C++ side prints lines about CUDA drivers, oneDNN and absl logging to
stderr while it loads and probes for devices, whatever TF_CPP_MIN_LOG_LEVEL says for
some of them. Every module of the package that needs TensorFlow imports it from here,
so the first import in a stage runs with stderr captured: known start-up lines are
dropped, and any other line still reaches the user as a logging warning.

Lines about the device ("GPU will not be used", a failed cuInit) are the exception: they
are kept in DEVICE_LINES, and reach the user whenever a GPU is wanted, that is when
MNIST_TRANSFER_DEVICE=gpu or TensorFlow's CUDA wheels are installed (the GPU lock); on a
CPU-only install they are the same two lines at every start, and are dropped.
training.use_device refuses a GPU asked for and not found, quoting them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's own INFO and WARNING lines
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

log = logging.getLogger(__name__)

DEVICE_ENV = "MNIST_TRANSFER_DEVICE"  # gpu: a GPU or a refusal; cpu: the CPU even where a GPU is
# Substrings of the lines in which TensorFlow says which device it cannot use.
DEVICE_NOTICES = ("GPU will not be used", "cuInit")
# Substrings of the other lines TensorFlow prints on every start (the CUDA wheels add the
# factory registrations).
START_UP_NOISE = (
    "absl::InitializeLog",
    "cuDNN",
    "cuFFT",
    "cuBLAS",
    "TF-TRT",
    "oneDNN custom operations",
    "appropriate compiler flags",
    "computation_placer",
    "Unable to register",
)


def gpu_wanted() -> bool:
    """MNIST_TRANSFER_DEVICE=gpu, or (unset) TensorFlow's CUDA wheels installed: the GPU lock's `nvidia` packages."""
    asked = os.environ.get(DEVICE_ENV, "").strip().lower()
    return asked == "gpu" or (not asked and importlib.util.find_spec("nvidia") is not None)


DEVICE_LINES: list[str] = []  # TensorFlow's lines about the device it cannot use, this start's


def sort_lines(lines: list[str], wanted: bool) -> tuple[list[str], list[str]]:
    """TensorFlow's start-up lines: (those the user sees, as warnings), (those about the device)."""
    shown, device = [], []
    for line in lines:
        if not line.strip() or any(noise.lower() in line.lower() for noise in START_UP_NOISE):
            continue
        if any(notice in line for notice in DEVICE_NOTICES):
            device.append(line)
            if not wanted:
                continue
        shown.append(line)
    return shown, device


def _import_quietly():
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras
            import tensorflow as tf

            tf.config.list_physical_devices()  # the device probe prints its lines now, not at first use
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        lines = captured.read().decode(errors="replace").splitlines()
    shown, device = sort_lines(lines, gpu_wanted())
    DEVICE_LINES.extend(device)
    for line in shown:
        log.warning("tensorflow: %s", line)
    return keras, tf


keras, tf = _import_quietly()
