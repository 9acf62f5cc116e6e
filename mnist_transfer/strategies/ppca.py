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

from mnist_transfer.scenarios import Task

FLOAT_BYTES = 4
SIDE = 28


def deskew(images: np.ndarray) -> np.ndarray:
    """Each (28, 28) image sheared so that its pixel mass has no row-column covariance (bilinear sampling)."""
    images = images.astype(np.float64)
    rows, cols = np.mgrid[:SIDE, :SIDE].astype(np.float64)
    mass = images.sum(axis=(1, 2)) + 1e-12
    row_mean = (images * rows).sum(axis=(1, 2)) / mass
    col_mean = (images * cols).sum(axis=(1, 2)) / mass
    row_var = (images * (rows - row_mean[:, None, None]) ** 2).sum(axis=(1, 2)) / mass
    covar = (images * (rows - row_mean[:, None, None]) * (cols - col_mean[:, None, None])).sum(axis=(1, 2)) / mass
    skew = covar / np.maximum(row_var, 1e-12)
    centre = SIDE / 2  # output pixel (r, c) reads the input at (r, c + skew (r - centre)), re-centred
    source_rows = rows[None] + (row_mean[:, None, None] - centre)
    source_cols = cols[None] + skew[:, None, None] * (rows[None] - centre) + (col_mean[:, None, None] - centre)
    return _bilinear(images, source_rows, source_cols)


def _bilinear(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    top, left = np.floor(rows).astype(int), np.floor(cols).astype(int)
    out = np.zeros_like(images)
    index = np.arange(len(images))[:, None, None]
    for dr, row_weight in ((0, 1 - (rows - top)), (1, rows - top)):
        for dc, col_weight in ((0, 1 - (cols - left)), (1, cols - left)):
            r, c = top + dr, left + dc
            inside = (r >= 0) & (r < SIDE) & (c >= 0) & (c < SIDE)
            pixels = images[index, np.clip(r, 0, SIDE - 1), np.clip(c, 0, SIDE - 1)]
            out += np.where(inside, pixels, 0.0) * row_weight * col_weight
    return out


class Strategy:
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        self.params = params
        self.models: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, float]] = {}
        self.images_trained = 0

    def _pixels(self, x: np.ndarray) -> np.ndarray:
        x = deskew(x / 255.0) if self.params["deskew"] else x / 255.0
        return x.reshape(len(x), -1)

    def learn(self, task: Task, seen: tuple[int, ...]) -> None:
        pixels = self._pixels(task.x_train)
        k = self.params["components"]
        for digit in task.digits:
            own = pixels[task.y_train == digit]
            mean = own.mean(axis=0)
            variances, directions = np.linalg.eigh(np.cov(own - mean, rowvar=False, bias=True))
            variances, directions = variances[::-1], directions[:, ::-1]
            noise = float(variances[k:].mean())
            self.models[digit] = (
                mean.astype("float32"),
                directions[:, :k].astype("float32"),
                np.maximum(variances[:k], noise).astype("float32"),
                noise,
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
