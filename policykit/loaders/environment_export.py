"""Load an environment export folder into a raw environment dict.

The folder holds Microsoft API response bodies, unchanged (see environment-export.md): OData
envelopes from Dataverse, the Power Platform admin API and Microsoft Graph, plus the
administrator's ``processlicenses.json``. This module maps their field names onto the raw
environment contract shared with :mod:`policykit.loaders.snapshot`, normalizing every GUID.

Only ``environment.json`` is required; each other file present adds its data set to
``available``. Anything wrong with a file (too big, not JSON, not an envelope, a field of the
wrong type) is an :class:`~policykit.errors.InputError` naming the file and the line.

:class:`Doc` is shared with the snapshot loader.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..parsing import Parsed, parse_by_suffix
from ..platform import api_name, norm_guid, norm_ref, privilege_depth
from ..reading import read_file, sha256_of
from .dlp import load_dlp_policies

#: Every data set a raw environment holds (absent ones are empty lists).
DATASETS = ("systemusers", "application_users", "teams", "roles", "connections", "connection_references",
            "workflows", "graph_users", "skus", "process_licenses")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               dict: "an object", list: "a list", type(None): "null"}


# --------------------------------------------------------------------------- helpers

def display_join(display: str, name: str) -> str:
    """The display path of ``name`` inside the folder shown as ``display``."""
    display = display.rstrip("/")
    return f"{display}/{name}" if display not in ("", ".") else name


#: Microsoft Graph's responses: tenant-wide, so every environment's folder holds the same bytes.
TENANT_FILES = frozenset({"users.json", "subscribedSkus.json"})
#: The tenant-wide data sets of the scan in progress, by file content: set by :func:`share_parses`.
_SHARED: contextvars.ContextVar[dict[tuple[str, str], list] | None] = contextvars.ContextVar(
    "policykit_shared_parses", default=None)


def share_parses() -> None:
    """From here on (one scan), read each tenant-wide data set once per content: every environment
    whose folder holds the same bytes gets the same list (which is only ever read)."""
    _SHARED.set({})


def _describe(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class Doc:
    """One parsed file with typed field access; every wrong shape becomes a located InputError.

    Getters take the containing dict and a key, check the value's exact type (``True`` is not
    an integer) and treat a missing key like ``null``.
    """

    def __init__(self, parsed: Parsed, file: str, data: bytes) -> None:
        self.root: Any = parsed.value
        self.file = file
        self._parsed = parsed
        self._data = data
        self._text: list[str] | None = None

    @classmethod
    def read(cls, path: Path, file: str) -> Doc:
        """Read and parse ``path`` (YAML for ``.yaml``/``.yml``, JSON otherwise)."""
        data = read_file(path, file)
        return cls(parse_by_suffix(data, path.name, file), file, data)

    # ---- locations

    def line(self, node: Any) -> int:
        # Lines are unknown for scalars and when duplicate keys defeat the line table.
        return self._parsed.line_of(node) or 1

    def _lines(self) -> list[str]:
        if self._text is None:
            self._text = self._data.decode("utf-8-sig", errors="replace").split("\n")
        return self._text

    def find_line(self, start: int, pattern: str) -> int:
        """First line from ``start`` matching the regex, else ``start``; for errors only."""
        compiled = re.compile(pattern)
        lines = self._lines()
        for number in range(start, len(lines) + 1):
            if compiled.search(lines[number - 1]):
                return number
        return start

    def key_line(self, node: Any, key: str) -> int:
        """Line of ``key`` in the dict ``node`` (the parser records every key's line)."""
        return (self._parsed.key_line(node, key) if type(node) is dict else None) or self.line(node)

    def source(self, node: Any, key: str | None = None) -> dict[str, Any]:
        """Where ``node`` is defined: the line of its naming ``key`` when given, so that a finding
        points at the line a person recognizes (``"fullname": "Megan Bowen"``)."""
        return {"file": self.file, "line": self.key_line(node, key) if key and key in node else self.line(node)}

    def error(self, message: str, node: Any = None, key: str | None = None) -> InputError:
        """An error at ``node`` (at its ``key`` when given)."""
        line = None if node is None else self.key_line(node, key) if key else self.line(node)
        return InputError(message, file=self.file, line=line)

    def error_at(self, message: str, line: int | None) -> InputError:
        return InputError(message, file=self.file, line=line)

    # ---- typed getters

    def value(self, obj: dict, key: str, kind: type, required: bool = False) -> Any:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.error(f"{key!r} is missing", obj)
            return None
        if type(value) is not kind:
            raise self.error(f"{key!r} must be {_TYPE_NAMES[kind]}, not {_describe(value)}", obj, key)
        return value

    def str_(self, obj: dict, key: str, required: bool = False) -> str | None:
        return self.value(obj, key, str, required)

    def int_(self, obj: dict, key: str, required: bool = False) -> int | None:
        return self.value(obj, key, int, required)

    def bool_(self, obj: dict, key: str, required: bool = False) -> bool | None:
        return self.value(obj, key, bool, required)

    def guid(self, obj: dict, key: str, required: bool = False) -> str | None:
        """A GUID (or other case-insensitive id), normalized: lower case, no braces."""
        value = norm_guid(self.str_(obj, key, required))
        if value is None and required:
            raise self.error(f"{key!r} is empty", obj, key)
        return value

    def obj(self, obj: dict, key: str) -> dict:
        """A nested object; ``{}`` when absent, so optional sub-objects need no checks."""
        value = self.value(obj, key, dict)
        return {} if value is None else value

    def objects(self, obj: dict, key: str) -> list[dict]:
        """A list of objects; ``[]`` when absent."""
        items = self.value(obj, key, list) or []
        for item in items:
            if type(item) is not dict:
                raise self.error(f"{key!r} must hold objects, not {_describe(item)}", obj, key)
        return items

    def strings(self, obj: dict, key: str) -> list[str]:
        """A list of strings; ``[]`` when absent."""
        items = self.value(obj, key, list) or []
        for item in items:
            if type(item) is not str:
                raise self.error(f"{key!r} must hold strings, not {_describe(item)}", obj, key)
        return items

    def check_keys(self, obj: dict, allowed: set[str] | frozenset[str], what: str) -> None:
        """Refuse keys outside ``allowed``: a misspelt key must not be silently ignored."""
        for key in obj:
            if key not in allowed:
                raise self.error(
                    f"unknown key {key!r} in {what} (expected one of: {', '.join(sorted(allowed))})", obj, key)


#: The keys with which the APIs announce a next page (Dataverse and Graph; the admin API).
NEXT_LINK_KEYS = ("@odata.nextlink", "nextlink")


def envelope(doc: Doc) -> list[dict]:
    """The rows of an OData response body ``{"@odata.context": ..., "value": [...]}``.

    A body that still links to a next page is the first page of many: taking it as the whole
    data set would lose the other pages in silence, so it is refused."""
    if type(doc.root) is not dict or type(doc.root.get("value")) is not list:
        raise doc.error('not an OData response: expected an object with a "value" list', doc.root)
    for key, value in doc.root.items():
        if key.lower() in NEXT_LINK_KEYS and value not in (None, ""):
            line = doc.find_line(doc.line(doc.root), re.escape(json.dumps(key)) + r"\s*:")
            raise doc.error_at(f"holds only the first page of the response ({key!r} links to the next): "
                               "merge the pages or use policykit collect", line)
    return doc.objects(doc.root, "value")


# --------------------------------------------------------------------------- per file

def _environment(doc: Doc) -> dict[str, Any]:
    """``environment.json``: the admin API's environment object (not an envelope)."""
    if type(doc.root) is not dict:
        raise doc.error("expected the admin API's environment object", doc.root)
    props = doc.obj(doc.root, "properties")
    url = doc.str_(doc.obj(props, "linkedEnvironmentMetadata"), "instanceUrl")
    return {
        "id": doc.guid(doc.root, "name"),
        "display_name": doc.str_(props, "displayName"),
        "type": doc.str_(props, "environmentSku"),
        # The admin API adds a trailing slash that estate files and snapshots do not have.
        "url": url.strip().rstrip("/") if url else None,
        "source": doc.source(doc.root),
    }


def _role_link(doc: Doc, row: dict) -> dict[str, Any]:
    return {"id": doc.guid(row, "roleid", True), "name": doc.str_(row, "name", True),
            "template_id": doc.guid(row, "_roletemplateid_value")}


def _systemuser(doc: Doc, row: dict) -> dict[str, Any]:
    return {
        "id": doc.guid(row, "systemuserid", True),
        "fullname": doc.str_(row, "fullname"),
        "domainname": doc.str_(row, "domainname"),
        "email": doc.str_(row, "internalemailaddress"),
        "application_id": doc.guid(row, "applicationid"),
        "aad_object_id": doc.guid(row, "azureactivedirectoryobjectid"),
        "access_mode": doc.int_(row, "accessmode"),
        "azure_state": doc.int_(row, "azurestate"),
        "disabled": bool(doc.bool_(row, "isdisabled")),
        # Not in the documented $select; read when an administrator adds it.
        "application_type": doc.int_(row, "applicationtype"),
        "business_unit_id": doc.guid(row, "_businessunitid_value"),
        "roles": [_role_link(doc, r) for r in doc.objects(row, "systemuserroles_association")],
        "teams": [{"id": doc.guid(t, "teamid", True), "name": doc.str_(t, "name", True)}
                  for t in doc.objects(row, "teammembership_association")],
        "source": doc.source(row, "fullname" if row.get("applicationid") else "domainname"),
    }


def _application_user(doc: Doc, row: dict) -> dict[str, Any]:
    """``applicationusers.json``: which application users are Microsoft's (applicationtype 0/1)."""
    return {
        "application_id": doc.guid(row, "applicationid"),
        "name": doc.str_(row, "applicationname"),
        "application_type": doc.int_(row, "applicationtype"),
        "user_id": doc.guid(row, "_userid_value"),
        "source": doc.source(row, "applicationname"),
    }


def _team(doc: Doc, row: dict) -> dict[str, Any]:
    return {
        "id": doc.guid(row, "teamid", True),
        "name": doc.str_(row, "name", True),
        "team_type": doc.int_(row, "teamtype"),
        "roles": [_role_link(doc, r) for r in doc.objects(row, "teamroles_association")],
        "source": doc.source(row, "name"),
    }


def _role(doc: Doc, row: dict) -> dict[str, Any]:
    return {
        "id": doc.guid(row, "roleid", True),
        "name": doc.str_(row, "name", True),
        "template_id": doc.guid(row, "_roletemplateid_value"),
        "parent_root_id": doc.guid(row, "_parentrootroleid_value"),
        "managed": doc.bool_(row, "ismanaged"),
        "privileges": None,  # filled from roleprivileges/<roleid>.json when exported
        "source": doc.source(row, "name"),
    }


def _connector(doc: Doc, props: dict) -> str:
    name = api_name(doc.str_(props, "apiId", True) or "")
    if not name:
        raise doc.error("'apiId' names no connector", props, "apiId")
    return name


def _connection(doc: Doc, row: dict) -> dict[str, Any]:
    props = doc.obj(row, "properties")
    created = doc.obj(props, "createdBy")
    statuses = doc.objects(props, "statuses")
    return {
        # The connection's name is what connectionreferences.connectionid holds; lower-cased
        # like a GUID so the join is plain equality.
        "id": doc.guid(row, "name", True),
        "connector": _connector(doc, props),
        "display_name": doc.str_(props, "displayName"),
        "account": doc.str_(props, "accountName"),
        "account_user_id": None,  # a snapshot resolves its accounts by name; an export names them
        "created_by": {
            "id": doc.guid(created, "id"),
            "display_name": doc.str_(created, "displayName"),
            "email": doc.str_(created, "email"),
            "type": doc.str_(created, "type"),
            "upn": doc.str_(created, "userPrincipalName"),
        },
        "status": doc.str_(statuses[0], "status") if statuses else None,
        "parameter_set": doc.str_(doc.obj(props, "connectionParametersSet"), "name"),
        "created_time": doc.str_(props, "createdTime"),
        "source": doc.source(row, "name"),
    }


def _connection_reference(doc: Doc, row: dict) -> dict[str, Any]:
    return {
        "id": doc.guid(row, "connectionreferenceid", True),
        "logical_name": doc.str_(row, "connectionreferencelogicalname", True),
        "display_name": doc.str_(row, "connectionreferencedisplayname"),
        "connector_id": doc.str_(row, "connectorid"),
        "connection_id": doc.guid(row, "connectionid"),
        "owner_id": doc.guid(row, "_ownerid_value"),
        "state": doc.int_(row, "statecode"),
        "source": doc.source(row, "connectionreferencelogicalname"),
    }


def _workflow(doc: Doc, row: dict) -> dict[str, Any]:
    return {
        "id": doc.guid(row, "workflowid", True),
        "unique_id": doc.guid(row, "workflowidunique"),
        "name": doc.str_(row, "name"),
        "state": doc.int_(row, "statecode"),
        "status": doc.int_(row, "statuscode"),
        "owner_id": doc.guid(row, "_ownerid_value"),
        "created_by_id": doc.guid(row, "_createdby_value"),
        "managed": doc.bool_(row, "ismanaged"),
        "source": doc.source(row, "name"),
    }


def _graph_user(doc: Doc, row: dict) -> dict[str, Any]:
    return {
        "id": doc.guid(row, "id"),
        "upn": doc.str_(row, "userPrincipalName"),
        "display_name": doc.str_(row, "displayName"),
        "enabled": doc.bool_(row, "accountEnabled"),
        "user_type": doc.str_(row, "userType"),
        "licenses": [{"sku_id": doc.guid(lic, "skuId", True), "sku_part_number": None,
                      "disabled_plans": [norm_ref(p) for p in doc.strings(lic, "disabledPlans")]}
                     for lic in doc.objects(row, "assignedLicenses")],
        # The line only: the same rows serve every environment whose users.json holds these bytes;
        # the file is the environment's own ``tenant_files["graph_users"]``.
        "source": {"line": doc.source(row, "userPrincipalName")["line"]},
    }


def _sku(doc: Doc, row: dict) -> dict[str, Any]:
    return {
        "sku_id": doc.guid(row, "skuId", True),
        "sku_part_number": doc.str_(row, "skuPartNumber", True),
        "service_plans": [{"id": doc.guid(p, "servicePlanId"),
                           "name": doc.str_(p, "servicePlanName", True),
                           "status": doc.str_(p, "provisioningStatus", True)}
                          for p in doc.objects(row, "servicePlans")],
    }


def _process_licenses(doc: Doc) -> list[str]:
    """``processlicenses.json``: written by the administrator, ``{"flows": [...]}``."""
    if type(doc.root) is not dict or type(doc.root.get("flows")) is not list:
        raise doc.error('expected an object with a "flows" list of workflow ids or names', doc.root)
    return [norm_ref(ref) for ref in doc.strings(doc.root, "flows")]


def _rows(build: Callable[[Doc, dict], dict[str, Any]]) -> Callable[[Doc], list[dict[str, Any]]]:
    return lambda doc: [build(doc, row) for row in envelope(doc)]


#: file → (data set, reader). Only these files (and roleprivileges/*.json) are ever read.
_FILES: dict[str, tuple[str, Callable[[Doc], list[Any]]]] = {
    "systemusers.json": ("systemusers", _rows(_systemuser)),
    "applicationusers.json": ("application_users", _rows(_application_user)),
    "teams.json": ("teams", _rows(_team)),
    "roles.json": ("roles", _rows(_role)),
    "connections.json": ("connections", _rows(_connection)),
    "connectionreferences.json": ("connection_references", _rows(_connection_reference)),
    "workflows.json": ("workflows", _rows(_workflow)),
    "users.json": ("graph_users", _rows(_graph_user)),
    "subscribedSkus.json": ("skus", _rows(_sku)),
    "processlicenses.json": ("process_licenses", _process_licenses),
    "dlppolicies.json": ("dlp_policies", load_dlp_policies),
}


# --------------------------------------------------------------------------- role privileges

def _privileges(doc: Doc) -> list[dict[str, Any]]:
    """``RetrieveRolePrivilegesRole`` response: ``{"RolePrivileges": [{PrivilegeName, Depth}]}``."""
    if type(doc.root) is not dict or type(doc.root.get("RolePrivileges")) is not list:
        raise doc.error('expected an object with a "RolePrivileges" list', doc.root)
    privileges = []
    for row in doc.objects(doc.root, "RolePrivileges"):
        name = doc.str_(row, "PrivilegeName", True)
        depth = privilege_depth(row.get("Depth"))
        if depth is None:
            raise doc.error(f"unknown privilege depth {json.dumps(row.get('Depth'))} of {name} "
                            "(expected Basic, Local, Deep, Global or 0-3)", row, "Depth")
        privileges.append({"name": name, "depth": depth, "source": doc.source(row, "PrivilegeName")})
    return privileges


def _attach_privileges(roles: list[dict[str, Any]], folder: Path, display: str, name: str | None) -> None:
    """Read ``roleprivileges/<roleid>.json`` for the roles of roles.json; other files are not read."""
    if name is None:
        return
    directory = folder / name
    shown = display_join(display, name)
    if directory.is_symlink():
        raise InputError("symbolic links are not followed", file=shown)
    if not directory.is_dir():
        raise InputError("expected a folder of <roleid>.json files", file=shown)
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise InputError(f"cannot list folder: {exc.strerror}", file=shown) from None
    by_role: dict[str, Path] = {}
    for path in entries:
        if path.suffix.lower() != ".json":
            continue
        role_id = norm_guid(path.stem) or ""
        if role_id in by_role:
            raise InputError(f"privileges of role {role_id} are exported twice ({by_role[role_id].name})",
                             file=display_join(shown, path.name))
        by_role[role_id] = path
    for role in roles:
        path = by_role.get(role["id"])
        if path is not None:
            role["privileges"] = _privileges(Doc.read(path, display_join(shown, path.name)))


# --------------------------------------------------------------------------- provenance

#: Outcomes ``collection.json`` records per file (``policykit collect``, docs/collect.md).
_OUTCOMES = ("collected", "not_collected", "partial")


def _collection(folder: Path, display: str, on_disk: str | None) -> dict[str, str]:
    """``collection.json``, when ``policykit collect`` wrote the folder: export file → why it was not
    (completely) collected. A file that could not be collected is never read as empty: its data
    set stays unavailable, and the rules that need it say why."""
    if on_disk is None:
        return {}
    doc = Doc.read(folder / on_disk, display_join(display, on_disk))
    files = doc.obj(doc.root, "files") if type(doc.root) is dict else None
    if files is None or type(doc.root.get("files")) is not dict:
        raise doc.error('expected an object with a "files" object (see docs/collect.md)', doc.root)
    missing: dict[str, str] = {}
    for name, entry in files.items():
        if type(entry) is not dict:
            raise doc.error(f"file {name!r}: expected an object", files, name)
        outcome = doc.str_(entry, "status", True)
        if outcome not in _OUTCOMES:
            raise doc.error(f"file {name!r}: status must be one of {', '.join(_OUTCOMES)}, not {outcome!r}",
                            entry, "status")
        if outcome != "collected":
            missing[name] = f"{outcome.replace('_', ' ')}: {doc.str_(entry, 'reason') or 'no reason recorded'}"
    return missing


# --------------------------------------------------------------------------- entry point

#: Every name the loader reads at the top of an export folder, lower-cased.
_KNOWN = {name.lower(): name for name in ("environment.json", "collection.json", "roleprivileges", *_FILES)}


def _listing(folder: Path, display: str) -> dict[str, str]:
    """Known name (as spelled in :data:`_FILES`) → the name on disk, matched case-insensitively
    (``SystemUsers.json`` is read, not ignored); two names differing only by case are refused.
    Other files (an administrator's notes) are left alone."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise InputError(f"cannot list folder: {exc.strerror or exc}", file=display) from None
    found: dict[str, str] = {}
    for name in names:
        known = _KNOWN.get(name.lower())
        if known is None:
            continue
        first = found.setdefault(known, name)
        if first != name:
            raise InputError(f"{first!r} and {name!r} differ only by case: which one counts is undefined",
                             file=display_join(display, name))
    return found


def _tenant_dataset(path: Path, file: str, read: Callable[[Doc], list[Any]]) -> list[Any]:
    """A tenant-wide data set: read once per content within a scan (see :func:`share_parses`)."""
    cache = _SHARED.get()
    if cache is None:
        return read(Doc.read(path, file))
    data = read_file(path, file)
    key = (sha256_of(file, data), path.name)
    if key not in cache:  # an error is raised, never cached
        cache[key] = read(Doc(parse_by_suffix(data, path.name, file), file, data))
    return cache[key]


#: The tenant-wide data sets, by the file each comes from.
_TENANT_DATASETS = {_FILES[name][0]: name for name in TENANT_FILES}


def detach_tenant_data(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``raw`` with each tenant-wide data set replaced by where it was read: for a second process
    to send back, small, and for :func:`attach_tenant_data` to read once per content here."""
    out = dict(raw)
    for dataset, shown in (raw.get("tenant_files") or {}).items():
        if dataset in _TENANT_DATASETS and isinstance(raw.get(dataset), list):
            out[dataset] = {"tenant_file": str(folder / Path(shown).name), "shown": shown}
    return out


def attach_tenant_data(raw: dict[str, Any]) -> dict[str, Any]:
    """The reverse of :func:`detach_tenant_data`: each data set read (once per content in this scan)."""
    for dataset in _TENANT_DATASETS:
        where = raw.get(dataset)
        if isinstance(where, dict) and "tenant_file" in where:
            read = _FILES[_TENANT_DATASETS[dataset]][1]
            raw[dataset] = _tenant_dataset(Path(where["tenant_file"]), where["shown"], read)
    return raw


def load_export(folder: Path, display: str) -> dict[str, Any]:
    """Read an environment export folder into a raw environment dict (see the module doc)."""
    folder = Path(folder)
    if folder.is_symlink():
        raise InputError("symbolic links are not followed", file=display)
    if not folder.is_dir():
        raise InputError("environment export folder not found", file=display)
    on_disk = _listing(folder, display)
    if "environment.json" not in on_disk:
        raise InputError("environment.json is missing (every environment export needs it)",
                         file=display_join(display, "environment.json"))
    env_name = on_disk["environment.json"]
    raw: dict[str, Any] = {"format": "export"}
    raw.update(_environment(Doc.read(folder / env_name, display_join(display, env_name))))
    available: list[str] = []
    raw["available"] = available
    raw.update({name: [] for name in DATASETS})
    missing = _collection(folder, display, on_disk.get("collection.json"))
    raw["not_collected"] = {}
    raw["tenant_files"] = {}
    for filename, (dataset, read) in _FILES.items():
        if filename in missing:  # partly collected is not collected: never taken as complete
            raw["not_collected"][dataset] = missing[filename]
            continue
        actual = on_disk.get(filename)
        if actual is None:  # the listing holds links too: a dangling one is reported, not skipped
            continue
        shown = display_join(display, actual)
        if filename in TENANT_FILES:
            raw["tenant_files"][dataset] = shown
            raw[dataset] = _tenant_dataset(folder / actual, shown, read)
        else:
            raw[dataset] = read(Doc.read(folder / actual, shown))
        available.append(dataset)
    if "roleprivileges/" in missing:  # the roles whose privileges came stay judged; the others are unknown
        raw["not_collected"]["role_privileges"] = missing["roleprivileges/"]
    _attach_privileges(raw["roles"], folder, display, on_disk.get("roleprivileges"))
    available.sort()
    return raw
