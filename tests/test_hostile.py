"""Bad and hostile input: each case ends with one line naming the file (entry, line), exit code 2,
no traceback, and no half-written output; the other inputs are still scanned."""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from conftest import ORDERS, RULES

PRD = RULES / "PPK101-connection-reference-personal-account" / "fixtures" / "fires" / "prd.yaml"


def _zip(path: Path, entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _solution_entries() -> dict[str, bytes]:
    return {
        "solution.xml": (ORDERS / "Other" / "Solution.xml").read_bytes(),
        "customizations.xml": (ORDERS / "Other" / "Customizations.xml").read_bytes(),
        "[Content_Types].xml": b'<?xml version="1.0" encoding="utf-8"?><Types />',
    }




def check_error(run, *fragments: str) -> str:
    assert run.code == 2, (run.code, run.out, run.err)
    assert "Traceback" not in run.err + run.out
    errors = [line for line in run.err.splitlines() if line.startswith("policykit: error:")]
    assert errors, run.err
    for fragment in fragments:
        assert any(fragment in e for e in errors), (fragment, errors)
    for e in errors:
        assert "KeyError" not in e and "TypeError" not in e and "AttributeError" not in e, e
    return "\n".join(errors)


def scan(cli, cwd: Path, *args):
    return cli("scan", *args, "--format", "sarif", "-o", "out.sarif", cwd=cwd)


def assert_complete_sarif(folder: Path) -> dict:
    """The report is whole JSON (written atomically) and records the failure."""
    log = json.loads((folder / "out.sarif").read_text(encoding="utf-8"))
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"]
    assert not list(folder.glob(".out.sarif.*"))
    return log


# --------------------------------------------------------------------------- malformed

def test_wrong_root_element(cli, estate):
    (estate / "Orders" / "Other" / "Solution.xml").write_text('<?xml version="1.0"?>\n<Solution />\n')
    check_error(scan(cli, estate, "Orders"), "Orders/Other/Solution.xml:2:", "ImportExportXml")


def test_json_not_an_odata_envelope(cli, tmp_path):
    export = Path(__file__).parent / "data" / "environments" / "contoso-dev"
    shutil.copytree(export, tmp_path / "dev")
    (tmp_path / "dev" / "systemusers.json").write_text('[{"systemuserid": "x"}]\n')
    shutil.copytree(ORDERS, tmp_path / "Orders")
    check_error(scan(cli, tmp_path, "Orders", "--env", "DEV=dev"), "dev/systemusers.json")


def test_unknown_privilege_level(cli, estate):
    (estate / "Orders" / "Roles").mkdir()
    (estate / "Orders" / "Roles" / "Orders Clerk.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<Role id="{8fcba750-362e-ea11-a810-000d3af46757}" name="Orders Clerk">\n'
        '  <RolePrivileges>\n    <RolePrivilege name="prvReadfxo_order" level="RecordFilter" />\n'
        '  </RolePrivileges>\n</Role>\n')
    check_error(scan(cli, estate, "Orders"), "Orders/Roles/Orders Clerk.xml:4:", "RecordFilter")


def test_empty_file(cli, estate):
    (estate / "settings.json").write_bytes(b"")
    check_error(scan(cli, estate, "Orders", "--settings", "PRD=settings.json"), "settings.json:", "empty")


def test_non_utf8_bytes(cli, estate):
    (estate / "settings.json").write_bytes(b'{\n  "ConnectionReferences": [{"LogicalName": "caf\xe9"}]\n}\n')
    check_error(scan(cli, estate, "Orders", "--settings", "PRD=settings.json"), "settings.json:2:", "UTF-8")


def test_settings_wrong_shape(cli, estate):
    (estate / "settings.json").write_text('{"ConnectionReferences": {"LogicalName": "x"}}\n')
    check_error(scan(cli, estate, "Orders", "--settings", "PRD=settings.json"), "settings.json:", "must be a list")


def test_policy_wrong_type(cli, estate):
    (estate / "policy.yaml").write_text("rules:\n  PPK101:\n    enabled: 'yes'\n")
    check_error(cli("scan", "Orders", "--policy", "policy.yaml", cwd=estate), "policy.yaml:3:", "enabled")


# --------------------------------------------------------------------------- XML attacks

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE ImportExportXml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ImportExportXml><SolutionManifest><UniqueName>&xxe;</UniqueName></SolutionManifest></ImportExportXml>
"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<ImportExportXml><SolutionManifest><UniqueName>&lol4;</UniqueName></SolutionManifest></ImportExportXml>
"""


@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_dtd_and_entities_refused(cli, estate, payload):
    (estate / "Orders" / "Other" / "Solution.xml").write_bytes(payload)
    errors = check_error(scan(cli, estate, "Orders"), "Orders/Other/Solution.xml:2:", "DTD")
    assert "root:" not in errors  # nothing of /etc/passwd


def test_xxe_inside_a_zip_names_the_entry(cli, tmp_path):
    entries = _solution_entries()
    entries["customizations.xml"] = XXE.replace(b"ImportExportXml><Sol", b"ImportExportXml><Sol")
    _zip(tmp_path / "Evil.zip", entries)
    check_error(scan(cli, tmp_path, "Evil.zip"), "Evil.zip:customizations.xml:2:")


def test_deeply_nested_xml(cli, estate):
    deep = b'<?xml version="1.0"?>\n<ImportExportXml>' + b"<a>" * 5000 + b"</a>" * 5000 + b"</ImportExportXml>"
    (estate / "Orders" / "Other" / "Customizations.xml").write_bytes(deep)
    check_error(scan(cli, estate, "Orders"), "Orders/Other/Customizations.xml:")


def test_deeply_nested_json(cli, estate):
    (estate / "settings.json").write_text("[" * 100000 + "]" * 100000)
    check_error(scan(cli, estate, "Orders", "--settings", "PRD=settings.json"), "settings.json:1:", "nested")


def test_yaml_aliases_refused(cli, estate):
    (estate / "prd.yaml").write_text("environment: {type: Production}\nusers: &u\n  - upn: a@contoso.com\nteams: *u\n")
    check_error(scan(cli, estate, "Orders", "--env", "PRD=prd.yaml"), "prd.yaml:4:", "aliases")


# --------------------------------------------------------------------------- zips

def test_not_a_zip(cli, tmp_path):
    (tmp_path / "Orders.zip").write_text("this is not a zip\n")
    check_error(scan(cli, tmp_path, "Orders.zip"), "Orders.zip:", "not a valid zip")


def test_path_traversal_entry(cli, tmp_path):
    entries = _solution_entries()
    entries["../../etc/cron.d/evil"] = b"* * * * * root true\n"
    _zip(tmp_path / "Traversal.zip", entries)
    check_error(scan(cli, tmp_path, "Traversal.zip"), "Traversal.zip:../../etc/cron.d/evil:", "path traversal")


def test_zip_bomb_ratio(cli, tmp_path):
    entries = _solution_entries()
    entries["Workflows/bomb.json"] = b"\0" * (8 * 1024 * 1024)   # ~1000:1
    _zip(tmp_path / "Bomb.zip", entries)
    check_error(scan(cli, tmp_path, "Bomb.zip"), "Bomb.zip:Workflows/bomb.json:", "compression ratio")


def test_zip_total_size_is_configurable(cli, tmp_path):
    entries = _solution_entries()
    entries["WebResources/blob.bin"] = bytes(range(256)) * 8192   # 2 MiB, not very compressible
    _zip(tmp_path / "Big.zip", entries, zipfile.ZIP_STORED)
    assert scan(cli, tmp_path, "Big.zip").code == 0
    check_error(scan(cli, tmp_path, "Big.zip", "--max-zip-mb", "1"), "Big.zip:", "expands to more than")


def test_nested_msapp_bomb_is_never_expanded(cli, tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(20):
            zf.writestr(f"Src\\Screen{i}.fx.yaml", b"\0" * (50 * 1024 * 1024))   # 1 GiB expanded
    entries = _solution_entries()
    entries["CanvasApps/fxo_orders_1a2b3_DocumentUri.msapp"] = inner.getvalue()
    _zip(tmp_path / "Msapp.zip", entries)
    started = time.monotonic()
    run = scan(cli, tmp_path, "Msapp.zip")
    assert run.code == 0, run.err
    assert time.monotonic() - started < 30


def test_file_over_the_size_limit(cli, estate):
    (estate / "settings.json").write_text('{"ConnectionReferences": [], "Padding": "' + "x" * (2 * 1024 * 1024) + '"}')
    check_error(scan(cli, estate, "Orders", "--settings", "PRD=settings.json", "--max-file-mb", "1"),
                "settings.json:", "larger than the limit")


# --------------------------------------------------------------------------- partial scans

def test_partial_scan_reports_the_rest_and_fails(cli, estate):
    shutil.copytree(estate / "Orders", estate / "Broken")
    (estate / "Broken" / "Other" / "Customizations.xml").write_text("<ImportExportXml><oops></ImportExportXml>")
    run = scan(cli, estate, "Orders", "Broken", "--env", "PRD=prd.yaml")
    check_error(run, "Broken/Other/Customizations.xml:1:")
    log = assert_complete_sarif(estate)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["PPK101"]   # Orders still scanned
    texts = [n["message"]["text"] for n in log["runs"][0]["invocations"][0]["toolExecutionNotifications"]]
    assert any("Broken/Other/Customizations.xml" in t for t in texts)
