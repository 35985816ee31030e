"""Blueprints: async Python functions over a recorded `Run`.

What a blueprint author imports is here: ``blueprint`` (the declaration), ``Run`` (the
run's facade) and the types its methods give back.
"""

from ..agent.loop import AgentOutcome
from ..runs.model import CheckResult
from ..snapshot import FlaggedFile
from .nodes import ReplayMismatch, StopRun
from .registry import Blueprint, blueprint, get_blueprint, load_blueprints
from .run import Run

__all__ = [
    "AgentOutcome", "Blueprint", "CheckResult", "FlaggedFile", "ReplayMismatch", "Run", "StopRun", "blueprint",
    "get_blueprint", "load_blueprints",
]
