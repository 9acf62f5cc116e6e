"""Atomic, reproducible output files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnist_transfer.artifacts import atomic_path, save_model, save_npz, write_json


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out" / "model.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list((tmp_path / "out").iterdir()) == []


def test_atomic_path_keeps_old_file_until_done(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_json(target, {"a": 1})
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("{")
        raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"a": 1}


def test_save_npz_is_reproducible_and_loadable(tmp_path: Path) -> None:
    arrays = {"x": np.arange(12, dtype=np.uint8).reshape(3, 4), "y": np.array([1, 2, 3])}
    save_npz(tmp_path / "a.npz", arrays)
    save_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as loaded:
        np.testing.assert_array_equal(loaded["x"], arrays["x"])


def test_save_model_same_weights_same_bytes(tmp_path: Path) -> None:
    import keras

    from mnist_transfer.models import build_branch_cnn, load_model

    keras.utils.set_random_seed(3)
    model = build_branch_cnn()
    save_model(model, tmp_path / "a.keras")
    save_model(model, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.keras") as archive:
        assert "date_saved" not in json.loads(archive.read("metadata.json"))
    loaded = load_model(tmp_path / "a.keras")
    for before, after in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.keras", "b.keras"]


def test_save_model_renumbers_shared_object_ids(tmp_path: Path) -> None:
    """Keras writes id()s of shared objects into config.json; they must not leak into the file."""
    import keras

    from mnist_transfer.artifacts import _renumber_shared_objects
    from mnist_transfer.models import build_base_cnn, load_model

    config = {"a": {"shared_object_id": 140452841741200}, "b": [{"shared_object_id": 99}, {"shared_object_id": 99}]}
    assert _renumber_shared_objects(config) == {
        "a": {"shared_object_id": 0},
        "b": [{"shared_object_id": 1}, {"shared_object_id": 1}],
    }
    model = build_base_cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    save_model(model, tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        text = archive.read("config.json").decode()
    ids = [int(part.split(",")[0].split("}")[0]) for part in text.split('"shared_object_id": ')[1:]]
    assert ids and max(ids) < 100
    assert isinstance(load_model(tmp_path / "m.keras"), keras.Model)
