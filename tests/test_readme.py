"""The README's and docs' tables are the committed metrics, its graph is dvc.yaml's, its quick start what CI runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from stages.report import headline_table, tables

from .conftest import ROOT


def committed(path: str) -> str:
    """A file as committed at HEAD: a local `dvc repro` may rightly rewrite the working copy."""
    result = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"needs the project's git history to read the committed {path}: {result.stderr.strip()}")
    return result.stdout


def block(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    return text[text.index(start) + len(start) : text.index(end)]


def read_committed(name: str) -> dict:
    return json.loads(committed(f"metrics/{name}.json"))


def test_readme_results_are_the_committed_headline() -> None:
    """On any machine: the table is made again from the metrics in git, with the report stage's own code."""
    assert block(committed("README.md"), "headline") == headline_table(read_committed)


def test_the_headline_file_is_the_committed_metrics_it_summarises() -> None:
    from stages.report import headline

    assert read_committed("headline") == headline(read_committed)


def test_the_results_tables_in_the_docs_are_the_report_of_the_committed_metrics() -> None:
    assert block(committed("docs/results.md"), "report") == tables(read_committed)


def scenario_names() -> list[str]:
    import yaml

    return list(yaml.safe_load((ROOT / "params.yaml").read_text())["scenarios"])


@pytest.mark.parametrize("scenario", scenario_names())
def test_each_scenario_table_in_the_docs_is_the_report_of_the_committed_metrics(scenario: str) -> None:
    from stages.continual_report import table

    folder = f"metrics/continual/{scenario}"
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", f"HEAD:{folder}"], cwd=ROOT, capture_output=True, text=True
    )
    names = sorted(name.removesuffix(".json") for name in listed.stdout.split() if name.endswith(".json"))
    assert names, f"no committed {folder}/*.json"
    expected = table({name: read_committed(f"continual/{scenario}/{name}") for name in names})
    assert block(committed("docs/continual.md"), f"continual:{scenario}") == expected


def test_the_readme_graph_is_dvc_dag() -> None:
    """The README's stage graph is `dvc dag --md` of the committed dvc.yaml."""
    result = subprocess.run([sys.executable, "-m", "dvc", "dag", "--md"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert block((ROOT / "README.md").read_text(), "dag") == result.stdout


def test_the_seeds_table_in_the_docs_is_the_committed_summary() -> None:
    assert block(committed("docs/seeds.md"), "seeds") == committed("metrics/seeds.md")


def test_the_seed_figures_the_readme_quotes_are_the_committed_ones() -> None:
    readme = committed("README.md")
    results = json.loads(committed("metrics/seeds.json"))["results"]
    for name, label in (("replay", "`replay`"), ("gaussian", "`gaussian`"), ("branch", "branching model")):
        accuracy = results[f"incremental/{name} 0-9"]["test_accuracy"]
        quoted = f"{accuracy['mean']:.4f} ± {accuracy['std']:.4f}"
        assert re.search(re.escape(label) + r"[^±]{0,80}?" + re.escape(quoted), readme, flags=re.S), (name, quoted)


@pytest.mark.parametrize("scenario", scenario_names())
def test_each_scenario_seeds_table_in_the_docs_is_the_committed_summary(scenario: str) -> None:
    assert block(committed("docs/continual.md"), f"seeds:{scenario}") == committed(f"metrics/seeds/{scenario}.md")


def test_the_split_mnist_figures_the_readme_quotes_are_the_committed_ones() -> None:
    readme = committed("README.md")
    results = json.loads(committed("metrics/seeds/split_mnist.json"))["results"]
    for strategy in ("hybrid_replay", "ppca", "replay", "joint"):
        accuracy = results[strategy]["test_accuracy"]
        quoted = f"{100 * accuracy['mean']:.1f} ± {100 * accuracy['std']:.1f}%"
        assert re.search(f"`{strategy}`" + r"[^`]{0,80}?" + re.escape(quoted), readme, flags=re.S), (strategy, quoted)
    for strategy in ("hybrid_replay", "ppca"):
        assert f"{read_committed(f'continual/split_mnist/{strategy}')['kept_bytes']:,} bytes" in readme


def test_the_notebook_scenario_and_two_head_figures_the_readme_quotes_are_the_committed_ones() -> None:
    readme = committed("README.md")
    sentence = readme[readme.index("scenario `notebook`") :].split("(docs/continual.md)")[0]
    results = json.loads(committed("metrics/seeds/notebook.json"))["results"]
    for strategy in ("hybrid_replay", "ppca"):
        accuracy = results[strategy]["test_accuracy"]
        assert f"`{strategy}` scores {100 * accuracy['mean']:.1f} ± {100 * accuracy['std']:.1f}%" in sentence
    exact = read_committed("branch")["exact_argmax_accuracy"]["0-9"]
    assert f"its two heads score {exact:.4f} at seed 0" in readme


def test_ci_installs_and_tests_as_the_quick_start_says() -> None:
    """.ci/run installs with the README's install command and runs its test command."""
    readme = (ROOT / "README.md").read_text()
    quick_start = readme[readme.index("## Quick start") :].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [re.split(r"\s+#", line)[0].strip() for line in quick_start.splitlines()]
    install = next(c for c in commands if c.startswith("pip install")).split(" && ")[0]
    test = next(c for c in commands if c.startswith("pytest"))
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert install.replace("pip install ", "pip install --quiet ") in ci
    assert test in ci


def test_the_seed_spread_quoted_in_the_docs_is_the_committed_one() -> None:
    """docs/reproducibility.md quotes the smallest and largest std of the seed study."""
    text = (ROOT / "docs" / "reproducibility.md").read_text()
    low, high = re.search(
        r"runs from (\d\.\d{4}) \(0/1 transfer\)\s+to (\d\.\d{4}) \(freeze-retrain on 5-9\)", text
    ).groups()
    results = json.loads(committed("metrics/seeds.json"))["results"]
    stds = {name: row["test_accuracy"]["std"] for name, row in results.items()}
    assert f"{min(stds.values()):.4f}" == low and min(stds, key=stds.get).startswith("transfer_01")
    assert f"{max(stds.values()):.4f}" == high and max(stds, key=stds.get) == "freeze 5-9"
