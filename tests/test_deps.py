"""Each stage depends on the code it runs: its script and the project modules it imports, no more, no less.

The import closure is read from the code (`ast`): every `import` of a `mnist_transfer` or
`stages` module, at the top of a module or inside a function, followed through the modules
it reaches. A package's `__init__.py` counts when it holds code (the docstring-only ones
cannot change what runs). The `continual` stage imports its strategy by name
(`strategies.load`), so each of its stages also needs `mnist_transfer/strategies/<strategy>.py`
and that module's closure. A matrix stage has one `deps` list for all its items: it may
name the modules any of its items needs, and nothing else.
"""

from __future__ import annotations

import ast
import shlex
from collections import defaultdict
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGES = ("mnist_transfer", "stages")


def module_path(name: str) -> Path | None:
    """The file of module `name` (dotted) in this project, or None for a library module."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """The dotted names of the project modules `path` imports, anywhere in its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from package import module` imports the submodule
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            names |= {name for name in submodules if module_path(name)}
    return {name for name in names if module_path(name)}


def has_code(path: Path) -> bool:
    """Whether `path` holds more than a docstring."""
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body)


def closure(modules: set[str]) -> set[str]:
    """Every project file that importing `modules` runs, as paths relative to the project root."""
    files: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__.py and a/b/__init__.py first
            path = module_path(".".join(parts[:depth]))
            if path is None or (path.name == "__init__.py" and not has_code(path)):
                continue
            relative = str(path.relative_to(ROOT))
            if relative not in files:
                files.add(relative)
                todo.extend(imported_modules(path))
    return files


def needed(cmd: str) -> set[str]:
    """The project files stage command `cmd` (python -m stages.<name> ...) runs."""
    words = shlex.split(cmd)
    assert words[:2] == ["python", "-m"], cmd
    modules = {words[2]}
    if words[2] == "stages.continual":  # strategies.load imports the strategy by name
        modules.add(f"mnist_transfer.strategies.{words[4]}")
    return closure(modules)


def stages() -> list:
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return list(repo.index.stages)


def code_deps(stage) -> set[str]:
    return {dep.def_path for dep in stage.deps if dep.def_path.split("/")[0] in PACKAGES}


def test_the_closure_follows_imports_in_functions_and_packages() -> None:
    files = needed("python -m stages.continual split_mnist hybrid_replay")
    assert {
        "stages/continual.py",
        "mnist_transfer/stage.py",  # run_stage, at the top
        "mnist_transfer/params.py",  # through stage.py
        "mnist_transfer/training.py",  # inside main()
        "mnist_transfer/strategies/__init__.py",  # strategies.load
        "mnist_transfer/strategies/hybrid_replay.py",  # by name
        "mnist_transfer/strategies/network.py",
        "mnist_transfer/pca.py",
    } <= files
    assert "mnist_transfer/__init__.py" not in files  # a docstring only
    assert "mnist_transfer/strategies/ppca.py" not in files


def test_every_stage_depends_on_exactly_the_code_it_runs() -> None:
    """No stage lacks a module it runs; a module it does not run is listed only as a matrix's shared entry.

    A matrix or foreach stage has one deps list for all its items: an entry written without
    ${item} (listed for every item) may be a module that only some items run; an entry
    that varies by item must be run by that item.
    """
    groups: dict[str, list] = defaultdict(list)
    for stage in stages():
        groups[stage.addressing.split("@")[0]].append(stage)
    problems = []
    for members in groups.values():
        listed = {stage.addressing: code_deps(stage) for stage in members}
        every_item = set.intersection(*listed.values())
        any_item = set().union(*(needed(stage.cmd) for stage in members))
        for stage in members:
            if missing := needed(stage.cmd) - listed[stage.addressing]:
                problems.append(f"{stage.addressing}: missing deps {sorted(missing)}")
            extra = listed[stage.addressing] - needed(stage.cmd)
            if unneeded := extra - (every_item & any_item):
                problems.append(f"{stage.addressing}: deps it does not run {sorted(unneeded)}")
    assert not problems, "dvc.yaml:\n" + "\n".join(problems)


@pytest.mark.parametrize("folder", PACKAGES)
def test_no_stage_depends_on_a_whole_package(folder: str) -> None:
    """A folder dep reruns the stage on any edit in it: name the modules instead."""
    for stage in stages():
        assert folder not in {dep.def_path.rstrip("/") for dep in stage.deps}, stage.addressing
