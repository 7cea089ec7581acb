"""Regenerate policykit/data/connectors.json and licenses.json from the reference files.

    python tools/gen_catalogs.py ../shared/reference            # writes policykit/data/
    python tools/gen_catalogs.py ../shared/reference OUT_DIR    # writes OUT_DIR/ instead

Inputs, in the reference folder:

- ``connector-catalog.csv``: the platform's connector list (tier, connection parameter sets).
- ``microsoft-product-service-plans.csv``: Microsoft's table "Product names and service plan
  identifiers for licensing" (learn.microsoft.com/entra/identity/users/licensing-service-plan-reference),
  UTF-8 with BOM. Every SKU and every service plan of it goes into ``licenses.json``.
- ``licenses.csv`` (optional): the former hand-made 27-SKU list. A SKU Microsoft's table lacks is
  kept from it (none today: all 27 are in the table); on any conflict Microsoft's table wins.

``licenses.json`` is ``{"skus": {PART_NUMBER: {"sku_id", "product", "service_plans": [{"id", "name"}]}},
"plan_rights": {PLAN_NAME: right}}``. Output is deterministic (sorted keys, plans sorted by name and
id): regenerating from the same inputs gives byte-identical files (tests/test_catalog.py checks).
The generated files ship in the wheel; the policy can override any entry (``catalog.connectors``,
``catalog.plan_rights``, ``catalog.skus``).
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from pathlib import Path

# Microsoft 365 service behind a connector: the account needs an enabled plan of that service.
M365_SERVICE = {
    "shared_sharepointonline": "sharepoint",
    "shared_onedriveforbusiness": "sharepoint",   # OneDrive for Business is SharePoint storage
    "shared_excelonlinebusiness": "sharepoint",   # workbooks live in SharePoint / OneDrive
    "shared_wordonlinebusiness": "sharepoint",    # templates and documents live in SharePoint / OneDrive
    "shared_office365": "exchange",
    "shared_teams": "teams",
}

# Connection parameter sets that mean "the connector accepts a service principal".
SP_SETS = {"oauthServicePrincipal", "servicePrincipalAuth", "oauthSP", "aadOauthClientCredentials",
           "oAuthClientCredentials"}

# Right granted by each service plan, over every plan of Microsoft's table. Rule of thumb: a plan
# is mapped only when Microsoft documents the right; an ambiguous plan is left out, so the rules
# report rather than stay silent (a policy can add it: catalog.plan_rights). Sources: the Power
# Automate licensing FAQ and "Types of Power Automate licenses" / "deep dive on specific licenses"
# (learn.microsoft.com/power-platform/admin/power-automate-licensing/), the Power Platform
# Licensing Guide, and the plan's friendly names in Microsoft's table.
_SHAREPOINT = [
    "SHAREPOINTSTANDARD", "SHAREPOINTENTERPRISE", "SHAREPOINTDESKLESS",           # Plan 1, Plan 2, Kiosk
    "SHAREPOINTSTANDARD_EDU", "SHAREPOINTENTERPRISE_EDU",                         # education
    "SHAREPOINTENTERPRISE_GOV", "SHAREPOINTDESKLESS_GOV",                         # government
    "SharePoint Plan 1G",          # Office 365 G1's SharePoint plan as Microsoft's table names it...
    "SHAREPOINTSTANDARD_GOV",      # ...and as Graph lookups name the same id (f9c43823-…)
    "SHAREPOINTENTERPRISE_MIDMARKET", "SHAREPOINTLITE",                           # old mid-size / small business
    # Office 365 E3 Developer's SharePoint Online: a full SharePoint plan. "Development and test
    # only" is a term of the whole SKU, not missing access: that belongs in a rule about SKUs.
    "SHAREPOINT_S_DEVELOPER",
    # NOT: SHAREPOINTWAC* (Office for the web), SHAREPOINTSTORAGE* (extra storage),
    # SHAREPOINT_PROJECT* (Project Online service), SHAREPOINTONLINE_MULTIGEO, ONEDRIVE* (OneDrive
    # without SharePoint sites), NBENTERPRISE (Social Engagement; one row's friendly name is wrong).
]
_EXCHANGE = [
    # Plans with an Exchange Online mailbox.
    "EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_DESKLESS", "EXCHANGE_S_ESSENTIALS",
    "EXCHANGE_S_STANDARD_GOV", "EXCHANGE_S_ENTERPRISE_GOV", "EXCHANGE_S_DESKLESS_GOV",
    "EXCHANGE_S_STANDARD_MIDMARKET", "EXCHANGE_L_STANDARD",      # mid-size, Office 365 Small Business
    # NOT: EXCHANGE_S_FOUNDATION* / EXCHANGE_FOUNDATION_GOV (no mailbox), EXCHANGE_S_ARCHIVE*
    # (archiving), EXCHANGE_ANALYTICS*, EXCHANGEONLINE_MULTIGEO, EOP_*, EXCHANGE_B_STANDARD
    # ("Exchange Online POP" of a telco offer: whether the Outlook connector works on it is unclear).
]
_TEAMS = [
    "TEAMS1", "TEAMS_FREE", "TEAMS_GOV", "TEAMS_AR_DOD", "TEAMS_AR_GCCHIGH",
    "TEAMS_DESKLESS",              # Microsoft Teams Kiosk (Microsoft 365 F3 EEA)
    "TeamsEss",                    # Microsoft Teams Essentials (Teams_Ess): Teams without Microsoft 365
    # NOT: TEAMSPRO_* (Teams Premium add-ons), Teams_Room*, MESH_*_FOR_TEAMS, MCO* (calling,
    # meetings), TEAMSMULTIGEO; MCO_TEAMS_IW and TEAMS_FREE_SERVICE come with TEAMS1 / TEAMS_FREE.
]
_STANDARD = [
    # Power Automate / Power Apps for Office 365: standard connectors only.
    "FLOW_O365_P1", "FLOW_O365_P2", "FLOW_O365_P3", "FLOW_O365_S1",
    "FLOW_O365_P1_GOV", "FLOW_O365_P2_GOV", "FLOW_O365_P3_GOV", "FLOW_O365_S1_GOV",
    "FLOW_O365_P1_GCCHIGH", "FLOW_O365_P3_GCCHIGH", "FLOW_O365_S1_GCCHIGH",
    "POWERAPPS_O365_P1", "POWERAPPS_O365_P2", "POWERAPPS_O365_P3", "POWERAPPS_O365_S1",
    "POWERAPPS_O365_P1_GOV", "POWERAPPS_O365_P2_GOV", "POWERAPPS_O365_P3_GOV", "POWERAPPS_O365_S1_GOV",
    "POWERAPPS_O365_P1_GCCHIGH", "POWERAPPS_O365_P3_GCCHIGH", "POWERAPPS_O365_S1_GCCHIGH",
    # Free plans: "users with the free plan or one of the Microsoft 365 plans can only access
    # standard connectors" (Power Automate licensing FAQ).
    "FLOW_P2_VIRAL", "POWERFLOWSFREE", "POWERAPPSFREE",
]
_PREMIUM = [
    "POWER_AUTOMATE_ATTENDED_RPA", "POWER_AUTOMATE_ATTENDED_RPA_GCC",   # Power Automate Premium
    "FLOW_PER_USER", "FLOW_PER_USER_GCC",                               # per user plan (legacy)
    "FLOW_P2", "FLOW_P1_GOV",      # legacy Flow Plan 2 / Plan 1: both included premium connectors
    "FLOW_P2_VIRAL_REAL",          # Power Apps Plan 2 Trial's flow plan: "trials provide premium" (FAQ)
    # NOT: FLOW_DEV_VIRAL / POWERAPPS_DEV_VIRAL (Developer Plan: premium in developer environments
    # only), POWERAUTOMATE_DESKTOP_FOR_WIN (desktop flows in Windows), Microsoft_Viva_Sales_PowerAutomate.
]
_PROCESS = [
    "DATAVERSE_FOR_POWER_AUTOMATE_PER_PROCESS",       # Power Automate Process: its only plan
    "FLOW_BUSINESS_PROCESS", "FLOW_BUSINESS_PROCESS_GCC",                # per flow plan (legacy)
    # Unattended RPA add-on: "upgraded to align on the Process license: ... exactly the same role as
    # Process licenses" (deep dive on specific licenses).
    "POWER_AUTOMATE_UNATTENDED_RPA", "POWER_AUTOMATE_UNATTENDED_RPA_GCC",
]
_IN_APP_CONTEXT = [
    # Power Apps per user / per app: flows in the context of the licensed apps.
    "POWERAPPS_PER_USER", "POWERAPPS_PER_USER_GCC", "Flow_PowerApps_PerUser", "Flow_PowerApps_PerUser_GCC",
    "POWERAPPS_PER_APP", "POWERAPPS_PER_APP_NEW", "POWERAPPS_PER_APP_GCC", "POWERAPPS_PER_APP_GCC_NEW",
    "Flow_Per_APP", "Flow_Per_APP_GCC",
    "POWERAPPS_P2", "POWERAPPS_P1_GOV", "POWERAPPS_P2_VIRAL",          # legacy Plan 1 / 2, Plan 2 trial
    # Dynamics 365 (enterprise, team members, professional, trials): flows in the context of its apps.
    "FLOW_DYN_APPS", "FLOW_DYN_APPS_GOV", "FLOW_DYN_P2", "FLOW_DYN_P2_GOV", "FLOW_DYN_TEAM", "FLOW_DYN_TEAM_GOV",
    "POWERAPPS_DYN_APPS", "POWERAPPS_DYN_APPS_GOV", "POWERAPPS_DYN_P2", "POWERAPPS_DYN_P2_GOV",
    "POWERAPPS_DYN_TEAM", "POWERAPPS_DYN_TEAM_GOV",
    "FLOW_CUSTOMER_SERVICE_PRO", "POWERAPPS_CUSTOMER_SERVICE_PRO",
    "POWERAPPS_SALES_PRO", "POWERAPPS_SALES_PRO_GOV", "FLOW_SALES_PRO_GOV",
    "POWER_APPS_DYN365_VIRAL_TRIAL", "POWER_AUTOMATE_DYN365_VIRAL_TRIAL",
    "POWER_APPS_DYN365_VIRAL_TRIAL_MIXED_REALITY", "POWER_AUTOMATE_DYN365_VIRAL_TRIAL_MIXED_REALITY",
    # Other Dataverse apps whose license includes Power Automate / Power Apps for the app's own use.
    "POWERAPPS_GUIDES", "FLOW_FORMS_PRO", "FLOW_FOR_IOM_USL",          # Guides, Customer Voice, IOM
    "POWER_APPS_FOR_MCS_USL", "POWER_AUTOMATE_FOR_MCS_USL",            # Cloud for Sustainability
    "FLOW_FOR_PROJECT", "FLOW_FOR_PROJECT_GCC", "FLOW_FOR_PROJECT_GOV", "Power_Automate_For_Project_P1",
    "FLOW_VIRTUAL_AGENT_BASE", "FLOW_VIRTUAL_AGENT_USL", "FLOW_Virtual_Agent_Base_Gov",
    "Flow_Virtual_Agent_Usl_Gov", "FLOW_CCI_BOTS",                     # Copilot Studio / bots
    # NOT: POWERAPPS_PER_APP_IWTRIAL / Flow_Per_APP_IWTRIAL ("per app baseline access": the right
    # comes from the per app capacity allocated to the environment, not from this plan).
]
PLAN_RIGHTS = {plan: right for right, plans in (
    ("sharepoint", _SHAREPOINT), ("exchange", _EXCHANGE), ("teams", _TEAMS),
    ("standard_connectors", _STANDARD), ("premium_connectors", _PREMIUM),
    ("process_license", _PROCESS), ("premium_in_app_context", _IN_APP_CONTEXT),
) for plan in plans}

# Cells of Microsoft's table whose Service_Plan_Name is not the plan's name, by plan id. Other
# misspellings of a plan (trailing ")", other case, tabs) are settled by the name most rows give.
PLAN_NAME_FIXES = {
    # Power BI Premium EM1: one cell "EXCHANGE_S_FOUNDATION PBI_PREMIUM_EM1_ADDON" names both plans.
    "a64b30ba-f310-4065-b444-2670ef146db0": "PBI_PREMIUM_EM1_ADDON",
}

MICROSOFT_TABLE = "microsoft-product-service-plans.csv"


def _text(value: str | None) -> str:
    """A cell with its whitespace collapsed: the table has trailing blanks, NBSPs and tabs."""
    return " ".join((value or "").split())


def _warn(message: str) -> None:
    sys.stderr.write(f"gen_catalogs: {message}\n")


def _plan_names(rows: list[dict[str, str]]) -> dict[str, str]:
    """Plan id → its name: the fix, else the name most rows give (ties: the first in sort order)."""
    seen: dict[str, Counter[str]] = {}
    for row in rows:
        seen.setdefault(_text(row["Service_Plan_Id"]).lower(), Counter())[_text(row["Service_Plan_Name"])] += 1
    return {pid: PLAN_NAME_FIXES.get(pid) or min(names.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            for pid, names in seen.items()}


def _sorted_plans(plans: dict[str, str]) -> list[dict[str, str]]:
    return [{"id": pid, "name": name}
            for pid, name in sorted(plans.items(), key=lambda kv: (kv[1].casefold(), kv[1], kv[0]))]


def microsoft_skus(path: Path) -> dict[str, dict]:
    """Every SKU of Microsoft's table with every service plan (deduplicated by plan id)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    names = _plan_names(rows)
    variants: dict[str, dict[str, dict]] = {}       # part number → sku id → {product, plans}
    for row in rows:
        sku = variants.setdefault(_text(row["String_Id"]), {}).setdefault(
            _text(row["GUID"]).lower(), {"product": _text(row["Product_Display_Name"]), "plans": {}})
        plan_id = _text(row["Service_Plan_Id"]).lower()
        sku["plans"][plan_id] = names[plan_id]
    skus = {}
    for part, by_id in variants.items():
        # One part number, several SKU ids (MCOPSTN5 today): the catalog is keyed by part number,
        # so the lowest id wins, whatever the row order.
        sku_id = min(by_id)
        if len(by_id) > 1:
            _warn(f"{part} has {len(by_id)} SKU ids in Microsoft's table; keeping {sku_id}, "
                  f"dropping {', '.join(sorted(set(by_id) - {sku_id}))}")
        skus[part] = {"sku_id": sku_id, "product": by_id[sku_id]["product"],
                      "service_plans": _sorted_plans(by_id[sku_id]["plans"])}
    return skus


def handmade_skus(path: Path) -> dict[str, dict]:
    """The former hand-made list (plan names only, no plan ids), if present."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {_text(row["sku_part_number"]): {
            "sku_id": _text(row["sku_id"]).lower(), "product": _text(row["product"]),
            "service_plans": [{"id": None, "name": name} for name in sorted(
                {_text(p) for p in row["service_plans"].split(";") if _text(p)}, key=lambda n: (n.casefold(), n))],
        } for row in csv.DictReader(fh)}


def license_catalog(ref: Path) -> dict:
    skus = microsoft_skus(ref / MICROSOFT_TABLE)
    known = {part.casefold(): part for part in skus}
    for part, sku in handmade_skus(ref / "licenses.csv").items():
        if part.casefold() not in known:
            # Kept: Microsoft's table lacks this SKU.
            skus[part] = sku
        elif skus[known[part.casefold()]]["sku_id"] != sku["sku_id"]:
            _warn(f"licenses.csv gives {part} the id {sku['sku_id']}; Microsoft's table wins")
    return {"skus": skus, "plan_rights": PLAN_RIGHTS}


def connector_catalog(ref: Path) -> dict:
    connectors = {}
    with open(ref / "connector-catalog.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            sets = [s for s in row["connection_parameter_sets"].split(";") if s]
            connectors[row["name"]] = {
                "display_name": row["display_name"],
                "tier": row["tier"],
                "custom": row["is_custom_api"] == "True",
                "service_principal": bool(SP_SETS & set(sets)),
                "m365_service": M365_SERVICE.get(row["name"]),
            }
    return connectors


def _dump(value: object) -> str:
    return json.dumps(value, indent=1, sort_keys=True) + "\n"


def main(ref: Path, out: Path) -> None:
    connectors, licenses = connector_catalog(ref), license_catalog(ref)
    out.mkdir(parents=True, exist_ok=True)
    (out / "connectors.json").write_text(_dump(connectors), encoding="utf-8", newline="\n")
    (out / "licenses.json").write_text(_dump(licenses), encoding="utf-8", newline="\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference"),
         Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent / "policykit" / "data")
