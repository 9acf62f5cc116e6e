"""Stage joint: the base model trained further on all ten digits -> models/joint.keras.

The upper bound of the continual-learning comparison: it keeps every 0-4 image.
"""

from mnist_transfer.stage import run_stage
from stages.finetune import train_from_base

if __name__ == "__main__":
    run_stage("joint", lambda all_params: train_from_base(all_params, "joint", "0-9"))
