"""The README's results table is the committed metrics/report.md, not hand-typed numbers."""

from __future__ import annotations

from .conftest import ROOT


def test_readme_results_are_the_committed_report() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- report:start -->\n", "<!-- report:end -->"
    shown = readme[readme.index(start) + len(start) : readme.index(end)]
    assert shown == (ROOT / "metrics" / "report.md").read_text()


def test_readme_quick_start_matches_ci() -> None:
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[dev]" && dvc repro' in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install --quiet -e ".[dev]"' in ci
    assert ci.rstrip().splitlines()[-1] == "pytest"
