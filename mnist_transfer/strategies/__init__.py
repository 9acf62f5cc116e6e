"""Continual-learning strategies, one module each, with one params group each (`strategies.<name>`).

Each module defines `Params`, the schema of its params group (a params.Group), and
`Strategy(params, scenario, seed)`, following scenarios.Strategy. Adding a strategy is a
module here and its group in params.yaml; dvc.yaml's `continual` matrix reads the names
from there, and no other strategy changes. A strategy imports shared modules, never
another strategy: each strategy's stages depend on its own module and the shared ones
(docs/contributing.md).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mnist_transfer.params import validate_strategy
from mnist_transfer.scenarios import Strategy


def module(name: str) -> ModuleType:
    return importlib.import_module(f"mnist_transfer.strategies.{name}")


def params_for(name: str, all_params: dict, scenario: str) -> dict:
    """strategies.<name>, checked against its module's Params, with its overrides for `scenario` applied."""
    schema = module(name).Params
    return validate_strategy(name, schema, all_params["strategies"][name], scenario, list(all_params["scenarios"]))


def load(name: str, params: dict, scenario: dict, seed: int) -> Strategy:
    """Strategy `name` with its params (params_for) and the scenario's budget."""
    return module(name).Strategy(params, scenario, seed)
