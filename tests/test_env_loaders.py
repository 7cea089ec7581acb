"""The environment loaders: export folder and snapshot → the same raw environment dict."""

from __future__ import annotations

import contextvars
import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from policykit.errors import InputError
from policykit import reading as files
from policykit.platform import is_guid, norm_guid, norm_ref
from policykit.loaders.environment_export import DATASETS, load_export
from policykit.loaders.snapshot import BUILTIN_ROLE_TEMPLATES, load_snapshot

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "environments"
EXPORT = DATA / "contoso-dev"
EXPORT_SHOWN = "tests/data/environments/contoso-dev"
SNAPSHOT = DATA / "contoso-prd.snapshot.yaml"
SNAPSHOT_SHOWN = "tests/data/environments/contoso-prd.snapshot.yaml"
SCHEMA = json.loads((ROOT / "docs" / "snapshot.schema.json").read_text(encoding="utf-8"))

#: ``tenant_files``: the file each tenant-wide data set came from (its rows carry lines only).
RAW_KEYS = {"format", "id", "display_name", "type", "url", "source", "available", "not_collected", "tenant_files",
            *DATASETS}


@pytest.fixture(scope="module")
def export() -> dict[str, Any]:
    return load_export(EXPORT, EXPORT_SHOWN)


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    return load_snapshot(SNAPSHOT, SNAPSHOT_SHOWN)


def by(items: list[dict[str, Any]], key: str, value: Any) -> dict[str, Any]:
    [item] = [i for i in items if i[key] == value]
    return item


def assert_plain(value: Any, path: str = "raw") -> None:
    """Only exact JSON types: rules see the dict through JMESPath and json.dumps."""
    assert type(value) in (dict, list, str, int, float, bool, type(None)), path
    if type(value) is dict:
        for k, v in value.items():
            assert type(k) is str, path
            assert_plain(v, f"{path}.{k}")
    elif type(value) is list:
        for i, v in enumerate(value):
            assert_plain(v, f"{path}[{i}]")


def copy_export(tmp_path: Path) -> Path:
    folder = tmp_path / "env"
    shutil.copytree(EXPORT, folder)
    return folder


def raises(call, *args) -> InputError:
    with pytest.raises(InputError) as info:
        call(*args)
    return info.value


# --------------------------------------------------------------------------- GUIDs

def test_guid_helpers() -> None:
    assert norm_guid(" {9A9D35EF-0000-4000-8000-00000000000A} ") == "9a9d35ef-0000-4000-8000-00000000000a"
    assert norm_guid(None) is None and norm_guid("") is None
    assert is_guid("{9A9D35EF-0000-4000-8000-00000000000A}") and not is_guid("Lunch Order")
    assert norm_ref("{9A9D35EF-0000-4000-8000-00000000000A}") == "9a9d35ef-0000-4000-8000-00000000000a"
    assert norm_ref(" Lunch Order ") == "Lunch Order"


# --------------------------------------------------------------------------- export

def test_export_environment(export: dict[str, Any]) -> None:
    assert set(export) == RAW_KEYS
    assert export["format"] == "export"
    assert export["id"] == "cfb4e0f2-411b-4aa6-9671-80205eb9f229"  # upper case in the file
    assert export["display_name"] == "Contoso DEV"
    assert export["type"] == "Sandbox"
    assert export["url"] == "https://contoso-dev.crm4.dynamics.com"  # trailing slash dropped
    assert export["source"] == {"file": f"{EXPORT_SHOWN}/environment.json", "line": 1}
    assert export["available"] == sorted(DATASETS)
    assert_plain(export)


def line_at(source: dict[str, Any]) -> str:
    """The text of the line a source points at (sources name the object's identifying key)."""
    path = EXPORT / source["file"][len(EXPORT_SHOWN) + 1:]
    return path.read_text(encoding="utf-8-sig").splitlines()[source["line"] - 1]


def test_export_systemusers(export: dict[str, Any]) -> None:
    megan = by(export["systemusers"], "fullname", "Megan Bowen")
    assert megan["domainname"] == "MeganB@contoso.com"
    assert megan["aad_object_id"] == "53501432-0a0f-44e6-acb0-3f3261f6a236"
    assert megan["application_id"] is None and megan["disabled"] is False
    assert megan["business_unit_id"] == "3c5f73d1-0de8-431f-860e-5037758e0de8"
    assert [r["name"] for r in megan["roles"]] == ["Basic User", "System Customizer"]
    assert megan["roles"][1]["template_id"] == BUILTIN_ROLE_TEMPLATES["System Customizer"]
    assert [t["name"] for t in megan["teams"]] == ["contosodev", "Lunch Order Team"]
    assert megan["source"]["file"] == f"{EXPORT_SHOWN}/systemusers.json"
    assert '"domainname": "MeganB@contoso.com"' in line_at(megan["source"])  # people: their UPN

    app = by(export["systemusers"], "fullname", "# AppUser_Dataverse_DEV")
    assert app["application_id"] == "c1e40358-8f73-4829-8c54-db3d0ecc8f10"  # braces/case normalized
    assert app["access_mode"] == 4 and "# AppUser_Dataverse_DEV" in line_at(app["source"])  # apps: the name
    guest = by(export["systemusers"], "fullname", "Adele Vance (Fabrikam)")
    assert guest["disabled"] is True and guest["azure_state"] == 1 and guest["application_type"] is None


def test_export_teams_and_roles(export: dict[str, Any]) -> None:
    team = by(export["teams"], "name", "Lunch Order Team")
    assert team["team_type"] == 2 and "Lunch Order Team" in line_at(team["source"])
    assert team["roles"] == [{"id": "7f679e56-1695-4e62-aa28-6b1b78516687", "name": "Lunch Order App User",
                              "template_id": None}]

    custom = by(export["roles"], "name", "Lunch Order App User")
    assert custom["parent_root_id"] == custom["id"]  # {UPPER} in the file
    assert custom["managed"] is False and custom["template_id"] is None
    # roleprivileges/7F679E56-....json: file name matched case-insensitively
    assert [(p["name"], p["depth"]) for p in custom["privileges"]] == [
        ("prvReadcr123_order", "Global"), ("prvCreatecr123_order", "Basic"), ("prvWritecr123_order", "Local")]
    assert custom["privileges"][0]["source"]["file"] == \
        f"{EXPORT_SHOWN}/roleprivileges/7F679E56-1695-4E62-AA28-6B1B78516687.json"
    assert "prvReadcr123_order" in line_at(custom["privileges"][0]["source"])

    customizer = by(export["roles"], "name", "System Customizer")
    assert customizer["template_id"] == "119f245c-3cc8-4b62-b31c-d1a046ced15d"
    assert [p["depth"] for p in customizer["privileges"]] == ["Global", "Deep", "Local", "Basic"]  # 3, 2, 1, 0
    assert all(p["name"] in line_at(p["source"]) for p in customizer["privileges"])
    assert by(export["roles"], "name", "System Administrator")["privileges"] is None  # not exported


def test_export_connections_and_references(export: dict[str, Any]) -> None:
    sp = by(export["connections"], "connector", "shared_sharepointonline")
    assert sp["id"] == "shared-sharepointonl-efa80d54-c3d4-4866-ae7e-5c97e15c3243"
    assert sp["account"] == "TechUser_Sharepoint_DEV@contoso.com" and sp["status"] == "Connected"
    assert sp["created_by"] == {"id": "53501432-0a0f-44e6-acb0-3f3261f6a236", "display_name": "Megan Bowen",
                                "email": "MeganB@contoso.com", "type": "User", "upn": "MeganB@contoso.com"}
    assert sp["created_time"] == "2024-02-01T10:03:21.7705311Z" and sp["parameter_set"] is None
    assert sp["source"]["file"] == f"{EXPORT_SHOWN}/connections.json" and sp["id"] in line_at(sp["source"])
    dv = by(export["connections"], "connector", "shared_commondataserviceforapps")
    assert dv["status"] == "Error" and dv["parameter_set"] == "oauthSP"

    ref = by(export["connection_references"], "logical_name", "cr123_LunchOrderSharePoint")
    assert ref["connection_id"] == sp["id"] and ref["state"] == 0
    assert ref["connector_id"] == "/providers/Microsoft.PowerApps/apis/shared_sharepointonline"
    assert ref["owner_id"] == "5b6f4001-dda1-4c4f-81ba-e79adc4f8a1a"
    assert by(export["connection_references"], "logical_name", "cr123_LunchOrderDataverse")["connection_id"] is None


def test_export_flows_licenses(export: dict[str, Any]) -> None:
    flow = by(export["workflows"], "name", "Lunch Order - Create document")
    assert flow["id"] == "98eda064-65fb-490e-9c3c-5aac5bb55020"
    assert (flow["state"], flow["status"], flow["managed"]) == (1, 2, False)
    assert flow["owner_id"] == "240844dd-fcb3-476d-baa2-15c93c288a95"
    assert flow["created_by_id"] == "5b6f4001-dda1-4c4f-81ba-e79adc4f8a1a"

    tech = by(export["graph_users"], "upn", "TechUser_Sharepoint_DEV@contoso.com")
    assert tech["licenses"] == [{"sku_id": "6fd2c87f-b296-42f0-b197-1e91e994b900", "sku_part_number": None,
                                 "disabled_plans": ["5dbe027f-2339-4123-9542-606e4d348a72"]}]
    guest = by(export["graph_users"], "user_type", "Guest")
    assert guest["enabled"] is False and guest["licenses"] == []
    assert export["tenant_files"] == {"graph_users": f"{EXPORT_SHOWN}/users.json",
                                      "skus": f"{EXPORT_SHOWN}/subscribedSkus.json"}
    assert '"userPrincipalName": "TechUser_Sharepoint_DEV@contoso.com"' in line_at(
        {"file": export["tenant_files"]["graph_users"], **tech["source"]})

    e3 = by(export["skus"], "sku_part_number", "ENTERPRISEPACK")
    assert e3["sku_id"] == "6fd2c87f-b296-42f0-b197-1e91e994b900"
    assert {"id": "5dbe027f-2339-4123-9542-606e4d348a72", "name": "SHAREPOINTENTERPRISE",
            "status": "Success"} in e3["service_plans"]
    assert export["process_licenses"] == ["98eda064-65fb-490e-9c3c-5aac5bb55020", "Lunch Order - Nightly export"]


def test_export_only_environment(tmp_path: Path) -> None:
    folder = tmp_path / "env"
    folder.mkdir()
    shutil.copy(EXPORT / "environment.json", folder)
    raw = load_export(folder, "env")
    assert raw["available"] == [] and all(raw[name] == [] for name in DATASETS)
    assert raw["source"]["file"] == "env/environment.json"


@pytest.mark.parametrize("name, body, line, text", [
    ("teams.json", '{\n  "value": [\n    {"teamid": "x",}\n  ]\n}', 3, "malformed JSON"),
    ("teams.json", '[\n  {"teamid": "b7e66d80-6549-46ea-aa51-927b7a986348"}\n]', 1, "not an OData response"),
    ("workflows.json", '{"@odata.context": "x", "values": []}', 1, "not an OData response"),
    ("systemusers.json", '{"value": [\n  {"systemuserid": "5b6f4001-dda1-4c4f-81ba-e79adc4f8a1a",\n'
                         '   "isdisabled": "no"}\n]}', 3, "'isdisabled' must be true or false"),
    ("roles.json", '{"value": [\n  {"name": "x"}\n]}', 2, "'roleid' is missing"),
    ("users.json", '{"value": [\n  {"assignedLicenses": [\n    7\n  ]}\n]}', 2, "must hold objects"),
    ("processlicenses.json", '{"flows": "all"}', 1, '"flows" list'),
    ("connections.json", '{"value": [{"name": "c", "properties": {"apiId": "/"}}]}', 1, "names no connector"),
])
def test_export_bad_file(tmp_path: Path, name: str, body: str, line: int, text: str) -> None:
    folder = copy_export(tmp_path)
    (folder / name).write_text(body, encoding="utf-8")
    err = raises(load_export, folder, "env")
    assert (err.file, err.line) == (f"env/{name}", line)
    assert text in err.message


@pytest.mark.parametrize("depth", ['"RecordFilter"', "4", "9", '"global-ish"', "null", "true"])
def test_export_unknown_privilege_depth(tmp_path: Path, depth: str) -> None:
    folder = copy_export(tmp_path)
    path = folder / "roleprivileges" / "662e0891-c088-4ffa-a233-b53a6a511c95.json"
    path.write_text('{"RolePrivileges": [\n  {"PrivilegeName": "prvReadWorkflow", "Depth": 3},\n'
                    f'  {{"PrivilegeName": "prvWriteWorkflow",\n   "Depth": {depth}}}\n]}}', encoding="utf-8")
    err = raises(load_export, folder, "env")
    assert err.file == "env/roleprivileges/662e0891-c088-4ffa-a233-b53a6a511c95.json"
    assert err.line == 4 and "unknown privilege depth" in err.message and "prvWriteWorkflow" in err.message


def test_export_missing_and_refused_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = copy_export(tmp_path)
    (folder / "environment.json").unlink()
    err = raises(load_export, folder, "env")
    assert err.file == "env/environment.json" and "missing" in err.message
    assert raises(load_export, tmp_path / "nowhere", "nowhere").file == "nowhere"

    folder = copy_export(tmp_path / "big")
    token = files.use_limits(files.Limits(max_file_bytes=1000))
    try:
        err = raises(load_export, folder, "env")
    finally:
        files._CURRENT.reset(token)
    assert err.file == "env/environment.json" and "larger than the limit" in err.message

    folder = copy_export(tmp_path / "link")
    (folder / "teams.json").unlink()
    (folder / "teams.json").symlink_to(EXPORT / "teams.json")
    assert "symbolic links" in raises(load_export, folder, "env").message


def _mutations(value: Any, path: tuple = (), rows: int = 1):
    """Every (path, wrong value) pair for the fields and list items of a parsed file."""
    if type(value) is dict:
        children = [(k, v) for k, v in value.items() if not k.startswith("@")]
    elif type(value) is list:
        children = list(enumerate(value[:rows]))  # the first rows stand for the others
    else:
        return
    for key, child in children:
        yield path + (key,), "text" if type(child) in (dict, list) else {"bad": 1}
        yield from _mutations(child, path + (key,), rows)


def test_export_wrong_types_are_input_errors(tmp_path: Path) -> None:
    """A wrong type anywhere is an InputError (or ignored), never a KeyError/TypeError escaping."""
    folder = copy_export(tmp_path)
    files = [p for p in EXPORT.rglob("*.json")]
    checked = 0
    for original in files:
        target = folder / original.relative_to(EXPORT)
        text = original.read_text(encoding="utf-8")
        for path, wrong in _mutations(json.loads(text)):
            data = json.loads(text)
            node = data
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = wrong
            target.write_text(json.dumps(data), encoding="utf-8")
            try:
                load_export(folder, "env")
            except InputError as exc:
                assert exc.file and exc.line, (original.name, path)
            checked += 1
        target.write_text(text, encoding="utf-8")
    assert checked > 100


# --------------------------------------------------------------------------- snapshot

def test_snapshot_environment(snapshot: dict[str, Any]) -> None:
    assert set(snapshot) == RAW_KEYS
    assert snapshot["format"] == "snapshot"
    assert snapshot["id"] == "6d6c5a0e-1f0b-4c53-9b1a-2e6b6f1e8d41"
    assert snapshot["type"] == "Production" and snapshot["display_name"] == "Contoso PRD"
    assert snapshot["url"] == "https://contoso.crm4.dynamics.com"
    assert snapshot["source"] == {"file": SNAPSHOT_SHOWN, "line": 2}
    assert snapshot["available"] == sorted(set(DATASETS) - {"application_users"})
    assert_plain(snapshot)


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a value (``roles[].privileges[].depth``), to compare shapes."""
    if type(value) is dict:
        return {p for k, v in value.items() for p in {f"{prefix}.{k}"} | key_paths(v, f"{prefix}.{k}")}
    if type(value) is list:
        return {p for v in value for p in key_paths(v, f"{prefix}[]")}
    return set()


def test_snapshot_same_shape_as_export(export: dict[str, Any], snapshot: dict[str, Any]) -> None:
    """The contract: both loaders give the same keys, down to nested objects. A snapshot has no
    SKU list (its licenses name SKUs by part number, which the document resolves with the catalog
    and the policy's overrides) and no applicationusers rows (application_type is on the user)."""
    assert snapshot["skus"] == [] and snapshot["application_users"] == []
    for name in (d for d in DATASETS if d not in ("skus", "application_users")):
        assert key_paths(export[name]) == key_paths(snapshot[name]), name
        for item in export[name] + snapshot[name]:
            if type(item) is dict:  # every object has every key, null when unknown
                assert set(item) == set(export[name][0]), name


def test_snapshot_is_deterministic(snapshot: dict[str, Any]) -> None:
    assert load_snapshot(SNAPSHOT, SNAPSHOT_SHOWN) == snapshot


def test_snapshot_users(snapshot: dict[str, Any]) -> None:
    users = snapshot["systemusers"]
    tech = by(users, "domainname", "TechUser_Sharepoint_PRD@contoso.com")
    assert tech["fullname"] == "TechUser SharePoint PRD" and tech["email"] == tech["domainname"]
    assert tech["access_mode"] == 0 and tech["disabled"] is False and tech["application_id"] is None
    assert [(r["name"], r["template_id"]) for r in tech["roles"]] == [
        ("Basic User", "236750cd-45ae-4939-ab12-b24b920ced93"), ("Lunch Order App User", None)]
    assert [t["name"] for t in tech["teams"]] == ["Lunch Order Team"]
    assert tech["source"] == {"file": SNAPSHOT_SHOWN, "line": 9}

    app = by(users, "fullname", "AppUser_Dataverse_PRD")
    assert app["application_id"] == "3f1c9a57-2b8d-4e61-9c0a-7d5e4b3a2f10"
    assert (app["access_mode"], app["application_type"], app["domainname"]) == (4, 2, None)
    assert app["roles"][0]["template_id"] == "627090ff-40a3-4053-8790-584edc5be201"

    # Megan has licenses only, but owns a flow: she is a Dataverse user.
    megan = by(users, "domainname", "MeganB@contoso.com")
    guest = by(users, "fullname", "Adele Vance (Fabrikam)")
    assert guest["disabled"] is True and guest["azure_state"] == 1
    assert len(users) == 4

    graph = snapshot["graph_users"]
    assert [g["upn"] for g in graph] == ["TechUser_Sharepoint_PRD@contoso.com", "MeganB@contoso.com",
                                         "adele_fabrikam.com#EXT#@contoso.onmicrosoft.com"]
    assert by(graph, "upn", "MeganB@contoso.com")["id"] == megan["aad_object_id"]  # joins as in an export
    assert by(graph, "upn", "MeganB@contoso.com")["licenses"] == [
        {"sku_id": None, "sku_part_number": "ENTERPRISEPACK", "disabled_plans": ["FLOW_O365_P2"]}]
    g_guest = by(graph, "display_name", "Adele Vance (Fabrikam)")
    assert (g_guest["user_type"], g_guest["enabled"], g_guest["licenses"]) == ("Guest", False, [])

    assert snapshot["skus"] == []  # resolved by the document, with the policy's catalog overrides


def test_snapshot_roles_teams(snapshot: dict[str, Any]) -> None:
    roles = snapshot["roles"]
    custom = by(roles, "name", "Lunch Order App User")
    assert custom["template_id"] is None and custom["parent_root_id"] == custom["id"]
    assert [(p["name"], p["depth"], p["source"]["line"]) for p in custom["privileges"]] == [
        ("prvReadcr123_order", "Global", 41), ("prvCreatecr123_order", "Basic", 42),
        ("prvWritecr123_order", "Local", 43)]
    sysadmin = by(roles, "name", "System Administrator")
    assert sysadmin["template_id"] == BUILTIN_ROLE_TEMPLATES["System Administrator"]
    assert sysadmin["privileges"] is None and sysadmin["managed"] is True
    assert sysadmin["source"]["line"] == 28  # the user that named it
    team = by(snapshot["teams"], "name", "Lunch Order Team")
    assert team["team_type"] == 2 and team["roles"][0]["id"] == custom["id"]


def test_snapshot_connections_flows(snapshot: dict[str, Any]) -> None:
    sp, dv = snapshot["connections"]
    assert sp["connector"] == "shared_sharepointonline" and sp["status"] == "Connected"
    assert sp["created_by"]["upn"] == "MeganB@contoso.com" and sp["created_by"]["type"] == "User"
    assert dv["id"].startswith("shared-commondataser-") and dv["status"] == "Error"
    assert dv["parameter_set"] == "oauthSP" and dv["account"] == "AppUser_Dataverse_PRD"

    bound, unbound = snapshot["connection_references"]
    assert bound["logical_name"] == "cr123_LunchOrderSharePoint" and bound["connection_id"] == sp["id"]
    assert bound["connector_id"] == "/providers/Microsoft.PowerApps/apis/shared_sharepointonline"
    assert bound["source"]["line"] == 56
    assert unbound["connection_id"] is None and unbound["connector_id"] is None

    users = {u["fullname"]: u["id"] for u in snapshot["systemusers"]}
    create, summary = snapshot["workflows"]
    assert create["id"] == "2b0c4d6e-8f10-4a2b-9c3d-5e7f9a1b3c5d" and (create["state"], create["status"]) == (1, 2)
    assert create["owner_id"] == users["AppUser_Dataverse_PRD"]
    assert create["created_by_id"] == users["Megan Bowen"]  # upn matched case-insensitively
    assert (summary["state"], summary["status"]) == (0, 1)  # YAML reads `off` as false
    assert summary["owner_id"] == summary["created_by_id"] == users["Megan Bowen"]
    assert snapshot["process_licenses"] == [create["id"], "Lunch Order - Nightly export"]


def test_snapshot_json_and_minimal(tmp_path: Path) -> None:
    data = yaml.safe_load(SNAPSHOT.read_text(encoding="utf-8"))
    path = tmp_path / "prd.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    raw = load_snapshot(path, "prd.json")
    assert [u["id"] for u in raw["systemusers"]] == [u["id"] for u in load_snapshot(SNAPSHOT, "x")["systemusers"]]

    path = tmp_path / "min.yml"
    path.write_text("environment: {display_name: Contoso TST, type: Sandbox}\n", encoding="utf-8")
    raw = load_snapshot(path, "min.yml")
    assert raw["available"] == [] and raw["id"] is None and all(raw[n] == [] for n in DATASETS)


@pytest.mark.parametrize("body, line, text", [
    ("environment: {}\nflow:\n  - name: x\n", 2, "unknown key 'flow' in snapshot"),
    ("environment: {}\nusers:\n  - upn: a@contoso.com\n    licences: [ENTERPRISEPACK]\n", 4,
     "unknown key 'licences' in user"),
    ("environment: {}\nusers:\n  - upn: a@contoso.com\n    licenses:\n      - {sku: ENTERPRISEPACK, "
     "disabled_plans: [YAMMER]}\n", 5, "no service plan 'YAMMER'"),
    ("environment: {}\nroles:\n  - name: R\n    privileges:\n      prvReadAccount: Global\n"
     "      prvWriteAccount: RecordFilter\n", 6, "unknown privilege depth 'RecordFilter'"),
    ("environment: {}\nroles:\n  - name: R\n    privileges: {prvReadAccount: 4}\n", 4, "unknown privilege depth 4"),
    ("environment: {}\nusers:\n  - upn: a@contoso.com\nflows:\n  - name: F\n    owner: b@contoso.com\n", 6,
     "owner 'b@contoso.com' matches no user"),
    ("environment: {}\nusers:\n  - {name: Same, upn: a@contoso.com}\n  - {name: Same, upn: b@contoso.com}\n"
     "flows:\n  - {name: F, owner: Same}\n", 6, "names several users"),
    ("environment: {}\nusers:\n  - {upn: a@contoso.com, dataverse: false}\nflows:\n  - {name: F, owner: a@contoso.com}\n",
     5, "not a Dataverse user"),
    ("environment: {}\nusers:\n  - upn: a@contoso.com\n  - upn: A@contoso.com\n", 4, "listed twice"),
    ("environment: {}\nconnection_references:\n  cr1_Sp: nowhere\n", 3, "not under connections"),
    ("environment: {}\nflows:\n  - name: F\n    id: 1234\n", 4, "'id' must be a string"),
    ("environment: {}\nflows:\n  - name: F\n    id: not-a-guid\n", 4, "'id' must be a GUID"),
    ("environment: {}\nflows:\n  - name: F\n    state: paused\n", 4, "'state' must be on or off"),
    ("environment: {type: Prod}\n", 1, "'type' must be one of"),
    ("users: []\n", 1, "'environment' is missing"),
    ("environment: {}\nusers:\n  - upn: a@contoso.com\n    roles: [R]\nroles: R\n", 5, "'roles' must be a list"),
    ("- environment\n", 1, "a snapshot is a mapping"),
    ("environment: {}\nusers:\n  - {name: App, application_id: 3f1c9a57-2b8d-4e61-9c0a-7d5e4b3a2f10,\n"
     "     licenses: [ENTERPRISEPACK]}\n", 4, "application users hold no licenses"),
    ("environment: {}\nusers:\n  - guest: true\n", 3, "needs 'upn' or 'name'"),
    ("environment: {}\nflows:\n  - name: F\n  - name: f\n", 4, "listed twice"),
    ("environment: {}\nteams:\n  - name: T\n    roles: [R, ' ']\n", 4, "'roles' holds an empty name"),
    ("environment: {}\nusers: [\n", 3, "malformed YAML"),
])
def test_snapshot_errors(tmp_path: Path, body: str, line: int, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(body, encoding="utf-8")
    err = raises(load_snapshot, path, "envs/s.yaml")
    assert err.file == "envs/s.yaml"
    assert text in err.message
    assert err.line == line


def test_snapshot_wrong_types_are_input_errors(tmp_path: Path) -> None:
    """As for exports: wrong types anywhere give located InputErrors, nothing else escapes."""
    text = json.dumps(yaml.safe_load(SNAPSHOT.read_text(encoding="utf-8")))
    path = tmp_path / "s.json"
    checked = 0
    for keys, wrong in _mutations(json.loads(text), rows=10):
        for value in (wrong, 5, None):
            data = json.loads(text)
            node = data
            for step in keys[:-1]:
                node = node[step]
            node[keys[-1]] = value
            path.write_text(json.dumps(data, indent=1), encoding="utf-8")
            try:
                load_snapshot(path, "s.json")
            except InputError as exc:
                assert exc.file == "s.json" and exc.line, keys
            checked += 1
    assert checked > 100


def test_snapshot_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{\n  "environment": {},\n  "users": [,]\n}', encoding="utf-8")
    err = raises(load_snapshot, path, "s.json")
    assert (err.line, "malformed JSON" in err.message) == (3, True)


# --------------------------------------------------------------------------- schema and docs

def test_schema_accepts_the_examples() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    validator.validate(yaml.safe_load(SNAPSHOT.read_text(encoding="utf-8")))

    doc = (ROOT / "docs" / "snapshot.md").read_text(encoding="utf-8")
    [example] = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    validator.validate(yaml.safe_load(example))
    path = ROOT / "docs" / "snapshot.md"
    assert example == SNAPSHOT.read_text(encoding="utf-8"), f"{path}: example differs from {SNAPSHOT_SHOWN}"


def test_schema_is_strict() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert not validator.is_valid({"environment": {}, "flow": []})
    assert not validator.is_valid({"environment": {}, "users": [{"upn": "a", "licences": []}]})
    assert not validator.is_valid({"environment": {}, "roles": [{"name": "R", "privileges": {"p": "RecordFilter"}}]})
    assert not validator.is_valid({"users": []})


def test_builtin_templates_match_reference() -> None:
    assert all(norm_guid(v) == v for v in BUILTIN_ROLE_TEMPLATES.values())
    assert set(BUILTIN_ROLE_TEMPLATES) == {"System Administrator", "System Customizer", "Basic User",
                                           "Support User", "Delegate"}


def test_export_application_users(export: dict[str, Any]) -> None:
    """applicationusers.json: applicationtype says whose application user it is (2: a customer's)."""
    rows = export["application_users"]
    assert [(r["name"], r["application_type"], r["user_id"]) for r in rows] == [
        ("AppUser_Dataverse_DEV", 2, "240844dd-fcb3-476d-baa2-15c93c288a95"), ("SIAutoCapture", 1, None)]
    assert rows[0]["application_id"] == "c1e40358-8f73-4829-8c54-db3d0ecc8f10"
    assert line_at(rows[1]["source"]).strip() == '"applicationname": "SIAutoCapture",'


def test_tenant_wide_files_are_parsed_once_per_scan(tmp_path: Path, monkeypatch) -> None:
    """Graph's users.json and subscribedSkus.json are the same bytes in every environment's folder:
    one scan parses each content once, and every environment still gets its own rows and sources."""
    from policykit.loaders import environment_export
    from policykit.scanner import EnvironmentSpec, Estate, build
    for name in ("dev", "tst"):
        shutil.copytree(EXPORT, tmp_path / name)
    # In TST the technical user is no Dataverse user: its connection names the Graph user alone.
    users = json.loads((tmp_path / "tst" / "systemusers.json").read_text(encoding="utf-8"))
    users["value"] = [u for u in users["value"] if not u["domainname"].startswith("TechUser")]
    (tmp_path / "tst" / "systemusers.json").write_text(json.dumps(users, indent=2), encoding="utf-8")
    calls: list[str] = []
    real = environment_export.parse_by_suffix
    monkeypatch.setattr(environment_export, "parse_by_suffix",
                        lambda data, name, file: calls.append(file) or real(data, name, file))
    estate = Estate(name="t", environments=[EnvironmentSpec(name="DEV", metadata=tmp_path / "dev"),
                                            EnvironmentSpec(name="TST", metadata=tmp_path / "tst")])
    document = build(estate, entry_points=False).document
    names = [f.rsplit("/", 1)[-1] for f in calls]
    assert names.count("users.json") == 1 and names.count("subscribedSkus.json") == 1
    assert names.count("systemusers.json") == 2  # per environment, as before
    joined = [sorted(u["key"].split("/", 1)[1] for u in e["users"] if u["in_graph"]) for e in document["environments"]]
    assert joined[0] and joined[0] == joined[1]  # each environment joined the shared Graph users
    # Nothing held twice: both environments hold the same rows; their users point at their own file.
    def load_both() -> list[dict]:
        environment_export.share_parses()
        return [load_export(tmp_path / name, name) for name in ("dev", "tst")]
    raws = contextvars.copy_context().run(load_both)
    assert raws[0]["graph_users"] is raws[1]["graph_users"] and raws[0]["skus"] is raws[1]["skus"]
    dev, tst = document["environments"]
    assert [u["upn"] for u in dev["users"] if not u["in_dataverse"]] == []
    [tech] = [u for u in tst["users"] if not u["in_dataverse"]]
    assert tech["upn"] == "TechUser_Sharepoint_DEV@contoso.com"
    assert [c["account"] for c in tst["connections"] if c["user"] is tech] == [tech["upn"]]
    assert tech["source"]["file"].endswith("tst/users.json") and tech["source"]["line"] > 1
