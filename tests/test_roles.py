"""Roles judged the way Dataverse defines them: organization-owned tables only have Global depth
(from the scanned solutions, the shipped list and the policy), and Microsoft's roles are recognized
by template, root role id or predefined name, so the role rules judge only the customer's roles."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from conftest import REPO, RULES, corpus_estate, needs_corpus

from policykit.document.roles import (
    custom_roles,
    org_owned_tables,
    role_ref,
    role_summary,
)
from policykit.loaders.snapshot import BUILTIN_ROLE_TEMPLATES, _builtin, load_snapshot
from policykit.loaders.solution import load_solution
from policykit.platform import (
    ENVIRONMENT_MAKER_ROOT,
    NAME_ONLY_BUILTINS,
    ORGANIZATION_OWNED_TABLES,
    PLATFORM_ROLE_TEMPLATES,
    ROLE_TEMPLATE_BY_NAME,
    ROLE_TEMPLATES,
    builtin_role,
    norm_guid,
    parse_privilege,
)
from policykit.scanner import EnvironmentSpec, Estate, build, load_estate, scan

SOLUTIONS = RULES / "_fixtures" / "solutions"
CATALOG = SOLUTIONS / "R2Catalog"
MS_ROLES = RULES / "PPK204-application-user-role-not-dedicated" / "fixtures" / "silent-microsoft-roles"
SCHEMA = json.loads((REPO / "docs" / "document.schema.json").read_text(encoding="utf-8"))


def _privilege(name: str, level: str = "Global") -> dict:
    access, table = parse_privilege(name)
    return {"name": name, "level": level, "access": access, "table": table}


def _findings(path: Path, rule: str, monkeypatch) -> list:
    monkeypatch.chdir(path.parent)
    return [f for f in scan(load_estate(path), entry_points=False).findings if f.rule_id == rule]


# --------------------------------------------------------------------------- organization-owned tables

def test_solution_entities_carry_their_ownership():
    """customizations.xml spells OrganizationOwned "OrgOwned": both layouts are read."""
    catalog = load_solution(CATALOG, "R2Catalog")
    assert {e["name"]: (e["ownership"], e["org_owned"]) for e in catalog["entities"]} == {
        "r2_region": ("OrganizationOwned", True), "r2_taxrate": ("OrganizationOwned", True),
        "r2_holiday": ("OrganizationOwned", True), "r2_ticket": ("UserOwned", False)}
    orders = load_solution(SOLUTIONS / "R2Orders", "R2Orders")  # unpacked: Entities/<name>/Entity.xml
    assert {(e["name"], e["ownership"], e["org_owned"]) for e in orders["entities"]} == {
        ("r2_order", "UserOwned", False), ("r2_orderline", "UserOwned", False)}


def test_shipped_list_is_privilege_table_names():
    """Keys are what parse_privilege returns, and the user-owned system tables stay out."""
    assert all(t == t.lower() and re.fullmatch(r"[a-z0-9_]+", t) for t in ORGANIZATION_OWNED_TABLES)
    for name, table in [("prvReadQuery", "query"), ("prvReadSystemForm", "systemform"),
                        ("prvReadSavedQueryVisualizations", "savedqueryvisualizations"),
                        ("prvDeleteWebResource", "webresource"), ("prvWriteTransactionCurrency", "transactioncurrency"),
                        ("prvReadOrganization", "organization"), ("prvDeleteNewProcess", "newprocess")]:
        assert parse_privilege(name)[1] == table and table in ORGANIZATION_OWNED_TABLES
    for user_owned in ("workflow", "canvasapp", "connector", "connectionreference", "environmentvariabledefinition",
                       "customapi", "account", "role", "team", "businessunit", "systemuser", "user", "entity"):
        assert user_owned not in ORGANIZATION_OWNED_TABLES


def test_role_summary_counts_org_owned_tables_apart():
    role = {"privileges": [_privilege("prvReadQuery"), _privilege("prvWriteQuery"), _privilege("prvReadWebResource"),
                           _privilege("prvWriteAccount"), _privilege("prvReadContact", "Basic"),
                           _privilege("prvWriter2_region"), _privilege("prvBulkDelete")]}
    role_summary(role)
    assert [p["org_owned"] for p in role["privileges"]] == [True, True, True, False, False, False, False]
    assert role["tables"] == ["account", "contact", "query", "r2_region", "webresource"]
    assert role["org_owned_tables"] == ["query", "webresource"]
    assert role["global_tables"] == ["account", "r2_region"]
    assert role["global_share"] == round(100 * 2 / 3, 1)
    role_summary(role, org_owned_tables([load_solution(CATALOG, "R2Catalog")]))
    assert role["org_owned_tables"] == ["query", "r2_region", "webresource"]
    assert role["global_tables"] == ["account"] and role["global_share"] == 50.0
    only_org = {"privileges": [_privilege("prvReadQuery")]}
    role_summary(only_org)
    assert only_org["global_tables"] == [] and only_org["global_share"] == 0.0


def test_environment_roles_learn_ownership_from_every_scanned_solution():
    """An environment role's privileges on a table a scanned solution declares OrgOwned are org_owned."""
    catalog = load_solution(CATALOG, "R2Catalog")
    env_role = {"name": "R2 Ticket Purger", "custom": True, "privileges": [
        {**_privilege("prvDeleter2_Region"), "depth": 4}, {**_privilege("prvDeleter2_Ticket"), "depth": 4}]}
    role_summary(env_role)  # the environment alone does not know r2_region
    assert env_role["global_tables"] == ["r2_region", "r2_ticket"]
    catalog["roles"] = []
    out = custom_roles([catalog], [{"name": "PRD", "solutions": [], "roles": [env_role]}])
    assert out == [env_role]
    assert [p["org_owned"] for p in env_role["privileges"]] == [True, False]
    assert env_role["org_owned_tables"] == ["r2_region"] and env_role["global_tables"] == ["r2_ticket"]


@pytest.mark.parametrize("rule", ["PPK302-role-broad-global-access", "PPK303-role-global-delete"])
def test_policy_parameter_adds_organization_owned_tables(rule, tmp_path, monkeypatch):
    fixture = RULES / rule / "fixtures" / "silent-policy-organization-owned-tables"
    assert _findings(fixture / "policykit.yaml", rule[:6], monkeypatch) == []
    without = tmp_path / "policykit.yaml"
    without.write_text(f"solutions: [{SOLUTIONS / 'R2Orders'}]\nenvironments:\n  PRD:\n    metadata: {fixture / 'prd.yaml'}\n")
    assert [f.key for f in _findings(without, rule[:6], monkeypatch)] == ["PRD/Master Data Steward"]


def test_org_owned_tables_never_reach_ppk302_or_ppk303(monkeypatch):
    for rule in ("PPK302", "PPK303"):
        fixture = next(RULES.glob(f"{rule}-*")) / "fixtures" / "fires-user-owned-beside-org-owned" / "policykit.yaml"
        (finding,) = _findings(fixture, rule, monkeypatch)
        assert not re.search(r"\b(query|webresource|r2_region|prvDeleteQuery|prvDeleteWebResource|prvDeleter2_Region)\b",
                             finding.message), finding.message


# --------------------------------------------------------------------------- Microsoft's roles

def test_role_templates_are_documented_ids():
    assert len(ROLE_TEMPLATES) == 17 and len(set(ROLE_TEMPLATES.values())) == 17
    assert all(norm_guid(t) == t for t in ROLE_TEMPLATES)
    assert PLATFORM_ROLE_TEMPLATES < set(ROLE_TEMPLATES)
    for name in ("Salesperson", "Sales Manager", "Customer Service Representative", "CSR Manager", "Marketing Manager",
                 "Vice President of Sales", "Scheduler", "Knowledge Manager", "Basic User", "Support User",
                 "Delegate", "System Customizer", "System Administrator"):
        assert ROLE_TEMPLATE_BY_NAME[name.casefold()] in ROLE_TEMPLATES
    assert ROLE_TEMPLATE_BY_NAME["common data service user"] == "236750cd-45ae-4939-ab12-b24b920ced93"


def test_builtin_role_recognition():
    for template, name in ROLE_TEMPLATES.items():
        assert builtin_role(template, None, None, "renamed by an admin") == name
    # Only Microsoft makes role templates: an app's template not in the table is still Microsoft's.
    assert builtin_role("5f2a7c9e-3d1b-4e8a-b6c4-0e2f4a6c8e10", None, None, "Field Service - Administrator") \
        == "Field Service - Administrator"
    assert builtin_role(None, ENVIRONMENT_MAKER_ROOT, None, "Maker") == "Environment Maker"
    assert builtin_role(None, "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", ENVIRONMENT_MAKER_ROOT, "x") == "Environment Maker"
    for name in NAME_ONLY_BUILTINS:
        assert builtin_role(None, None, None, name) == name
    assert {"App Opener", "Office Collaborator", "Service Reader", "Service Writer"} <= NAME_ONLY_BUILTINS
    assert builtin_role(None, None, None, "Lunch Order User") is None
    assert builtin_role(None, None, None, "app opener") is None  # names are matched exactly


def test_role_ref_resolves_business_unit_copies_through_their_root():
    root, copy = "66c9f563-f431-50ab-89c6-8a1d1c7830a2", "0a5b1c3d-2e4f-4a6b-8c0d-1e2f3a4b5c6d"
    roles_by_id = {root: {"id": root, "name": "Salesperson", "template_id": "a4be89ff-7c35-4d69-9900-999c3f603e6f",
                          "parent_root_id": root},
                   copy: {"id": copy, "name": "Salesperson", "template_id": None, "parent_root_id": root}}
    ref = role_ref({"id": copy.upper(), "name": "Salesperson", "template_id": None}, roles_by_id, "direct")
    assert ref == {"id": copy, "name": "Salesperson", "template_id": "a4be89ff-7c35-4d69-9900-999c3f603e6f",
                   "builtin": "Salesperson", "via": "direct"}


def test_snapshots_name_every_documented_template(tmp_path):
    assert set(BUILTIN_ROLE_TEMPLATES) == {"System Administrator", "System Customizer", "Basic User", "Support User",
                                           "Delegate"}
    assert _builtin("SALESPERSON") == "a4be89ff-7c35-4d69-9900-999c3f603e6f"
    assert _builtin("Common Data Service User") == BUILTIN_ROLE_TEMPLATES["Basic User"]
    assert _builtin("Lunch Order User") is None
    snapshot = tmp_path / "prd.yaml"
    snapshot.write_text("environment: {type: Production}\nusers:\n"
                        "  - name: '# Sales Sync'\n    application_id: 3e5a7c9b-1d2f-4a6c-8e0b-5d7f9a1c3e62\n"
                        "    roles: [Salesperson, Sales Manager, App Opener, R2 Orders Sync]\n"
                        "  - upn: megan.bowen@contoso.com\n    roles: [Salesperson, R2 Orders Sync]\n")
    raw = load_snapshot(snapshot, "prd.yaml")
    assert {r["name"]: r["template_id"] for r in raw["roles"]}["Sales Manager"] == "c0ed2f4f-6f92-4691-92ba-78f2931e8fba"
    built = build(Estate(name="t", solutions=[], environments=[EnvironmentSpec(name="PRD", metadata=snapshot)]),
                  entry_points=False)
    (env,) = built.document["environments"]
    assert {r["name"]: r["builtin"] for r in env["roles"]} == {
        "Salesperson": "Salesperson", "Sales Manager": "Sales Manager", "App Opener": "App Opener",
        "R2 Orders Sync": None}


def test_microsoft_roles_of_an_environment_export_are_not_custom():
    built = build(load_estate(MS_ROLES / "policykit.yaml"), entry_points=False)
    (env,) = built.document["environments"]
    roles = {(r["name"], r["id"]): r for r in env["roles"]}
    assert all(not r["custom"] for r in roles.values()), [k for k, r in roles.items() if r["custom"]]
    by_name = {name: r["builtin"] for (name, _), r in roles.items()}
    assert by_name["Field Service - Administrator"] == "Field Service - Administrator"
    assert by_name["CEO-Business Manager"] == "CEO-Business Manager"
    assert by_name["Office Collaborator"] == "Office Collaborator"
    assert built.document["custom_roles"] == []
    apps = [u for u in env["users"] if u["kind"] == "application"]
    assert len(apps) == 2 and all(ref["builtin"] for u in env["users"] for ref in u["roles"])
    jsonschema.Draft202012Validator(SCHEMA).validate(built.document)


def test_catalog_document_matches_the_schema():
    built = build(Estate(name="t", solutions=[CATALOG], environments=[]), entry_points=False)
    jsonschema.Draft202012Validator(SCHEMA).validate(built.document)
    (role,) = built.document["custom_roles"]
    assert len(role["org_owned_tables"]) == 30 and role["global_tables"] == []


# --------------------------------------------------------------------------- the corpus

@needs_corpus
def test_corpus_roles_never_count_org_owned_tables():
    """The corpus's real roles hold Global privileges on Dataverse's organization-owned tables (views,
    forms, web resources, plug-in registrations, currencies, process tables...): none counts towards
    PPK302's breadth or PPK303's deletes."""
    built = build(corpus_estate(), entry_points=False)
    document = built.document
    roles = document["custom_roles"]
    held = {p["table"] for r in roles for p in r["privileges"] if p["level"] == "Global" and p["org_owned"]}
    assert {"query", "systemform", "webresource", "pluginassembly", "sdkmessageprocessingstep", "transactioncurrency",
            "newprocess", "translationprocess", "solution", "organization"} <= held
    for role in roles:
        assert not set(role["global_tables"]) & ORGANIZATION_OWNED_TABLES, role["key"]
        assert set(role["org_owned_tables"]) <= set(role["tables"])
    # The corpus's own organization-owned tables (PowerHappeningBase declares OrgOwned ones).
    entities = {e["name"]: e for s in document["solutions"] for e in s["entities"]}
    assert entities["poha_session"]["org_owned"] and entities["poha_session"]["ownership"] == "OrganizationOwned"
    result = scan(corpus_estate(), entry_points=False)
    for finding in result.findings:
        if finding.rule_id == "PPK303":
            deleted = re.findall(r"\bprvDelete(\w+)", finding.message)
            assert deleted and not {t.lower() for t in deleted} & ORGANIZATION_OWNED_TABLES, finding.message
        if finding.rule_id == "PPK302":
            assert "organization-owned" in finding.message
    # Before organization-owned tables were known: 1 and 9 (9 thanks to allowed_tables' process tables).
    counts = {rule: sum(f.rule_id == rule for f in result.findings) for rule in ("PPK302", "PPK303")}
    assert counts["PPK302"] <= 1 and counts["PPK303"] <= 9, counts
