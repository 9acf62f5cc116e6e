"""Reading a stage's inputs: each file checked, every problem one line naming the file and the fix.

A stage's inputs are other stages' outputs (DVC-cached models and data, metrics in git),
so the fix is to restore the file or to rerun the stage that makes it.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import yaml

from mnist_transfer.errors import DataError


def restore_hint(path: Path | str) -> str:
    """How to get a stage's output back: from DVC's cache (models, data) or git (metrics), or by rerunning its stage."""
    restore = "dvc checkout" if Path(path).parts[0] in ("models", "data") else "git checkout --"
    return f"restore it with `{restore} {path}`, or remake it with `dvc repro --force {producing_stage(path)}`"


def producing_stage(path: Path | str, lock: Path = Path("dvc.lock")) -> str:
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


def _not_a_file(path: Path) -> str:
    """Why `path`, which is not a regular file, cannot be read: it is missing, or something else stands there."""
    if path.is_dir():
        return "is a folder, not a file"
    return "missing" if not path.exists() else "not a regular file"


def read_zip(path: Path | str, fix: str, kind: str) -> dict[str, bytes]:
    """Every member of the zip file `path` (an .npz or a .keras), decompressed and CRC-checked once.

    A missing, unreadable, truncated or damaged file is a one-line DataError calling it
    "not a readable <kind>" and giving `fix`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {_not_a_file(path)}; {fix}")
    try:
        with zipfile.ZipFile(path) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}  # read() checks each CRC
    except PermissionError:
        raise DataError(f"{path}: not readable (permission denied); check its permissions with ls -l") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path}: damaged, not a readable {kind} ({reason}); {fix}") from None


def read_json(path: Path | str) -> dict:
    """A stage's JSON input (another stage's metrics), or a one-line DataError saying what is wrong and the fix."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {_not_a_file(path)}; {restore_hint(path)}")
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: damaged, not readable JSON ({err}); {restore_hint(path)}") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: holds a {type(content).__name__}, not a JSON object; {restore_hint(path)}")
    return content
