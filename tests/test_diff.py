"""``policykit diff OLD.sarif NEW.sarif``: new, resolved, regressed, updated, newly waived, waivers
about to expire, as text and markdown; matching by rule and fingerprint only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policykit.models import Finding, Rule, ScanResult, Source
from policykit.reporters.sarif import to_sarif

RULE = Rule(id="PPK101", name="connection-reference-personal-account", title="Personal account",
            severity="error", query="q", message="m")


def write(path: Path, findings: list[Finding], waivers: dict[str, str] | None = None) -> Path:
    """An evidence log (waived findings kept), with the waivers' expiry dates as the evidence
    profile records them (``suppressions[].properties.expires``)."""
    log = json.loads(to_sarif(ScanResult(rules=[RULE], findings=findings), tool_version="1", information_uri="u",
                              help_uri_base="h", evidence=True, timestamps=False))
    for result in log["runs"][0]["results"]:
        for suppression in result.get("suppressions", []):
            expiry = (waivers or {}).get(result["message"]["text"])
            if expiry:
                suppression.setdefault("properties", {})["expires"] = expiry
    path.write_text(json.dumps(log), encoding="utf-8")
    return path


def f(key: str, message: str, level: str = "error", waived: str | None = None, line: int = 3,
      file: str = "envs/prd.yaml") -> Finding:
    return Finding("PPK101", level, message, key, Source(file, line), "PRD", waived)


@pytest.fixture
def logs(tmp_path: Path) -> tuple[Path, Path]:
    old = write(tmp_path / "old.sarif", [
        f("PRD/kept", "Kept runs as alice."),
        f("PRD/fixed", "Fixed runs as bob."),
        f("PRD/raised", "Raised runs as carol.", level="warning"),
        f("PRD/unwaived", "Unwaived runs as dave.", waived="HR-1 migration"),
        f("PRD/to-waive", "To waive runs as erin."),
        f("PRD/still-waived", "Still waived runs as frank.", waived="HR-2"),
        f("PRD/lowered", "Lowered runs as hank."),
        f("PRD/reworded", "Reworded runs as ivy."),
        f("PRD/moved", "Moved is set in envs/prd.yaml.", line=7),
    ])
    new = write(tmp_path / "new.sarif", [
        f("PRD/kept", "Kept runs as alice.", line=40),
        f("PRD/raised", "Raised runs as carol."),
        f("PRD/unwaived", "Unwaived runs as dave."),
        f("PRD/to-waive", "To waive runs as erin.", waived="HR-3 accepted"),
        f("PRD/still-waived", "Still waived runs as frank.", waived="HR-2"),
        f("PRD/added", "Added runs as gina."),
        f("PRD/lowered", "Lowered runs as hank.", level="warning"),
        f("PRD/reworded", "Reworded runs as ivy.admin, an owner."),
        f("PRD/moved", "Moved is set in envs/production.yaml.", line=7, file="envs/production.yaml"),
    ], waivers={"Still waived runs as frank.": "2026-01-20", "To waive runs as erin.": "2027-06-30"})
    return old, new


def test_text_report(cli, logs):
    old, new = logs
    run = cli("diff", old, new, "--today", "2026-01-01")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].endswith(": 1 new, 1 resolved, 2 regressed, 2 updated, 1 newly waived, 1 waivers expiring "
                             "within 30 days (3 unchanged)")  # kept (moved line), moved (renamed file), still waived
    assert lines[1:] == [
        "NEW: ERROR PPK101 envs/prd.yaml:3: Added runs as gina.",
        "RESOLVED: ERROR PPK101 envs/prd.yaml:3: Fixed runs as bob.",
        "REGRESSED: ERROR PPK101 envs/prd.yaml:3: Raised runs as carol. [warning → error]",
        "REGRESSED: ERROR PPK101 envs/prd.yaml:3: Unwaived runs as dave. [was waived: HR-1 migration]",
        "UPDATED: ERROR PPK101 envs/prd.yaml:3: Reworded runs as ivy.admin, an owner. [was: Reworded runs as ivy.]",
        "UPDATED: WARNING PPK101 envs/prd.yaml:3: Lowered runs as hank. [error → warning]",
        "NEWLY WAIVED: ERROR PPK101 envs/prd.yaml:3: To waive runs as erin. [HR-3 accepted]",
        ("WAIVERS ABOUT TO EXPIRE: ERROR PPK101 envs/prd.yaml:3: Still waived runs as frank. "
         "[expires 2026-01-20 (in 19 days): HR-2]"),
    ]


def test_expiry_window(cli, logs):
    old, new = logs
    assert "0 waivers expiring within 10 days" in cli("diff", old, new, "--today", "2026-01-01",
                                                       "--expiring-days", "10").out
    assert "0 waivers expiring" in cli("diff", old, new, "--today", "2026-01-21").out, "expired is not expiring"


def test_markdown_report(cli, logs, tmp_path):
    old, new = logs
    out = tmp_path / "diff.md"
    assert cli("diff", old, new, "--format", "markdown", "--output", out, "--today", "2026-01-01").code == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("## PolicyKit diff\n")
    assert "| New | Resolved | Regressed | Updated | Newly waived | Waivers about to expire | Unchanged |\n" \
           "|---|---|---|---|---|---|---|\n| 1 | 1 | 2 | 2 | 1 | 1 | 3 |" in text
    for heading in ("### New", "### Resolved", "### Regressed", "### Updated", "### Newly waived",
                    "### Waivers about to expire (within 30 days)"):
        assert f"\n{heading}\n" in text
    assert "| warning → error |" in text and "| error → warning |" in text


def test_fail_on(cli, logs):
    old, new = logs
    assert cli("diff", old, new, "--fail-on", "error").code == 1
    assert cli("diff", new, new, "--fail-on", "note").code == 0, "a log against itself: nothing new"
    assert cli("diff", new, old, "--fail-on", "error").code == 1, "the other way round: 'unwaived' got a waiver back, " \
        "'fixed' is new"


def test_keys_never_cross(cli, tmp_path):
    old = write(tmp_path / "old.sarif", [f("PRD/a", "Same message.")])
    new = write(tmp_path / "new.sarif", [f("PRD/b", "Same message.")])
    out = cli("diff", old, new).out
    assert ": 1 new, 1 resolved, 0 regressed" in out


@pytest.mark.parametrize("text,expected", [
    ("{", "bad.sarif:1: malformed JSON"),
    ('{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Trivy"}}, "results": []}]}',
     "bad.sarif:1: this SARIF log was written by Trivy, not PolicyKit"),
])
def test_bad_log_is_one_located_line(cli, logs, tmp_path, text, expected):
    (tmp_path / "bad.sarif").write_text(text, encoding="utf-8")
    run = cli("diff", logs[0], "bad.sarif", cwd=tmp_path)
    assert run.code == 2 and run.err.startswith(f"policykit: error: {expected}") and run.err.count("\n") == 1


def test_bad_today(cli, logs):
    run = cli("diff", *logs, "--today", "tomorrow")
    assert run.code == 2 and "--today wants a date" in run.err
