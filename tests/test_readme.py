"""The README's results table is the committed metrics/report.md, not hand-typed numbers."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import ROOT


def committed(path: str) -> str:
    """A file as committed at HEAD: a local `dvc repro` may rightly rewrite the working copy."""
    result = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"needs the project's git history to read the committed {path}: {result.stderr.strip()}")
    return result.stdout


@pytest.mark.parametrize(("block", "source"), [("report", "metrics/report.md"), ("seeds", "metrics/seeds.md")])
def test_readme_tables_are_the_committed_reports(block: str, source: str) -> None:
    """On any machine: another CPU's `dvc repro` rewrites metrics/report.md, never what was committed."""
    readme = committed("README.md")
    start, end = f"<!-- {block}:start -->\n", f"<!-- {block}:end -->"
    shown = readme[readme.index(start) + len(start) : readme.index(end)]
    assert shown == committed(source)


def test_readme_quick_start_matches_ci() -> None:
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[dev]" && dvc repro' in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install --quiet -e ".[dev]"' in ci
    assert ci.rstrip().splitlines()[-1] == "pytest"
