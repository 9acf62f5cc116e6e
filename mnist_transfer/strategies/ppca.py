"""A generative classifier that stores no image: one probabilistic PCA per digit, on deskewed pixels.

Each digit is a Gaussian whose covariance is its top `components` principal directions
plus isotropic noise σ² (Tipping & Bishop 1999's maximum-likelihood PPCA: σ² is the mean
of the other eigenvalues), fitted from that digit's own training images alone, so
learning a task changes nothing of the earlier digits: what they lose later comes only
from new digits competing for their images. The
prediction is the digit of highest log-likelihood (equal priors). With `deskew`, every
image is first sheared upright by its own second moments, a transform of the image alone.
Kept: per digit the mean, the directions, their variances and σ², in float32.
"""

from __future__ import annotations

import numpy as np

from mnist_transfer.errors import ParamsError
from mnist_transfer.pixels import SIDE, Once, deskewed_flat
from mnist_transfer.scenarios import FLOAT_BYTES, Task

# Eigenvalues below this fraction of the largest are rounding error: directions the images do not span.
RANK_TOLERANCE = 1e-10


def fit(own: np.ndarray, components: int, key: str, digit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Maximum-likelihood PPCA of one digit's flat pixels: mean, top directions, their variances, noise σ².

    `key` is the params key setting `components`, for the one-line refusal when the images of
    `digit` leave no variance for the noise (they span no more than `components` directions).
    """
    mean = own.mean(axis=0)
    variances, directions = np.linalg.eigh(np.cov(own - mean, rowvar=False, bias=True))
    variances, directions = variances[::-1], directions[:, ::-1]
    spanned = int(np.sum(variances > RANK_TOLERANCE * variances[0]))
    if components >= spanned:
        raise ParamsError(
            f"{key} = {components}: the {len(own)} training images of digit {digit} span only {spanned} directions, "
            f"which leaves no variance for the PPCA's noise; set it to at most {spanned - 1}"
        )
    noise = float(variances[components:].mean())
    return (
        mean.astype("float32"),
        directions[:, :components].astype("float32"),
        np.maximum(variances[:components], noise).astype("float32"),
        noise,
    )


class Strategy:
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        self.params = params
        self.models: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = {}
        self.images_trained = 0
        # float64, as the covariances need; each scored array converted once
        self._pixels = Once(deskewed_flat if params["deskew"] else lambda x: x.reshape(len(x), -1) / 255.0)

    def learn(self, task: Task, seen: tuple[int, ...]) -> None:
        pixels = self._pixels.convert(task.x_train)  # read once: not kept
        for digit in task.digits:
            self.models[digit] = fit(
                pixels[task.y_train == digit], self.params["components"], "strategies.ppca.components", digit
            )
        self.images_trained += len(task.y_train)

    def scores(self, x: np.ndarray) -> np.ndarray:
        pixels = self._pixels(x)
        scores = np.full((len(x), 10), -np.inf)
        for digit, (mean, directions, variances, noise) in self.models.items():
            centred = pixels - mean
            projected = centred @ directions
            # Mahalanobis distance and log-determinant of U diag(variances) U^T + noise (I - U U^T)
            distance = ((centred**2).sum(axis=1) - (projected**2 * (1 - noise / variances)).sum(axis=1)) / noise
            log_det = np.log(variances).sum() + (pixels.shape[1] - len(variances)) * np.log(noise)
            scores[:, digit] = -0.5 * (distance + log_det)
        return scores

    def kept_bytes(self) -> int:
        per_digit = SIDE * SIDE * (1 + self.params["components"]) + self.params["components"] + 1
        return len(self.models) * per_digit * FLOAT_BYTES
