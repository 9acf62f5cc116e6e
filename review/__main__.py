"""Review a change: the markdown a pull request carries, made from DVC's own outputs.

Usage: python -m review BASE [HEAD] [--out DIR]

BASE and HEAD are git revisions (HEAD omitted: the workspace, as after a `dvc repro` in CI).
Writes DIR/review.md (default dvc_review/review.md) with
1. the params that changed: `dvc params diff BASE HEAD --md`;
2. the metrics that moved: `dvc metrics diff BASE HEAD --md`;
3. what each side ran under: `dvc metrics diff --all --md` of metrics/compute.json
   (precision, TensorFlow/Keras/NumPy versions, CPU kernels);
4. both sides' report tables (metrics/report.md as committed at each revision);
and DIR/plots/index.html, `dvc plots diff BASE HEAD`: every chart with both revisions drawn.
Changes nothing in the repository.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("review")

COMPUTE = "metrics/compute.json"
MAX_ROWS = 300  # of the metrics diff, to stay inside a pull-request comment (GitHub: 65,536 characters)
REPORT = "metrics/report.md"


class ReviewError(Exception):
    """A problem the user can fix: a revision that does not exist, or not a DVC project."""


def run(args: list[str]) -> str:
    """Run a command in the project; its stdout, or a ReviewError with its last error line."""
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr + result.stdout).strip().splitlines()
        errors = [line for line in lines if line.startswith("ERROR")] or lines or ["(no output)"]
        raise ReviewError(f"`{' '.join(args[1:] if args[0] == sys.executable else args)}` failed: {errors[0]}")
    return result.stdout


def dvc(*args: str) -> str:
    return run([sys.executable, "-m", "dvc", *args])


def commit_of(revision: str) -> str:
    """The short commit a revision names, or a ReviewError saying it is not one."""
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "--short", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ReviewError(f"{revision!r} is not a git revision here; give a branch, tag or commit (git log --oneline)")
    return result.stdout.strip()


def report_at(revision: str | None) -> str:
    """metrics/report.md as committed at `revision` (None: the workspace's file)."""
    if revision is None:
        path = Path(REPORT)
        return path.read_text() if path.is_file() else ""
    result = subprocess.run(["git", "show", f"{revision}:{REPORT}"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


def section(title: str, body: str, empty: str) -> str:
    return f"## {title}\n\n{body.strip() or empty}\n"


def folded(table: str, summary: str) -> str:
    """A long markdown table inside <details>, cut at MAX_ROWS rows with a line that says so."""
    lines = table.strip().splitlines()
    if not lines:
        return ""
    rows = len(lines) - 2  # header and rule
    if rows > MAX_ROWS:
        lines = [*lines[: MAX_ROWS + 2], "", f"... and {rows - MAX_ROWS} more rows: run the command above locally."]
    body = "\n".join(lines)
    return f"<details><summary>{summary.format(rows=rows)}</summary>\n\n{body}\n\n</details>"


def review(base: str, head: str | None, out: Path) -> Path:
    """Write out/review.md and out/plots/; return the markdown's path."""
    if not Path(".dvc").is_dir():
        raise ReviewError("no .dvc folder here; run python -m review from the project's root")
    base_label = f"`{base}` ({commit_of(base)})"
    head_label = f"`{head}` ({commit_of(head)})" if head else "the workspace"
    revisions = [base] if head is None else [base, head]

    log.info("params and metrics diff %s", " ".join(revisions))
    params = dvc("params", "diff", *revisions, "--md")
    metrics = dvc("metrics", "diff", *revisions, "--md")
    ran_under = dvc("metrics", "diff", *revisions, "--targets", COMPUTE, "--all", "--md")

    plots = out / "plots"
    if plots.exists():
        shutil.rmtree(plots)
    plots.mkdir(parents=True)  # dvc writes the PNG plots into it before the page
    log.info("plots diff into %s", plots)
    dvc("plots", "diff", *revisions, "--out", str(plots))

    parts = [
        f"# Review: {base_label} → {head_label}\n",
        section("Params that changed", params, "No param changed."),
        section(
            "Metrics that moved",
            folded(metrics, f"{{rows}} metrics moved (<code>dvc metrics diff {' '.join(revisions)}</code>)"),
            "No metric changed.",
        ),
        section("What each side ran under", ran_under, f"No {COMPUTE} on either side."),
        section(f"Report at {base_label}", report_at(base), f"No {REPORT} at this revision."),
        section(f"Report at {head_label}", report_at(head), f"No {REPORT} here."),
        section(
            "Plots",
            f"Every training curve, confusion matrix and the strategy chart, both sides in each: "
            f"`{plots / 'index.html'}` (`dvc plots diff {' '.join(revisions)}`).",
            "",
        ),
    ]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "review.md"
    path.write_text("\n".join(parts))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m review", description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the revision the change is reviewed against, e.g. origin/main")
    parser.add_argument("head", nargs="?", help="the changed revision (default: the workspace)")
    parser.add_argument("--out", type=Path, default=Path("dvc_review"), help="output folder (default dvc_review)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        path = review(args.base, args.head, args.out)
    except ReviewError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
