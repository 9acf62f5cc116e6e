"""mnist-transfer: transfer and continual learning on MNIST as a DVC pipeline.

Shared pieces, one place each: params (schema and validation), data (MNIST and its
splits), models (the notebooks' architectures), training (fit with dvclive), metrics
(test-set figures) and artifacts (atomic, reproducible output files). The stages in
stages/ are thin scripts on top of these.
"""
