"""``policykit validate``: check rules before anyone runs them.

For every rule: ``rule.yaml`` against ``policykit/rule_schema.json`` (with each parameter's
default of its declared type), the query, key, location and message template compiled, every
``param('x')`` declared, every field the query reads listed in ``docs/document.schema.json``
(with the fields plugins declare), every ``{placeholder}`` of the message present in the objects
the query returns on the rule's firing fixtures, and the README's sections.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jmespath.parser
from jmespath.exceptions import JMESPathError

from .engine import (
    CompiledRule,
    _scoped,
    effective_parameters,
    options_for,
    query_objects,
)
from .errors import PolicyKitError, jmespath_error_line, one_line
from .fieldcheck import unknown_fields
from .models import Rule
from .rulepack import load_rule, rule_folders
from .testing import _inside, fixture_dirs

__all__ = ["README_SECTIONS", "Problem", "validate_rule", "validate_rule_folder"]

#: The sections every rule's README.md has, in this order, after ``# <id> <name>``.
README_SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "## How to fix")


@dataclass
class Problem:
    file: str
    rule: str
    message: str

    def line(self) -> str:
        return one_line(f"{self.file}: {self.rule}: {self.message}", 1000)


@dataclass
class Context:
    """What checking needs besides the rule: the document schema and how to load its pack."""

    schema: dict[str, Any]
    plugins: list[str] = field(default_factory=list)
    entry_points: bool = True
    local: list[tuple[Path, str, dict | None]] = field(default_factory=list)


def _params_read(node: dict, out: list[str]) -> list[str]:
    if node.get("type") == "function_expression" and node.get("value") == "param":
        args = node.get("children") or []
        if args and args[0].get("type") == "literal" and isinstance(args[0].get("value"), str):
            out.append(args[0]["value"])
    for child in node.get("children") or []:
        if isinstance(child, dict):
            _params_read(child, out)
    return out


def _static(rule: Rule, ctx: Context) -> list[str]:
    try:
        CompiledRule(rule)
    except PolicyKitError as exc:
        return [exc.reason if hasattr(exc, "reason") else str(exc)]
    problems = [f"query: {p}" for p in unknown_fields(rule.query, ctx.schema)]
    declared = set(rule.parameters) | set(rule.parameter_specs)
    for name in sorted(set(_params_read(jmespath.parser.Parser().parse(rule.query).parsed, []))):
        if name not in declared:
            problems.append(f"the query reads param('{name}'), which parameters: does not declare")
    text = rule.help_markdown
    if not text.startswith(f"# {rule.id} {rule.name}"):
        problems.append(f"README.md must start with '# {rule.id} {rule.name}'")
    problems += [f"README.md lacks the section '{s}'" for s in README_SECTIONS if s not in text]
    return problems


def _placeholders(message: str) -> list[str]:
    names = [f for _, f, _, _ in string.Formatter().parse(message) if f]
    return sorted({n.split(".")[0].split("[")[0] for n in names})


def _objects(rule: Rule, fixture: Path, ctx: Context) -> list[dict]:
    from .scanner import build, load_estate
    packs = [(p.resolve(), d, w) for p, d, w in ctx.local]
    with _inside(fixture):
        estate = load_estate(Path("policykit.yaml"))
        estate.rule_packs += packs
        built = build(estate, ctx.plugins, ctx.entry_points)
    settings = built.policy.settings_for(rule.id, rule.name)
    data, _ = _scoped(built.document, rule, settings.environments)
    options = options_for(built.functions, effective_parameters(rule, built.policy))
    return query_objects(CompiledRule(rule), data, options)


def _dynamic(rule: Rule, ctx: Context) -> list[str]:
    wanted = _placeholders(rule.message)
    firing = [f for f in fixture_dirs(rule) if f.name.startswith("fires") and (f / "policykit.yaml").is_file()]
    if not firing:
        return ["no fires* fixture to check the message placeholders on"]
    problems, seen = [], 0
    for fixture in firing:
        try:
            objects = _objects(rule, fixture, ctx)
        except (PolicyKitError, JMESPathError) as exc:
            reason = jmespath_error_line(exc) if isinstance(exc, JMESPathError) else str(exc)
            problems.append(f"fixture {fixture.name}: {reason}")
            continue
        seen += len(objects)
        for name in wanted:
            if objects and any(name not in o for o in objects) and name != "value":
                problems.append(f"message placeholder {{{name}}} is not a field of the objects the query "
                                f"returns on fixture {fixture.name}")
    if not seen and not problems:
        problems.append("the query returns no object on any fires* fixture: placeholders unchecked")
    return sorted(dict.fromkeys(problems))


def validate_rule(rule: Rule, ctx: Context) -> list[Problem]:
    """Every problem of one loaded rule."""
    shown = rule.file or rule.id
    static = _static(rule, ctx)
    dynamic = _dynamic(rule, ctx) if not any("JMESPath" in p or "template" in p for p in static) else []
    return [Problem(shown, rule.id, p) for p in static + dynamic]


def validate_rule_folder(folder: Path, display: str, ctx: Context) -> list[Problem]:
    """Load and check every rule folder of a local pack folder; a rule.yaml that does not load is
    one problem (its file and line), and the others are still checked."""
    problems: list[Problem] = []
    for d in rule_folders(folder):
        shown = display if d == folder else f"{display}/{d.name}"
        try:
            rule = load_rule(d, shown, "local")
        except PolicyKitError as exc:
            problems.append(Problem(f"{shown}/rule.yaml", d.name.split("-")[0], str(exc)))
            continue
        # The fixtures load this rule alone: a broken neighbour is its own problem, not this one's.
        alone = Context(ctx.schema, ctx.plugins, ctx.entry_points, [*ctx.local, (d, shown, None)])
        problems += validate_rule(rule, alone)
    return problems


def report_json(problems: list[Problem], checked: int) -> str:
    rows = [{"file": p.file, "rule": p.rule, "message": p.message} for p in problems]
    return json.dumps({"checked": checked, "problems": rows}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
