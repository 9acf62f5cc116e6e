"""Expected failures: the errors a user can fix, and the file-system faults told in one line."""

from __future__ import annotations

import errno
from pathlib import Path


class StageError(Exception):
    """A failure the user can fix (bad params, bad data); reported without a traceback."""


class ParamsError(StageError):
    """params.yaml has an unknown key, a missing key or a value out of range."""


class DataError(StageError):
    """The dataset or a stage's input is missing, corrupt or of the wrong shape."""


# What the file system refused, and the fix, for the faults a machine or its owner causes.
FILE_FAULTS = {
    errno.ENOSPC: "no space left on the device while writing it; free some space and rerun",
    errno.EDQUOT: "disk quota exceeded while writing it; free some space and rerun",
    errno.EROFS: "on a read-only file system; run the pipeline in a writable copy of the project",
    errno.EACCES: "permission denied; check its permissions and its folder's with ls -l",
    errno.EPERM: "operation not permitted; check its permissions and its folder's with ls -l",
}


def file_fault(err: OSError, path: Path | str) -> StageError:
    """A file-system refusal (full disk, read-only, no permission) as one line naming `path` and the fix."""
    return StageError(f"{path}: {FILE_FAULTS[err.errno]}")
