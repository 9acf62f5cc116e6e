"""Review a change: the markdown a pull request carries, made from DVC's own outputs.

Usage: python -m review BASE [HEAD] [--out DIR]

BASE and HEAD are git revisions or DVC experiment names (HEAD omitted: the workspace, as
after a `dvc repro` in CI).
Writes DIR/review.md (default dvc_review/review.md) with
1. the headline numbers (metrics/headline.json) of both sides: those that changed first, in
   bold, the others folded;
2. the params that changed: `dvc params diff BASE HEAD --md`;
3. the metrics that moved: `dvc metrics diff BASE HEAD --md`;
4. each continual-learning scenario's table (stage continual_report's, made from the records
   in results/continual/ at HEAD), its changed cells in bold with BASE's value beside, the
   changed scenarios first and the others folded;
5. the report tables at HEAD (stages.report.tables), marked the same way;
6. what each side ran under: params `precision`, the TensorFlow/Keras/NumPy versions that
   requirements.lock pins, and the CPU kinds and devices its training runs recorded
   (dvclive/*/metrics.json);
and DIR/plots/index.html, `dvc plots diff BASE HEAD`: every chart with both revisions drawn.
review.md stays under LIMIT characters (a pull-request comment), each section cut to a
share where it would not; DIR/review_full.md holds the whole review.
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
LIMIT = 60_000  # characters of review.md; review_full.md beside it holds everything


def experiment_commit(name: str) -> str | None:
    """The commit of DVC experiment `name`, None if there is none.

    An experiment is the git ref refs/exps/<baseline commit, split after 2 characters>/<name>;
    as in DVC, a name on several baselines means HEAD's.
    """
    listed = run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps"]).split("\n")
    refs = dict(line.split(" ", 1) for line in listed if line)
    found = {ref: sha for ref, sha in refs.items() if ref.rsplit("/", 1)[-1] == name}
    if len(found) > 1:
        head = run(["git", "rev-parse", "HEAD"]).strip()
        found = {ref: sha for ref, sha in found.items() if "".join(ref.split("/")[2:4]) == head}
    if len(found) > 1:
        raise ReviewError(f"{len(found)} experiments are named {name!r}; give one's commit (dvc exp show --sha)")
    return next(iter(found.values()), None)


def commit_of(revision: str) -> str:
    """The commit a revision or an experiment name names, or a ReviewError saying it is neither."""
    try:
        return run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"]).strip()
    except ReviewError as err:
        if "did not finish" in str(err):
            raise
    commit = experiment_commit(revision)
    if commit is None:
        raise ReviewError(
            f"{revision!r} is neither a git revision nor a DVC experiment here; give a branch, tag, commit "
            "(git log --oneline) or experiment name (dvc exp list)"
        )
    return commit


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
    from mnist_transfer.reports import record_path
    from stages.report import SCENARIO, tables

    def read(name: str) -> dict:
        # a revision from before the continual records moved to results/ holds them in metrics/
        text = read_at(revision, record_path(name)) or read_at(revision, f"metrics/{name}.json")
        if text is None:
            raise KeyError(name)
        return json.loads(text)

    try:
        names = list(json.loads(read_at(revision, "metrics/headline.json") or "{}")[f"{SCENARIO}_scenario_accuracy"])
        return tables(read, names)
    except (KeyError, TypeError, json.JSONDecodeError):  # TypeError: a record missing, its scalars in its place
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
    changed, unchanged = [], []
    for name in dict.fromkeys([*sides[0], *sides[1]]):
        old, new = (side.get(name) for side in sides)
        shown = ["-" if value is None else f"{value:.4f}" for value in (old, new)]
        change = f"{new - old:+.4f}" if old is not None and new is not None else "-"
        if old != new:
            name, *shown, change = (f"**{text}**" for text in (name, *shown, change))
        (changed if old != new else unchanged).append(f"| {name} | {' | '.join(shown)} | {change} |")
    header = ["| test accuracy | base | head | change |", "|---|---|---|---|"]
    parts = ["\n".join([*header, *changed]) if changed else "No headline number changed."]
    if unchanged:
        table = "\n".join([*header, *unchanged])
        parts.append(f"<details><summary>{len(unchanged)} unchanged</summary>\n\n{table}\n\n</details>")
    return "\n\n".join(parts) + "\n"


def marked(base: str, head: str) -> str:
    """`head`'s markdown tables with each cell that differs from `base`'s in bold, its base value beside it.

    Rows are matched by their first cell, columns by header; a row that `base` lacks is
    marked "(new)". Returns "" where `head` is empty.
    """

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    def rows_of(text: str) -> dict[str, dict[str, str]]:
        found, header = {}, None
        for line in text.splitlines():
            if not line.startswith("|") or line.startswith("|---"):
                header = None if not line.startswith("|") else header
                continue
            if header is None:
                header = cells(line)
                continue
            row = dict(zip(header, cells(line), strict=False))
            found[row[header[0]]] = row
        return found

    before = rows_of(base)
    out, header = [], None
    for line in head.splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            header = None if not line.startswith("|") else header
            out.append(line)
            continue
        if header is None:
            header = cells(line)
            out.append(line)
            continue
        values = cells(line)
        old = before.get(values[0])
        if old is None:
            values[0] = f"{values[0]} (new)"
        else:
            values = [
                value if old.get(column, value) == value else f"**{value}** ({old[column]})"
                for column, value in zip(header, values, strict=False)
            ]
        out.append("| " + " | ".join(values) + " |")
    return "\n".join(out)


def continual_tables(revision: str | None) -> dict[str, str]:
    """Each scenario's table (stage continual_report's) made from the records at `revision`, by scenario."""
    from stages.continual_report import table

    def listed(root: str) -> list[str]:
        if revision is None:
            return [str(path) for path in Path(root).glob("*/*.json")]
        found = run(["git", "ls-tree", "-r", "--name-only", revision, root]).split()
        return [path for path in found if path.count("/") == 3]  # <root>/<scenario>/<strategy>.json

    # a revision from before the records moved to results/ holds them in metrics/
    listing = listed("results/continual") or listed("metrics/continual")
    scenarios: dict[str, dict[str, dict]] = {}
    for path in sorted(listing):
        scenario, strategy = Path(path).parent.name, Path(path).stem
        try:
            scenarios.setdefault(scenario, {})[strategy] = json.loads(read_at(revision, path) or "")
        except json.JSONDecodeError:
            continue
    tables = {}
    for scenario, results in scenarios.items():
        try:
            tables[scenario] = table(results)
        except (KeyError, TypeError):  # a record of another layout: no table for it
            continue
    return tables


def continual(base: str, head: str | None) -> str:
    """Each scenario's continual-learning table at `head`, its changed cells in bold with base's value beside."""
    before, after = continual_tables(base), continual_tables(head)
    parts = []
    for scenario, table in after.items():
        changed = table != before.get(scenario)
        body = marked(before.get(scenario, ""), table) if scenario in before else table
        title = f"**{scenario}** ({'changed' if changed else 'unchanged'}{'' if scenario in before else ', new'})"
        parts.append(f"{title}\n\n{body}" if changed else f"<details><summary>{title}</summary>\n\n{body}\n</details>")
    changed_first = sorted(parts, key=lambda part: part.startswith("<details>"))
    return "\n\n".join(changed_first)


def ran_under(revisions: list[str | None]) -> str:
    """A table: each side's precision, locked library versions, and its training runs' CPU kinds and devices."""
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
        kinds, devices = set(), set()
        for path in listing:
            if path.endswith("/metrics.json"):
                record = json.loads(read_at(revision, path) or "{}")
                kinds.add(record.get("cpu_isa", "not recorded"))
                devices.add(record.get("device", "not recorded"))
        versions = [pins.get(name, "-") for name in compute.LIBRARIES]
        recorded = [", ".join(sorted(found)) or "-" for found in (kinds, devices)]
        columns.append([str(params.get("precision", "-")), *versions, *recorded])
    labels = ["precision", *compute.LIBRARIES, "CPU kind of the training runs", "device of the training runs"]
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
    # dvc takes experiment names as they are; git reads an experiment at its commit
    base_commit = commit_of(base)
    head_commit = commit_of(head) if head else None
    base_label = f"`{base}` ({base_commit[:7]})"
    head_label = f"`{head}` ({head_commit[:7]})" if head_commit else "the workspace"
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
        section("Headline (metrics/headline.json; changed in bold)", headline(base_commit, head_commit), "None."),
        section("Params that changed", params, "No param changed."),
        section(
            "Metrics that moved",
            folded(metrics, f"{{rows}} metrics moved (<code>dvc metrics diff {' '.join(revisions)}</code>)"),
            "No metric changed.",
        ),
        section(
            "Continual learning, each scenario (changed cells in bold, the base's value beside; changed first)",
            continual(base_commit, head_commit),
            "No continual-learning records.",
        ),
        section(
            "Report (changed cells in bold, the base's value beside)",
            marked(report_at(base_commit), report_at(head_commit)),
            "No complete metrics here.",
        ),
        section("What each side ran under", ran_under([base_commit, head_commit]), ""),
        section(
            "Plots",
            f"Every training curve, confusion matrix and the strategy chart, both sides in each: "
            f"`{plots / 'index.html'}` (`dvc plots diff {' '.join(revisions)}`).",
            "",
        ),
    ]
    out.mkdir(parents=True, exist_ok=True)
    whole = "\n".join(parts)
    (out / "review_full.md").write_text(whole)
    path = out / "review.md"
    path.write_text(whole if len(whole) <= LIMIT else shortened(parts))
    return path


def shortened(parts: list[str]) -> str:
    """The review cut to LIMIT characters: each section to an equal share, at a line, saying where the rest is."""
    share = LIMIT // len(parts) - 200
    cut = []
    for part in parts:
        if len(part) > share:
            kept = part[:share].rsplit("\n", 1)[0]
            if kept.count("<details>") > kept.count("</details>"):
                kept += "\n\n</details>"
            part = f"{kept}\n\n... cut here: the whole section is in review_full.md, beside the plots artifact.\n"
        cut.append(part)
    return "\n".join(cut)


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
