"""Baselines (``policykit scan --baseline PREVIOUS.sarif``): every result's ``baselineState`` by rule
and PolicyKit fingerprint, ``--fail-on-new``, and refusing a baseline that is not a PolicyKit log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sarif_validator
import yaml
from conftest import ORDERS, PPK101_FIRES, require_validator

from policykit.baseline import comparable, read_log
from policykit.errors import InputError
from policykit.models import Finding, Rule, ScanResult, Source
from policykit.reporters.sarif import fingerprint, to_sarif

PIPELINE_ENV = {
    "TF_BUILD": "True", "SYSTEM_COLLECTIONURI": "https://dev.azure.com/contoso/",
    "SYSTEM_TEAMPROJECT": "PowerPlatform", "SYSTEM_DEFINITIONID": "42", "BUILD_DEFINITIONNAME": "policykit",
    "SYSTEM_PHASEID": "3a3a3a3a-1b1b-4c4c-8d8d-5e5e5e5e5e5e", "SYSTEM_PHASENAME": "Scan",
    "BUILD_SOURCEBRANCH": "refs/heads/main", "BUILD_BUILDID": "1234",
}
RULES = [Rule(id="PPK101", name="connection-reference-personal-account", title="Personal account",
              severity="error", query="q", message="m"),
         Rule(id="PPK205", name="flow-owner-inactive-or-guest", title="Flow owner gone",
              severity="warning", query="q", message="m")]


def sarif(findings: list[Finding], baseline=None, rules=RULES, **kwargs) -> dict:
    text = to_sarif(ScanResult(rules=list(rules), findings=findings, inputs=["prd.yaml"]), tool_version="1",
                    information_uri="https://example.invalid/pk", help_uri_base="https://example.invalid/rules",
                    baseline=baseline, **kwargs)
    return json.loads(text)


def baseline_of(tmp_path: Path, findings: list[Finding], rules=RULES, name: str = "old.sarif"):
    path = tmp_path / name
    path.write_text(json.dumps(sarif(findings, rules=rules)), encoding="utf-8")
    return read_log(path, name)


def states(log: dict) -> list[tuple[str, str, str]]:
    return [(r["ruleId"], r["message"]["text"], r["baselineState"]) for r in log["runs"][0]["results"]]


def finding(key: str, message: str, file: str = "prd.yaml", line: int = 16, rule: str = "PPK101",
            level: str = "error", waived: str | None = None) -> Finding:
    return Finding(rule, level, message, key, Source(file, line), environment="PRD", waived=waived)


# --------------------------------------------------------------------------- the four states


def test_moved_file_and_changed_line_stay_unchanged(tmp_path):
    old = baseline_of(tmp_path, [finding("PRD/Orders/cr_sql", "cr_sql runs as alice.", "prd.yaml", 16)])
    log = sarif([finding("PRD/Orders/cr_sql", "cr_sql runs as alice.", "envs/production.yaml", 3)], old)
    assert states(log) == [("PPK101", "cr_sql runs as alice.", "unchanged")]
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert uri == {"artifactLocation": {"uri": "envs/production.yaml"}, "region": {"startLine": 3}}


def test_a_message_naming_the_moved_file_stays_unchanged(tmp_path):
    """PPK503 and PPK107 name their settings file in the message: moving it is no change."""
    old = baseline_of(tmp_path, [finding("cfg/s.json/x", "The settings file cfg/s.json sets x.", "cfg/s.json", 4)])
    log = sarif([finding("cfg/s.json/x", "The settings file config/prd/s.json sets x.", "config/prd/s.json", 9)], old)
    assert states(log)[0][2] == "unchanged"


def test_changed_message_is_updated(tmp_path):
    old = baseline_of(tmp_path, [finding("PRD/Orders/cr_sql", "cr_sql runs as alice.")])
    log = sarif([finding("PRD/Orders/cr_sql", "cr_sql runs as bob.")], old)
    assert states(log) == [("PPK101", "cr_sql runs as bob.", "updated")]


def test_changed_level_is_updated(tmp_path):
    old = baseline_of(tmp_path, [finding("PRD/Orders/cr_sql", "cr_sql runs as alice.", level="warning")])
    assert states(sarif([finding("PRD/Orders/cr_sql", "cr_sql runs as alice.")], old))[0][2] == "updated"


def test_gone_result_is_absent_in_the_new_log(tmp_path):
    old = baseline_of(tmp_path, [finding("PRD/Orders/cr_sql", "cr_sql runs as alice."),
                                 finding("PRD/x", "Flow x is owned by a guest.", rule="PPK205", level="warning")])
    # The new log lists only PPK205: the absent PPK101 result keeps pointing at the right rule.
    log = sarif([finding("PRD/x", "Flow x is owned by a guest.", rule="PPK205", level="warning")], old,
                rules=[RULES[1], RULES[0]][:1])
    results = log["runs"][0]["results"]
    assert [(r["ruleId"], r["baselineState"]) for r in results] == [("PPK205", "unchanged"), ("PPK101", "absent")]
    assert "ruleIndex" not in results[1]  # PPK101 is not among this log's rules
    log = sarif([], old)
    assert [(r["ruleId"], r["baselineState"], r["ruleIndex"]) for r in log["runs"][0]["results"]] == \
        [("PPK101", "absent", 0), ("PPK205", "absent", 1)]


def test_two_keys_of_one_rule_never_match(tmp_path):
    """Same rule, same file, same line, same message: still two findings (Checkov would pair them)."""
    old = baseline_of(tmp_path, [finding("PRD/Orders/cr_a", "A reference runs as alice.")])
    log = sarif([finding("PRD/Orders/cr_b", "A reference runs as alice.")], old)
    results = log["runs"][0]["results"]
    assert [(r["partialFingerprints"]["policykit/v1"], r["baselineState"]) for r in results] == [
        (fingerprint("PPK101", "PRD/Orders/cr_b"), "new"), (fingerprint("PPK101", "PRD/Orders/cr_a"), "absent")]


def test_one_key_under_two_rules_never_matches(tmp_path):
    old = baseline_of(tmp_path, [finding("PRD/k", "Same words.", rule="PPK205", level="error")])
    assert [s[2] for s in states(sarif([finding("PRD/k", "Same words.")], old))] == ["new", "absent"]


def test_waived_then_open_is_updated(tmp_path):
    old_log = sarif([finding("PRD/Orders/cr_sql", "cr_sql runs as alice.", waived="HR-1")], evidence=True)
    (tmp_path / "old.sarif").write_text(json.dumps(old_log), encoding="utf-8")
    old = read_log(tmp_path / "old.sarif")
    assert old.get("PPK101", fingerprint("PPK101", "PRD/Orders/cr_sql")).waived
    assert states(sarif([finding("PRD/Orders/cr_sql", "cr_sql runs as alice.")], old))[0][2] == "updated"


def test_comparable_leaves_file_paths_out():
    assert comparable("File a/b/s.json sets x.", "a/b/s.json") == comparable("File c/s.json sets x", "c/s.json")
    assert comparable("File a/s.json sets x.", "a/s.json") != comparable("File a/s.json sets y.", "a/s.json")


# --------------------------------------------------------------------------- end to end


def estate(folder: Path, metadata: str) -> Path:
    (folder / "policykit.yaml").write_text(f"name: orders\nsolutions: [Orders]\nenvironments:\n  PRD: {{metadata: {metadata}}}\n",
                                           encoding="utf-8")
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(ORDERS, work / "Orders")
    shutil.copy(PPK101_FIRES / "prd.yaml", work / "prd.yaml")
    (work / ".git").mkdir()  # the top of a work tree: SARIF URIs are relative to it
    return estate(work, "prd.yaml")


def test_moved_and_reformatted_environment_stays_unchanged(cli, repo, tmp_path):
    assert cli("scan", "--format", "sarif", "-o", tmp_path / "old.sarif", "--fail-on", "never", cwd=repo).code == 0
    # Move the snapshot, reorder and re-indent it: the same facts on other lines of another file.
    data = yaml.safe_load((repo / "prd.yaml").read_text(encoding="utf-8"))
    (repo / "environments").mkdir()
    (repo / "environments" / "production.yaml").write_text(
        "# moved\n\n\n" + yaml.safe_dump({k: data[k] for k in reversed(list(data))}, indent=4), encoding="utf-8")
    (repo / "prd.yaml").unlink()
    estate(repo, "environments/production.yaml")
    run = cli("scan", "--format", "sarif", "-o", tmp_path / "new.sarif", "--baseline", tmp_path / "old.sarif",
              "--fail-on-new", cwd=repo)
    assert run.code == 0, run.err  # the PPK101 error is there, but not new
    old = json.loads((tmp_path / "old.sarif").read_text(encoding="utf-8"))["runs"][0]["results"]
    new = json.loads((tmp_path / "new.sarif").read_text(encoding="utf-8"))["runs"][0]["results"]
    assert [r["baselineState"] for r in new] == ["unchanged"] * len(old) and old
    where = [r["locations"][0]["physicalLocation"] for r in (old[0], new[0])]
    assert where[0]["artifactLocation"]["uri"] == "prd.yaml"
    assert where[1]["artifactLocation"]["uri"] == "environments/production.yaml"
    assert where[0]["region"] != where[1]["region"]


def test_fail_on_new(cli, repo, tmp_path):
    old = tmp_path / "old.sarif"
    assert cli("scan", "--format", "sarif", "-o", old, "--fail-on", "never", cwd=repo).code == 0
    assert cli("scan", "--baseline", old, "--fail-on-new", cwd=repo).code == 0
    assert cli("scan", "--baseline", old, cwd=repo).code == 1, "without --fail-on-new every error counts"
    empty = tmp_path / "empty.sarif"
    log = json.loads(old.read_text(encoding="utf-8"))
    log["runs"][0]["results"] = []
    empty.write_text(json.dumps(log), encoding="utf-8")
    assert cli("scan", "--baseline", empty, "--fail-on-new", cwd=repo).code == 1, "the PPK101 error is new"
    assert cli("scan", "--baseline", empty, "--fail-on-new", "--fail-on", "never", cwd=repo).code == 0
    run = cli("scan", "--fail-on-new", cwd=repo)
    assert run.code == 2 and "--fail-on-new needs --baseline" in run.err


# --------------------------------------------------------------------------- bad baselines


@pytest.mark.parametrize("text,expected", [
    ("not json", "old.sarif:1: malformed JSON"),
    ("[]", 'old.sarif:1: not a SARIF log: no "runs" list'),
    ('{"version": "2.0.0", "runs": []}', "old.sarif:1: not a SARIF 2.1.0 log"),
    ('{"version": "2.1.0",\n "runs": [{"tool": {"driver":\n {"name": "Checkov"}}, "results": []}]}',
     "old.sarif:3: this SARIF log was written by Checkov, not PolicyKit"),
    ('{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "PolicyKit"}},\n "results": [\n {"ruleId": "PPK101"}]}]}',
     "old.sarif:3: results[0] has no PolicyKit fingerprint"),
], ids=["not-json", "not-sarif", "old-sarif", "other-tool", "no-fingerprint"])
def test_bad_baseline_is_one_located_line(cli, repo, text, expected):
    (repo / "old.sarif").write_text(text, encoding="utf-8")
    run = cli("scan", "--baseline", "old.sarif", cwd=repo)
    assert run.code == 2
    assert run.err.startswith(f"policykit: error: {expected}") and run.err.count("\n") == 1, run.err
    assert "Traceback" not in run.err and run.out == ""


def test_missing_baseline(tmp_path):
    with pytest.raises(InputError, match="SARIF log not found"):
        read_log(tmp_path / "nope.sarif", "nope.sarif")


# --------------------------------------------------------------------------- the validator


def test_validator_accepts_every_baseline_state(tmp_path, monkeypatch):
    require_validator()
    old = baseline_of(tmp_path, [finding("PRD/a", "a runs as alice."), finding("PRD/b", "b runs as bob."),
                                 finding("PRD/gone", "gone runs as carol.")])
    for name, value in PIPELINE_ENV.items():
        monkeypatch.setenv(name, value)
    from policykit.reporters.sarif import AzurePipeline
    log = sarif([finding("PRD/a", "a runs as alice."), finding("PRD/b", "b runs as dave."),
                 finding("PRD/new", "new runs as erin.")], old, root=tmp_path, source_root=tmp_path,
                azure_pipeline=AzurePipeline.from_env(PIPELINE_ENV))
    assert sorted(r["baselineState"] for r in log["runs"][0]["results"]) == ["absent", "new", "unchanged", "updated"]
    path = tmp_path / "states.sarif"
    path.write_text(json.dumps(log), encoding="utf-8")
    for kind in sarif_validator.KINDS:
        bad = sarif_validator.failures(sarif_validator.validate(path, kind), kind)
        assert not bad, f"{kind}:\n" + sarif_validator.describe(bad)
