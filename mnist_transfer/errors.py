"""Expected failures, and the entry point that turns them into one-line messages."""

from __future__ import annotations

import fcntl
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

log = logging.getLogger("mnist_transfer")


class StageError(Exception):
    """A failure the user can fix (bad params, bad data); reported without a traceback."""


class ParamsError(StageError):
    """params.yaml has an unknown key, a missing key or a value out of range."""


class DataError(StageError):
    """The dataset or a stage's input is missing, corrupt or of the wrong shape."""


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


LOCK_DIR = Path(".dvc/tmp/stage-locks")


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's main(): log to stderr, exit 2 on a StageError, 130/143 when interrupted.

    SIGTERM is turned into KeyboardInterrupt so that the atomic writers' cleanup runs
    and no partial output is left behind. A per-stage lock refuses a second copy of the
    same stage running at once in this workspace (`dvc repro` has its own lock; this one
    also covers direct `python -m stages.<name>` runs).
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.perf_counter()
    from mnist_transfer.artifacts import outputs_together

    try:
        if not Path("params.yaml").is_file():  # before anything is created here
            raise StageError("params.yaml: not found; run the stage from the project root")
        with _stage_lock(name), outputs_together():
            main()
        log.info("%s finished in %.1f s", name, time.perf_counter() - started)
    except StageError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as err:
        print(f"interrupted ({err or 'SIGINT'}); outputs in progress were discarded", file=sys.stderr)
        sys.exit(143 if str(err) == "SIGTERM" else 130)


class _stage_lock:
    """An exclusive, non-blocking flock on .dvc/tmp/stage-locks/<name>.lock."""

    def __init__(self, name: str) -> None:
        self.path = LOCK_DIR / f"{name}.lock"

    def __enter__(self) -> None:
        self.path.parent.mkdir(
            parents=True, exist_ok=True
        )  # inside the project's .dvc/tmp (run_stage checked the root)
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


def restore_hint(path: Path | str) -> str:
    """How to get a stage's output back: from DVC's cache (models, data) or git (metrics), or by rerunning its stage."""
    restore = "dvc checkout" if Path(path).parts[0] in ("models", "data") else "git checkout --"
    return f"restore it with `{restore} {path}`, or remake it with `dvc repro --force {producing_stage(path)}`"


def producing_stage(path: Path, lock: Path = Path("dvc.lock")) -> str:
    """The dvc.lock stage whose outputs include `path` (`<its stage>` when there is none)."""
    try:
        stages = yaml.safe_load(lock.read_text()).get("stages", {})
    except (OSError, yaml.YAMLError, AttributeError):
        return "<its stage>"
    wanted = Path(path).as_posix()
    for name, stage in stages.items():
        if any(out.get("path") == wanted for out in stage.get("outs", [])):
            return name
    return "<its stage>"


def read_json(path: Path | str) -> dict:
    """A stage's JSON input (another stage's metrics), or a one-line DataError saying what is wrong and the fix."""
    import json

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing; {restore_hint(path)}")
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: damaged, not readable JSON ({err}); {restore_hint(path)}") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: holds a {type(content).__name__}, not a JSON object; {restore_hint(path)}")
    return content
