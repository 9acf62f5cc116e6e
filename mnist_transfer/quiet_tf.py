"""TensorFlow and Keras, imported without their start-up chatter: `from mnist_transfer.quiet_tf import keras, tf`.

TensorFlow's C++ side prints lines about CUDA drivers, oneDNN and absl logging to
stderr while it loads and probes for devices, whatever TF_CPP_MIN_LOG_LEVEL says for
some of them. Every module of the package that needs TensorFlow imports it from here,
so the first import in a stage runs with stderr captured: known start-up lines are
dropped, and any other line still reaches the user as a logging warning.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's own INFO and WARNING lines
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

log = logging.getLogger(__name__)

# Substrings of the lines TensorFlow prints on every CPU-only start.
START_UP_NOISE = (
    "absl::InitializeLog",
    "cuda",
    "cuInit",
    "cuDNN",
    "cuFFT",
    "cuBLAS",
    "TF-TRT",
    "oneDNN custom operations",
    "appropriate compiler flags",
    "computation_placer",
    "Unable to register",
)


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
    for line in lines:
        if line.strip() and not any(noise.lower() in line.lower() for noise in START_UP_NOISE):
            log.warning("tensorflow: %s", line)
    return keras, tf


keras, tf = _import_quietly()
