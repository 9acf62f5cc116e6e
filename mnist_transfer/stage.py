"""The stage runner: every `python -m stages.<name>` is `run_stage(name, main)`."""

from __future__ import annotations

import fcntl
import logging
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mnist_transfer.artifacts import outputs_together
from mnist_transfer.errors import FILE_FAULTS, ParamsError, StageError, file_fault
from mnist_transfer.params import load_params

log = logging.getLogger("mnist_transfer")

LOCK_DIR = Path(".dvc/tmp/stage-locks")


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_stage(name: str, main: Callable[[dict], None]) -> None:
    """Run a stage's main(params), params.yaml validated: log to stderr, exit 2 on a StageError, 130/143 if interrupted.

    SIGTERM is turned into KeyboardInterrupt so that the atomic writers' cleanup runs
    and no partial output is left behind. A per-stage lock refuses a second copy of the
    same stage running at once in this workspace (`dvc repro` has its own lock; this one
    also covers direct `python -m stages.<name>` runs).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.perf_counter()
    try:
        params = load_params()  # before anything is created here: a wrong folder or bad params leave no trace
        with _stage_lock(name), outputs_together():
            main(params)
        # ru_maxrss is in KiB on Linux: the stage's peak memory, for docs/performance.md's table
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        item = " ".join([name, *sys.argv[1:]])  # e.g. "continual notebook ewc": one line per stage of a matrix
        log.info("%s finished in %.1f s, peak memory %.0f MiB", item, time.perf_counter() - started, peak)
    except StageError as err:
        if isinstance(err, ParamsError) and (removed := _removed_by_dvc()):
            err = ParamsError(
                f"{err} (dvc removed {removed}'s outputs before running it; with the committed value back, "
                f"`dvc repro {removed}` restores them from the run-cache)"
            )
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if err.errno not in FILE_FAULTS:
            raise
        print(f"error: {file_fault(err, err.filename or 'a file')}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as err:
        print(f"interrupted ({err or 'SIGINT'}); outputs in progress were discarded", file=sys.stderr)
        sys.exit(143 if str(err) == "SIGTERM" else 130)


def _removed_by_dvc() -> str | None:
    """The stage whose outputs DVC removed from this workspace to run it (dvc repro, dvc exp run), else None.

    DVC sets DVC_STAGE and DVC_ROOT for the commands it runs; a queued experiment runs in a
    copy of its own (DVC_ROOT is then the workspace it came from), which loses nothing.
    """
    stage, root = os.environ.get("DVC_STAGE"), os.environ.get("DVC_ROOT")
    return stage if stage and root and Path(root).resolve() == Path.cwd().resolve() else None


class _stage_lock:
    """An exclusive, non-blocking flock on .dvc/tmp/stage-locks/<name>.lock."""

    def __init__(self, name: str) -> None:
        self.path = LOCK_DIR / f"{name}.lock"

    def __enter__(self) -> None:
        # Inside the project's .dvc/tmp: run_stage has checked that this is the project root.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.path.open("w")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise StageError(
                f"stage '{self.path.stem}' is already running in this workspace; wait for it to finish"
            ) from None

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()
