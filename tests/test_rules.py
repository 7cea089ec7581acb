"""Every built-in rule proves itself with the same runner as every pack (`policykit test`): each
``fires*`` fixture beside it makes it fire with exactly the finding keys its ``expect.yaml`` lists,
each ``silent*`` fixture keeps it silent, and a rule without both fails. `policykit validate`
checks each rule too (schema, query, document fields, placeholders, README)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policykit.fieldcheck import document_schema
from policykit.plugins import get_plugin_manager, plugin_packs
from policykit.scanner import load_estate, scan
from policykit.testing import fixture_dirs, report_text, run_rule
from policykit.validate import Context, validate_rule

RULES = sorted((r for p in plugin_packs(get_plugin_manager(entry_points=False)) for r in p.rules), key=lambda r: r.id)
FIXTURES = [
    pytest.param(rule, fixture, id=f"{rule.id}-{fixture.name}")
    for rule in RULES for fixture in fixture_dirs(rule)
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_passes_its_fixtures(rule):
    result = run_rule(rule, entry_points=False)
    assert result.passed, report_text([result])
    assert any(f.name.startswith("fires") for f in result.fixtures)
    assert any(f.name.startswith("silent") for f in result.fixtures)


_SCHEMA = document_schema()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_validates(rule):
    problems = validate_rule(rule, Context(_SCHEMA, entry_points=False))
    assert problems == [], [p.line() for p in problems]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_is_documented(rule):
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## How to fix"):
        assert heading in rule.help_markdown, f"{rule.id} docs lack '{heading}'"
    assert rule.help_markdown.startswith(f"# {rule.id} {rule.name}")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_parameter_is_declared_with_type_default_and_doc(rule):
    assert set(rule.parameters) == set(rule.parameter_specs)
    for name, spec in rule.parameter_specs.items():
        assert set(spec) == {"type", "default", "doc"}, (rule.id, name)
        assert spec["doc"].strip(), (rule.id, name)


def _located_line(fixture: Path, finding) -> str:
    """The text at a finding's location; inside a zip, the line of the entry."""
    path = fixture / finding.source.file
    if finding.source.entry:
        import zipfile
        with zipfile.ZipFile(path) as zf:
            text = zf.read(finding.source.entry).decode("utf-8-sig")
    else:
        text = path.read_text(encoding="utf-8-sig")
    return text.splitlines()[finding.source.line - 1]


_QUOTED = re.compile(r'"([^"]+)"|\'([^\']+)\'')
_NOT_NAMES = {"basic", "local", "deep", "global", "true", "false", "null", "name", "id", "upn"}


def _names_on(line: str) -> set[str]:
    """The names a line holds: quoted strings (JSON, XML), and YAML keys and values."""
    parts = [a or b for a, b in _QUOTED.findall(line)]
    plain = _QUOTED.sub(" ", line).strip().lstrip("-").strip().strip("{}")
    for item in plain.split(","):
        parts += [p for p in item.split(": ")]
    names = {p.strip().strip(":{}[]").strip().lower() for p in parts}
    return {n for n in names if len(n) >= 3 and n not in _NOT_NAMES}


@pytest.mark.parametrize("rule,fixture", [p for p in FIXTURES if p.values[1].name.startswith("fires")])
def test_firing_fixture_points_at_the_line_naming_the_object(rule, fixture, monkeypatch):
    """Every finding's line names what the finding is about: a name on that line (a logical
    name, UPN, application id, role, privilege, action or parameter) is in its key or message."""
    monkeypatch.chdir(fixture)
    result = scan(load_estate(fixture / "policykit.yaml"), entry_points=False)
    for finding in (f for f in result.findings if f.rule_id == rule.id):
        line = _located_line(fixture, finding)
        said = f"{finding.key} {finding.message}".lower()
        assert any(name in said for name in _names_on(line)), (finding.key, finding.source, line)
