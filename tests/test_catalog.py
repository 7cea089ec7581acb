"""The shipped license and connector catalogs, their generator, Catalogs with policy overrides,
and ``policykit catalog``."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
from pathlib import Path

import pytest
from conftest import REPO

from policykit import catalog
from policykit.catalog import RIGHTS, Catalogs
from policykit.policy import load_policy

#: Microsoft's tables: $POLICYKIT_REFERENCE, default ../shared/reference beside the repository.
REFERENCE = Path(os.environ.get("POLICYKIT_REFERENCE") or REPO.parent / "shared" / "reference")
MICROSOFT_TABLE = REFERENCE / "microsoft-product-service-plans.csv"
needs_reference = pytest.mark.skipif(
    not MICROSOFT_TABLE.is_file(), reason=f"reference tables not found at {REFERENCE} (set POLICYKIT_REFERENCE)")

E3_ID = "6fd2c87f-b296-42f0-b197-1e91e994b900"
TEAMS1_ID = "57ff2da0-773e-42df-b2af-ffb7a2317929"
PREMIUM = {"premium_connectors", "premium_in_app_context", "process_license"}


@pytest.fixture(scope="module")
def cats() -> Catalogs:
    return Catalogs(load_policy())


def rights(cats: Catalogs, part: str) -> set[str]:
    sku = cats.sku_by_part(part)
    assert sku is not None, f"{part} is not in the catalog"
    return {cats.plan_rights[p["name"]] for p in sku["service_plans"] if p["name"] in cats.plan_rights}


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the shipped catalog

@needs_reference
def test_every_sku_of_microsofts_table_with_its_id_and_plan_ids():
    table: dict[str, dict[str, set[str]]] = {}        # part number → sku id → plan ids
    with open(MICROSOFT_TABLE, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            # The published table pads some part numbers with blanks and NBSPs ("O365_w/o Teams Bundle_M3").
            table.setdefault(" ".join(row["String_Id"].split()), {}).setdefault(
                row["GUID"].strip().lower(), set()).add(row["Service_Plan_Id"].strip().lower())
    assert len(table) == 568
    skus = catalog.licenses()["skus"]
    for part, by_id in table.items():
        assert part in skus, part
        sku = skus[part]
        # One part number has two ids in the table (MCOPSTN5): the catalog keeps one of them.
        assert sku["sku_id"] in by_id, part
        assert {p["id"] for p in sku["service_plans"]} == by_id[sku["sku_id"]], part


@needs_reference
def test_generator_reproduces_the_committed_files(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_catalogs", REPO / "tools" / "gen_catalogs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.main(REFERENCE, tmp_path)
    for name in ("licenses.json", "connectors.json"):
        assert (tmp_path / name).read_bytes() == (REPO / "policykit" / "data" / name).read_bytes(), name


def test_catalog_shape_and_plan_rights():
    lic = catalog.licenses()
    assert set(lic) == {"skus", "plan_rights"}
    assert len(lic["skus"]) >= 568
    for part, sku in lic["skus"].items():
        assert set(sku) == {"sku_id", "product", "service_plans"}, part
        assert sku["sku_id"] == sku["sku_id"].lower()
        assert all(set(p) == {"id", "name"} for p in sku["service_plans"]), part
    assert set(lic["plan_rights"].values()) <= set(RIGHTS)
    plans = {p["name"] for sku in lic["skus"].values() for p in sku["service_plans"]}
    # Every mapped plan is a real one; the one alias is Graph's name of the table's "SharePoint Plan 1G".
    assert set(lic["plan_rights"]) - plans == {"SHAREPOINTSTANDARD_GOV"}


def test_licenses_is_a_copy():
    catalog.licenses()["skus"]["ENTERPRISEPACK"]["product"] = "changed"
    assert catalog.licenses()["skus"]["ENTERPRISEPACK"]["product"] == "Office 365 E3"


# --------------------------------------------------------------------------- rights of real SKUs

def test_e3_grants_the_microsoft_365_services_and_standard_connectors_only(cats):
    assert rights(cats, "ENTERPRISEPACK") == {"sharepoint", "exchange", "teams", "standard_connectors"}


def test_microsoft_365_e5_includes_teams(cats):
    assert {"teams", "sharepoint", "exchange"} <= rights(cats, "SPE_E5")
    assert not rights(cats, "SPE_E5") & PREMIUM


@pytest.mark.parametrize("part, right", [
    ("POWERAUTOMATE_ATTENDED_RPA", "premium_connectors"),
    ("FLOW_PER_USER", "premium_connectors"),
    ("Power_Automate_per_process", "process_license"),
    ("FLOW_BUSINESS_PROCESS", "process_license"),
    ("POWERAUTOMATE_UNATTENDED_RPA", "process_license"),
    ("POWERAPPS_PER_USER", "premium_in_app_context"),
    ("POWERAPPS_PER_APP_NEW", "premium_in_app_context"),
    ("DYN365_ENTERPRISE_SALES", "premium_in_app_context"),
    ("DYN365_TEAM_MEMBERS", "premium_in_app_context"),
    ("TEAMS_EXPLORATORY", "teams"),
    ("Microsoft_Teams_Exploratory_Dept", "teams"),
    ("TEAMS_ESSENTIALS_AAD", "teams"),
    ("Teams_Ess", "teams"),
    ("FLOW_FREE", "standard_connectors"),
])
def test_rights_of_real_skus(cats, part, right):
    assert right in rights(cats, part)


def test_office_for_the_web_and_exchange_foundation_grant_nothing(cats):
    assert "SHAREPOINTWAC" not in cats.plan_rights and "EXCHANGE_S_FOUNDATION" not in cats.plan_rights
    assert rights(cats, "Microsoft_Teams_Premium") == set()
    assert "premium_connectors" not in rights(cats, "POWERAPPS_PER_USER")


# --------------------------------------------------------------------------- Catalogs

def test_lookups_by_id_and_by_part_number(cats):
    e3 = cats.skus_by_id[E3_ID]
    assert e3["sku_part_number"] == "ENTERPRISEPACK" and e3["product"] == "Office 365 E3"
    assert cats.sku_by_part("enterprisepack") is e3
    assert {"id": TEAMS1_ID, "name": "TEAMS1"} in e3["service_plans"]
    assert cats.sku_by_part("NO_SUCH_SKU") is None


def test_without_overrides_the_shipped_tables_are_shared_not_copied():
    policy = load_policy()
    assert Catalogs(policy).skus_by_id is Catalogs(policy).skus_by_id


def test_policy_sku_overrides(tmp_path):
    policy = load_policy(_policy(tmp_path, (
        "catalog:\n"
        "  skus:\n"
        "    CONTOSO_BUNDLE: {sku_id: 0E1A2B3C-0000-4000-8000-000000000001, product: Contoso bundle,\n"
        "                     service_plans: [SHAREPOINTENTERPRISE, FLOW_PER_USER]}\n"
        "    enterprisepack: {product: E3 as we call it, service_plans: [TEAMS1, CONTOSO_PLAN]}\n"
        "  plan_rights: {CONTOSO_PLAN: premium_connectors}\n")))
    cats = Catalogs(policy)
    new = cats.sku_by_part("contoso_bundle")
    assert new == {"sku_part_number": "CONTOSO_BUNDLE", "sku_id": "0e1a2b3c-0000-4000-8000-000000000001",
                   "product": "Contoso bundle", "service_plans": [{"id": None, "name": "SHAREPOINTENTERPRISE"},
                                                                  {"id": None, "name": "FLOW_PER_USER"}]}
    assert cats.skus_by_id["0e1a2b3c-0000-4000-8000-000000000001"] is new
    e3 = cats.sku_by_part("ENTERPRISEPACK")
    assert e3["sku_id"] == E3_ID and e3["product"] == "E3 as we call it"
    assert e3["service_plans"] == [{"id": TEAMS1_ID, "name": "TEAMS1"}, {"id": None, "name": "CONTOSO_PLAN"}]
    assert cats.skus_by_id[E3_ID] is e3 and "ENTERPRISEPACK" in cats.skus and "enterprisepack" not in cats.skus
    assert rights(cats, "ENTERPRISEPACK") == {"teams", "premium_connectors"}
    # The shipped catalog is untouched.
    shipped = Catalogs(load_policy())
    assert shipped.sku_by_part("ENTERPRISEPACK")["product"] == "Office 365 E3"
    assert shipped.sku_by_part("CONTOSO_BUNDLE") is None and "CONTOSO_PLAN" not in shipped.plan_rights


def test_sku_by_part_number_is_gone():
    assert not hasattr(catalog, "sku_by_part_number")


# --------------------------------------------------------------------------- policykit catalog

def test_cli_skus_prints_part_id_product_and_rights(cli):
    run = cli("catalog", "skus", "ENTERPRISEPACK")
    assert run.code == 0 and run.err == ""
    assert run.out.startswith(f"ENTERPRISEPACK  {E3_ID}  Office 365 E3\n"
                              "  rights: exchange, sharepoint, standard_connectors, teams\n")
    assert "ENTERPRISEPACK_GOV" in run.out           # a substring, so its variants too
    assert "TEAMS1" not in run.out


def test_cli_skus_with_plans(cli):
    run = cli("catalog", "skus", "enterprisepack", "--plans")
    block = run.out.split("ENTERPRISEPACK_GOV")[0]
    assert any(line.split() == ["TEAMS1", TEAMS1_ID, "teams"] for line in block.splitlines())
    assert any(line.split()[:1] == ["SHAREPOINTWAC"] and len(line.split()) == 2 for line in block.splitlines())


def test_cli_filters_on_product_sku_id_and_plan_name(cli):
    assert "ENTERPRISEPACK  " in cli("catalog", "skus", "office 365 e3").out
    assert cli("catalog", "skus", E3_ID[:13].upper()).out.startswith("ENTERPRISEPACK  ")
    by_plan = cli("catalog", "skus", "teamsess").out
    assert by_plan.startswith("Teams_Ess  ") and by_plan.count("rights:") == 1


def test_cli_json_is_sorted_and_deterministic(cli):
    first = cli("catalog", "skus", "teams", "--format", "json")
    rows = json.loads(first.out)
    assert first.code == 0 and len(rows) > 10
    parts = [r["sku_part_number"] for r in rows]
    assert parts == sorted(parts, key=lambda p: (p.casefold(), p))
    assert set(rows[0]) == {"sku_part_number", "sku_id", "product", "rights"}
    assert cli("catalog", "skus", "teams", "--format", "json").out == first.out
    plans = json.loads(cli("catalog", "skus", "ENTERPRISEPACK", "--plans", "--format", "json").out)[0]
    assert {"id": TEAMS1_ID, "name": "TEAMS1", "right": "teams"} in plans["service_plans"]


def test_cli_connectors(cli):
    run = cli("catalog", "connectors", "SharePoint")
    assert run.code == 0
    header, *lines = run.out.splitlines()
    assert header.split()[:3] == ["API", "DISPLAY", "NAME"]
    assert ["shared_sharepointonline", "SharePoint", "Standard", "no", "no", "sharepoint"] in [l.split() for l in lines]
    rows = json.loads(cli("catalog", "connectors", "office 365 outlook", "--format", "json").out)
    assert {"api": "shared_office365", "display_name": "Office 365 Outlook", "tier": "Standard", "custom": False,
            "service_principal": False, "m365_service": "exchange"} in rows
    assert [r["api"] for r in rows] == sorted(r["api"] for r in rows)


def test_cli_pattern_is_plain_text_not_a_regex(cli):
    run = cli("catalog", "skus", "(a+)+$")
    assert (run.code, run.out) == (0, "")
    assert run.err == "policykit: no SKU matches '(a+)+$'\n"
    assert cli("catalog", "skus", "(a+)+$", "--format", "json").out == "[]\n"
    # Parentheses match themselves (as a regex, "E3 (no Teams)" would not match this product).
    assert "Microsoft_365_E3_(no_Teams)  " in cli("catalog", "skus", "E3 (no Teams)").out
    assert cli("catalog", "connectors", ".*").out == ""


def test_cli_policy_overrides(cli, tmp_path):
    policy = _policy(tmp_path, "catalog:\n  skus:\n    CONTOSO_BUNDLE: {sku_id: 0e1a2b3c-0000-4000-8000-000000000001,"
                               " product: Contoso bundle, service_plans: [SHAREPOINTENTERPRISE, FLOW_PER_USER]}\n"
                               "  connectors: {shared_contosoapi: {display_name: Contoso API, tier: Standard}}\n")
    assert cli("catalog", "skus", "contoso").out == ""
    run = cli("catalog", "skus", "contoso", "--policy", policy)
    assert run.code == 0
    assert run.out == ("CONTOSO_BUNDLE  0e1a2b3c-0000-4000-8000-000000000001  Contoso bundle\n"
                       "  rights: premium_connectors, sharepoint\n")
    connectors = cli("catalog", "connectors", "contoso", "--policy", policy).out
    assert ["shared_contosoapi", "Contoso", "API", "Standard", "no", "no", "-"] == connectors.splitlines()[1].split()


def test_cli_usage_errors(cli, tmp_path):
    assert cli("catalog", "connectors", "--plans").code == 2
    run = cli("catalog", "skus", "--policy", tmp_path / "missing.yaml")
    assert run.code == 2 and "policy file not found" in run.err
    bad = _policy(tmp_path, "catalog:\n  skus:\n    X: {sku_idd: 1}\n")
    run = cli("catalog", "skus", "--policy", bad)
    assert run.code == 2 and "policy.yaml" in run.err
