"""Probabilistic PCA (Tipping & Bishop 1999), fitted by maximum likelihood: strategies ppca and hybrid_replay."""

from __future__ import annotations

import numpy as np

from mnist_transfer.errors import ParamsError

# Eigenvalues below this fraction of the largest are rounding error: directions the images do not span.
RANK_TOLERANCE = 1e-10


def fit_ppca(
    own: np.ndarray, components: int, key: str, digit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Maximum-likelihood PPCA of one digit's flat pixels: mean, top directions, their variances, noise σ².

    `key` is the params key setting `components`, for the one-line refusal when the images of
    `digit` leave no variance for the noise (they span no more than `components` directions).
    """
    mean = own.mean(axis=0)
    variances, directions = np.linalg.eigh(np.cov(own - mean, rowvar=False, bias=True))
    variances, directions = variances[::-1], directions[:, ::-1]
    spanned = int(np.sum(variances > RANK_TOLERANCE * variances[0]))
    if components >= spanned:
        fix = f"set it to at most {spanned - 1}" if spanned > 1 else "they are too alike for any PPCA"
        raise ParamsError(
            f"{key} = {components}: the {len(own)} training images of digit {digit} span only {spanned} directions, "
            f"which leaves no variance for the PPCA's noise; {fix}"
        )
    noise = float(variances[components:].mean())
    return (
        mean.astype("float32"),
        directions[:, :components].astype("float32"),
        np.maximum(variances[:components], noise).astype("float32"),
        noise,
    )
