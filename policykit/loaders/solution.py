"""Solution exports → normalized solution dicts.

Reads the three layouts a pipeline produces (see ``shared/reference/power-platform.md`` §1–§6):

- a solution **zip** (``solution.xml``, ``customizations.xml``, ``Workflows/``...);
- an **unpacked** folder (``Other/Solution.xml``; roles, flows and canvas apps in their own
  folders); the ``pac solution clone`` layout is the same under ``<SolutionRootPath>`` (``src``);
- an **extracted** zip (``solution.xml`` at the folder root), read with the zip rules.

Loaders never judge: this module records facts and where each came from.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree

from ..errors import InputError
from ..parsing import parse_json, parse_xml
from ..platform import DEPTHS, api_name, norm_guid, parse_privilege
from ..reading import Limits
from .files import DirTree, FileTree, ZipTree
from .flows import analyse_flow

ENV_VAR_TYPES = {100000000: "String", 100000001: "Number", 100000002: "Boolean", 100000003: "JSON",
                 100000004: "Data source", 100000005: "Secret"}


# --------------------------------------------------------------------------- small helpers

def _local(tag: object) -> str | None:
    """An element's tag without its namespace (``{uri}name`` → ``name``), lower case; None for a
    comment or processing instruction (their ``tag`` is not a string)."""
    return tag.rpartition("}")[2].lower() if isinstance(tag, str) else None


def _child(el: etree._Element | None, tag: str) -> etree._Element | None:
    """First child whose tag matches case-insensitively (exports vary in case)."""
    if el is None:
        return None
    low = tag.lower()
    for child in el:
        if _local(child.tag) == low:
            return child
    return None


def _children(el: etree._Element | None, tag: str) -> list[etree._Element]:
    if el is None:
        return []
    low = tag.lower()
    return [c for c in el if _local(c.tag) == low]


def _in_sections(custom: etree._Element | None, section: str, tag: str) -> list[etree._Element]:
    """``<tag>`` elements of every top-level ``<section>`` of customizations.xml: exports write one
    section per component type, but a second one is read, never ignored."""
    return [el for sec in _children(custom, section) for el in _children(sec, tag)]


def _text(el: etree._Element | None, tag: str | None = None) -> str | None:
    node = _child(el, tag) if tag else el
    if node is None or node.text is None:
        return None
    text = node.text.strip()
    return text or None


def _int(value: str | None, default: int | None = None) -> int | None:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _localized(el: etree._Element | None) -> str | None:
    """The English name if present, else the first one (several languages occur)."""
    names = _children(_child(el, "LocalizedNames"), "LocalizedName")
    for n in names:
        if n.get("languagecode") == "1033" and n.get("description"):
            return n.get("description")
    return names[0].get("description") if names else None


# --------------------------------------------------------------------------- layout

def open_solution(path: Path, display: str, limits: Limits | None = None,
                  zipped: ZipTree | None = None) -> tuple[FileTree, str, str, str]:
    """Open a solution; return (tree, form, solution.xml name, customizations.xml name)."""
    if path.is_dir():
        tree: FileTree = DirTree(path, display, limits)
        if tree.find("Other/Solution.xml"):
            return tree, "unpacked", tree.find("Other/Solution.xml"), tree.find("Other/Customizations.xml") or ""
        if tree.find("solution.xml"):
            return tree, "extracted", tree.find("solution.xml"), tree.find("customizations.xml") or ""
        for proj in sorted(path.glob("*.cdsproj")):
            root = _cdsproj_root(proj, f"{display}/{proj.name}")
            if (path / root).is_dir():
                return open_solution(path / root, f"{display}/{root}", limits)
        raise InputError("not a solution: no Other/Solution.xml, solution.xml or .cdsproj found", file=display)
    if not path.exists():
        raise InputError("file not found", file=display)
    tree = zipped or ZipTree(path, display, limits)
    sol = tree.find("solution.xml")
    if not sol:
        raise InputError("zip holds no solution.xml: not a solution export", file=display)
    return tree, "zip", sol, tree.find("customizations.xml") or ""


def _cdsproj_root(proj: Path, display: str) -> str:
    """The ``SolutionRootPath`` of a ``pac solution clone`` project: a folder below the project
    (``..``, ``.`` or an absolute path would make the project contain itself, or leave it)."""
    from ..reading import read_file
    root = parse_xml(read_file(proj, display), file=display)
    for el in root.iter():
        if isinstance(el.tag, str) and etree.QName(el).localname == "SolutionRootPath" and (el.text or "").strip():
            raw = el.text.strip().replace("\\", "/")
            rel = PurePosixPath(raw.strip("/"))
            if raw.startswith("/") or ".." in rel.parts or rel.as_posix() == "." \
                    or (rel.parts and ":" in rel.parts[0]):
                raise InputError(f"SolutionRootPath {raw!r} must name a folder below the project "
                                 "(not '.', '..' or an absolute path)", file=display, line=el.sourceline)
            return rel.as_posix()
    return "src"


def _xml(tree: FileTree, name: str) -> etree._Element:
    file = tree.source(name)
    return parse_xml(tree.read(name), file=file["file"], entry=file.get("entry"))


# --------------------------------------------------------------------------- components

def _connection_references(custom: etree._Element | None, tree: FileTree, cname: str) -> list[dict]:
    out = []
    for el in _in_sections(custom, "connectionreferences", "connectionreference"):
        connector_id = _text(el, "connectorid")
        custom_id = _child(el, "customconnectorid")
        out.append({
            "logical_name": el.get("connectionreferencelogicalname") or "",
            "display_name": _text(el, "connectionreferencedisplayname"),
            "connector_id": connector_id,
            "connector": api_name(connector_id),
            "custom_connector_id": norm_guid(_text(custom_id, "connectorid")) if custom_id is not None else None,
            "description": _text(el, "description"),
            "source": tree.source(cname, el.sourceline),
        })
    return out


def _role(el: etree._Element, tree: FileTree, name: str) -> dict:
    privileges = []
    for p in _children(_child(el, "RolePrivileges"), "RolePrivilege"):
        level = p.get("level")
        if level not in DEPTHS or level == "None":
            src = tree.source(name, p.sourceline)
            raise InputError(f"unknown privilege level {level!r} for {p.get('name')!r}",
                             file=src["file"], entry=src.get("entry"), line=src["line"])
        access, table = parse_privilege(p.get("name") or "")
        privileges.append({"name": p.get("name") or "", "level": level, "depth": DEPTHS[level],
                           "access": access, "table": table, "source": tree.source(name, p.sourceline)})
    return {
        "id": norm_guid(el.get("id")),
        "name": el.get("name") or "",
        "is_inherited": _int(el.get("isinherited")),
        "privileges": privileges,
        "source": tree.source(name, el.sourceline),
    }


def _roles(custom, tree: FileTree, cname: str) -> list[dict]:
    # Only /ImportExportXml/Roles/Role: <Role> also appears in app modules and form XML.
    roles = [_role(el, tree, cname) for el in _in_sections(custom, "Roles", "Role")]
    for name in tree.under("Roles"):
        root = _xml(tree, name)
        if etree.QName(root).localname != "Role":
            src = tree.source(name)
            raise InputError(f"expected root element <Role>, found <{etree.QName(root).localname}>",
                             file=src["file"], entry=src.get("entry"), line=root.sourceline)
        roles.append(_role(root, tree, name))
    return roles


def _flow_json(tree: FileTree, json_name: str | None) -> tuple[str | None, Any]:
    if not json_name:
        return None, None
    actual = tree.find(json_name.replace("\\", "/").lstrip("/"))
    if not actual:
        return None, None
    src = tree.source(actual)
    return actual, parse_json(tree.read(actual), file=src["file"], entry=src.get("entry"))


def _workflow(el: etree._Element, tree: FileTree, meta_name: str) -> dict:
    category = _int(_text(el, "Category"))
    wf_id = norm_guid(el.get("WorkflowId"))
    flow = {
        "id": wf_id,
        "name": el.get("Name") or _localized(el) or "",
        "category": category,
        "state": _int(_text(el, "StateCode")),
        "status": _int(_text(el, "StatusCode")),
        "json_file": None, "definition_source": None,
        "metadata_source": tree.source(meta_name, el.sourceline),
        "source": tree.source(meta_name, el.sourceline),
        "connection_references": [], "connection_reference_entries": [], "connectors": [],
        "triggers": [], "actions": [], "unbound_connections": [], "uses_http": False, "parameters": [],
    }
    if category == 5:
        actual, parsed = _flow_json(tree, _text(el, "JsonFileName"))
        if parsed is not None:
            # Findings about the flow point at its <Workflow Name="..."> element (``source``);
            # findings about its definition at the JSON line they concern.
            flow["json_file"] = actual
            flow["definition_source"] = tree.source(actual, 1)
            flow.update(analyse_flow(parsed, tree.source(actual, 1)))
    return flow


def _components(custom, tree: FileTree, cname: str, tag: str, section: str, suffix: str, build) -> list[dict]:
    """A component type from both places exports keep it: inline in customizations.xml (zip)
    under ``<section><tag>``, and one file per component under ``section/`` (unpacked)."""
    found = [build(el, tree, cname) for el in _in_sections(custom, section, tag)]
    for name in tree.under(section):
        if name.lower().endswith(suffix):
            root = _xml(tree, name)
            if etree.QName(root).localname == tag:
                found.append(build(root, tree, name))
    return found


def _workflows(custom, tree: FileTree, cname: str) -> list[dict]:
    return _components(custom, tree, cname, "Workflow", "Workflows", ".data.xml", _workflow)


def _canvas_app(el: etree._Element, tree: FileTree, name: str) -> dict:
    """A canvas app from its metadata: the connectors its ``ConnectionReferences`` name, with the
    connector actions each lists (``actions``: what the app's formulas call, which connector
    action rules of a data policy judge), and the connection references it uses."""
    connectors, logical, actions = set(), set(), set()
    refs_el = _child(el, "ConnectionReferences")
    raw = _text(refs_el)
    if raw:
        src = tree.source(name, refs_el.sourceline)

        def error(problem: str) -> InputError:
            return InputError(f"canvas app ConnectionReferences: {problem}",
                              file=src["file"], entry=src.get("entry"), line=src["line"])
        try:
            # parse_json: a reference written twice under one key would hide a connector.
            refs = parse_json(raw.encode("utf-8")).value
        except InputError as exc:
            raise error(exc.message) from None
        for key, ref in (refs.items() if isinstance(refs, dict) else []):
            if not isinstance(ref, dict):
                continue
            connector = api_name(ref.get("id"))
            listed = ref.get("actions", [])
            if not isinstance(listed, list) or not all(isinstance(a, str) and a.strip() for a in listed):
                # What the app calls would go unjudged by the data policies' action rules.
                raise error(f"'actions' of connection {str(key)[:60]!r} must be a list of action names")
            if connector:
                connectors.add(connector)
                actions.update((connector, a) for a in listed)
            if isinstance(ref.get("xrmConnectionReferenceLogicalName"), str):
                logical.add(ref["xrmConnectionReferenceLogicalName"])
    return {
        "name": _text(el, "Name") or "",
        "display_name": _text(el, "DisplayName"),
        "connectors": sorted(connectors),
        # At the line of ConnectionReferences, which names them (an export writes it on one line).
        "actions": [{"connector": c, "action": a, "source": tree.source(name, refs_el.sourceline)}
                    for c, a in sorted(actions)],
        "connection_references": sorted(logical),
        "source": tree.source(name, el.sourceline),
    }


def _canvas_apps(custom, tree: FileTree, cname: str) -> list[dict]:
    return _components(custom, tree, cname, "CanvasApp", "CanvasApps", ".meta.xml", _canvas_app)


def _openapi_host(tree: FileTree, path: str | None) -> tuple[str | None, str | None]:
    """(host, base URL) of a custom connector's OpenAPI definition: ``/Connector/x_openapidefinition.json``
    in the XML, ``Connectors/x_openapidefinition.json`` in the zip or folder."""
    if not path:
        return None, None
    base = path.replace("\\", "/").lstrip("/").rsplit("/", 1)[-1]
    actual = tree.find(path.replace("\\", "/").lstrip("/")) or tree.find(f"Connectors/{base}")
    if not actual:
        return None, None
    src = tree.source(actual)
    spec = parse_json(tree.read(actual), file=src["file"], entry=src.get("entry")).value
    host = spec.get("host") if isinstance(spec, dict) and isinstance(spec.get("host"), str) else None
    if not host:
        return None, None
    schemes = spec.get("schemes") if isinstance(spec.get("schemes"), list) else []
    scheme = schemes[0] if schemes and isinstance(schemes[0], str) else "https"
    base_path = spec.get("basePath") if isinstance(spec.get("basePath"), str) else ""
    return host, f"{scheme}://{host}{base_path}"


def _custom_connector(el: etree._Element, tree: FileTree, name: str) -> dict:
    host, url = _openapi_host(tree, _text(el, "openapidefinition"))
    return {
        "id": norm_guid(_text(el, "connectorid")),
        "name": _text(el, "name") or "",
        "display_name": _text(el, "displayname"),
        "host": host, "url": url,
        "source": tree.source(name, el.sourceline),
    }


def _custom_connectors(custom, tree: FileTree, cname: str) -> list[dict]:
    return _components(custom, tree, cname, "Connector", "Connectors", ".xml", _custom_connector)


#: ``<OwnershipTypeMask>`` as solution XML spells it → Dataverse's ``OwnershipTypes`` name.
#: Exports write ``OrgOwned`` for ``OrganizationOwned`` (and ``UserOwned``, ``BusinessOwned``).
_OWNERSHIP = {"orgowned": "OrganizationOwned", "organizationowned": "OrganizationOwned",
              "userowned": "UserOwned", "teamowned": "TeamOwned", "businessowned": "BusinessOwned",
              "businessparented": "BusinessParented", "none": "None"}


def _entity(el: etree._Element, tree: FileTree, name: str) -> dict:
    info = _child(_child(el, "EntityInfo"), "entity")
    logical = (info.get("Name") if info is not None else None) or _text(el, "Name") or ""
    mask = _text(info, "OwnershipTypeMask")
    ownership = _OWNERSHIP.get(mask.lower(), mask) if mask else None
    return {"name": logical.lower(), "ownership": ownership, "org_owned": ownership == "OrganizationOwned",
            "source": tree.source(name, el.sourceline)}


def _app_module(el: etree._Element, tree: FileTree, name: str) -> dict:
    return {"name": _text(el, "UniqueName") or "", "source": tree.source(name, el.sourceline)}


def _entities(custom, tree: FileTree, cname: str) -> list[dict]:
    return _components(custom, tree, cname, "Entity", "Entities", "/entity.xml", _entity)


def _app_modules(custom, tree: FileTree, cname: str) -> list[dict]:
    return _components(custom, tree, cname, "AppModule", "AppModules", "/appmodule.xml", _app_module)


def _environment_variables(tree: FileTree) -> list[dict]:
    out = []
    for name in tree.under("environmentvariabledefinitions"):
        if not name.lower().endswith("/environmentvariabledefinition.xml"):
            continue
        root = _xml(tree, name)
        type_code = _int(_text(root, "type"))
        display = _child(root, "displayname")
        var = {
            "schema_name": root.get("schemaname") or name.split("/")[-2],
            "display_name": display.get("default") if display is not None else None,
            "type": type_code,
            "type_name": ENV_VAR_TYPES.get(type_code or 0, "Unknown"),
            "is_secret_type": type_code == 100000005,
            "default_value": _text(root, "defaultvalue"),
            "default_source": tree.source(name, getattr(_child(root, "defaultvalue"), "sourceline", None)
                                          or root.sourceline),
            "current_value": None,
            "source": tree.source(name, root.sourceline),
            "value_source": None,
        }
        values_name = tree.find(name.rsplit("/", 1)[0] + "/environmentvariablevalues.json")
        if values_name:
            src = tree.source(values_name)
            parsed = parse_json(tree.read(values_name), file=src["file"], entry=src.get("entry"))
            wrapper = parsed.value.get("environmentvariablevalues") if isinstance(parsed.value, dict) else None
            value = wrapper.get("environmentvariablevalue") if isinstance(wrapper, dict) else None
            if isinstance(value, list):
                value = value[0] if value else None
            if isinstance(value, dict) and isinstance(value.get("value"), str):
                var["current_value"] = value["value"]
                var["value_source"] = tree.source(values_name, parsed.key_line(value, "value") or 1)
        out.append(var)
    return out


# --------------------------------------------------------------------------- entry point

def load_solution(path: Path, display: str, limits: Limits | None = None) -> dict[str, Any]:
    """Read one solution (zip, unpacked or extracted folder) into a plain dict.

    A legacy export package (``manifest.json``, no ``solution.xml``) comes back as a package
    dict (``form: legacy-package``): the caller files it under ``packages``.
    """
    zipped = None
    if path.is_symlink():  # a link named on the command line or met while searching
        raise InputError("symbolic links are not followed", file=display)
    if path.is_file():
        from .package import is_package, load_package
        zipped = ZipTree(path, display, limits)
        if is_package(zipped):
            return load_package(zipped)
    tree, form, sol_name, cust_name = open_solution(path, display, limits, zipped)
    root = _xml(tree, sol_name)
    if etree.QName(root).localname != "ImportExportXml":
        src = tree.source(sol_name)
        raise InputError(f"expected root element <ImportExportXml>, found <{etree.QName(root).localname}>",
                         file=src["file"], entry=src.get("entry"), line=root.sourceline)
    manifest = _child(root, "SolutionManifest")
    if manifest is None:
        src = tree.source(sol_name)
        raise InputError("solution.xml has no <SolutionManifest>", file=src["file"], entry=src.get("entry"),
                         line=root.sourceline)
    unique_name = _text(manifest, "UniqueName")
    if not unique_name:
        src = tree.source(sol_name)
        raise InputError("solution.xml has no <UniqueName>", file=src["file"], entry=src.get("entry"),
                         line=manifest.sourceline)
    publisher = _child(manifest, "Publisher")
    custom = _xml(tree, cust_name) if cust_name else None
    if custom is not None and etree.QName(custom).localname != "ImportExportXml":
        src = tree.source(cust_name)
        raise InputError(f"expected root element <ImportExportXml>, found <{etree.QName(custom).localname}>",
                         file=src["file"], entry=src.get("entry"), line=custom.sourceline)
    uname_el = _child(manifest, "UniqueName")
    return {
        "unique_name": unique_name,
        "display_name": _localized(manifest) or unique_name,
        "version": _text(manifest, "Version") or "",
        "managed": _int(_text(manifest, "Managed"), 0),
        "form": form,
        "publisher": {
            "unique_name": _text(publisher, "UniqueName"),
            "prefix": _text(publisher, "CustomizationPrefix"),
        },
        "root_components": [
            {"type": _int(rc.get("type")), "name": rc.get("schemaName") or norm_guid(rc.get("id"))}
            for rc in _children(_child(manifest, "RootComponents"), "RootComponent")
        ],
        "connection_references": _connection_references(custom, tree, cust_name),
        "roles": _roles(custom, tree, cust_name),
        "flows": _workflows(custom, tree, cust_name),
        "canvas_apps": _canvas_apps(custom, tree, cust_name),
        "custom_connectors": _custom_connectors(custom, tree, cust_name),
        "app_modules": _app_modules(custom, tree, cust_name),
        "entities": _entities(custom, tree, cust_name),
        "environment_variables": _environment_variables(tree),
        "source": tree.source(sol_name, uname_el.sourceline if uname_el is not None else root.sourceline),
        "path": display,
    }

