"""Fine-tuning: each task in turn, nothing kept; the lower bound."""

from mnist_transfer.params import NoParams as Params
from mnist_transfer.strategies.network import NetworkStrategy as Strategy

__all__ = ["Params", "Strategy"]
