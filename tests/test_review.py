"""The review command's parts that need no pipeline run (the whole command: test_pipeline.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from review.__main__ import LIMIT, MAX_ROWS, ReviewError, folded, marked, run, shortened

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
        "error: 'no-such-revision' is neither a git revision nor a DVC experiment here; give a branch, tag, commit "
        "(git log --oneline) or experiment name (dvc exp list)"
    ]
    assert not out.exists()


def test_a_hung_call_ends_with_one_line_naming_it() -> None:
    """Every dvc or git call has a time limit (a `dvc metrics diff` once hung for over 10 minutes in pygit2)."""
    with pytest.raises(ReviewError) as raised:
        run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert str(raised.value).startswith("`import time; time.sleep(30)` did not finish in 0.5 s")
    assert "\n" not in str(raised.value)


BASE = """| strategy | accuracy | held |
|---|---|---|
| replay | 0.9000 | 1,000 |
| lwf | 0.2000 | 10 |
"""


def test_marked_bolds_the_changed_cells_with_the_base_value_beside() -> None:
    head = BASE.replace("| 0.9000 |", "| 0.9100 |") + "| joint | 0.9800 | 0 |\n"
    lines = marked(BASE, head).splitlines()
    assert lines[:2] == BASE.splitlines()[:2]  # header and rule as they were
    assert lines[2] == "| replay | **0.9100** (0.9000) | 1,000 |"
    assert lines[3] == "| lwf | 0.2000 | 10 |"
    assert lines[4] == "| joint (new) | 0.9800 | 0 |"
    assert marked(BASE, BASE) == BASE.strip("\n")


def test_a_long_review_is_cut_under_the_limit_and_says_where_the_rest_is() -> None:
    parts = ["# Review\n", "## Big\n\n<details><summary>x</summary>\n\n" + "| row |\n" * 20_000, "## Small\n\nok\n"]
    text = shortened(parts)
    assert len(text) <= LIMIT
    assert "the whole section is in review_full.md" in text and "## Small\n\nok" in text
    assert text.count("<details>") == text.count("</details>")
