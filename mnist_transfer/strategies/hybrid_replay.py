"""Hybrid replay: stored images moved at random, and images drawn from a Gaussian per digit, on deskewed pixels.

Experience replay (network.ReplayStrategy) with three changes, each chosen on the held-out images
(docs/continual.md):

- the network sees every image deskewed (pixels.deskew), so a digit's images vary less;
- each stored image is moved by up to `shift` pixels, down and across, each time it is
  replayed, so the network cannot learn the 100 stored images of a digit by heart;
- every step also replays `drawn_per_stored` times as many images drawn from a
  probabilistic PCA of each earlier digit (pca.fit_ppca, on the digit's deskewed training
  images when its task ends): the mean plus a random point of its `components`-dimensional
  principal subspace, no isotropic noise, clipped to [0, 1]. A digit's drawn images have
  no limit, its stored ones do.

Kept: the stored images and, per digit, the mean and the scaled directions (float32).
"""

from __future__ import annotations

import numpy as np

from mnist_transfer import pixels
from mnist_transfer.params import PPCA_COMPONENTS, Int
from mnist_transfer.pca import fit_ppca
from mnist_transfer.scenarios import FLOAT_BYTES, Task
from mnist_transfer.strategies.network import ReplayParams, ReplayStrategy


class Params(ReplayParams):
    shift: Int(0, 13)  # pixels a replayed stored image moves, at most
    components: PPCA_COMPONENTS  # principal directions of each digit's PPCA the drawn images come from
    drawn_per_stored: Int(1)  # images drawn per stored image replayed


class Strategy(ReplayStrategy):
    def __init__(self, params: dict, scenario: dict, seed: int) -> None:
        super().__init__(params, scenario, seed)
        # (task index, class) -> mean (784,), loadings (k, 784): one per digit
        self.generators: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.keys: list[tuple[int, int]] = []  # the generators drawn from, sorted
        self._deskewed = pixels.Once(lambda images: pixels.deskewed_flat(images, "float32"))  # as the network trains

    def pixels(self, images: np.ndarray) -> np.ndarray:
        """Flat deskewed pixels in [0, 1], each array deskewed once."""
        return self._deskewed(images)

    def after_task(self, task: Task, seen: tuple[int, ...]) -> None:
        super().after_task(task, seen)
        own = self.pixels(task.x_train)
        for digit, cls in zip(task.digits, task.classes, strict=True):  # float64 one digit at a time: 140 MB less
            mean, directions, variances, noise = fit_ppca(
                own[task.y_train == cls].astype(np.float64),
                self.params["components"],
                "strategies.hybrid_replay.components",
                digit,
            )
            loadings = (directions * np.sqrt(np.maximum(variances - noise, 0.0))).T.copy()
            self.generators[task.index, cls] = (mean, loadings)
        self.keys = sorted(self.generators)
        self._deskewed.forget(task.x_train)  # what it keeps of the task is above

    def replay_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        stored = super().replay_batch()
        if stored is None:
            return None
        x, y, masks = stored
        drawn_keys = self.rng.integers(len(self.keys), size=len(y) * self.params["drawn_per_stored"])
        drawn = np.empty((len(drawn_keys), x.shape[1]), dtype=x.dtype)
        for index, key in enumerate(self.keys):  # one small product per digit: a large one costs more than it saves
            chosen = drawn_keys == index
            mean, loadings = self.generators[key]
            coordinates = self.rng.standard_normal((int(chosen.sum()), len(loadings)), dtype="float32")
            drawn[chosen] = mean + coordinates @ loadings
        labels = np.array([cls for _, cls in self.keys])[drawn_keys]
        drawn_masks = self.replay_masks(np.stack([self.key_masks[key] for key in self.keys])[drawn_keys])
        x = np.concatenate([pixels.shift(x, self.params["shift"], self.rng), np.clip(drawn, 0.0, 1.0)])
        return x, np.concatenate([y, labels]), np.concatenate([masks, drawn_masks])

    def kept_bytes(self) -> int:
        per_digit = pixels.SIDE * pixels.SIDE * (1 + self.params["components"]) * FLOAT_BYTES
        return super().kept_bytes() + len(self.generators) * per_digit
