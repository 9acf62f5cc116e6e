"""Review a change: the markdown a pull request carries, made from DVC's own outputs.

Usage: python -m review BASE [HEAD] [--out DIR]

BASE and HEAD are git revisions (HEAD omitted: the workspace, as after a `dvc repro` in CI).
Writes DIR/review.md (default dvc_review/review.md) with
1. the headline numbers (metrics/headline.json) of both sides, those that changed in bold;
2. the params that changed: `dvc params diff BASE HEAD --md`;
3. the metrics that moved: `dvc metrics diff BASE HEAD --md`;
4. what each side ran under: params `precision`, the TensorFlow/Keras/NumPy versions that
   requirements.lock pins, and the CPU kinds its training runs recorded (dvclive/*/metrics.json);
5. both sides' report tables, made from each side's committed metrics (stages.report.tables);
and DIR/plots/index.html, `dvc plots diff BASE HEAD`: every chart with both revisions drawn.
Changes nothing in the repository. Every dvc and git call has a time limit: a hung call
ends the review with one line naming it.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import yaml

from review import ReviewError, dvc, run

log = logging.getLogger("review")

MAX_ROWS = 300  # of the metrics diff, to stay inside a pull-request comment (GitHub: 65,536 characters)


def commit_of(revision: str) -> str:
    """The short commit a revision names, or a ReviewError saying it is not one."""
    try:
        return run(["git", "rev-parse", "--verify", "--quiet", "--short", f"{revision}^{{commit}}"]).strip()
    except ReviewError as err:
        if "did not finish" in str(err):
            raise
        raise ReviewError(
            f"{revision!r} is not a git revision here; give a branch, tag or commit (git log --oneline)"
        ) from None


def read_at(revision: str | None, path: str) -> str | None:
    """A committed file's text at `revision` (None: the workspace's file), or None where it has none."""
    if revision is None:
        return Path(path).read_text() if Path(path).is_file() else None
    try:
        return run(["git", "show", f"{revision}:{path}"])
    except ReviewError as err:
        if "did not finish" in str(err):
            raise
        return None


def report_at(revision: str | None) -> str:
    """Both report tables, made from the metrics committed at `revision` ("" where they are incomplete)."""
    from stages.report import SCENARIO, tables

    def read(name: str) -> dict:
        text = read_at(revision, f"metrics/{name}.json")
        if text is None:
            raise KeyError(name)
        return json.loads(text)

    try:
        names = list(json.loads(read_at(revision, "metrics/headline.json") or "{}")[f"{SCENARIO}_scenario_accuracy"])
        return tables(read, names)
    except (KeyError, json.JSONDecodeError):
        return ""


def headline(base: str, head: str | None) -> str:
    """metrics/headline.json on both sides, one row per model and strategy, the rows that changed in bold."""
    sides = []
    for revision in (base, head):
        numbers = json.loads(read_at(revision, "metrics/headline.json") or "{}")
        sides.append(
            {
                (name if section == "test_accuracy" else f"strategy {name}"): value
                for section, values in numbers.items()
                for name, value in values.items()
            }
        )
    rows = []
    for name in dict.fromkeys([*sides[0], *sides[1]]):
        old, new = (side.get(name) for side in sides)
        shown = ["-" if value is None else f"{value:.4f}" for value in (old, new)]
        change = f"{new - old:+.4f}" if old is not None and new is not None else "-"
        if old != new:
            name, *shown, change = (f"**{text}**" for text in (name, *shown, change))
        rows.append(f"| {name} | {' | '.join(shown)} | {change} |")
    if not rows:
        return ""
    return "\n".join(["| test accuracy | base | head | change |", "|---|---|---|---|", *rows]) + "\n"


def ran_under(revisions: list[str | None]) -> str:
    """A table: each side's precision, locked library versions and the CPU kinds its training runs recorded."""
    from mnist_transfer import compute

    columns = []
    for revision in revisions:
        params = yaml.safe_load(read_at(revision, "params.yaml") or "{}") or {}
        lock = read_at(revision, "requirements.lock") or ""
        pins = compute.pins(lock)
        listing = (
            [str(path) for path in Path("dvclive").glob("*/metrics.json")]
            if revision is None
            else run(["git", "ls-tree", "-r", "--name-only", revision, "dvclive"]).split()
        )
        kinds = set()
        for path in listing:
            if path.endswith("/metrics.json"):
                kinds.add(json.loads(read_at(revision, path) or "{}").get("cpu_isa", "not recorded"))
        versions = [pins.get(name, "-") for name in compute.LIBRARIES]
        columns.append([str(params.get("precision", "-")), *versions, ", ".join(sorted(kinds)) or "-"])
    labels = ["precision", *compute.LIBRARIES, "CPU kind of the training runs"]
    header = "| | " + " | ".join("base" if i == 0 else "head" for i in range(len(revisions))) + " |"
    rule = "|---|" + "---|" * len(revisions)
    rows = [f"| {label} | " + " | ".join(column[i] for column in columns) + " |" for i, label in enumerate(labels)]
    return "\n".join([header, rule, *rows]) + "\n"


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

    plots = out / "plots"
    if plots.exists():
        shutil.rmtree(plots)
    plots.mkdir(parents=True)  # dvc writes the PNG plots into it before the page
    log.info("plots diff into %s", plots)
    dvc("plots", "diff", *revisions, "--out", str(plots))

    parts = [
        f"# Review: {base_label} → {head_label}\n",
        section("Headline (metrics/headline.json; changed in bold)", headline(base, head), "No headline metrics."),
        section("Params that changed", params, "No param changed."),
        section(
            "Metrics that moved",
            folded(metrics, f"{{rows}} metrics moved (<code>dvc metrics diff {' '.join(revisions)}</code>)"),
            "No metric changed.",
        ),
        section("What each side ran under", ran_under([base, head]), ""),
        section(f"Report at {base_label}", report_at(base), "No complete metrics at this revision."),
        section(f"Report at {head_label}", report_at(head), "No complete metrics here."),
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
