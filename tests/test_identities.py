"""Who is who on real tenants, and licenses that are tenant-wide.

Each test is one class of shape every real tenant has: customer application users named
``# <app>``, Microsoft's own users (bare microsoft.com / onmicrosoft.com user names, first-party
application ids, ``applicationtype``), snapshot accounts that name an application user, accounts
and owners that match nobody, SKUs no catalog knows, a missing Process-license list, and one
solution version found twice.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import ORDERS, REPO

from policykit.document.users import kind_of
from policykit.policy import load_policy
from policykit.scanner import EnvironmentSpec, Estate, build, scan

EXPORT = REPO / "tests" / "data" / "environments" / "contoso-dev"
SNAPSHOT = REPO / "tests" / "data" / "environments" / "contoso-prd.snapshot.yaml"
NIGHTLY = REPO / "rules" / "_fixtures" / "solutions" / "Nightly"
POLICY = load_policy()


def _estate(tmp_path: Path, snapshot: str, solutions: tuple[Path, ...] = (ORDERS,), policy: str | None = None) -> Estate:
    path = tmp_path / "prd.yaml"
    path.write_text(textwrap.dedent(snapshot), encoding="utf-8")
    estate = Estate(name="t", solutions=list(solutions), environments=[EnvironmentSpec(name="PRD", metadata=path)])
    if policy is not None:
        (tmp_path / "policy.yaml").write_text(textwrap.dedent(policy), encoding="utf-8")
        estate.policy = tmp_path / "policy.yaml"
    return estate


def _users(document: dict, env: str = "PRD") -> dict[str, dict]:
    found = next(e for e in document["environments"] if e["name"] == env)
    return {u["name"]: u for u in found["users"]}


# --------------------------------------------------------------------------- kinds

@pytest.mark.parametrize("name, upn, app_id, app_type, kind", [
    # The admin center names every application user a customer creates "# <app name>".
    ("# crm-prod-dataenrichment", None, "2b7e4c91-5d3a-4f8b-a6c2-9e1d0f3b5a71", None, "application"),
    ("# crm-prod-dataenrichment", None, "2b7e4c91-5d3a-4f8b-a6c2-9e1d0f3b5a71", 2, "application"),
    ("# Power Platform Dataflows", None, "6f3a8d25-1c4b-4e9f-b7a0-3d2c5e8f1a64", 2, "application"),
    # Microsoft's own: applicationtype 0/1, first-party application ids, bare Microsoft domains.
    ("# SIAutoCapture", None, "5a2f4b1c-9d3e-4c7a-8b6f-0e1d2c3b4a59", 1, "platform"),
    ("# AI Builder", None, "5a2f4b1c-9d3e-4c7a-8b6f-0e1d2c3b4a60", 0, "platform"),
    ("Dataverse", None, "00000007-0000-0000-C000-000000000000", None, "platform"),
    ("Dynamics 365 Online Service", "crmoln@microsoft.com", None, None, "platform"),
    ("crmoln2", "crmoln2@microsoft.com", None, None, "platform"),
    ("bap_sa", "bap_sa@microsoft.com", None, None, "platform"),
    ("CAP Package Deployer", "CAPPackageDeployerServiceDVClient@onmicrosoft.com", None, None, "platform"),
    ("Relevance Search", "RelevanceSearch@onmicrosoft.com", None, None, "platform"),
    # A tenant's own onmicrosoft.com domain is the customer's, not Microsoft's.
    ("Tenant Admin", "admin@contoso.onmicrosoft.com", None, None, "person"),
    ("SVC Orders", "svc-orders@contoso.onmicrosoft.com", None, None, "technical"),
    ("Megan Bowen", "megan@microsoft.com.contoso.com", None, None, "person"),
])
def test_kind_by_what_cannot_be_faked(name, upn, app_id, app_type, kind):
    assert kind_of(POLICY, name=name, upn=upn, application_id=app_id, application_type=app_type) == kind


def _export(tmp_path: Path, file: str, edit) -> Estate:
    """The test export folder, with ``edit`` applied to the rows of one of its API responses."""
    folder = tmp_path / "dev"
    shutil.copytree(EXPORT, folder)
    path = folder / file
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data["value"])
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return Estate(name="t", solutions=[ORDERS], environments=[EnvironmentSpec(name="DEV", metadata=folder)])


def _export_with(tmp_path: Path, application_type: int) -> Estate:
    return _export(tmp_path, "applicationusers.json", lambda rows: rows[0].update(applicationtype=application_type))


@pytest.mark.parametrize("application_type, kind", [(2, "application"), (1, "platform"), (0, "platform")])
def test_export_applicationtype_decides(tmp_path, application_type, kind):
    """applicationusers.json joins to systemusers.json by _userid_value: its applicationtype says
    whose application user ``# AppUser_Dataverse_DEV`` is."""
    document = build(_export_with(tmp_path, application_type), entry_points=False).document
    assert _users(document, "DEV")["# AppUser_Dataverse_DEV"]["kind"] == kind


def test_customer_hash_named_admin_is_reported_microsofts_is_not(tmp_path):
    estate = _estate(tmp_path, """\
        environment: {type: Production}
        users:
          - {name: "# crm-prod-dataenrichment", application_id: 2b7e4c91-5d3a-4f8b-a6c2-9e1d0f3b5a71,
             roles: [System Administrator]}
          - {name: "# SIAutoCapture", application_id: 5a2f4b1c-9d3e-4c7a-8b6f-0e1d2c3b4a59, application_type: 1,
             roles: [System Administrator]}
          - {upn: crmoln@microsoft.com, name: Dynamics 365 Online Service, roles: [System Administrator]}
        """)
    result = scan(estate, entry_points=False)
    assert [f.key for f in result.findings if f.rule_id == "PPK203"] == ["PRD/2b7e4c91-5d3a-4f8b-a6c2-9e1d0f3b5a71"]


# --------------------------------------------------------------------------- snapshot accounts

def test_documented_snapshot_connection_signs_in_as_the_application_user(tmp_path):
    """docs/snapshot.md: ``account: AppUser_Dataverse_PRD`` with parameter_set oauthSP is the
    application user listed above it, not a second, personal user of the same name."""
    estate = Estate(name="t", solutions=[ORDERS], environments=[EnvironmentSpec(name="PRD", metadata=SNAPSHOT)])
    document = build(estate, entry_points=False).document
    env = document["environments"][0]
    conn = next(c for c in env["connections"] if c["account"] == "AppUser_Dataverse_PRD")
    assert conn["user"]["kind"] == "application" and conn["user"]["in_dataverse"]
    assert conn["user"]["application_id"] == "3f1c9a57-2b8d-4e61-9c0a-7d5e4b3a2f10"
    assert [u["name"] for u in env["users"]].count("AppUser_Dataverse_PRD") == 1
    assert not env["unresolved"]


@pytest.mark.parametrize("account", ["AppUser_Orders", "appuser_orders", "{0B7C2D4E-6F81-4A93-B5C7-D9E1F3A5B701}"])
def test_snapshot_account_by_name_or_application_id(tmp_path, account):
    estate = _estate(tmp_path, f"""\
        environment: {{type: Production}}
        users:
          - {{name: AppUser_Orders, application_id: 0b7c2d4e-6f81-4a93-b5c7-d9e1f3a5b701, roles: [Basic User]}}
        connections:
          - {{id: conn-dv, connector: shared_commondataserviceforapps, account: "{account}", parameter_set: oauthSP}}
        connection_references:
          fxo_OrdersDataverse: conn-dv
        """)
    result = scan(estate, entry_points=False)
    binding = next(b for b in build(estate, entry_points=False).document["environments"][0]["bindings"]
                   if b["logical_name"] == "fxo_OrdersDataverse")
    assert binding["user"]["key"] == "PRD/0b7c2d4e-6f81-4a93-b5c7-d9e1f3a5b701"
    assert not [f for f in result.findings if f.rule_id == "PPK101"]


def test_snapshot_account_naming_two_users_is_an_error(tmp_path):
    estate = _estate(tmp_path, """\
        environment: {type: Production}
        users:
          - {upn: alex@contoso.com, name: Alex Wilber, licenses: []}
          - {upn: alex.wilber@fabrikam.com, name: Alex Wilber, licenses: []}
        connections:
          - {id: conn-sp, connector: shared_sharepointonline, account: Alex Wilber}
        """)
    result = scan(estate, entry_points=False)
    assert [(f.line, f.message) for f in result.input_failures] == [
        (6, "account 'Alex Wilber' names several users: use the upn or application id")]


# --------------------------------------------------------------------------- unknown accounts and owners

UNKNOWN_ACCOUNT = """\
    environment: {type: Production}
    users:
      - {upn: svc-orders@contoso.com, licenses: [ENTERPRISEPACK], roles: [Basic User]}
    connections:
      - {id: conn-sp, connector: shared_sharepointonline, account: svc-orders@contoso.com}
      - {id: conn-typo, connector: shared_commondataserviceforapps, account: svc-ordres@contoso.com}
    connection_references:
      fxo_OrdersSharePoint: conn-sp
      fxo_OrdersDataverse: conn-typo
    """


def test_account_matching_no_user_is_reported_not_dropped(tmp_path):
    result = scan(_estate(tmp_path, UNKNOWN_ACCOUNT), entry_points=False)
    notes = [n for n in result.notices if "svc-ordres@contoso.com" in n.message]
    assert len(notes) == 1 and "conn-typo" in notes[0].message and notes[0].source.line == 6
    for rule_id in ("PPK101", "PPK109", "PPK201", "PPK202", "PPK401"):
        reasons = [r for rid, r in result.skipped if rid == rule_id]
        assert any("could not judge 1 object" in r and "svc-ordres@contoso.com" in r for r in reasons), rule_id
    # Nothing is said about the unknown account as if it were judged.
    assert not [f for f in result.findings if "svc-ordres" in f.message]


def test_account_without_any_user_data_is_classified_by_name(tmp_path):
    """Without users (no Dataverse or Graph data) there is nothing to match: the account is
    classified by the policy's naming rules, as documented, and PPK101 still tells a person."""
    estate = _estate(tmp_path, """\
        environment: {type: Production}
        connections:
          - {id: conn-sp, connector: shared_sharepointonline, account: megan.bowen@contoso.com}
        connection_references:
          fxo_OrdersSharePoint: conn-sp
        """)
    result = scan(estate, entry_points=False)
    assert [f.key for f in result.findings if f.rule_id == "PPK101"] == ["PRD/FixtureOrders/fxo_OrdersSharePoint"]
    assert not result.notices


def _export_owner(tmp_path: Path, owner: str) -> Estate:
    return _export(tmp_path, "workflows.json", lambda rows: rows[0].update(_ownerid_value=owner))


def test_flow_owner_matching_nobody_is_reported(tmp_path):
    result = scan(_export_owner(tmp_path, "11111111-2222-4333-8444-555555555555"), entry_points=False)
    assert any("11111111-2222-4333-8444-555555555555" in n.message and "matches no user or team" in n.message
               for n in result.notices)
    assert any(rid == "PPK205" and "could not judge" in reason for rid, reason in result.skipped)


def test_flow_owned_by_a_team_is_no_unknown_owner(tmp_path):
    team_id = json.loads((EXPORT / "teams.json").read_text(encoding="utf-8"))["value"][0]["teamid"]
    built = build(_export_owner(tmp_path, team_id.upper()), entry_points=False)
    env = built.document["environments"][0]
    assert env["flows"][0]["owner"] is None and env["flows"][0]["owner_team"]
    assert not env["unresolved"]


# --------------------------------------------------------------------------- licenses

UNKNOWN_SKU = """\
    environment: {type: Production}
    users:
      - {upn: svc-orders@contoso.com, licenses: [ENTERPRISEPACK, CONTOSO_CUSTOM_BUNDLE], roles: [Basic User]}
      - {upn: megan.bowen@contoso.com, licenses: [CONTOSO_CUSTOM_BUNDLE]}
    connections:
      - {id: conn-sp, connector: shared_sharepointonline, account: megan.bowen@contoso.com}
    connection_references:
      fxo_OrdersSharePoint: conn-sp
    """


def test_unknown_sku_means_licenses_unknown_and_one_notice(tmp_path):
    result = scan(_estate(tmp_path, UNKNOWN_SKU), entry_points=False)
    assert not result.input_failures
    notes = [n for n in result.notices if "CONTOSO_CUSTOM_BUNDLE" in n.message]
    assert len(notes) == 1 and "catalog.skus" in notes[0].message
    users = _users(build(_estate(tmp_path, UNKNOWN_SKU), entry_points=False).document)
    assert users["svc-orders@contoso.com"]["licenses_known"] is False
    assert users["svc-orders@contoso.com"]["unknown_skus"] == ["CONTOSO_CUSTOM_BUNDLE"]
    assert not [f for f in result.findings if f.rule_id == "PPK401"]  # no guess from a partial list


def test_policy_catalog_defines_an_unknown_sku_for_snapshots(tmp_path):
    policy = """\
        catalog:
          skus:
            CONTOSO_CUSTOM_BUNDLE: {sku_id: 0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b, product: Contoso bundle,
                                    service_plans: [SHAREPOINTENTERPRISE, POWER_AUTOMATE_ATTENDED_RPA]}
        """
    built = build(_estate(tmp_path, UNKNOWN_SKU, policy=policy), entry_points=False)
    megan = _users(built.document)["megan.bowen@contoso.com"]
    assert megan["licenses_known"] and megan["rights"] == ["premium_connectors", "sharepoint"]
    assert not built.document["notices"]


def test_unknown_sku_in_an_export(tmp_path):
    unknown = {"skuId": "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b", "disabledPlans": []}
    estate = _export(tmp_path, "users.json", lambda rows: rows[0]["assignedLicenses"].append(unknown))
    result = scan(estate, entry_points=False)
    assert not result.input_failures
    assert [n.source.file.endswith("users.json") for n in result.notices if "0e1f2a3b" in n.message] == [True]


def test_teams_plans_count_for_the_teams_connector(tmp_path):
    estate = _estate(tmp_path, """\
        environment: {type: Production}
        users:
          - {upn: svc-orders@contoso.com, licenses: [ENTERPRISEPACK], roles: [Basic User]}
        """)
    user = _users(build(estate, entry_points=False).document)["svc-orders@contoso.com"]
    assert "TEAMS1" in user["service_plans"] and "teams" in user["rights"]


NIGHTLY_FLOWS = """\
    environment: {type: Production}
    users:
      - {upn: svc-nightly@contoso.com, licenses: [ENTERPRISEPACK]}
      - {name: AppUser_Nightly, application_id: 2f6b9d41-8c3e-4a7f-b015-6d2e8f4a1c93, roles: [Basic User]}
    flows:
      - {id: 3b1f0c4e-5d2a-4f6b-9c8d-1a2b3c4d5e11, name: Nightly - Sync invoices, owner: svc-nightly@contoso.com}
      - {id: 3b1f0c4e-5d2a-4f6b-9c8d-1a2b3c4d5e12, name: Nightly - On new order, owner: AppUser_Nightly}
    """


def test_no_process_license_list_skips_every_rule_that_needs_it_alike(tmp_path):
    result = scan(_estate(tmp_path, NIGHTLY_FLOWS, solutions=(NIGHTLY,)), entry_points=False)
    assert not [f for f in result.findings if f.rule_id in ("PPK402", "PPK403", "PPK405")]
    skipped = {rid: reason for rid, reason in result.skipped if "process_licenses" in reason}
    assert set(skipped) == {"PPK402", "PPK403", "PPK405"}
    assert len(set(skipped.values())) == 1  # the same reason, word for word
    flows = build(_estate(tmp_path, NIGHTLY_FLOWS, solutions=(NIGHTLY,)), entry_points=False).document
    assert {f["process_license"] for f in flows["environments"][0]["flows"]} == {None}


def test_trigger_kinds_of_real_triggers():
    from policykit.platform import trigger_kind
    assert trigger_kind([{"type": "Recurrence"}]) == "scheduled"
    assert trigger_kind([{"type": "OpenApiConnectionWebhook"}]) == "automated"
    assert trigger_kind([{"type": "Request", "kind": "Http"}]) == "automated"  # called by a system
    assert trigger_kind([{"type": "Request", "kind": "Button"}]) == "instant"
    assert trigger_kind([{"type": "Request", "kind": "PowerAppV2"}]) == "instant"
    assert trigger_kind([]) is None


# --------------------------------------------------------------------------- one solution, two copies

def _copy_with_version(src: Path, dest: Path, version: str | None = None) -> Path:
    shutil.copytree(src, dest)
    if version:
        manifest = dest / "Other" / "Solution.xml"
        text = manifest.read_text(encoding="utf-8-sig").replace("<Version>1.0.0.0</Version>", f"<Version>{version}</Version>")
        manifest.write_text(text, encoding="utf-8")
    return dest


def test_the_same_solution_version_is_scanned_once(tmp_path):
    first = _copy_with_version(ORDERS, tmp_path / "a" / "Orders")
    second = _copy_with_version(ORDERS, tmp_path / "b" / "Orders")
    result = scan(Estate(name="t", solutions=[first, second]), entry_points=False)
    built = build(Estate(name="t", solutions=[first, second]), entry_points=False)
    assert len(built.document["solutions"]) == 1
    notes = [n.message for n in result.notices]
    assert len(notes) == 1 and "b/Orders is a copy of" in notes[0] and "a/Orders, which is the one reported" in notes[0]
    keys = [f.key for f in result.findings]
    assert len(keys) == len(set(keys))


def test_two_versions_of_one_solution_stay_two(tmp_path):
    first = _copy_with_version(ORDERS, tmp_path / "a" / "Orders")
    second = _copy_with_version(ORDERS, tmp_path / "b" / "Orders", version="1.1.0.0")
    built = build(Estate(name="t", solutions=[first, second]), entry_points=False)
    assert [s["version"] for s in built.document["solutions"]] == ["1.0.0.0", "1.1.0.0"]
    assert not built.document["notices"]


def test_notices_reach_every_format_and_sarif_stays_valid(tmp_path, monkeypatch):
    """Notices are reported in each format: text and markdown list them, SARIF carries them as
    located notifications that Microsoft's validator accepts."""
    import sarif_validator
    from conftest import require_validator

    from policykit import __version__
    from policykit.reporters.markdown import to_markdown
    from policykit.reporters.sarif import to_sarif
    from policykit.reporters.text import to_text

    require_validator()
    monkeypatch.chdir(tmp_path)
    result = scan(_estate(tmp_path, UNKNOWN_ACCOUNT), entry_points=False)
    assert result.notices
    assert "NOTE prd.yaml:6: connection conn-typo" in to_text(result)
    assert "conn-typo" in to_markdown(result)
    log = to_sarif(result, tool_version=__version__, information_uri="https://example.invalid/policykit",
                   help_uri_base="https://example.invalid/policykit/rules/")
    notes = json.loads(log)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    located = [n for n in notes if "conn-typo" in n["message"]["text"] and n.get("locations")]
    assert located and located[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
    path = tmp_path / "log.sarif"
    path.write_text(log, encoding="utf-8")
    for kind in ("Sarif", "Ghas"):
        problems = sarif_validator.validate(path, kind)
        assert sarif_validator.count(problems, "error") == 0, sarif_validator.describe(problems)
