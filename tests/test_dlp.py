"""Data policies (DLP): the admin API's policy JSON and the snapshot format, which policies apply to
an environment, how several combine, and what the document tells the rules (docs/dlp.md)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import EXAMPLE, REPO

from policykit.document.dlp import glob_match, microsoft_lists
from policykit.errors import InputError
from policykit.loaders.environment_export import load_export
from policykit.loaders.snapshot import load_snapshot
from policykit.scanner import build, load_estate, scan

RULES = REPO / "rules"
PPK601 = next(RULES.glob("PPK601-*")) / "fixtures" / "fires"
PPK606 = next(RULES.glob("PPK606-*")) / "fixtures" / "fires"
PRD = "6d6c5a0e-1f0b-4c53-9b1a-2e6b6f1e8d41"


def _export(tmp_path: Path, policies: object) -> Path:
    folder = tmp_path / "prd"
    shutil.copytree(PPK601 / "prd", folder)
    (folder / "dlppolicies.json").write_text(json.dumps(policies, indent=2), encoding="utf-8")
    return folder


def _policy(**definition) -> dict:
    base = {"name": "a1000000-0000-4000-8000-000000000001", "displayName": "Baseline",
            "defaultConnectorsClassification": "General", "environmentType": "AllEnvironments",
            "environments": [], "connectorGroups": []}
    return {"policyDefinition": {**base, **definition}}


def _scan(folder: Path, monkeypatch) -> object:
    monkeypatch.chdir(folder)
    return scan(load_estate(folder / "policykit.yaml"), entry_points=False)


# --------------------------------------------------------------------------- loader

def test_real_shape_is_normalized(tmp_path):
    raw = load_export(PPK601 / "prd", "prd")
    assert "dlp_policies" in raw["available"]
    by_name = {p["name"]: p for p in raw["dlp_policies"]}
    assert set(by_name) == {"Contoso PRD", "Contoso tenant baseline", "Contoso sandboxes"}
    prd = by_name["Contoso PRD"]
    assert prd["environment_type"] == "OnlyEnvironments" and prd["environments"] == [PRD]
    assert {c["connector"]: c["group"] for c in prd["connectors"]}["shared_sql"] == "Business"
    assert prd["custom_connector_patterns"][0]["group"] == "Ignore"
    assert prd["source"]["file"] == "prd/dlppolicies.json" and prd["source"]["line"] > 1


def test_endpoint_key_spelled_endPoint_and_rules_sorted_by_order(tmp_path):
    policy = _policy()
    policy["connectorConfigurationsDefinition"] = {"endpointConfigurations": [{
        "connectorId": "http", "endpointRules": [{"order": 2, "behavior": "Deny", "endPoint": "*"},
                                                 {"order": 1, "behavior": "Allow", "endPoint": "https://a/*"}]}]}
    raw = load_export(_export(tmp_path, {"value": [policy]}), "prd")
    rules = raw["dlp_policies"][0]["endpoint_rules"][0]["rules"]
    assert [(r["order"], r["endpoint"]) for r in rules] == [(1, "https://a/*"), (2, "*")]


@pytest.mark.parametrize("body,message", [
    ({"value": [_policy()], "@odata.nextLink": "https://api.bap.microsoft.com/next"}, "first page"),
    ({"value": [_policy()], "nextLink": "https://api.bap.microsoft.com/next"}, "first page"),
    ({"value": [_policy(environmentType="EnvironmentGroups")]}, "'environmentType' must be one of"),
    ({"value": [_policy(connectorGroups=[{"classification": "Secret", "connectors": []}])]}, "'classification'"),
    ({"value": [{"properties": {"displayName": "old"}}]}, "legacy"),
    ({"value": [_policy(), _policy()]}, "listed twice"),
    ({"policies": []}, "not an OData response"),
])
def test_bad_policy_file_is_a_located_input_error(tmp_path, body, message):
    folder = _export(tmp_path, body)
    with pytest.raises(InputError) as err:
        load_export(folder, "prd")
    assert message in str(err.value)
    assert err.value.file == "prd/dlppolicies.json" and err.value.line and err.value.line >= 1


def test_bad_policy_file_exits_2_with_one_line(tmp_path, cli):
    estate = tmp_path / "estate"
    shutil.copytree(PPK601, estate)
    (estate / "policykit.yaml").write_text(
        (estate / "policykit.yaml").read_text().replace("../../../_fixtures", str(RULES / "_fixtures")))
    (estate / "prd" / "dlppolicies.json").write_text('{"value": [], "@odata.nextLink": "x"}', encoding="utf-8")
    run = cli("scan", "--config", estate / "policykit.yaml")
    assert run.code == 2
    assert "Traceback" not in run.err
    assert re.search(r"dlppolicies\.json:1: .*first page", run.err + run.out), run.err


# --------------------------------------------------------------------------- snapshot

def test_snapshot_policies_match_the_schema_and_load():
    data = yaml.safe_load((PPK606 / "uat.yaml").read_text(encoding="utf-8"))
    schema = json.loads((REPO / "docs" / "snapshot.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    raw = load_snapshot(PPK606 / "uat.yaml", "uat.yaml")
    assert "dlp_policies" in raw["available"]
    assert [p["default_group"] for p in raw["dlp_policies"]] == ["Business", "Non-business"]


def test_example_snapshot_matches_the_schema():
    data = yaml.safe_load((EXAMPLE / "environments" / "prd.yaml").read_text(encoding="utf-8"))
    schema = json.loads((REPO / "docs" / "snapshot.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)


@pytest.mark.parametrize("entry,message", [
    ("{name: P, scope: Tenant}", "'scope' must be one of"),
    ("{name: P, colour: red}", "unknown key 'colour'"),
    ("{name: P, endpoint_rules: {http: [{block: '*'}]}}", "must be one of allow, deny"),
    ("{name: P, environments: [PRD]}", "is not an environment id"),
    ("{name: P, action_rules: {shared_sql: {default: Maybe}}}", "'default' must be one of"),
])
def test_bad_snapshot_policy_is_a_located_input_error(tmp_path, entry, message):
    path = tmp_path / "env.yaml"
    path.write_text(f"environment: {{id: {PRD}}}\ndlp_policies:\n  - {entry}\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_snapshot(path, "env.yaml")
    assert message in str(err.value) and err.value.line == 3


# --------------------------------------------------------------------------- semantics

@pytest.mark.parametrize("pattern,text,expected", [
    ("*", "anything", True), ("https://*.contoso.com*", "https://api.contoso.com/v1", True),
    ("https://*.contoso.com*", "https://contoso.com.evil.net", False), ("ABC", "abc", True),
    ("a*b*c", "aXbYc", True), ("a*b*c", "aXbY", False), ("*.database.windows.net,*", "s.database.windows.net,db", True),
])
def test_glob_match(pattern, text, expected):
    assert glob_match(pattern, text) is expected


def test_microsoft_list_ships_with_its_source():
    lists = microsoft_lists()
    assert lists["source"].startswith("https://learn.microsoft.com/")
    assert "shared_sharepointonline" in lists["unblockable"] and "shared_sql" not in lists["unblockable"]


def _estate(tmp_path: Path, policies: list, snapshot_extra: str = "", solutions: str = "DlpOrders") -> Path:
    (tmp_path / "env.yaml").write_text(
        f"environment: {{id: {PRD}, display_name: Contoso PRD, type: Production}}\n"
        + "dlp_policies:\n" + "".join(f"  - {p}\n" for p in policies) + snapshot_extra, encoding="utf-8")
    (tmp_path / "policykit.yaml").write_text(
        f"solutions: [{RULES / '_fixtures' / 'solutions' / solutions}]\nenvironments:\n  PRD: {{metadata: env.yaml}}\n",
        encoding="utf-8")
    return tmp_path


def _dlp(tmp_path, monkeypatch):
    from policykit.cli import main  # noqa: F401 (the CLI's imports register the built-in rules)
    result = _scan(tmp_path, monkeypatch)
    assert not result.input_failures and not result.rule_failures
    return result


def test_blocked_wins_across_policies_and_unblockable_is_never_blocked(tmp_path, monkeypatch):
    _estate(tmp_path, ["{name: A, business: [shared_sql, shared_sharepointonline, shared_office365, http]}",
                       ("{name: B, blocked: [shared_sql, shared_sharepointonline, shared_office365], "
                        "non_business: [http]}")])
    result = _dlp(tmp_path, monkeypatch)
    blocked = sorted(f.key for f in result.findings if f.rule_id == "PPK602")
    assert blocked == ["PRD/DlpOrders/Orders - Sync to SQL/shared_sql"]
    # Under B the blocked unblockable connectors count as Non-business, beside HTTP and the custom
    # connector (B's default group): no mix. Under A the custom connector is in A's default group
    # (Non-business) while SQL, SharePoint and HTTP are Business.
    mixed = [f for f in result.findings if f.rule_id == "PPK601"]
    assert [f.key.rsplit("/", 1)[0] for f in mixed] == ["PRD/DlpOrders/Orders - Sync to SQL"]
    assert "Non-business connectors (Contoso Shipping)" in mixed[0].message


def test_a_policy_that_excludes_the_environment_does_not_apply(tmp_path, monkeypatch):
    _estate(tmp_path, [f"{{name: A, scope: ExceptEnvironments, environments: [{PRD}], blocked: [shared_sql]}}",
                       ("{name: B, scope: OnlyEnvironments, environments: [11111111-2222-4333-8444-555555555555], "
                        "blocked: [shared_sql]}")])
    result = _dlp(tmp_path, monkeypatch)
    assert not [f for f in result.findings if f.rule_id.startswith("PPK60") and f.rule_id != "PPK606"]
    assert [f.key for f in result.findings if f.rule_id == "PPK606"] == ["PRD/dlp"]


def test_canvas_apps_are_judged_on_their_connectors(tmp_path, monkeypatch):
    (tmp_path / "env.yaml").write_text(
        "environment: {id: 97c7ed58-0082-4d1c-9bf8-3369137519f5}\n"
        "dlp_policies:\n  - {name: A, blocked: [shared_office365users]}\n", encoding="utf-8")
    (tmp_path / "policykit.yaml").write_text(
        f"solutions: [{EXAMPLE / 'solutions' / 'LunchOrder_1_0_0_3.zip'}]\n"
        "environments:\n  PRD: {metadata: env.yaml}\n", encoding="utf-8")
    result = _dlp(tmp_path, monkeypatch)
    assert [f.key for f in result.findings if f.rule_id == "PPK602"] == []  # Office 365 Users is unblockable
    (tmp_path / "env.yaml").write_text(
        "environment: {id: 97c7ed58-0082-4d1c-9bf8-3369137519f5}\n"
        "dlp_policies:\n  - {name: A, business: [shared_office365users, shared_commondataserviceforapps], "
        "non_business: [shared_sharepointonline]}\n", encoding="utf-8")
    result = _dlp(tmp_path, monkeypatch)
    kinds = {f.message.split(" ", 2)[0] + " " + f.message.split(" ", 2)[1] for f in result.findings
             if f.rule_id == "PPK601"}
    assert kinds == {"Cloud flow"}  # the app uses one connector: nothing to mix
    document_apps = [e for e in _document(tmp_path, monkeypatch)["environments"][0]["dlp"]["evaluations"]
                     if e["kind"] == "Canvas app"]
    assert document_apps and document_apps[0]["business"] == ["Office 365 Users"]


def _document(folder: Path, monkeypatch) -> dict:
    monkeypatch.chdir(folder)
    return build(load_estate(folder / "policykit.yaml"), entry_points=False).document


def test_environment_without_dlp_data_is_skipped_and_said(tmp_path, monkeypatch):
    (tmp_path / "env.yaml").write_text(f"environment: {{id: {PRD}}}\n", encoding="utf-8")
    (tmp_path / "policykit.yaml").write_text(
        f"solutions: [{RULES / '_fixtures' / 'solutions' / 'DlpOrders'}]\nenvironments:\n  PRD: {{metadata: env.yaml}}\n",
        encoding="utf-8")
    result = _dlp(tmp_path, monkeypatch)
    assert not [f for f in result.findings if f.rule_id.startswith("PPK60")]
    assert any(rule == "PPK601" and "dlp_policies" in why for rule, why in result.skipped)


def test_example_shows_exactly_one_dlp_finding(cli):
    run = cli("scan", "--config", "examples/lunch-order/policykit.yaml", cwd=REPO)
    dlp = [line for line in run.out.splitlines() if re.search(r" PPK60\d ", line)]
    assert len(dlp) == 1 and " PPK601 " in dlp[0] and "Contoso Production" in dlp[0] and "[PRD]" in dlp[0]


def test_document_is_deterministic(monkeypatch):
    first = json.dumps(_document(PPK601, monkeypatch)["environments"][0]["dlp"], sort_keys=True)
    again = json.dumps(_document(PPK601, monkeypatch)["environments"][0]["dlp"], sort_keys=True)
    assert first == again
