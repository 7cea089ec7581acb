"""Regenerate policykit/data/connectors.json and licenses.json from the reference CSVs.

    python tools/gen_catalogs.py ../shared/reference

The generated files ship in the wheel; the policy can override any entry
(``catalog.connectors`` / ``catalog.service_plans``).
"""

from __future__ import annotations

import csv
import json
import sys
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

# Right granted by each service plan (plan names from licenses.csv; Teams plans added).
PLAN_RIGHTS = {
    "SHAREPOINTSTANDARD": "sharepoint", "SHAREPOINTENTERPRISE": "sharepoint", "SHAREPOINTDESKLESS": "sharepoint",
    "EXCHANGE_S_STANDARD": "exchange", "EXCHANGE_S_ENTERPRISE": "exchange", "EXCHANGE_S_DESKLESS": "exchange",
    "TEAMS1": "teams", "TEAMS_FREE": "teams",
    "FLOW_O365_P1": "standard_connectors", "FLOW_O365_P2": "standard_connectors",
    "FLOW_O365_P3": "standard_connectors", "FLOW_O365_S1": "standard_connectors",
    "POWERAPPS_O365_P1": "standard_connectors", "POWERAPPS_O365_P2": "standard_connectors",
    "POWERAPPS_O365_P3": "standard_connectors",
    "POWER_AUTOMATE_ATTENDED_RPA": "premium_connectors", "FLOW_PER_USER": "premium_connectors",
    "DATAVERSE_FOR_POWER_AUTOMATE_PER_PROCESS": "process_license", "FLOW_BUSINESS_PROCESS": "process_license",
    "POWERAPPS_PER_USER": "premium_in_app_context", "Flow_PowerApps_PerUser": "premium_in_app_context",
    "POWERAPPS_PER_APP_NEW": "premium_in_app_context", "POWERAPPS_PER_APP": "premium_in_app_context",
    "Flow_Per_APP": "premium_in_app_context",
    "FLOW_DYN_P2": "premium_in_app_context", "FLOW_DYN_APPS": "premium_in_app_context",
    "FLOW_DYN_TEAM": "premium_in_app_context", "POWERAPPS_DYN_P2": "premium_in_app_context",
    "POWERAPPS_DYN_APPS": "premium_in_app_context", "POWERAPPS_DYN_TEAM": "premium_in_app_context",
}


def main(ref: Path, out: Path) -> None:
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
    skus = {}
    with open(ref / "licenses.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            skus[row["sku_part_number"]] = {
                "sku_id": row["sku_id"],
                "product": row["product"],
                "service_plans": [p for p in row["service_plans"].split(";") if p],
            }
    out.mkdir(parents=True, exist_ok=True)
    (out / "connectors.json").write_text(json.dumps(connectors, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out / "licenses.json").write_text(
        json.dumps({"skus": skus, "plan_rights": PLAN_RIGHTS}, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference"),
         Path(__file__).resolve().parent.parent / "policykit" / "data")
