"""The blueprint engine: blueprints are async Python functions over a recorded Run context."""

from ..runs.model import CheckResult
from .registry import Blueprint, blueprint, get_blueprint, load_blueprints
from .run import Run, StopRun

__all__ = ["Blueprint", "CheckResult", "Run", "StopRun", "blueprint", "get_blueprint", "load_blueprints"]
