"""requirements.lock, requirements-dev.lock and requirements-gpu.lock pin exactly what pyproject.toml asks for."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mnist_transfer import compute

from .conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins(path: Path) -> dict[str, str]:
    return compute.pins(path.read_text())


def requirements(group: str | None) -> list[Requirement]:
    project = PYPROJECT["project"]
    return [
        Requirement(text)
        for text in (project["dependencies"] if group is None else project["optional-dependencies"][group])
    ]


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("requirements.lock", [None]), ("requirements-dev.lock", [None, "dev"]), ("requirements-gpu.lock", [None, "gpu"])],
)
def test_every_declared_dependency_is_pinned_within_its_range(lock: str, groups: list[str | None]) -> None:
    pinned = pins(ROOT / lock)
    for group in groups:
        for requirement in requirements(group):
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{lock} does not pin {name}: run pip-compile (docs/reproducibility.md)"
            assert requirement.specifier.contains(pinned[name], prereleases=True), (
                name,
                pinned[name],
                str(requirement),
            )


@pytest.mark.parametrize("lock", ["requirements-dev.lock", "requirements-gpu.lock"])
def test_the_locks_agree(lock: str) -> None:
    """The dev and GPU locks are compiled against the runtime lock: every package they share has one version.

    So a GPU install runs the very TensorFlow, Keras and NumPy that the stages check for,
    with TensorFlow's CUDA wheels beside them.
    """
    runtime, other = pins(ROOT / "requirements.lock"), pins(ROOT / lock)
    assert set(runtime) <= set(other)
    assert {name: other[name] for name in runtime} == runtime


def test_the_locks_are_compiled_from_pyproject() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock", "requirements-gpu.lock"):
        header = (ROOT / lock).read_text().split("\n\n", 1)[0]
        assert "pip-compile" in header and "pyproject.toml" in header, lock


def test_pinned_is_installed() -> None:
    """This environment runs the dev lock's versions (the README's install), TensorFlow included."""
    from importlib import metadata

    for name, version in pins(ROOT / "requirements-dev.lock").items():
        assert metadata.version(name) == version, name


def test_dvc_lock_records_exactly_the_stages_of_dvc_yaml() -> None:
    """A stage renamed or removed leaves its old entry in dvc.lock, where fix hints would find it."""
    import subprocess
    import sys

    import yaml

    listed = subprocess.run(
        [sys.executable, "-m", "dvc", "stage", "list", "--name-only"], cwd=ROOT, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    locked = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    assert sorted(locked) == sorted(listed.stdout.split())
