"""The built-in plugin: PolicyKit's own rules and loaders, registered like any other plugin."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from . import hookimpl
from .errors import InputError
from .loaders.environment_export import load_export
from .loaders.settings import load_settings
from .loaders.snapshot import load_snapshot
from .loaders.solution import load_solution
from .rulepack import load_rule_dir


def builtin_rules_dir() -> Path:
    """The ``rules/`` folder: inside the wheel, or at the top of a source checkout."""
    packaged = resources.files("policykit").joinpath("rules")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "rules"


@hookimpl
def policykit_rules():
    return load_rule_dir(builtin_rules_dir(), origin="builtin", display="rules")


@hookimpl(trylast=True)
def policykit_load_input(path: Path, display: str, kind: str):
    if kind == "solution":
        return load_solution(path, display)
    if kind == "settings":
        return load_settings(path, display)
    if kind == "environment":
        if path.is_dir():
            return load_export(path, display)
        if path.suffix.lower() in (".yaml", ".yml", ".json"):
            return load_snapshot(path, display)
        if not path.exists():
            raise InputError("file not found", file=display)
        raise InputError("environment metadata must be an export folder or a .yaml/.json snapshot", file=display)
    return None
