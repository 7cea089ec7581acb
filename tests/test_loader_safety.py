"""Loaders never lose data in silence and never crash (issue 10, "Nothing lost, nothing crashes").

One test (or a few) per class of problem, on inputs shaped like real exports: variants of the
Orders fixture, of a corpus zip, and of the contoso-dev export folder, built in ``tmp_path``.
"Reported" means an InputError naming the file, the zip entry and the line (the scan exits 2 with
one line) — or, where the data is still usable, it is read.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import pytest
from conftest import CORPUS, ORDERS, REPO, needs_corpus

from policykit.errors import InputError, PolicyError
from policykit.loaders import files
from policykit.loaders.environment_export import load_export
from policykit.loaders.settings import load_settings
from policykit.loaders.solution import load_solution
from policykit.reading import Limits
from policykit.scanner import (
    EnvironmentSpec,
    Estate,
    discover_solutions,
    load_estate,
    scan,
)

EXPORT = Path(__file__).parent / "data" / "environments" / "contoso-dev"
FLOW = next((ORDERS / "Workflows").glob("*.json"))
RIJKSMUSEUM = CORPUS / "pnp__powerapps-samples" / "samples" / "rijksmuseum" / "solution" / "rijksmuseum.zip"
SETTINGS = REPO / "rules" / "PPK102-connection-reference-unbound" / "fixtures" / "fires" / "deploymentSettings.json"


def _entries() -> list[tuple[str, bytes]]:
    """The Orders fixture as a solution zip lays it out."""
    return [("solution.xml", (ORDERS / "Other" / "Solution.xml").read_bytes()),
            ("customizations.xml", (ORDERS / "Other" / "Customizations.xml").read_bytes()),
            (f"Workflows/{FLOW.name}", FLOW.read_bytes()),
            ("[Content_Types].xml", b'<?xml version="1.0" encoding="utf-8"?><Types />')]


def _zip(path: Path, entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": the point of some tests
        with zipfile.ZipFile(path, "w", compression) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def _error(call, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    err = info.value
    text = str(err)
    assert "\n" not in text and "ZipInfo" not in text and "Error:" not in text, text
    return err


def _scan_failures(*solutions: Path, environments=()) -> list:
    result = scan(Estate(name="t", solutions=list(solutions), environments=list(environments)), entry_points=False)
    for failure in result.input_failures:
        assert not failure.message.startswith("internal error"), failure  # the catch-all: a loader bug
    return result.input_failures


def _copy_orders(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ORDERS, tmp_path / "Orders"))


def _copy_export(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXPORT, tmp_path / "env"))


# --------------------------------------------------------------------------- 1 duplicate entries

@pytest.mark.parametrize("extra, fragments", [
    (("Customizations.xml", b"<ImportExportXml />"), ("'customizations.xml'", "'Customizations.xml'", "case")),
    ((f"Workflows/{FLOW.name}", b"{}"), (f"Workflows/{FLOW.name}", "two entries")),
    ((f"Workflows\\{FLOW.name}", b"{}"), (f"Workflows/{FLOW.name}", "two entries")),
    (("SOLUTION.XML", b"<ImportExportXml />"), ("'solution.xml'", "'SOLUTION.XML'")),
])
def test_duplicate_zip_entries_are_refused(tmp_path, extra, fragments):
    path = _zip(tmp_path / "Orders.zip", _entries() + [extra])
    err = _error(load_solution, path, "Orders.zip")
    assert err.file == "Orders.zip" and err.entry == extra[0]
    for fragment in fragments:
        assert fragment in err.message, err.message


@needs_corpus
def test_duplicate_entry_in_a_real_export_is_refused(tmp_path, cli):
    with zipfile.ZipFile(RIJKSMUSEUM) as zf:
        entries = [(i.filename, zf.read(i)) for i in zf.infolist()]
    assert load_solution(_zip(tmp_path / "ok.zip", entries), "ok.zip")["connection_references"]
    _zip(tmp_path / "rijks.zip", entries + [("Customizations.xml", b"<ImportExportXml />")])
    run = cli("scan", "rijks.zip", cwd=tmp_path)
    assert run.code == 2
    errors = [line for line in run.err.splitlines() if line.startswith("policykit: error:")]
    assert len(errors) == 1 and "rijks.zip:Customizations.xml:" in errors[0] and "differ only by case" in errors[0]


def test_case_variant_files_in_a_folder_are_refused(tmp_path):
    folder = _copy_orders(tmp_path)
    (folder / "Other" / "customizations.xml").write_bytes(b"<ImportExportXml />")
    if not (folder / "Other" / "Customizations.xml").exists() or len(list((folder / "Other").iterdir())) < 3:
        pytest.skip("case-insensitive file system")
    err = _error(load_solution, folder, "Orders")
    assert "Orders/Other/Customizations.xml" in err.message and "Orders/Other/customizations.xml" in err.message


# --------------------------------------------------------------------------- 2 symbolic links

def test_symlinks_inside_a_solution_folder_are_refused(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    folder = _copy_orders(tmp_path)
    (folder / "Workflows" / "Extra.json").symlink_to(secret)
    err = _error(load_solution, folder, "Orders")
    assert err.file == "Orders/Workflows/Extra.json" and "symbolic link" in err.message

    (folder / "Workflows" / "Extra.json").unlink()
    (tmp_path / "roles").mkdir()
    (folder / "Roles").symlink_to(tmp_path / "roles", target_is_directory=True)
    err = _error(load_solution, folder, "Orders")
    assert err.file == "Orders/Roles" and "symbolic link" in err.message

    (folder / "Roles").unlink()
    assert load_solution(folder, "Orders")["unique_name"]


def test_symlinked_solution_is_refused_named_or_found(tmp_path):
    folder = _copy_orders(tmp_path)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "Orders").symlink_to(folder, target_is_directory=True)
    (tmp_path / "repo" / "Orders.zip").symlink_to(_zip(tmp_path / "real.zip", _entries()))
    err = _error(load_solution, tmp_path / "repo" / "Orders", "repo/Orders")
    assert err.file == "repo/Orders" and "symbolic link" in err.message
    found = discover_solutions(tmp_path / "repo")   # found, not skipped: the loader refuses them
    assert sorted(p.name for p in found) == ["Orders", "Orders.zip"]
    failures = _scan_failures(*found)
    assert len(failures) == 2 and all("symbolic link" in f.message for f in failures)


# --------------------------------------------------------------------------- 3 paged exports

@pytest.mark.parametrize("filename, key", [("systemusers.json", "@odata.nextLink"), ("connections.json", "nextLink")])
def test_export_file_with_a_next_page_is_refused(tmp_path, filename, key):
    folder = _copy_export(tmp_path)
    body = json.loads((folder / filename).read_text(encoding="utf-8"))
    body[key] = "https://example.invalid/api?$skiptoken=abc"
    (folder / filename).write_text(json.dumps(body, indent=2), encoding="utf-8")
    err = _error(load_export, folder, "env")
    assert err.file == f"env/{filename}" and "first page" in err.message and "policykit collect" in err.message
    lines = (folder / filename).read_text(encoding="utf-8").splitlines()
    assert key in lines[err.line - 1]


# --------------------------------------------------------------------------- 4 export file names

def test_export_file_in_other_case_is_read(tmp_path):
    expected = load_export(_copy_export(tmp_path / "a"), "env")
    folder = _copy_export(tmp_path / "b")
    (folder / "connectionreferences.json").rename(folder / "ConnectionReferences.json")
    (folder / "systemusers.json").rename(folder / "SystemUsers.json")
    (folder / "notes.json").write_text("an administrator's notes, not read")
    raw = load_export(folder, "env")
    assert raw["available"] == expected["available"]
    assert len(raw["connection_references"]) == len(expected["connection_references"])
    assert raw["systemusers"][0]["source"]["file"] == "env/SystemUsers.json"


def test_export_files_differing_by_case_are_refused(tmp_path):
    folder = _copy_export(tmp_path)
    shutil.copy(folder / "systemusers.json", folder / "SystemUsers.json")
    if len(list(folder.glob("*.json"))) == len(list(EXPORT.glob("*.json"))):
        pytest.skip("case-insensitive file system")
    err = _error(load_export, folder, "env")
    assert "'SystemUsers.json'" in err.message and "'systemusers.json'" in err.message


# --------------------------------------------------------------------------- 5 second section

def test_second_connectionreferences_section_is_read(tmp_path):
    folder = _copy_orders(tmp_path)
    path = folder / "Other" / "Customizations.xml"
    text = path.read_text(encoding="utf-8-sig")
    second = ('<connectionreferences><connectionreference connectionreferencelogicalname="fxo_OrdersOutlook">'
              '<connectorid>/providers/Microsoft.PowerApps/apis/shared_office365</connectorid>'
              '</connectionreference></connectionreferences>\n  <Languages>')
    path.write_text(text.replace("<Languages>", second, 1), encoding="utf-8")
    refs = load_solution(folder, "Orders")["connection_references"]
    assert [r["logical_name"] for r in refs] == ["fxo_OrdersSharePoint", "fxo_OrdersDataverse", "fxo_OrdersOutlook"]
    assert refs[2]["source"]["line"] > refs[1]["source"]["line"]


# --------------------------------------------------------------------------- 6 settings types

@pytest.mark.parametrize("section, key, value", [
    ("ConnectionReferences", "ConnectionId", ["x"]),
    ("ConnectionReferences", "ConnectorId", {"id": "shared_office365"}),
    ("ConnectionReferences", "LogicalName", ["fxo_OrdersSharePoint"]),
    ("EnvironmentVariables", "Value", {"a": 1}),
    ("EnvironmentVariables", "SchemaName", []),
])
def test_settings_value_of_the_wrong_type_is_refused(tmp_path, section, key, value):
    doc = {"EnvironmentVariables": [{"SchemaName": "fxo_SiteUrl", "Value": "https://contoso.sharepoint.com"}],
           "ConnectionReferences": [{"LogicalName": "fxo_OrdersSharePoint", "ConnectionId": "",
                                     "ConnectorId": "/providers/Microsoft.PowerApps/apis/shared_sharepointonline"}]}
    doc[section][0][key] = value
    path = tmp_path / "deploymentSettings.json"
    path.write_text(json.dumps(doc, indent=4), encoding="utf-8")
    err = _error(load_settings, path, "deploymentSettings.json")
    assert err.file == "deploymentSettings.json" and f"'{key}' must be a string" in err.message
    assert f'"{key}"' in path.read_text(encoding="utf-8").splitlines()[err.line - 1]


def test_settings_numbers_and_booleans_stay_values(tmp_path):
    doc = json.loads(SETTINGS.read_text(encoding="utf-8-sig"))
    doc["EnvironmentVariables"] = [{"SchemaName": "fxo_Retries", "Value": 3}, {"SchemaName": "fxo_On", "Value": True}]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert [v["value"] for v in load_settings(path, "s.json")["environment_variables"]] == ["3", "True"]


# --------------------------------------------------------------------------- 7-8 broken zips

def _set_flag(path: Path, name: str, mask: int) -> None:
    """OR ``mask`` into one entry's general purpose flags, in both of its headers (zipfile
    clears them when it writes)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        offsets = [zf.getinfo(name).header_offset + 6]          # local file header
    at = data.find(b"PK\x01\x02")
    while at >= 0:                                              # central directory records
        length = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 46:at + 46 + length] == name.encode():
            offsets.append(at + 8)
        at = data.find(b"PK\x01\x02", at + 4)
    for offset in offsets:
        flags = int.from_bytes(data[offset:offset + 2], "little") | mask
        data[offset:offset + 2] = flags.to_bytes(2, "little")
    path.write_bytes(bytes(data))


def _bad_utf8_zip(path: Path) -> Path:
    """A zip whose UTF-8 flag (0x800) is set over name bytes that are not UTF-8."""
    placeholder = "Workflows/XXXX.json"
    _zip(path, _entries() + [(placeholder, b"{}")])
    _set_flag(path, placeholder, 0x800)
    path.write_bytes(path.read_bytes().replace(placeholder.encode(), b"Workflows/\xff\xfe\xfd\xfc.json"))
    return path


def test_zip_with_invalid_utf8_names_is_refused_found_or_named(tmp_path):
    (tmp_path / "repo" / "solutions").mkdir(parents=True)
    path = _bad_utf8_zip(tmp_path / "repo" / "solutions" / "Orders.zip")
    named = _error(load_solution, path, "Orders.zip")
    assert "not valid UTF-8" in named.message
    found = discover_solutions(tmp_path / "repo")       # a searched folder: no crash, same refusal
    assert found == [path]
    [failure] = _scan_failures(*found)
    assert failure.message == named.message


def test_encrypted_entry_is_refused_cleanly(tmp_path):
    path = _zip(tmp_path / "Orders.zip", _entries())
    _set_flag(path, "customizations.xml", 0x1)   # the encryption flag: zipfile wants a password for it
    err = _error(load_solution, path, "Orders.zip")
    assert err.entry == "customizations.xml" and "encrypted" in err.message


def test_corrupt_deflate_data_is_refused_cleanly(tmp_path):
    path = _zip(tmp_path / "Orders.zip", _entries())
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("customizations.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start:start + 8] = b"\xff" * 8     # deflate block type 3: "invalid block type"
    path.write_bytes(bytes(data))
    err = _error(load_solution, path, "Orders.zip")
    assert err.entry == "customizations.xml" and "corrupt" in err.message.lower()


@pytest.mark.parametrize("keep", [0.3, 0.9, 0.999])
def test_truncated_zip_is_refused_cleanly(tmp_path, keep):
    path = _zip(tmp_path / "Orders.zip", _entries())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    err = _error(load_solution, path, "Orders.zip")
    assert err.file == "Orders.zip" and "not a valid zip file" in err.message


# --------------------------------------------------------------------------- 9 cdsproj loops

@pytest.mark.parametrize("root", ["..", ".", "./", "src/../..", "/etc", "C:/Windows"])
def test_cdsproj_root_outside_the_project_is_refused(tmp_path, root):
    project = tmp_path / "Orders"
    project.mkdir()
    shutil.copytree(ORDERS, project / "src")
    (project / "Orders.cdsproj").write_text(
        f'<Project>\n  <PropertyGroup>\n    <SolutionRootPath>{root}</SolutionRootPath>\n  </PropertyGroup>\n</Project>\n')
    err = _error(load_solution, project, "Orders")
    assert err.file == "Orders/Orders.cdsproj" and err.line == 3 and "SolutionRootPath" in err.message


def test_cdsproj_clone_layout_still_reads(tmp_path):
    project = tmp_path / "Orders"
    project.mkdir()
    shutil.copytree(ORDERS, project / "src")
    (project / "Orders.cdsproj").write_text("<Project><PropertyGroup><SolutionRootPath>src</SolutionRootPath>"
                                            "</PropertyGroup></Project>")
    assert load_solution(project, "Orders")["form"] == "unpacked"


# --------------------------------------------------------------------------- 10 OS errors

def test_path_part_over_255_bytes_is_a_clean_error(tmp_path):
    long = tmp_path / ("x" * 300)
    failures = _scan_failures(long, environments=[EnvironmentSpec(name="DEV", metadata=tmp_path / ("e" * 300)),
                                                  EnvironmentSpec(name="PRD", settings=[tmp_path / ("s" * 300)])])
    assert len(failures) == 3
    for failure in failures:
        assert "too long" in failure.message.lower() or "not found" in failure.message, failure
    estate = tmp_path / "policykit.yaml"
    estate.write_text(f"solutions:\n  - Orders\n  - {'y' * 300}\n")
    _copy_orders(tmp_path)
    err = _error(load_estate, estate)
    assert isinstance(err, PolicyError) and err.line == 3 and "too long" in err.message.lower()


def test_unlistable_folder_is_reported(tmp_path, monkeypatch):
    folder = _copy_orders(tmp_path)
    (folder / "Roles").mkdir()
    real = os.scandir

    def scandir(path):
        if Path(path).name == "Roles":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(files.os, "scandir", scandir)
    err = _error(load_solution, folder, "Orders")
    assert err.file == "Orders/Roles" and err.message == "cannot list folder: Permission denied"


# --------------------------------------------------------------------------- 11 linear time

def _big_solution(path: Path, variables: int, references: int) -> Path:
    custom = (ORDERS / "Other" / "Customizations.xml").read_text(encoding="utf-8-sig")
    refs = "".join(f'<connectionreference connectionreferencelogicalname="fxo_Ref{i}">'
                   '<connectorid>/providers/Microsoft.PowerApps/apis/shared_sharepointonline</connectorid>'
                   '</connectionreference>\n' for i in range(references))
    custom = custom.replace("<connectionreferences>", "<connectionreferences>\n" + refs, 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("solution.xml", (ORDERS / "Other" / "Solution.xml").read_bytes())
        zf.writestr("customizations.xml", custom)
        for i in range(variables):
            zf.writestr(f"environmentvariabledefinitions/fxo_Var{i}/environmentvariabledefinition.xml",
                        f'<environmentvariabledefinition schemaname="fxo_Var{i}"><type>100000000</type>'
                        f'<defaultvalue>v{i}</defaultvalue></environmentvariabledefinition>')
    return path


def test_big_solution_loads_in_linear_time(tmp_path, monkeypatch):
    """19,990 environment variables (the zip's entry cap) and 50,000 connection references load,
    and entry look-ups go through a dictionary: the entry list is walked a constant number of
    times, not once per look-up (which made 19,990 variables take 25 s)."""
    path = _big_solution(tmp_path / "Big.zip", 19_990, 50_000)
    walks = []
    original = files.ZipTree.names
    monkeypatch.setattr(files.ZipTree, "names", lambda self: walks.append(1) or original(self))
    solution = load_solution(path, "Big.zip")
    assert len(solution["environment_variables"]) == 19_990
    assert len(solution["connection_references"]) == 50_002
    assert len(walks) <= 10, len(walks)


# --------------------------------------------------------------------------- 12 entry cap

def test_zip_entry_cap_is_a_limit_and_documented(tmp_path):
    path = _zip(tmp_path / "Orders.zip", _entries())
    err = _error(load_solution, path, "Orders.zip", Limits(max_zip_entries=3))
    assert "more than 3 entries" in err.message and "--max-zip-entries" in err.message
    assert load_solution(path, "Orders.zip", Limits(max_zip_entries=4))["unique_name"]
    assert "--max-zip-entries" in (REPO / "README.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- 13 estate paths

@pytest.mark.parametrize("text, key, line", [
    ("name: x\npolicy: ''\nsolutions: [Orders]\n", "policy", 2),
    ("solutions: [Orders]\npolicy: Orders\n", "policy", 2),
    ("solutions: [Orders]\nenvironments:\n  DEV:\n    metadata: ''\n", "metadata", 4),
    ("solutions: [Orders]\nenvironments:\n  DEV: {settings: ['']}\n", "settings", 3),
    ("solutions:\n  - Orders\n  - ''\n", "solutions", 3),
])
def test_empty_or_wrong_estate_paths_name_the_key(tmp_path, text, key, line):
    _copy_orders(tmp_path)
    (tmp_path / "policykit.yaml").write_text(text)
    err = _error(load_estate, tmp_path / "policykit.yaml")
    assert isinstance(err, PolicyError) and err.line == line and err.message.startswith(f"{key}:"), err


# --------------------------------------------------------------------------- 14 the catch-all

def test_loader_bug_is_reported_without_python_internals(tmp_path, monkeypatch):
    from policykit import builtin

    def broken(path, display, limits=None):
        raise RuntimeError("File <ZipInfo filename='x' compress_type=deflate> is broken")

    monkeypatch.setattr(builtin, "load_solution", broken)
    [failure] = scan(Estate(name="t", solutions=[ORDERS]), entry_points=False).input_failures
    assert failure.message.startswith("internal error while reading this solution: ")
    assert "RuntimeError" not in failure.message and "<" not in failure.message

    monkeypatch.setattr(builtin, "load_solution", lambda *a, **k: {}["unique_name"])
    [failure] = scan(Estate(name="t", solutions=[ORDERS]), entry_points=False).input_failures
    assert failure.message.startswith("internal error while reading this solution: ")
    assert "KeyError" not in failure.message


# --------------------------------------------------------------------------- JSON inside XML

def test_canvas_app_connection_references_written_twice_are_refused(tmp_path):
    """A canvas app's ``ConnectionReferences`` is JSON inside customizations.xml: a connector id
    written twice would keep only its last reference (and hide a connector from the DLP rules),
    so it is refused like a repeated key in any JSON file, at the app's line."""
    folder = tmp_path / "LunchOrder"
    shutil.copytree(REPO / "examples/lunch-order/solution-src/LunchOrder", folder)
    custom = folder / "customizations.xml"
    text = custom.read_text(encoding="utf-8")
    start = text.index("<ConnectionReferences>{") + len("<ConnectionReferences>{")
    first = text[start:text.index("}}</ConnectionReferences>", start) + 1]   # the first reference
    custom.write_text(text[:start] + first + "," + text[start:], encoding="utf-8")
    with pytest.raises(InputError, match=r"canvas app ConnectionReferences: duplicate key '0b6e4f8a") as caught:
        load_solution(folder, "LunchOrder")
    assert caught.value.file == "LunchOrder/customizations.xml" and caught.value.line


@pytest.mark.parametrize("actions", ['{"run": 1}', '["MyProfileV2", 7]', '[""]', 'null'])
def test_canvas_app_actions_that_are_not_names_are_refused(tmp_path, actions):
    """The actions a canvas app's metadata lists are what the data policies' action rules judge:
    a list that cannot be read is an input error at the app's ConnectionReferences, never an app
    taken to call nothing."""
    folder = tmp_path / "LunchOrder"
    shutil.copytree(REPO / "examples/lunch-order/solution-src/LunchOrder", folder)
    custom = folder / "customizations.xml"
    text = custom.read_text(encoding="utf-8")
    assert text.count('"actions":["MyProfileV2"]') == 1
    custom.write_text(text.replace('"actions":["MyProfileV2"]', f'"actions":{actions}'), encoding="utf-8")
    with pytest.raises(InputError, match=r"canvas app ConnectionReferences: 'actions' of connection '0b6e4f8a") \
            as caught:
        load_solution(folder, "LunchOrder")
    assert caught.value.file == "LunchOrder/customizations.xml" and caught.value.line
