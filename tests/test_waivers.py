"""Waivers as data (policykit/waivers.py): required fields, located errors, and the states a
waiver is in on a given day — in force, expiring, expired, stale — as every report shows them.

Every scan here is judged on a fixed ``today``: nothing depends on the day the suite runs. The
estate is the small one of ``conftest.estate``: one PPK101 finding, key
``PRD/FixtureOrders/fxo_OrdersSharePoint``, at prd.yaml:16.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sarif_validator
from conftest import require_validator

from policykit.evidence import summary
from policykit.reporters.html import rule_rows, to_html
from policykit.reporters.markdown import to_markdown
from policykit.reporters.sarif import AzurePipeline, to_sarif
from policykit.reporters.text import to_text
from policykit.scanner import load_estate, scan

TODAY = dt.date(2026, 12, 4)
KEY = "PRD/FixtureOrders/fxo_OrdersSharePoint"
PIPELINE = AzurePipeline("contoso", "PowerPlatform", 42, "policykit", "3a3a3a3a-1b1b-4c4c-8d8d-5e5e5e5e5e5e",
                         "Scan", "refs/heads/main", 1234)


def waiver(rule: str = "PPK101", key: str = "PRD/FixtureOrders/*", expires: str = "2027-06-30", **extra: str) -> str:
    fields = {"rule": rule, "key": key, "reason": "Migration to a technical user (sprint 42)",
              "owner": "anna.meier@contoso.com", "ticket": "CHG0100042", "expires": expires, **extra}
    return "  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items()) + "\n"


def scan_with(estate, monkeypatch, *waivers: str, today: dt.date = TODAY, warn: int = 30, policy: str = ""):
    (estate / "policy.yaml").write_text(policy + "waivers:\n" + "".join(waivers), encoding="utf-8")
    monkeypatch.chdir(estate)
    found = load_estate(estate / "policykit.yaml")
    found.policy = estate / "policy.yaml"
    return scan(found, entry_points=False, today=today, warn_expiry_days=warn, inventory=True)


def waiver_notes(log: dict) -> list[dict]:
    return [n for n in log["runs"][0]["invocations"][0].get("toolExecutionNotifications", [])
            if "waiver" in n["message"]["text"]]


def sarif(result, evidence: bool = False) -> dict:
    return json.loads(to_sarif(result, tool_version="1.0.0", information_uri="https://example.invalid/p",
                               help_uri_base="https://example.invalid/p/rules", evidence=evidence,
                               timestamps=False))


# --------------------------------------------------------------------------- in force


def test_a_waiver_in_force_waives_and_carries_its_data(estate, monkeypatch):
    result = scan_with(estate, monkeypatch, waiver(approved_by="ciso@contoso.com"))
    (finding,) = result.findings
    assert finding.waived == "Migration to a technical user (sprint 42)" and result.active == []
    assert finding.waiver == {"rule": "PPK101", "key": "PRD/FixtureOrders/*", "reason": finding.waived,
                              "owner": "anna.meier@contoso.com", "ticket": "CHG0100042", "expires": "2027-06-30",
                              "approved_by": "ciso@contoso.com", "source": {"file": "policy.yaml", "line": 2},
                              "status": "waived"}
    (state,) = result.waivers
    assert (state["state"], state["matched"], state["days_left"]) == ("active", 1, 208)
    assert result.today == "2026-12-04"
    suppression = sarif(result, evidence=True)["runs"][0]["results"][0]["suppressions"][0]
    assert (suppression["kind"], suppression["status"]) == ("external", "accepted")
    assert suppression["justification"] == finding.waived
    assert suppression["properties"] == {"owner": "anna.meier@contoso.com", "ticket": "CHG0100042",
                                         "expires": "2027-06-30", "approvedBy": "ciso@contoso.com",
                                         "rule": "PPK101", "keyPattern": "PRD/FixtureOrders/*"}
    assert suppression["location"]["physicalLocation"] == {"artifactLocation": {"uri": "policy.yaml"},
                                                           "region": {"startLine": 2}}
    assert "WAIVER" not in to_text(result)  # nothing to review


def test_waived_is_never_counted_as_passed(estate, monkeypatch):
    result = scan_with(estate, monkeypatch, waiver())
    envs, rows = rule_rows(result)
    ppk101 = next(r for r in rows if r.id == "PPK101")
    assert ppk101.cells[envs.index("PRD")].state == "waived"
    counts = summary(result)
    assert counts["findings"]["waived"] == 1 and counts["findings"]["error"] == 0
    assert counts["rules"]["only_waived_findings"] == 1
    assert counts["rules"]["passed"] == counts["rules"]["run"] - 1 - len({r for r, _ in result.skipped} - {"PPK101"})


# --------------------------------------------------------------------------- expired


def test_expired_waiver_stops_waiving_and_every_report_says_so(estate, monkeypatch):
    result = scan_with(estate, monkeypatch, waiver(expires="2026-11-30"))
    (finding,) = result.active
    assert finding.waived is None and finding.waiver["status"] == "expired"
    (state,) = result.waivers
    assert (state["state"], state["matched"]) == ("expired", 1)
    said = "waiver expired on 2026-11-30 (anna.meier@contoso.com, CHG0100042)"
    text = to_text(result)
    assert "prd.yaml:16: ERROR PPK101 " in text and f"[{said}] [PRD]" in text
    assert ("WAIVER EXPIRED policy.yaml:2: waiver PPK101 PRD/FixtureOrders/* expired on 2026-11-30 "
            "(anna.meier@contoso.com, CHG0100042): 1 finding reported again") in text
    assert "1 problem (1 error, 0 warnings, 0 notes); 0 waived" in text
    assert said in to_markdown(result) and "### Waivers to review" in to_markdown(result)
    page = to_html(result)
    assert f'<span class="st st-expired">{said}</span>' in page
    assert "Waivers to review" in page.split('<section id="summary">')[1].split("</section>")[0]
    log = sarif(result)
    assert "suppressions" not in log["runs"][0]["results"][0]  # open, and nothing GitHub could misread
    notes = waiver_notes(log)
    assert [(n["level"], n["locations"][0]["physicalLocation"]["region"]["startLine"]) for n in notes] == [("warning", 2)]
    rejected = sarif(result, evidence=True)["runs"][0]["results"][0]["suppressions"][0]
    assert rejected["status"] == "rejected" and rejected["justification"].startswith(said)


def test_a_waiver_waives_through_its_last_day(estate, monkeypatch):
    result = scan_with(estate, monkeypatch, waiver(expires="2026-12-04"))
    assert result.active == [] and result.waivers[0]["state"] == "expiring"
    assert "expires on 2026-12-04, today is its last day" in to_text(result)
    assert scan_with(estate, monkeypatch, waiver(expires="2026-12-04"), today=dt.date(2026, 12, 5)).active


def test_a_waiver_in_force_wins_over_an_expired_one(estate, monkeypatch):
    result = scan_with(estate, monkeypatch, waiver(expires="2026-01-31"), waiver(key=KEY, ticket="CHG2"))
    (finding,) = result.findings
    assert finding.waived and finding.waiver["ticket"] == "CHG2"
    assert [w["state"] for w in result.waivers] == ["expired", "active"]


# --------------------------------------------------------------------------- stale


def test_stale_waiver_is_a_note(estate, monkeypatch):
    result = scan_with(estate, monkeypatch, waiver(), waiver(key="PRD/Orderz/*", ticket="CHG7"))
    assert [(w["state"], w["matched"]) for w in result.waivers] == [("active", 1), ("stale", 0)]
    assert result.waivers[1]["why"] == "it matches no finding"
    text = to_text(result)
    assert ("WAIVER STALE policy.yaml:8: stale waiver PPK101 PRD/Orderz/* (anna.meier@contoso.com, CHG7): "
            "it matches no finding; remove it or correct it") in text
    notes = waiver_notes(sarif(result))
    assert [(n["level"], n["message"]["text"].split(":")[0]) for n in notes] == \
        [("note", "stale waiver PPK101 PRD/Orderz/* (anna.meier@contoso.com, CHG7)")]
    assert '<span class="st st-stale">stale</span>' in to_html(result)


def test_waiver_of_a_disabled_rule_is_stale_and_says_why(estate, monkeypatch):
    result = scan_with(estate, monkeypatch, waiver(), policy="rules:\n  PPK101: {enabled: false}\n")
    assert result.waivers[0]["state"] == "stale"
    assert result.waivers[0]["why"] == "rule PPK101 did not run (disabled by the policy)"


# --------------------------------------------------------------------------- expiring


def test_expiring_waiver_is_reported_within_the_warning_horizon(estate, monkeypatch):
    soon = waiver(expires="2026-12-20")
    result = scan_with(estate, monkeypatch, soon)
    assert result.active == [] and result.waivers[0]["state"] == "expiring"
    assert ("WAIVER EXPIRING policy.yaml:2: waiver PPK101 PRD/FixtureOrders/* expires on 2026-12-20, in 16 days "
            "(anna.meier@contoso.com, CHG0100042): renew it or fix the finding") in to_text(result)
    (note,) = waiver_notes(sarif(result))
    assert note["level"] == "warning" and "expires on 2026-12-20, in 16 days" in note["message"]["text"]
    assert scan_with(estate, monkeypatch, soon, warn=15).waivers[0]["state"] == "active"


def test_cli_warn_expiry_days(cli, estate, capsys):
    (estate / "policy.yaml").write_text("waivers:\n" + waiver(expires="2099-12-31"), encoding="utf-8")
    run = cli("scan", "--policy", "policy.yaml", "--warn-expiry-days", "0", cwd=estate)
    assert run.code == 0 and "1 waived" in run.out and "WAIVER" not in run.out
    with pytest.raises(SystemExit) as exited:
        cli("scan", "--policy", "policy.yaml", "--warn-expiry-days", "-1", cwd=estate)
    assert exited.value.code == 2 and "--warn-expiry-days: must be 0 or more: '-1'" in capsys.readouterr().err


def test_the_day_is_fixed_by_option_or_environment(cli, estate, monkeypatch, capsys):
    """``--today`` (else ``POLICYKIT_TODAY``) reproduces the scan of a given day: the same waiver is
    in force, expiring, then expired — and a malformed day is a one-line usage error."""
    (estate / "policy.yaml").write_text("waivers:\n" + waiver(expires="2027-03-31"), encoding="utf-8")
    in_force = cli("scan", "--policy", "policy.yaml", "--today", "2027-01-15", cwd=estate)
    assert in_force.code == 0 and "1 waived" in in_force.out and "WAIVER" not in in_force.out, in_force.out
    monkeypatch.setenv("POLICYKIT_TODAY", "2027-03-20")
    expiring = cli("scan", "--policy", "policy.yaml", cwd=estate)
    assert expiring.code == 0 and "1 waived" in expiring.out and "expires on 2027-03-31, in 11 days" in expiring.out, expiring.out
    expired = cli("scan", "--policy", "policy.yaml", "--today", "2027-04-01", cwd=estate)
    assert expired.code == 1 and "waiver expired on 2027-03-31" in expired.out, expired.out
    monkeypatch.setenv("POLICYKIT_TODAY", "1 April")
    bad = cli("scan", "--policy", "policy.yaml", cwd=estate)
    assert bad.code == 2 and bad.err == "policykit: error: POLICYKIT_TODAY wants a date YYYY-MM-DD, got 1 April\n"
    bad = cli("scan", "--policy", "policy.yaml", "--today", "2027-02-30", cwd=estate)
    assert bad.code == 2 and "--today wants a date YYYY-MM-DD, got 2027-02-30" in bad.err


# --------------------------------------------------------------------------- the official validator


def test_sarif_with_every_waiver_state_passes_the_validator(estate, monkeypatch, tmp_path):
    require_validator()
    result = scan_with(estate, monkeypatch, waiver(expires="2026-11-30"), waiver(key=KEY, expires="2026-12-20"),
                       waiver(key="PRD/Orderz/*"))
    assert [w["state"] for w in result.waivers] == ["expired", "expiring", "stale"]
    for evidence in (False, True):
        path = tmp_path / f"waivers-{evidence}.sarif"
        path.write_text(to_sarif(result, tool_version="1.0.0", information_uri="https://example.invalid/p",
                                 help_uri_base="https://example.invalid/p/rules", evidence=evidence,
                                 azure_pipeline=PIPELINE, timestamps=False), encoding="utf-8")
        for kind in sarif_validator.KINDS:
            bad = sarif_validator.failures(sarif_validator.validate(path, kind), kind)
            assert not bad, f"{kind}, evidence={evidence}:\n" + sarif_validator.describe(bad)


# --------------------------------------------------------------------------- bad input


def one_error(run, where: str, *fragments: str) -> str:
    assert run.code == 2, (run.code, run.out, run.err)
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"policykit: error: {where} "), run.err
    assert all(f in lines[0] for f in fragments), (fragments, lines[0])
    return lines[0]


def test_old_format_waiver_says_what_to_add(cli, estate):
    (estate / "policy.yaml").write_text("# Contoso\nwaivers:\n  - rule: PPK101\n    key: PRD/*\n    reason: migration\n",
                                        encoding="utf-8")
    line = one_error(cli("scan", "--policy", "policy.yaml", cwd=estate), "policy.yaml:3:",
                     "waiver without 'owner', 'ticket', 'expires': add owner: <who answers for it>, "
                     "ticket: <change or risk record>, expires: YYYY-MM-DD (its last day)")
    assert "Traceback" not in line


@pytest.mark.parametrize("text,where,fragment", [
    (waiver(expires="2027-02-30"), "policy.yaml:7:", "waivers[0].expires must be a date YYYY-MM-DD (2027-02-30 is no day"),
    (waiver(expires="31.03.2027"), "policy.yaml:7:", "waivers[0].expires must be a date YYYY-MM-DD"),
    (waiver(expires="'2027-3-31'"), "policy.yaml:7:", "waivers[0].expires must be a date YYYY-MM-DD"),
    (waiver(expiry="2027-03-31"), "policy.yaml:8:", "unknown key 'expiry' in waivers[0] (known keys: approved_by,"),
    (waiver(owner="''"), "policy.yaml:5:", "waivers[0].owner must not be empty"),
    (waiver(ticket="[CHG1]"), "policy.yaml:6:", "waivers[0].ticket must be a string"),
    (waiver(rule="PPK1O1"), "policy.yaml:2:", "waiver for unknown rule 'PPK1O1'; did you mean PPK101?"),
], ids=["no-such-day", "not-iso", "not-padded", "unknown-key", "empty-owner", "ticket-list", "unknown-rule"])
def test_bad_waiver_is_a_located_error(cli, estate, text, where, fragment):
    (estate / "policy.yaml").write_text("waivers:\n" + text, encoding="utf-8")
    one_error(cli("scan", "--policy", "policy.yaml", cwd=estate), where, fragment)


# --------------------------------------------------------------------------- determinism


def test_reports_are_the_same_bytes_for_the_same_day(estate, monkeypatch):
    waivers = (waiver(expires="2026-11-30"), waiver(key=KEY, expires="2026-12-20"), waiver(key="PRD/Orderz/*"))
    first, second = (scan_with(estate, monkeypatch, *waivers) for _ in range(2))
    for render in (to_text, to_markdown, to_html, lambda r: json.dumps(sarif(r, evidence=True))):
        assert render(first) == render(second)
    later = scan_with(estate, monkeypatch, *waivers, today=dt.date(2027, 1, 5))
    assert [w["state"] for w in later.waivers] == ["expired", "expired", "stale"]
