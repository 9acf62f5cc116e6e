"""Writing outputs: atomically (temp file + rename), all of a stage's together, byte-for-byte reproducibly.

Every file a stage produces goes through here, so an interrupted stage never leaves a
half-written output for DVC to cache, and the same content always gives the same bytes
(so `dvc.lock` hashes repeat across runs). Inside `outputs_together()` (stage.run_stage
opens it around every stage) each finished file waits as a temporary file beside its
place, and all of them are renamed into place only when the stage has succeeded: a
failure at any point leaves every previous output as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_transfer.errors import FILE_FAULTS, file_fault

if TYPE_CHECKING:
    import keras

# A fixed timestamp for every zip entry (the zip format's earliest date).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

# (temporary file, its place) for every file finished inside outputs_together(); None outside it.
_pending: list[tuple[Path, Path]] | None = None


@contextlib.contextmanager
def outputs_together() -> Iterator[None]:
    """Every file written through this module inside the block lands only if the whole block succeeds."""
    global _pending
    _pending = []
    try:
        yield
        for tmp, path in _pending:
            os.replace(tmp, path)
    finally:
        for tmp, _ in _pending:
            tmp.unlink(missing_ok=True)
        _pending = None


@contextlib.contextmanager
def _write_faults_are_one_line(path: Path | str) -> Iterator[None]:
    """A full disk, read-only file system or denied permission while writing `path`: one line naming it."""
    try:
        yield
    except OSError as err:
        if err.errno in FILE_FAULTS:
            raise file_fault(err, path) from None
        raise


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds.

    Inside outputs_together() the replacement waits for the end of the stage.
    """
    path = Path(path)
    tmp = None
    try:
        with _write_faults_are_one_line(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            tmp = Path(tmp_name)
            yield tmp
        if _pending is None:
            os.replace(tmp, path)
        else:
            _pending.append((tmp, path))
            tmp = None  # outputs_together() renames or removes it
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path | str, data: Any) -> None:
    """Write JSON atomically, keys in a stable order."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_zip(path: Path | str, members: dict[str, bytes], compression: int) -> None:
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name])


def save_npz(path: Path | str, arrays: dict[str, np.ndarray]) -> None:
    """Save arrays as an uncompressed .npz (np.load reads it) with reproducible bytes."""
    members = {}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
        members[f"{name}.npy"] = buffer.getvalue()
    _write_zip(path, members, zipfile.ZIP_STORED)


def save_model(model: keras.Model, path: Path | str) -> None:
    """Save a .keras file atomically, with the save date and zip timestamps removed.

    Keras writes `date_saved` into metadata.json, the current time into the zip
    entries and memory addresses into config.json; without them, identical weights
    give identical bytes in every process.
    """
    with _write_faults_are_one_line(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=Path(path).parent, prefix=".save-") as scratch:
            raw = Path(scratch) / "model.keras"
            model.save(raw)
            with zipfile.ZipFile(raw) as archive:
                members = {info.filename: archive.read(info) for info in archive.infolist()}
    metadata = json.loads(members["metadata.json"])
    metadata.pop("date_saved", None)
    members["metadata.json"] = json.dumps(metadata, sort_keys=True).encode()
    members["config.json"] = json.dumps(_renumber_shared_objects(json.loads(members["config.json"]))).encode()
    _write_zip(path, members, zipfile.ZIP_STORED)


def _renumber_shared_objects(config: Any, ids: dict[int, int] | None = None) -> Any:
    """Replace Keras' `shared_object_id`s (Python id()s, different in every process) by 0, 1, 2...

    Keras only uses them to tell which config entries are the same object, so any
    one-to-one renumbering loads the same model.
    """
    ids = {} if ids is None else ids
    if isinstance(config, dict):
        return {
            key: ids.setdefault(value, len(ids)) if key == "shared_object_id" else _renumber_shared_objects(value, ids)
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [_renumber_shared_objects(item, ids) for item in config]
    return config
