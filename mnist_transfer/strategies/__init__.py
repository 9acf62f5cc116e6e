"""Continual-learning strategies, one module each, with one params group each (`strategies.<name>`).

Each module defines `Strategy(params, scenario, seed)`, following scenarios.Strategy:
adding a strategy is a module here, its params model in params.py and its name in
dvc.yaml's `continual` matrix; no other strategy changes.
"""

from __future__ import annotations

import importlib

from mnist_transfer.scenarios import Strategy


def load(name: str, params: dict, scenario: dict, seed: int) -> Strategy:
    """Strategy `name` (module mnist_transfer.strategies.<name>) with its params and the scenario's budget."""
    return importlib.import_module(f"mnist_transfer.strategies.{name}").Strategy(params, scenario, seed)
