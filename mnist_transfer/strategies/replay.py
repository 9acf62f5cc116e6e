"""Experience replay: a class-balanced buffer of stored training images, a batch of them in every step.

After each task, `per_class` images of each of its digits join the buffer (at most
`max_images` in all: each digit's share shrinks as digits arrive). At task t every step
adds `batch_size` buffer images, their loss weighted 1 - 1/t (van de Ven et al.).
"""

from mnist_transfer.strategies.network import ReplayParams as Params
from mnist_transfer.strategies.network import ReplayStrategy as Strategy

__all__ = ["Params", "Strategy"]
