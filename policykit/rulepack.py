"""Declarative rule packs: one folder per rule, holding ``rule.yaml``, ``README.md`` (the docs)
and ``fixtures/`` (``fires*`` and ``silent*`` estates that the test suite discovers)."""

from __future__ import annotations

from pathlib import Path

from .errors import PolicyError
from .reading import read_file
from .models import LEVELS, Rule
from .parsing import parse_yaml
from .schema import check, one_of


def _kebab(value: object) -> str | None:
    import re
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", value):
        return "must be kebab-case (lower-case words joined by '-')"
    return None


def _rule_id(value: object) -> str | None:
    if not isinstance(value, str) or not value or "/" in value or " " in value:
        return "must be a non-empty id without '/' or spaces"
    return None


def _security_severity(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 10.0:
        return "must be a number from 0.0 to 10.0"
    return None


RULE_SPEC = {
    "id": _rule_id, "name": _kebab, "title": str, "severity": one_of(*LEVELS),
    "security_severity": _security_severity, "precision": one_of("very-high", "high", "medium", "low"),
    "tags": [str], "cwe": [int], "query": str, "message": str, "key": str, "location": str,
    "parameters": ("map", lambda v: None), "requires": [str],
    "judges": [one_of("connection_accounts", "flow_owners")],
}
REQUIRED = ("id", "name", "title", "severity", "query", "message")


def load_rule(folder: Path, display: str, origin: str) -> Rule:
    """Load one rule folder."""
    yaml_display = f"{display}/rule.yaml"
    parsed = parse_yaml(read_file(folder / "rule.yaml", yaml_display), file=yaml_display)
    raw = parsed.value
    check(parsed, raw, RULE_SPEC, yaml_display)
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise PolicyError(f"rule is missing {', '.join(missing)}", file=yaml_display, line=1)
    readme = folder / "README.md"
    help_markdown = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    fixtures = folder / "fixtures"
    rule = Rule(
        id=raw["id"], name=raw["name"], title=raw["title"], severity=raw["severity"],
        query=raw["query"], message=raw["message"], help_markdown=help_markdown,
        security_severity=float(raw["security_severity"]) if "security_severity" in raw else None,
        precision=raw.get("precision", "high"), tags=tuple(raw.get("tags") or ()),
        cwe=tuple(raw.get("cwe") or ()), parameters=dict(raw.get("parameters") or {}),
        key=raw.get("key", "key"), location=raw.get("location", "source"), origin=origin,
        fixtures=str(fixtures) if fixtures.is_dir() else None,
        requires=tuple(raw.get("requires") or ()), judges=tuple(raw.get("judges") or ()),
    )
    return rule


def load_rule_dir(root: Path, origin: str, display: str | None = None) -> list[Rule]:
    """Load every rule folder (a folder holding ``rule.yaml``) directly below ``root``."""
    display = display or root.name
    return [load_rule(d, f"{display}/{d.name}", origin)
            for d in sorted(root.iterdir()) if d.is_dir() and (d / "rule.yaml").is_file()]
