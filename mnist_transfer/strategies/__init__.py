"""Continual-learning strategies, one module each, with one params group each (`strategies.<name>`).

Each module defines `Strategy(params, scenario, seed)`, following scenarios.Strategy:
adding a strategy is a module here, its params model in params.py and its group in
params.yaml (dvc.yaml's `continual` matrix reads the names from there); no other strategy
changes. A strategy imports shared modules, never another strategy: each strategy's
stages depend on its own module and the shared ones (docs/contributing.md).
"""

from __future__ import annotations

import importlib

from mnist_transfer.scenarios import Strategy


def load(name: str, params: dict, scenario: dict, seed: int) -> Strategy:
    """Strategy `name` (module mnist_transfer.strategies.<name>) with its params and the scenario's budget."""
    return importlib.import_module(f"mnist_transfer.strategies.{name}").Strategy(params, scenario, seed)
