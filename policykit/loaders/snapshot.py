"""Load a hand-written environment snapshot (YAML or JSON) into a raw environment dict.

A snapshot describes an environment in a few lines (docs/snapshot.md) where an export folder
needs a dozen API responses. It produces exactly the raw environment dict of
:func:`policykit.loaders.environment_export.load_export`, so rules cannot tell the two apart
except by ``format``:

- people and application users become ``systemusers``; people with ``licenses`` also become
  ``graph_users`` whose licenses name SKUs by part number (the document resolves them);
- roles, teams, connections, references and flows are referred to by name or upn, and get
  deterministic ids (uuid5) when none is given, so every run yields the same output.

The format is strict: an unknown key, a wrong type or a name that matches nothing is an
:class:`~policykit.errors.InputError` with its line, because a typo silently ignored would
make a rule pass that should fail.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .. import catalog
from ..platform import (
    API_PREFIX,
    PLATFORM_ROLE_TEMPLATES,
    ROLE_TEMPLATE_BY_NAME,
    ROLE_TEMPLATES,
    api_name,
    is_guid,
    norm_guid,
    norm_ref,
    privilege_depth,
)
from .dlp import snapshot_dlp_policies
from .environment_export import DATASETS, Doc

#: Template ids of the platform's own roles by name (every Dataverse environment has them); role ids
#: differ per environment, these do not. ``_builtin`` knows every documented template by name.
BUILTIN_ROLE_TEMPLATES: dict[str, str] = {name: template for template, name in ROLE_TEMPLATES.items()
                                          if template in PLATFORM_ROLE_TEMPLATES}

#: ``properties.environmentSku`` values of the admin API.
ENVIRONMENT_TYPES = ("Production", "Sandbox", "Trial", "Developer", "Default", "Teams")

# Fixed forever: changing it would change every generated id.
_NAMESPACE = uuid.UUID("e4ae3171-c344-40cb-8d47-bae67fe80025")

_KEYS: dict[str, frozenset[str]] = {
    "snapshot": frozenset({"environment", "users", "teams", "roles", "connections",
                           "connection_references", "flows", "process_licenses", "dlp_policies"}),
    "environment": frozenset({"id", "display_name", "type", "url"}),
    "user": frozenset({"id", "upn", "name", "email", "aad_object_id", "application_id",
                       "application_type", "access_mode", "azure_state", "disabled", "guest",
                       "dataverse", "licenses", "roles", "teams"}),
    "license": frozenset({"sku", "disabled_plans"}),
    "team": frozenset({"id", "name", "team_type", "roles"}),
    "role": frozenset({"id", "name", "template_id", "managed", "privileges"}),
    "connection": frozenset({"id", "connector", "display_name", "account", "status", "created_by",
                             "parameter_set", "created_time"}),
    "created_by": frozenset({"id", "display_name", "email", "type", "upn"}),
    "flow": frozenset({"id", "unique_id", "name", "owner", "created_by", "state", "managed"}),
}

# Snapshot key → the data sets it makes available (a present key means "this is complete").
_KEY_DATASETS = {
    "users": ("systemusers", "graph_users"), "teams": ("teams",), "roles": ("roles",),
    "connections": ("connections",), "connection_references": ("connection_references",),
    "flows": ("workflows",), "process_licenses": ("process_licenses",),
    "dlp_policies": ("dlp_policies",),
}

# Workflow statecode / statuscode: 1/2 Activated, 0/1 Draft. YAML reads bare on/off as booleans.
_FLOW_STATES = {"on": (1, 2), "off": (0, 1), True: (1, 2), False: (0, 1)}

#: Web API accessmode of application users (Non-interactive) and of people (Read-Write).
_ACCESS_MODE_APP, _ACCESS_MODE_USER = 4, 0


@cache
def _shipped_skus() -> dict[str, tuple[str, list[str]]]:
    """Casefolded part number → (part number, service plan names) of the shipped catalog."""
    return {part.casefold(): (part, [p["name"] for p in sku["service_plans"]])
            for part, sku in catalog.licenses()["skus"].items()}


def _uuid(kind: str, name: str) -> str:
    """A deterministic id for an object the snapshot gives without one."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name.casefold()}"))


def _builtin(name: str) -> str | None:
    """The template id of a role named like a Microsoft role template's (case-insensitive):
    System Administrator, Salesperson, Common Data Service User (Basic User's old name)..."""
    return ROLE_TEMPLATE_BY_NAME.get(name.casefold())


@dataclass
class _User:
    """One ``users`` entry, checked; becomes a systemuser and/or a graph user at the end."""

    node: dict
    id: str
    upn: str | None
    name: str | None
    email: str | None
    aad_object_id: str | None
    application_id: str | None
    application_type: int | None
    access_mode: int
    azure_state: int
    disabled: bool
    guest: bool
    dataverse: bool
    dataverse_explicit: bool
    roles: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)
    licenses: list[dict[str, Any]] | None = None  # None: not stated (no graph user)


class _Builder:
    """Builds the raw environment from a parsed snapshot, resolving names as it goes."""

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.roles: dict[str, dict[str, Any]] = {}     # casefolded name → raw role
        self.teams: dict[str, dict[str, Any]] = {}     # casefolded name → raw team
        self.users: list[_User] = []
        self.by_upn: dict[str, _User] = {}             # casefolded upn → user
        self.by_name: dict[str, list[_User]] = {}      # casefolded name → users
        self.by_app_id: dict[str, _User] = {}          # application id → application user
        self.connections: dict[str, dict[str, Any]] = {}  # connection id → raw connection
        self.flow_ids: set[str] = set()

    # ---- small typed helpers

    def items(self, obj: dict, key: str, what: str) -> list[dict]:
        """A list of mappings, each checked for unknown keys."""
        items = self.doc.objects(obj, key)
        for item in items:
            self.doc.check_keys(item, _KEYS[what], what)
        return items

    def guid(self, obj: dict, key: str) -> str | None:
        """An optional GUID the author wrote: it must look like one."""
        value = self.doc.str_(obj, key)
        if value is None:
            return None
        if not is_guid(value):
            raise self.doc.error(f"{key!r} must be a GUID, not {value!r}", obj, key)
        return norm_guid(value)

    def name(self, obj: dict, key: str = "name") -> str:
        """A required, non-blank name."""
        value = self.doc.str_(obj, key, True) or ""
        if not value.strip():
            raise self.doc.error(f"{key!r} is empty", obj, key)
        return value

    def names(self, obj: dict, key: str) -> list[str]:
        """A list of non-blank names (roles, teams)."""
        values = self.doc.strings(obj, key)
        if not all(v.strip() for v in values):
            raise self.doc.error(f"{key!r} holds an empty name", obj, key)
        return values

    def enum(self, obj: dict, key: str, allowed: tuple[str, ...]) -> str | None:
        value = self.doc.str_(obj, key)
        if value is not None and value not in allowed:
            raise self.doc.error(f"{key!r} must be one of {', '.join(allowed)}, not {value!r}", obj, key)
        return value

    # ---- roles and teams

    def declare_role(self, node: dict) -> None:
        name = self.name(node)
        if name.casefold() in self.roles:
            raise self.doc.error(f"role {name!r} is declared twice", node)
        role = self._new_role(name, node, self.guid(node, "id"), self.guid(node, "template_id"),
                              self.doc.bool_(node, "managed"))
        if node.get("privileges") is not None:
            role["privileges"] = self._privileges(node)

    def _new_role(self, name: str, node: dict, role_id: str | None = None,
                  template_id: str | None = None, managed: bool | None = None) -> dict[str, Any]:
        builtin = _builtin(name)
        role_id = role_id or _uuid("role", name)
        role = {
            "id": role_id,
            "name": name,
            "template_id": template_id or builtin,
            "parent_root_id": role_id,  # as Dataverse reports a root business unit's role
            "managed": managed if managed is not None else (True if builtin else None),
            "privileges": None,
            "source": self.doc.source(node),
        }
        self.roles[name.casefold()] = role
        return role

    def _privileges(self, node: dict) -> list[dict[str, Any]]:
        """``privileges: {prvReadcr123_order: Global, ...}`` → raw privileges, one line each."""
        mapping = self.doc.obj(node, "privileges")
        privileges = []
        for name, value in mapping.items():
            depth = privilege_depth(value)
            if depth is None:
                raise self.doc.error(f"unknown privilege depth {value!r} of {name} "
                                     "(expected Basic, Local, Deep, Global or 0-3)", mapping, name)
            privileges.append({"name": name, "depth": depth,
                               "source": {"file": self.doc.file, "line": self.doc.key_line(mapping, name)}})
        return privileges

    def role_links(self, node: dict) -> list[dict[str, Any]]:
        """``roles: [names]`` of a user or team; undeclared names become roles without privileges."""
        links = []
        for name in self.names(node, "roles"):
            role = self.roles.get(name.casefold()) or self._new_role(name, node)
            links.append({"id": role["id"], "name": role["name"], "template_id": role["template_id"]})
        return links

    def declare_team(self, node: dict) -> None:
        name = self.name(node)
        if name.casefold() in self.teams:
            raise self.doc.error(f"team {name!r} is declared twice", node)
        self._new_team(name, node, self.guid(node, "id"), self.doc.int_(node, "team_type"),
                       self.role_links(node))

    def _new_team(self, name: str, node: dict, team_id: str | None = None, team_type: int | None = None,
                  roles: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        team = {"id": team_id or _uuid("team", name), "name": name,
                "team_type": 0 if team_type is None else team_type,  # 0 = Owner team
                "roles": roles or [], "source": self.doc.source(node)}
        self.teams[name.casefold()] = team
        return team

    def team_links(self, node: dict) -> list[dict[str, Any]]:
        links = []
        for name in self.names(node, "teams"):
            team = self.teams.get(name.casefold()) or self._new_team(name, node)
            links.append({"id": team["id"], "name": team["name"]})
        return links

    # ---- users

    def add_user(self, node: dict) -> None:
        doc = self.doc
        upn, name = doc.str_(node, "upn"), doc.str_(node, "name")
        if not upn and not name:
            raise doc.error("a user needs 'upn' or 'name'", node)
        app_id = self.guid(node, "application_id")
        explicit = doc.bool_(node, "dataverse")
        implied = app_id is not None or bool(node.get("roles")) or bool(node.get("teams"))
        access_mode, azure_state = doc.int_(node, "access_mode"), doc.int_(node, "azure_state")
        aad_object_id = self.guid(node, "aad_object_id")
        if aad_object_id is None and upn and app_id is None:
            # A generated Entra object id lets systemuser and graph user join as in an export.
            aad_object_id = _uuid("aad", upn)
        user = _User(
            node=node, id=self.guid(node, "id") or _uuid("systemuser", upn or name or ""),
            upn=upn, name=name,
            email=doc.str_(node, "email") or (upn if app_id is None else None),
            aad_object_id=aad_object_id, application_id=app_id,
            application_type=doc.int_(node, "application_type"),
            access_mode=access_mode if access_mode is not None
            else _ACCESS_MODE_APP if app_id else _ACCESS_MODE_USER,
            azure_state=azure_state or 0,
            disabled=bool(doc.bool_(node, "disabled")), guest=bool(doc.bool_(node, "guest")),
            dataverse=implied if explicit is None else explicit, dataverse_explicit=explicit is not None,
            roles=self.role_links(node), teams=self.team_links(node),
        )
        if node.get("licenses") is not None:
            if app_id is not None:
                raise doc.error("application users hold no licenses", node, "licenses")
            if not upn:
                raise doc.error("a licensed user needs a 'upn' (Microsoft Graph knows users by it)", node)
            user.licenses = self._licenses(node)
        if upn:
            if upn.casefold() in self.by_upn:
                raise doc.error(f"user {upn!r} is listed twice", node, "upn")
            self.by_upn[upn.casefold()] = user
        if app_id:
            self.by_app_id[app_id] = user
        if name:
            # Two people may share a display name: only a reference by that name is an error.
            self.by_name.setdefault(name.casefold(), []).append(user)
        self.users.append(user)

    def _licenses(self, node: dict) -> list[dict[str, Any]]:
        """``licenses: [PART_NUMBER | {sku, disabled_plans}]`` → Graph-like ``assignedLicenses`` by
        part number. The document resolves them with the catalog and the policy's overrides; a SKU
        that no catalog knows makes the user's licenses unknown there (a notice, not an error)."""
        items = self.doc.value(node, "licenses", list) or []
        licenses = []
        for item in items:
            if type(item) is str:
                part, plans, where = item, [], self.doc.find_line(self.doc.line(items), re.escape(item))
            elif type(item) is dict:
                self.doc.check_keys(item, _KEYS["license"], "license")
                part = self.doc.str_(item, "sku", True) or ""
                plans, where = self.doc.strings(item, "disabled_plans"), self.doc.line(item)
            else:
                raise self.doc.error("a license is a SKU part number or {sku, disabled_plans}", node, "licenses")
            if not part.strip():
                raise self.doc.error_at("a license names no SKU", where)
            known = _shipped_skus().get(part.strip().casefold())
            licenses.append({"sku_id": None, "sku_part_number": known[0] if known else part.strip(),
                             "disabled_plans": [self._plan(known, plan, where) for plan in plans]})
        return licenses

    def _plan(self, known: tuple[str, list[str]] | None, plan: str, where: int) -> str:
        # Only catalog plans grant anything, so disabling another is surely a typo. A SKU the
        # shipped catalog lacks (the policy may define it) cannot be checked here.
        if known is None:
            return plan
        part, names = known
        for name in names:
            if name.casefold() == plan.casefold():
                return name
        raise self.doc.error_at(f"{part} has no service plan {plan!r} in the license catalog "
                                f"(see: policykit catalog skus {part} --plans)", where)

    def user_ref(self, node: dict, key: str) -> str | None:
        """Resolve ``owner``/``created_by`` (a upn or name) to a Dataverse user's id."""
        ref = self.doc.str_(node, key)
        if ref is None:
            return None
        user = self.by_upn.get(ref.casefold())
        if user is None:
            named = self.by_name.get(ref.casefold(), [])
            if len(named) != 1:
                problem = "matches no user's upn or name" if not named else "names several users: use the upn"
                raise self.doc.error(f"{key} {ref!r} {problem}", node, key)
            user = named[0]
        if not user.dataverse:
            if user.dataverse_explicit:
                raise self.doc.error(f"{key} {ref!r} is not a Dataverse user (dataverse: false)", node, key)
            user.dataverse = True  # owning or creating a flow makes a user a Dataverse user
        return user.id

    def account_ref(self, node: dict, account: str | None) -> str | None:
        """The listed user a connection's ``account`` names — by upn, application id or name — so
        that ``account: AppUser_Dataverse_PRD`` is that application user, not a second, personal
        account of the same name. An account that names nobody is left to the document, which
        reports it; one that names several users by name is an error."""
        if account is None:
            return None
        user = self.by_upn.get(account.casefold()) or self.by_app_id.get(norm_guid(account) or "")
        if user is None:
            named = self.by_name.get(account.casefold(), [])
            if len(named) > 1:
                raise self.doc.error(f"account {account!r} names several users: use the upn or application id",
                                     node, "account")
            user = named[0] if named else None
        if user is None:
            return None
        # People are indexed by their Entra object id whether or not they are Dataverse users.
        return user.id if user.application_id else (user.aad_object_id or user.id)

    def systemuser(self, user: _User) -> dict[str, Any]:
        return {
            "id": user.id,
            "fullname": user.name,
            "domainname": user.upn,
            "email": user.email,
            "application_id": user.application_id,
            "aad_object_id": user.aad_object_id,
            "access_mode": user.access_mode,
            "azure_state": user.azure_state,
            "disabled": user.disabled,
            "application_type": user.application_type,
            "business_unit_id": None,
            "roles": user.roles,
            "teams": user.teams,
            "source": self.doc.source(user.node),
        }

    def graph_user(self, user: _User) -> dict[str, Any]:
        return {
            "id": user.aad_object_id,
            "upn": user.upn,
            "display_name": user.name,
            "enabled": not user.disabled,
            "user_type": "Guest" if user.guest else "Member",
            "licenses": user.licenses,  # None: not stated, so unknown (never "holds none")
            "source": {"line": self.doc.source(user.node)["line"]},  # the file: raw["tenant_files"], as in exports
        }

    # ---- connections, references, flows

    def connection(self, node: dict) -> dict[str, Any]:
        doc = self.doc
        connector = api_name(doc.str_(node, "connector", True) or "")
        if not connector:
            raise doc.error("'connector' is empty", node, "connector")
        account = doc.str_(node, "account")
        display_name = doc.str_(node, "display_name") or account
        # Real connection names are "<connector, 20 chars>-<guid>": mimic them.
        conn_id = doc.guid(node, "id") or "{}-{}".format(
            connector.replace("_", "-")[:20], _uuid("connection", f"{connector}:{account}:{display_name}"))
        if conn_id in self.connections:
            raise doc.error(f"connection {conn_id!r} is listed twice (give each its own 'id')", node)
        created = doc.obj(node, "created_by")
        doc.check_keys(created, _KEYS["created_by"], "created_by")
        connection = {
            "id": conn_id,
            "connector": connector,
            "display_name": display_name,
            "account": account,
            "account_user_id": self.account_ref(node, account),
            "created_by": {"id": self.guid(created, "id"), "display_name": doc.str_(created, "display_name"),
                           "email": doc.str_(created, "email"),
                           "type": self.enum(created, "type", ("User", "ServicePrincipal")),
                           "upn": doc.str_(created, "upn")},
            "status": doc.str_(node, "status") or "Connected",
            "parameter_set": doc.str_(node, "parameter_set"),
            "created_time": doc.str_(node, "created_time"),
            "source": doc.source(node),
        }
        self.connections[conn_id] = connection
        return connection

    def references(self, mapping: dict) -> list[dict[str, Any]]:
        """``connection_references: {logical name: connection id | null}`` → live bindings."""
        references = []
        for logical, value in mapping.items():
            line = self.doc.key_line(mapping, logical)
            if value is not None and type(value) is not str:
                raise self.doc.error_at(f"connection reference {logical!r} must map to a connection id or null", line)
            conn_id = norm_guid(value)
            connection = self.connections.get(conn_id) if conn_id else None
            if conn_id and connection is None:
                raise self.doc.error_at(f"connection reference {logical!r} is bound to {value!r}, "
                                        "which is not under connections", line)
            references.append({
                "id": _uuid("connectionreference", logical),
                "logical_name": logical,
                "display_name": None,
                "connector_id": API_PREFIX + connection["connector"] if connection else None,
                "connection_id": conn_id,
                "owner_id": None,
                "state": 0,  # Active
                "source": {"file": self.doc.file, "line": line},
            })
        return references

    def flow(self, node: dict) -> dict[str, Any]:
        doc = self.doc
        name = self.name(node)
        state = node.get("state", "on")
        if type(state) not in (str, bool) or state not in _FLOW_STATES:
            raise doc.error(f"'state' must be on or off, not {state!r}", node, "state")
        flow_id = self.guid(node, "id") or _uuid("workflow", name)
        if flow_id in self.flow_ids:
            raise doc.error(f"flow {name!r} is listed twice (two flows of one name need their own 'id')", node)
        self.flow_ids.add(flow_id)
        owner_id = self.user_ref(node, "owner")
        return {
            "id": flow_id,
            "unique_id": self.guid(node, "unique_id") or _uuid("workflowunique", name),
            "name": name,
            "state": _FLOW_STATES[state][0],
            "status": _FLOW_STATES[state][1],
            "owner_id": owner_id,
            "created_by_id": self.user_ref(node, "created_by") or owner_id,
            "managed": doc.bool_(node, "managed"),
            "source": doc.source(node),
        }


def _environment(doc: Doc, root: dict) -> dict[str, Any]:
    node = doc.value(root, "environment", dict, True)
    doc.check_keys(node, _KEYS["environment"], "environment")
    url = doc.str_(node, "url")
    env_type = doc.str_(node, "type")
    if env_type is not None and env_type not in ENVIRONMENT_TYPES:
        raise doc.error(f"'type' must be one of {', '.join(ENVIRONMENT_TYPES)}, not {env_type!r}", node, "type")
    return {
        "id": doc.guid(node, "id"),
        "display_name": doc.str_(node, "display_name"),
        "type": env_type,
        "url": url.strip().rstrip("/") if url else None,
        "source": doc.source(root),
    }


def _available(root: dict, raw: dict[str, Any]) -> list[str]:
    """Data sets the snapshot's keys imply, plus any that references filled (roles, teams)."""
    names = {ds for key, sets in _KEY_DATASETS.items() if key in root for ds in sets}
    names |= {ds for ds in DATASETS if raw[ds]}
    users = root.get("users") or []
    if any(type(u) is dict and u.get("licenses") is not None for u in users):
        names.add("skus")
    return sorted(names)


def load_snapshot(path: Path, display: str) -> dict[str, Any]:
    """Read a snapshot file (YAML by ``.yaml``/``.yml`` suffix, else JSON) into a raw environment."""
    path = Path(path)
    doc = Doc.read(path, display)
    root = doc.root
    if type(root) is not dict:
        raise doc.error("a snapshot is a mapping with an 'environment' key", root)
    doc.check_keys(root, _KEYS["snapshot"], "snapshot")
    raw: dict[str, Any] = {"format": "snapshot", **_environment(doc, root), "available": [], "not_collected": {}}

    # Declarations first, so that references by name find them.
    builder = _Builder(doc)
    for node in builder.items(root, "roles", "role"):
        builder.declare_role(node)
    for node in builder.items(root, "teams", "team"):
        builder.declare_team(node)
    for node in builder.items(root, "users", "user"):
        builder.add_user(node)
    connections = [builder.connection(n) for n in builder.items(root, "connections", "connection")]
    references = builder.references(doc.obj(root, "connection_references"))
    flows = [builder.flow(n) for n in builder.items(root, "flows", "flow")]  # may promote owners

    raw.update({
        "systemusers": [builder.systemuser(u) for u in builder.users if u.dataverse],
        "application_users": [],  # a snapshot gives application_type on the user itself
        "teams": list(builder.teams.values()),
        "roles": list(builder.roles.values()),
        "connections": connections,
        "connection_references": references,
        "workflows": flows,
        # Every listed person is an Entra user; one listed without `licenses` has unknown licenses.
        "graph_users": [builder.graph_user(u) for u in builder.users if u.upn and not u.application_id],
        "skus": [],  # SKUs come from the catalog, with the policy's overrides
        "process_licenses": [norm_ref(ref) for ref in doc.strings(root, "process_licenses")],
        "tenant_files": {"graph_users": doc.file},
    })
    if "dlp_policies" in root:  # the tenant's data policies, only when the snapshot lists them
        raw["dlp_policies"] = snapshot_dlp_policies(doc, root, _uuid)
    raw["available"] = _available(root, raw)
    return raw
