"""The image transforms of the continual-learning strategies: flat pixels in [0, 1], deskewing, random shifts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SIDE = 28


def flat(images: np.ndarray) -> np.ndarray:
    """(N, 784) float32 pixels in [0, 1] from (N, 28, 28) or (N, 784) images in [0, 255]."""
    return images.reshape(len(images), -1).astype("float32") / 255.0


# Images deskewed at once by deskewed_flat: each needs about twenty float64 temporaries of its
# size, so a whole training set at once would take gigabytes; the result is the same image by image.
DESKEW_CHUNK = 1024


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


def deskewed_flat(images: np.ndarray, dtype: str = "float64") -> np.ndarray:
    """(N, 784) deskewed pixels in [0, 1] of (N, 28, 28) images in [0, 255], as `dtype`, DESKEW_CHUNK at a time.

    Each chunk is deskewed in float64 and then stored as `dtype`: a float32 result of a whole
    training set never holds its float64 copy.
    """
    out = np.empty((len(images), SIDE * SIDE), dtype=dtype)
    for start in range(0, len(images), DESKEW_CHUNK):
        chunk = images[start : start + DESKEW_CHUNK]
        out[start : start + len(chunk)] = deskew(chunk / 255.0).reshape(len(chunk), -1)
    return out


class Once:
    """`convert` applied once per array, its result kept: a run scores the same test images after every task."""

    def __init__(self, convert: Callable[[np.ndarray], np.ndarray]) -> None:
        self.convert = convert
        self.done: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(images) -> images, converted

    def __call__(self, images: np.ndarray) -> np.ndarray:
        seen, converted = self.done.get(id(images), (None, None))
        if seen is not images:  # holding `images` keeps its id from going to another array
            converted = self.convert(images)
            self.done[id(images)] = (images, converted)
        return converted

    def forget(self, images: np.ndarray) -> None:
        """Drop `images`' converted copy: an array that will not be converted again (a learnt task's training set)."""
        self.done.pop(id(images), None)


def _bilinear(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Each image read at (rows, cols): the four neighbouring pixels weighted by nearness, zero outside."""
    top, left = np.floor(rows).astype(np.intp), np.floor(cols).astype(np.intp)
    row_frac, col_frac = rows - top, cols - left
    flat = images.reshape(-1)  # one index per pixel into the flat array: much faster than three index arrays
    first = (np.arange(len(images)) * SIDE * SIDE)[:, None, None]
    out = np.zeros_like(images)
    for dr, row_weight in ((0, 1 - row_frac), (1, row_frac)):
        r = top + dr
        row_inside = (r >= 0) & (r < SIDE)
        row_start = first + np.clip(r, 0, SIDE - 1) * SIDE
        for dc, col_weight in ((0, 1 - col_frac), (1, col_frac)):
            c = left + dc
            inside = row_inside & (c >= 0) & (c < SIDE)
            out += np.where(inside, flat[row_start + np.clip(c, 0, SIDE - 1)], 0.0) * row_weight * col_weight
    return out


def shift(pixels: np.ndarray, most: int, rng: np.random.Generator) -> np.ndarray:
    """Flat images each moved by a random whole number of pixels in [-most, most] down and across, zeros let in."""
    padded = np.pad(pixels.reshape(-1, SIDE, SIDE), ((0, 0), (most, most), (most, most)))
    down, across = rng.integers(-most, most + 1, size=(2, len(pixels)))
    rows = np.arange(SIDE)[None, :, None] + (most - down)[:, None, None]
    cols = np.arange(SIDE)[None, None, :] + (most - across)[:, None, None]
    return padded[np.arange(len(pixels))[:, None, None], rows, cols].reshape(len(pixels), -1)
