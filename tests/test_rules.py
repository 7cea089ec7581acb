"""Every rule proves itself: each ``fires*`` fixture beside it makes it fire with exactly the
finding keys its ``expect.yaml`` lists, each ``silent*`` fixture keeps it silent. Fixtures are
discovered, so a rule without them fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from policykit.plugins import get_plugin_manager
from policykit.scanner import load_estate, scan

RULES = sorted(
    (r for rs in get_plugin_manager(entry_points=False).hook.policykit_rules() for r in rs),
    key=lambda r: r.id,
)
FIXTURES = [
    pytest.param(rule, fixture, id=f"{rule.id}-{fixture.name}")
    for rule in RULES if rule.fixtures
    for fixture in sorted(Path(rule.fixtures).iterdir()) if fixture.is_dir()
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_has_firing_and_silent_fixtures(rule):
    assert rule.fixtures, f"{rule.id} has no fixtures/ folder"
    names = [p.name for p in Path(rule.fixtures).iterdir() if p.is_dir()]
    assert any(n.startswith("fires") for n in names), f"{rule.id} has no fires* fixture"
    assert any(n.startswith("silent") for n in names), f"{rule.id} has no silent* fixture"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_is_documented(rule):
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## How to fix"):
        assert heading in rule.help_markdown, f"{rule.id} docs lack '{heading}'"
    assert rule.help_markdown.startswith(f"# {rule.id} {rule.name}")


@pytest.mark.parametrize("rule,fixture", FIXTURES)
def test_fixture(rule, fixture, monkeypatch):
    assert fixture.name.startswith(("fires", "silent")), f"fixture {fixture} must be named fires* or silent*"
    monkeypatch.chdir(fixture)
    result = scan(load_estate(fixture / "policykit.yaml"), entry_points=False)
    assert not result.input_failures, result.input_failures
    assert not result.rule_failures, result.rule_failures
    mine = [f for f in result.findings if f.rule_id == rule.id]
    expect_file = fixture / "expect.yaml"
    expect = yaml.safe_load(expect_file.read_text()) if expect_file.is_file() else {}
    if fixture.name.startswith("silent"):
        assert mine == [], [f.message for f in mine]
        return
    assert mine, f"{rule.id} did not fire on {fixture.name}"
    assert "keys" in expect, f"{fixture}/expect.yaml must list the expected finding keys (keys: [...])"
    if "count" in expect:
        assert len(mine) == expect["count"], [f.message for f in mine]
    if "keys" in expect:
        assert sorted(f.key for f in mine) == sorted(expect["keys"]), [f.message for f in mine]
    for finding in mine:
        assert finding.source is not None and finding.source.line, finding
        assert (fixture / finding.source.file).exists() or finding.source.file.startswith(".."), finding.source
        assert finding.key and finding.environment is None or isinstance(finding.environment, str)
        assert "{" not in finding.message, f"unfilled template: {finding.message}"


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
