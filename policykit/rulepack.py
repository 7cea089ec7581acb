"""Declarative rule packs: one folder per rule, holding ``rule.yaml`` (checked against
``policykit/rule_schema.json``), ``README.md`` (the docs) and ``fixtures/`` (``fires*`` and
``silent*`` estates that ``policykit test`` runs).

A *pack* is a set of rules with a name and a version: the built-in rules, an installed plugin
(entry point group ``policykit``), a ``--plugin`` module, or a local folder of rule folders that a
policy or estate file names under ``rule_packs:``. A local folder may hold a ``pack.yaml``
(``name``, ``version``, ``description``); without it the pack is named after the folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PolicyError
from .jsonschema_check import check_schema, load_schema
from .models import Rule
from .params import spec_for, type_problem
from .parsing import Parsed, parse_yaml
from .reading import read_file
from .schema import check

__all__ = ["RulePack", "load_pack_dir", "load_rule", "load_rule_dir"]

_RULE_SCHEMA: dict[str, Any] = {}


def rule_schema() -> dict[str, Any]:
    """The JSON Schema of ``rule.yaml`` (``policykit/rule_schema.json``)."""
    if not _RULE_SCHEMA:
        _RULE_SCHEMA.update(load_schema("rule_schema.json"))
    return _RULE_SCHEMA


@dataclass
class RulePack:
    """Rules that came together: their pack's name and version, and where they came from."""

    name: str
    version: str
    origin: str                        # "builtin", "entry point", "plugin", "local"
    rules: list[Rule] = field(default_factory=list)
    folder: Path | None = None         # the local folder
    module: str | None = None          # the plugin's module (entry point or --plugin)


def _check_parameters(parsed: Parsed, raw: dict, display: str) -> dict[str, dict[str, Any]]:
    """Each parameter's declared type is a type and its default fits it."""
    specs = raw.get("parameters") or {}
    for name, declared in specs.items():
        line = parsed.key_line(declared, "type") or parsed.key_line(specs, name)
        problem = type_problem(declared["type"])
        if problem:
            raise PolicyError(f"parameters.{name}.type {problem}", file=display, line=line)
        check(parsed, declared["default"], spec_for(declared), display, f"parameters.{name}.default",
              parsed.key_line(declared, "default") or line)
    return {name: dict(declared) for name, declared in specs.items()}


def load_rule(folder: Path, display: str, origin: str, pack: str = "", pack_version: str = "") -> Rule:
    """Load one rule folder; every problem names ``<display>/rule.yaml`` and the line."""
    yaml_display = f"{display}/rule.yaml"
    parsed = parse_yaml(read_file(folder / "rule.yaml", yaml_display), file=yaml_display)
    if parsed.value is None:
        raise PolicyError("rule.yaml is empty", file=yaml_display, line=1)
    check_schema(parsed, rule_schema(), yaml_display)
    raw = parsed.value
    specs = _check_parameters(parsed, raw, yaml_display)
    readme = folder / "README.md"
    help_markdown = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    fixtures = folder / "fixtures"
    return Rule(
        id=raw["id"], name=raw["name"], title=raw["title"], severity=raw["severity"],
        query=raw["query"], message=raw["message"], help_markdown=help_markdown,
        security_severity=float(raw["security_severity"]) if "security_severity" in raw else None,
        precision=raw.get("precision", "high"), tags=tuple(raw.get("tags") or ()),
        cwe=tuple(raw.get("cwe") or ()), parameters={n: s["default"] for n, s in specs.items()},
        parameter_specs=specs,
        key=raw.get("key", "key"), location=raw.get("location", "source"), origin=origin,
        fixtures=str(fixtures) if fixtures.is_dir() else None,
        requires=tuple(raw.get("requires") or ()), judges=tuple(raw.get("judges") or ()),
        file=yaml_display, folder=str(folder), pack=pack or origin, pack_version=pack_version,
        controls=_controls(parsed, raw, yaml_display),
    )


def _controls(parsed: Parsed, raw: dict, display: str) -> tuple[dict[str, str], ...]:
    """``controls:``, each a known control when its framework is one PolicyKit ships."""
    from .controls import control_problem
    controls = raw.get("controls") or []
    for i, control in enumerate(controls):
        problem = control_problem(control)
        if problem:
            line = parsed.key_line(control, "id") or parsed.item_line(controls, i) or parsed.key_line(raw, "controls")
            raise PolicyError(f"controls[{i}]: {problem}", file=display, line=line)
    return tuple({"framework": c["framework"], "id": c["id"], "reason": c["reason"]} for c in controls)


def rule_folders(root: Path) -> list[Path]:
    """The rule folders of a pack folder, sorted; ``root`` itself when it is one."""
    if (root / "rule.yaml").is_file():
        return [root]
    return [d for d in sorted(root.iterdir()) if d.is_dir() and (d / "rule.yaml").is_file()]


def load_rule_dir(root: Path, origin: str, display: str | None = None) -> list[Rule]:
    """Load every rule folder (a folder holding ``rule.yaml``) directly below ``root``."""
    display = display or root.name
    return [load_rule(d, display if d == root else f"{display}/{d.name}", origin) for d in rule_folders(root)]


_PACK_SPEC = {"name": str, "version": str, "description": str}


def _pack_meta(root: Path, display: str) -> dict[str, str]:
    meta_file = root / "pack.yaml"
    if not meta_file.is_file():
        return {}
    meta_display = f"{display}/pack.yaml"
    parsed = parse_yaml(read_file(meta_file, meta_display), file=meta_display)
    value = parsed.value if parsed.value is not None else {}
    check(parsed, value, _PACK_SPEC, meta_display)
    return value


def load_pack_dir(root: Path, display: str) -> RulePack:
    """A local pack: the rule folders below ``root`` (or ``root`` itself when it is a rule folder)."""
    if not root.is_dir():
        raise PolicyError(f"rule pack folder not found: {display}")
    meta = _pack_meta(root, display)
    name = meta.get("name") or root.resolve().name
    version = meta.get("version") or "local"
    folders = rule_folders(root)
    if not folders:
        raise PolicyError(f"rule pack {display} holds no rule folder (a folder with rule.yaml)")
    rules = [load_rule(d, display if d == root else f"{display}/{d.name}", "local", name, version)
             for d in folders]
    return RulePack(name=name, version=version, origin="local", rules=rules, folder=root)
