"""A generative classifier that stores no image: one probabilistic PCA per digit, on deskewed pixels.

Each digit is a Gaussian whose covariance is its top `components` principal directions
plus isotropic noise σ² (Tipping & Bishop 1999's maximum-likelihood PPCA: σ² is the mean
of the other eigenvalues), fitted from that digit's own training images alone, so
learning a task changes nothing of the earlier digits: what they lose later comes only
from new digits competing for their images. The
prediction is the class of highest log-likelihood (equal priors; in domain-incremental
learning, where a class is a digit of each task, the likeliest of its digits). With
`deskew`, every image is first sheared upright by its own second moments, a transform of
the image alone. Kept: per digit the mean, the directions, their variances and σ², in float32.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from mnist_transfer.params import PPCA_COMPONENTS, Expect, Group
from mnist_transfer.pca import fit_ppca
from mnist_transfer.pixels import SIDE, Once, deskewed_flat
from mnist_transfer.scenarios import FLOAT_BYTES, Task, outputs


class Params(Group):
    components: PPCA_COMPONENTS  # principal directions per digit
    deskew: Annotated[bool, Field(strict=True), Expect("true or false")]  # shear each image upright first


class Strategy:
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        self.params = params
        self.outputs = outputs(scenario)
        self.models: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray, float]] = {}  # by (digit, class)
        self.images_trained = 0
        # float64, as the covariances need; each scored array converted once
        self._pixels = Once(deskewed_flat if params["deskew"] else lambda x: x.reshape(len(x), -1) / 255.0)

    def learn(self, task: Task, seen: tuple[int, ...]) -> None:
        pixels = self._pixels.convert(task.x_train)  # read once: not kept
        for digit, cls in zip(task.digits, task.classes, strict=True):
            self.models[digit, cls] = fit_ppca(
                pixels[task.y_train == cls], self.params["components"], "strategies.ppca.components", digit
            )
        self.images_trained += len(task.y_train)

    def scores(self, x: np.ndarray) -> np.ndarray:
        pixels = self._pixels(x)
        scores = np.full((len(x), self.outputs), -np.inf)
        for (_, cls), (mean, directions, variances, noise) in self.models.items():
            centred = pixels - mean
            projected = centred @ directions
            # Mahalanobis distance and log-determinant of U diag(variances) U^T + noise (I - U U^T)
            distance = ((centred**2).sum(axis=1) - (projected**2 * (1 - noise / variances)).sum(axis=1)) / noise
            log_det = np.log(variances).sum() + (pixels.shape[1] - len(variances)) * np.log(noise)
            scores[:, cls] = np.maximum(scores[:, cls], -0.5 * (distance + log_det))
        return scores

    def held_bytes(self) -> int:
        per_digit = SIDE * SIDE * (1 + self.params["components"]) + self.params["components"] + 1
        return len(self.models) * per_digit * FLOAT_BYTES

    def stored_images(self) -> int:
        return 0
