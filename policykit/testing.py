"""``policykit test``: every rule proves itself on its fixtures.

Each rule folder holds ``fires*`` and ``silent*`` estates (in ``fixtures/``, or beside
``rule.yaml``), each with a ``policykit.yaml`` and an ``expect.yaml`` listing the finding
``keys:`` the rule must produce there (``keys: []`` or no file for a silent one). The run is
strict: a key missing or unexpected fails, a rule without a firing and a silent fixture fails, an
input that cannot be read or a rule that fails to run fails. A fixture's estate may name a
``policy:`` that sets the rule's parameters, so parameterized rules are tested with them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PolicyKitError, one_line
from .models import Rule
from .parsing import parse_yaml
from .reading import read_file
from .schema import check

__all__ = ["FixtureResult", "RuleResult", "fixture_dirs", "report_json", "report_text", "run_rule"]

_EXPECT_SPEC = {"keys": [str], "count": int, "description": str}
_UNFILLED = re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]*\}")


@dataclass
class FixtureResult:
    name: str
    missing: list[str] = field(default_factory=list)      # expected keys that did not appear
    unexpected: list[str] = field(default_factory=list)   # keys that appeared unexpected
    errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.unexpected or self.errors)


@dataclass
class RuleResult:
    rule: Rule
    fixtures: list[FixtureResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors and all(f.passed for f in self.fixtures)


def fixture_dirs(rule: Rule) -> list[Path]:
    """The rule's ``fires*`` and ``silent*`` folders: in ``fixtures/`` and beside ``rule.yaml``."""
    places = [Path(rule.fixtures)] if rule.fixtures else []
    if rule.folder:
        places.append(Path(rule.folder))
    found = [d for place in places for d in sorted(place.iterdir())
             if d.is_dir() and d.name.startswith(("fires", "silent"))]
    return sorted(found, key=lambda d: d.name)


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    """Run in the fixture's folder, so paths in findings read as in the fixture's files."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _expected(fixture: Path, result: FixtureResult) -> list[str] | None:
    path = fixture / "expect.yaml"
    if not path.is_file():
        if fixture.name.startswith("fires"):
            result.errors.append("no expect.yaml listing the finding keys (keys: [...])")
        return None if fixture.name.startswith("fires") else []
    display = f"{fixture.name}/expect.yaml"
    parsed = parse_yaml(read_file(path, display), file=display)
    value = parsed.value if parsed.value is not None else {}
    check(parsed, value, _EXPECT_SPEC, display)
    if "keys" not in value:
        if fixture.name.startswith("fires"):
            result.errors.append("expect.yaml lists no keys (keys: [...])")
            return None
        return []
    keys = list(value["keys"])
    if "count" in value and value["count"] != len(keys):
        result.errors.append(f"expect.yaml: count {value['count']} but {len(keys)} keys")
    if fixture.name.startswith("silent") and keys:
        result.errors.append("a silent fixture must expect no keys")
    return keys


def run_fixture(rule: Rule, fixture: Path, plugins: list[str], entry_points: bool,
                local_packs: list[tuple[Path, str, dict | None]]) -> FixtureResult:
    from .scanner import load_estate, scan
    result = FixtureResult(fixture.name)
    try:
        expected = _expected(fixture, result)
        if not (fixture / "policykit.yaml").is_file():
            result.errors.append("no policykit.yaml (the fixture's estate)")
            return result
        packs = [(p.resolve(), d, w) for p, d, w in local_packs]
        with _inside(fixture):
            estate = load_estate(Path("policykit.yaml"))
            estate.rule_packs += packs
            scan_result = scan(estate, plugins=plugins, entry_points=entry_points)
    except PolicyKitError as exc:
        result.errors.append(str(exc))
        return result
    result.errors += [one_line(":".join(str(x) for x in (f.file, f.entry, f.line) if x) + f": {f.message}")
                      for f in scan_result.input_failures]
    result.errors += [f"rule failed: {f.reason}" for f in scan_result.rule_failures if f.rule_id == rule.id]
    mine = [f for f in scan_result.findings if f.rule_id == rule.id]
    for finding in mine:
        if finding.source is None or not finding.source.line:
            result.errors.append(f"finding {finding.key} points at no file and line")
        elif not (fixture / finding.source.file).exists():
            result.errors.append(f"finding {finding.key} points at {finding.source.file}, which does not exist")
        if _UNFILLED.search(finding.message):
            result.errors.append(f"finding {finding.key} has an unfilled placeholder: {finding.message}")
    if expected is not None:
        got, want = Counter(f.key for f in mine), Counter(expected)
        result.missing = sorted((want - got).elements())
        result.unexpected = sorted((got - want).elements())
    return result


def run_rule(rule: Rule, plugins: list[str] | tuple[str, ...] = (), entry_points: bool = True,
             local_packs: list[tuple[Path, str, dict | None]] | None = None) -> RuleResult:
    """Run every fixture of ``rule``. ``plugins``, ``entry_points`` and ``local_packs`` load the
    rule's own pack (and its functions and enrichments) in each fixture's scan."""
    outcome = RuleResult(rule)
    fixtures = fixture_dirs(rule)
    names = [f.name for f in fixtures]
    if not any(n.startswith("fires") for n in names):
        outcome.errors.append("no fires* fixture")
    if not any(n.startswith("silent") for n in names):
        outcome.errors.append("no silent* fixture")
    for fixture in fixtures:
        outcome.fixtures.append(run_fixture(rule, fixture, list(plugins), entry_points, list(local_packs or [])))
    return outcome


def _rule_lines(r: RuleResult) -> list[str]:
    status = "PASSED" if r.passed else "FAILED"
    shown = ", ".join(f.name for f in r.fixtures) or "no fixtures"
    lines = [("", f"{r.rule.pack}::{r.rule.id} {r.rule.name} {status} ({shown})")]
    lines += [("    ", e) for e in r.errors]
    for f in (f for f in r.fixtures if not f.passed):
        lines.append(("  ", f"{f.name}:"))
        lines += [("    ", e) for e in f.errors]
        if f.missing or f.unexpected:
            lines.append(("    ", "finding keys (- expected, not found; + found, not expected):"))
            lines += [("    ", f"- {k}") for k in f.missing] + [("    ", f"+ {k}") for k in f.unexpected]
    return [indent + one_line(text, 2000) for indent, text in lines]


def report_text(results: list[RuleResult]) -> str:
    """One line per rule, pytest style; for a failure, what went wrong and the keys' diff."""
    lines = [line for r in results for line in _rule_lines(r)]
    failed = sum(not r.passed for r in results)
    summary = f"{len(results) - failed} passed" + (f", {failed} failed" if failed else "")
    return "\n".join(lines + [f"==== {summary} ===="]) + "\n"


def report_json(results: list[RuleResult]) -> str:
    rules = [{"id": r.rule.id, "name": r.rule.name, "pack": r.rule.pack, "passed": r.passed, "errors": r.errors,
              "fixtures": [{"name": f.name, "passed": f.passed, "missing": f.missing, "unexpected": f.unexpected,
                            "errors": f.errors} for f in r.fixtures]} for r in results]
    failed = sum(not r.passed for r in results)
    return json.dumps({"passed": len(results) - failed, "failed": failed, "rules": rules},
                      indent=2, sort_keys=True, ensure_ascii=False) + "\n"
