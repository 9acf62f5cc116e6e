"""Project commands over DVC: the pull-request review (`python -m review BASE [HEAD]`, see __main__.py).

Here: running a dvc or git call with a time limit, shared with the seed study (python -m seeds).
"""

from __future__ import annotations

import subprocess
import sys

TIMEOUT = 600  # seconds for one dvc or git call


class ReviewError(Exception):
    """A problem the user can fix: a failed or hung dvc or git call, a revision that does not exist."""


def run(args: list[str], timeout: float = TIMEOUT) -> str:
    """Run a command in the project; its stdout, or a ReviewError with its first error line or its time-out."""
    shown = " ".join(args[2:] if args[0] == sys.executable else args)  # `dvc ...` rather than `python -m dvc ...`
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ReviewError(
            f"`{shown}` did not finish in {timeout:g} s; rerun it by hand to see where it hangs"
        ) from None
    if result.returncode != 0:
        lines = (result.stderr + result.stdout).strip().splitlines()
        errors = [line for line in lines if line.startswith("ERROR")] or lines or ["(no output)"]
        raise ReviewError(f"`{shown}` failed: {errors[0]}")
    return result.stdout


def dvc(*args: str) -> str:
    return run([sys.executable, "-m", "dvc", *args])
