"""The review command's parts that need no pipeline run (the whole command: test_pipeline.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from review.__main__ import MAX_ROWS, ReviewError, folded, run

from .conftest import ROOT


def table(rows: int) -> str:
    return "\n".join(["| Path | Metric |", "|---|---|", *[f"| m.json | m{i} |" for i in range(rows)]])


def test_folded_keeps_a_short_table_whole() -> None:
    text = folded(table(3), "{rows} moved")
    assert text.startswith("<details><summary>3 moved</summary>")
    assert text.count("| m.json |") == 3


def test_folded_cuts_a_long_table_and_says_so() -> None:
    text = folded(table(MAX_ROWS + 7), "{rows} moved")
    assert f"<summary>{MAX_ROWS + 7} moved</summary>" in text
    assert text.count("| m.json |") == MAX_ROWS
    assert "... and 7 more rows" in text


def test_folded_empty_is_empty() -> None:
    assert folded("", "{rows}") == ""


def test_unknown_revision_is_one_line_and_exit_2(tmp_path) -> None:
    out = tmp_path / "review"
    result = subprocess.run(
        [sys.executable, "-m", "review", "no-such-revision", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: 'no-such-revision' is not a git revision here; give a branch, tag or commit (git log --oneline)"
    ]
    assert not out.exists()


def test_a_hung_call_ends_with_one_line_naming_it() -> None:
    """Every dvc or git call has a time limit (a `dvc metrics diff` once hung for over 10 minutes in pygit2)."""
    with pytest.raises(ReviewError) as raised:
        run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert str(raised.value).startswith("`import time; time.sleep(30)` did not finish in 0.5 s")
    assert "\n" not in str(raised.value)
