"""The normalized document: raw facts plus the joined views every rule needs.

The joins run once, in linear time, with dictionaries as indexes:

    connection reference → bound connection (settings file, or the live binding)
      → the account it signs in as → that account's user record (kind, state)
      → effective roles (direct + through teams) → licenses, service plans and rights

and, per environment, which solutions and references each account serves and which flows it
owns. The result is plain dicts, lists, strings, numbers and booleans — JMESPath rejects
subclasses — described in ``docs/document.md`` and ``docs/document.schema.json``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from . import catalog
from .policy import Policy

SCHEMA_VERSION = 1

#: Built-in role template ids (power-platform.md §4).
ROLE_TEMPLATES = {
    "627090ff-40a3-4053-8790-584edc5be201": "System Administrator",
    "119f245c-3cc8-4b62-b31c-d1a046ced15d": "System Customizer",
    "236750cd-45ae-4939-ab12-b24b920ced93": "Basic User",
    "2d101bb3-5ced-4122-83f1-94d5efde4e3b": "Support User",
    "d892cc0b-28c7-4e88-bd92-72f2c366baed": "Delegate",
}
ENVIRONMENT_MAKER_ROOT = "d58407f2-48d5-e711-a82c-000d3a37c848"
NAME_ONLY_BUILTINS = {"Service Reader", "Service Writer", "Environment Maker"}
#: Service plan states that grant the plan's rights.
ENABLED_PLAN_STATES = {"success", "pendingprovisioning", "pendingactivation"}


@dataclass
class EnvironmentInput:
    """What the estate says about one environment, loaded but not yet joined."""

    name: str
    raw: dict | None = None                              # from an environment loader
    settings: list[dict] = field(default_factory=list)   # from the settings loader
    solutions: list[str] | None = None                   # unique names deployed; None = all scanned
    source: dict | None = None                           # where the estate declares it


def _norm(value: Any) -> str | None:
    return value.strip().strip("{}").lower() if isinstance(value, str) and value.strip() else None


# --------------------------------------------------------------------------- catalogs

class Catalogs:
    """Connector and license catalogs with the policy's overrides applied."""

    def __init__(self, policy: Policy) -> None:
        self.connectors = catalog.connectors()
        for name, over in policy.connector_overrides.items():
            self.connectors[name.lower()] = {**self.connectors.get(name.lower(), {
                "display_name": name, "tier": "Premium", "custom": False, "service_principal": False,
                "m365_service": None}), **over}
        lic = catalog.licenses()
        for part, over in policy.sku_overrides.items():
            lic["skus"][part] = {**lic["skus"].get(part, {"sku_id": "", "product": part, "service_plans": []}), **over}
        self.skus_by_id = {s["sku_id"].lower(): {"sku_part_number": part, **s} for part, s in lic["skus"].items()}
        self.plan_rights = {**lic["plan_rights"], **policy.plan_rights_overrides}

    def connector(self, api: str | None) -> dict:
        if not api:
            return {"display_name": None, "tier": None, "custom": False, "m365_service": None,
                    "service_principal": False, "known": False}
        entry = self.connectors.get(api.lower())
        if entry:
            return {**entry, "known": True}
        # Not in the platform catalog: a custom connector (shared_<prefix>-5f<name>-5f<hash>).
        return {"display_name": api, "tier": "Premium", "custom": True, "m365_service": None,
                "service_principal": False, "known": False}


def _premium(connectors: list[str], uses_http: bool, cats: Catalogs) -> list[str]:
    """Why a flow needs premium rights (empty list: it does not)."""
    reasons = []
    for api in connectors:
        info = cats.connector(api)
        if info["custom"]:
            reasons.append(f"custom connector {api}")
        elif info["tier"] == "Premium":
            reasons.append(f"premium connector {info['display_name'] or api}")
    if uses_http:
        reasons.append("built-in HTTP")
    return reasons


# --------------------------------------------------------------------------- solutions

def _solutions(solutions: list[dict], cats: Catalogs) -> list[dict]:
    out = []
    for sol in solutions:
        uname = sol["unique_name"]
        sol["key"] = uname
        has_app = bool(sol.get("canvas_apps") or sol.get("app_modules"))
        sol["has_app"] = has_app
        for ref in sol["connection_references"]:
            ref["solution"] = uname
            ref["solution_display_name"] = sol["display_name"]
            ref["key"] = f"{uname}/{ref['logical_name']}"
            info = cats.connector(ref.get("connector"))
            ref["tier"] = info["tier"]
            ref["connector_name"] = info["display_name"] or ref.get("connector")
            ref["custom_connector"] = bool(ref.get("custom_connector_id")) or info["custom"]
        for role in sol["roles"]:
            role["solution"] = uname
            role["environment"] = None
            role["key"] = f"{uname}/{role['name']}"
            _role_summary(role)
        for flow in sol["flows"]:
            flow["solution"] = uname
            flow["key"] = f"{uname}/{flow['name'] or flow['id']}"
            flow["is_cloud_flow"] = flow.get("category") == 5
            reasons = _premium(flow.get("connectors", []), flow.get("uses_http", False), cats) \
                if flow["is_cloud_flow"] else []
            flow["premium"] = bool(reasons)
            flow["premium_reasons"] = reasons
            flow["in_app_context"] = has_app
        for var in sol["environment_variables"]:
            var["solution"] = uname
            var["key"] = f"{uname}/{var['schema_name']}"
        for app in sol["canvas_apps"]:
            app["solution"] = uname
            app["key"] = f"{uname}/{app['name']}"
        out.append(sol)
    return out


def _role_summary(role: dict) -> None:
    """Tables a role touches and how many it reaches at Global depth (for breadth rules)."""
    tables = {p["table"] for p in role["privileges"] if p.get("table")}
    global_tables = {p["table"] for p in role["privileges"] if p.get("table") and p["level"] == "Global"}
    role["tables"] = sorted(tables)
    role["global_tables"] = sorted(global_tables)
    role["global_share"] = round(100.0 * len(global_tables) / len(tables), 1) if tables else 0.0


def _privilege(raw: dict) -> dict:
    """An environment role privilege in the same shape as a solution role's."""
    from .loaders.solution import DEPTHS, parse_privilege
    level = raw.get("level") or raw.get("depth")
    access, table = parse_privilege(raw.get("name") or "")
    return {"name": raw.get("name") or "", "level": level, "depth": DEPTHS.get(level, 0),
            "access": access, "table": table, "source": raw.get("source")}


def _reference_names(solutions: list[dict]) -> list[dict]:
    """Each connection reference logical name and the scanned solutions that ship it."""
    by_name: dict[str, dict] = {}
    for sol in solutions:
        for ref in sol["connection_references"]:
            entry = by_name.setdefault(ref["logical_name"].lower(), {
                "key": ref["logical_name"], "logical_name": ref["logical_name"], "solutions": [],
                "connectors": [], "source": ref["source"], "sources": []})
            entry["solutions"].append(sol["unique_name"])
            entry["sources"].append(ref["source"])
            if ref.get("connector") and ref["connector"] not in entry["connectors"]:
                entry["connectors"].append(ref["connector"])
    return [by_name[k] for k in sorted(by_name)]


# --------------------------------------------------------------------------- users

class _Identities:
    """Index of an environment's users by every identifier a connection or flow may carry."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict] = {}

    def add(self, user: dict, *ids: str | None) -> None:
        for i in ids:
            n = i.strip().strip("{}").lower() if isinstance(i, str) and i.strip() else None
            if n and n not in self.by_id:
                self.by_id[n] = user

    def get(self, *ids: str | None) -> dict | None:
        for i in ids:
            n = i.strip().strip("{}").lower() if isinstance(i, str) and i.strip() else None
            if n and n in self.by_id:
                return self.by_id[n]
        return None


def _role_ref(role: dict, roles_by_id: dict[str, dict], via: str) -> dict:
    rid = _norm(role.get("id"))
    known = roles_by_id.get(rid or "", {})
    template = _norm(role.get("template_id")) or _norm(known.get("template_id"))
    if not template and known.get("parent_root_id"):
        template = _norm(roles_by_id.get(_norm(known["parent_root_id"]) or "", {}).get("template_id"))
    name = role.get("name") or known.get("name") or ""
    builtin = ROLE_TEMPLATES.get(template or "")
    if not builtin and (rid == ENVIRONMENT_MAKER_ROOT or _norm(known.get("parent_root_id")) == ENVIRONMENT_MAKER_ROOT):
        builtin = "Environment Maker"
    if not builtin and name in NAME_ONLY_BUILTINS:
        builtin = name
    return {"id": rid, "name": name, "template_id": template, "builtin": builtin, "via": via}


def _licenses(graph: dict | None, skus_by_id: dict[str, dict], cats: Catalogs) -> dict:
    if graph is None:
        return {"licenses_known": False, "licenses": [], "service_plans": [], "rights": []}
    parts, plans = set(), set()
    for lic in graph.get("licenses") or []:
        sku = skus_by_id.get(_norm(lic.get("sku_id")) or "")
        if sku is None:
            continue
        parts.add(sku["sku_part_number"])
        disabled = {str(d).lower() for d in lic.get("disabled_plans") or []}
        for plan in sku["service_plans"]:
            if (plan.get("id") or "").lower() in disabled or plan["name"].lower() in disabled:
                continue
            if (plan.get("status") or "Success").lower() in ENABLED_PLAN_STATES:
                plans.add(plan["name"])
    rights = {cats.plan_rights[p] for p in plans if p in cats.plan_rights}
    return {"licenses_known": True, "licenses": sorted(parts), "service_plans": sorted(plans),
            "rights": sorted(rights)}


def _kind(policy: Policy, *, name: str | None, upn: str | None, application_id: str | None,
          application_type: int | None, service_principal: bool = False) -> str:
    if application_id or service_principal:
        if application_type in (0, 1) or policy.is_platform(name, upn, application_id):
            return "platform"
        return "application"
    if policy.is_platform(name, upn, None):
        return "platform"
    if policy.is_technical(upn, name):
        return "technical"
    return "person"


def _users(env: str, raw: dict, policy: Policy, cats: Catalogs) -> tuple[list[dict], _Identities, dict]:
    roles_by_id = {_norm(r.get("id")) or "": r for r in raw.get("roles") or []}
    teams_by_id = {_norm(t.get("id")) or "": t for t in raw.get("teams") or []}
    skus_by_id = dict(cats.skus_by_id)
    # A snapshot's SKUs come from the shipped catalog, so the policy's overrides apply to them;
    # an export's subscribedSkus.json is the tenant's own truth.
    for sku in (raw.get("skus") or []) if raw.get("format") != "snapshot" else []:
        skus_by_id[_norm(sku.get("sku_id")) or ""] = {"sku_part_number": sku.get("sku_part_number"),
                                                       "service_plans": sku.get("service_plans") or []}
    # The catalog gives plan names only; normalize its entries to the {name, status} shape.
    for sku_id, sku in list(skus_by_id.items()):
        sku["service_plans"] = [p if isinstance(p, dict) else {"id": None, "name": p, "status": "Success"}
                                for p in sku["service_plans"]]
    graph_by = _Identities()
    for g in raw.get("graph_users") or []:
        graph_by.add(g, g.get("id"), g.get("upn"))
    users, index, used_graph = [], _Identities(), set()
    for su in raw.get("systemusers") or []:
        graph = graph_by.get(su.get("aad_object_id"), su.get("domainname"))
        if graph is not None:
            used_graph.add(id(graph))
        roles = [_role_ref(r, roles_by_id, "direct") for r in su.get("roles") or []]
        teams = []
        for t in su.get("teams") or []:
            team = teams_by_id.get(_norm(t.get("id")) or "", t)
            teams.append(team.get("name") or t.get("name") or "")
            roles += [_role_ref(r, roles_by_id, f"team:{team.get('name') or ''}") for r in team.get("roles") or []]
        upn = su.get("domainname") or (graph or {}).get("upn")
        app_id = _norm(su.get("application_id"))
        azure_state = su.get("azure_state")
        user = {
            "id": _norm(su.get("id")), "name": su.get("fullname") or upn or app_id or "",
            "upn": upn, "email": su.get("email"), "application_id": app_id,
            "aad_object_id": _norm(su.get("aad_object_id")) or _norm((graph or {}).get("id")),
            "kind": _kind(policy, name=su.get("fullname"), upn=upn, application_id=app_id,
                          application_type=su.get("application_type")),
            "in_dataverse": True, "in_graph": graph is not None,
            "disabled": bool(su.get("disabled")) or (graph or {}).get("enabled") is False,
            "deleted": azure_state in (1, 2),
            "guest": "#ext#" in (upn or "").lower() or (graph or {}).get("user_type") == "Guest",
            "access_mode": su.get("access_mode"), "azure_state": azure_state,
            "roles": roles, "teams": sorted(set(teams)),
            **_licenses(graph, skus_by_id, cats),
            "source": su.get("source"),
        }
        users.append(user)
        index.add(user, user["id"], upn, app_id, user["aad_object_id"], su.get("email"))
    for g in raw.get("graph_users") or []:
        if id(g) in used_graph:
            continue
        upn = g.get("upn")
        user = {
            "id": None, "name": g.get("display_name") or upn or "", "upn": upn, "email": None,
            "application_id": None, "aad_object_id": _norm(g.get("id")),
            "kind": _kind(policy, name=g.get("display_name"), upn=upn, application_id=None, application_type=None),
            "in_dataverse": False, "in_graph": True,
            "disabled": g.get("enabled") is False, "deleted": False,
            "guest": "#ext#" in (upn or "").lower() or g.get("user_type") == "Guest",
            "access_mode": None, "azure_state": None, "roles": [], "teams": [],
            **_licenses(g, skus_by_id, cats), "source": g.get("source"),
        }
        users.append(user)
        index.add(user, upn, user["aad_object_id"])
    for user in users:
        user["environment"] = env
        user["key"] = f"{env}/{user['upn'] or user['application_id'] or user['name'] or user['id']}"
        user["inactive"] = user["disabled"] or user["deleted"] or user["guest"]
        user["role_names"] = sorted({r["name"] for r in user["roles"]})
    return users, index, roles_by_id


def _account_user(env: str, account: str, conn: dict, index: _Identities, policy: Policy,
                  users: list[dict]) -> dict:
    """The user behind a connection; an account with no record gets one classified by policy."""
    created = conn.get("created_by") or {}
    sp = (created.get("type") or "").lower() == "serviceprincipal" and not conn.get("account")
    user = index.get(account) if not sp else index.get(account, created.get("id"))
    if user is not None:
        return user
    user = {
        "id": None, "name": account, "upn": None if sp else account, "email": None,
        "application_id": account if sp else None, "aad_object_id": None,
        "kind": _kind(policy, name=created.get("display_name") if sp else None, upn=None if sp else account,
                      application_id=account if sp else None, application_type=None, service_principal=sp),
        "in_dataverse": False, "in_graph": False, "disabled": False, "deleted": False,
        "guest": "#ext#" in account.lower(), "access_mode": None, "azure_state": None,
        "roles": [], "teams": [], "licenses_known": False, "licenses": [], "service_plans": [], "rights": [],
        "source": conn.get("source"), "environment": env, "key": f"{env}/{account}",
        "role_names": [],
    }
    user["inactive"] = user["guest"]
    users.append(user)
    index.add(user, account)
    return user


# --------------------------------------------------------------------------- environments

def _environment(inp: EnvironmentInput, solutions: list[dict], policy: Policy, cats: Catalogs) -> dict:
    raw = inp.raw or {}
    name = inp.name
    deployed = [s for s in solutions if inp.solutions is None or s["unique_name"] in inp.solutions]
    users, index, roles_by_id = _users(name, raw, policy, cats) if inp.raw else ([], _Identities(), {})

    connections = []
    conn_by_id: dict[str, dict] = {}
    for c in raw.get("connections") or []:
        conn = {**c, "environment": name, "key": f"{name}/{c.get('id')}", "references": [], "solutions": []}
        info = cats.connector(conn.get("connector"))
        conn["tier"] = info["tier"]
        created = conn.get("created_by") or {}
        account = conn.get("account") or (created.get("id") if (created.get("type") or "").lower()
                                             == "serviceprincipal" else created.get("upn") or created.get("email"))
        conn["account"] = account
        conn["user"] = _account_user(name, account, conn, index, policy, users) if account else None
        conn["account_kind"] = conn["user"]["kind"] if conn["user"] else None
        connections.append(conn)
        conn_by_id[(c.get("id") or "").lower()] = conn

    live = {(r.get("logical_name") or "").lower(): r for r in raw.get("connection_references") or []}
    settings_refs: dict[str, dict] = {}
    settings_vars: dict[str, dict] = {}
    for s in inp.settings:
        for r in s["connection_references"]:
            settings_refs.setdefault(r["logical_name"].lower(), r)
        for v in s["environment_variables"]:
            settings_vars.setdefault(v["schema_name"].lower(), v)

    has_bindings = bool(inp.settings) or "connection_references" in (raw.get("available") or [])
    bindings = []
    if has_bindings:
        for sol in deployed:
            for ref in sol["connection_references"]:
                bindings.append(_binding(name, sol, ref, settings_refs.get(ref["logical_name"].lower()),
                                         live.get(ref["logical_name"].lower()), conn_by_id, cats))
    for b in bindings:
        conn = conn_by_id.get((b["connection_id"] or "").lower())
        if conn is not None:
            conn["references"].append(b["key"])
            conn["solutions"].append(b["solution"])

    flows = _flows(name, raw, deployed, index, users)
    roles = _environment_roles(name, raw, users, roles_by_id)
    _user_facts(users, bindings, flows, roles, deployed)
    known = {ref["logical_name"].lower() for s in solutions for ref in s["connection_references"]}
    settings_references = [
        {**r, "environment": name, "file": s["file"], "key": f"{name}/{s['file']}/{r['logical_name']}",
         "known": r["logical_name"].lower() in known}
        for s in inp.settings for r in s["connection_references"]]
    env = {
        "name": name, "key": name,
        "id": raw.get("id"), "display_name": raw.get("display_name"), "type": raw.get("type"),
        "url": raw.get("url"), "format": raw.get("format"),
        "available": sorted(set(raw.get("available") or []) | ({"settings"} if inp.settings else set())),
        "has_metadata": inp.raw is not None, "has_settings": bool(inp.settings),
        "settings_files": [s["file"] for s in inp.settings],
        "solutions": [s["unique_name"] for s in deployed],
        "users": users,
        "teams": raw.get("teams") or [],
        "roles": roles,
        "connections": connections,
        "connection_groups": _connection_groups(name, connections, cats),
        "settings_references": settings_references,
        "bindings": bindings,
        "flows": flows,
        "settings_variables": [{**v, "environment": name, "key": f"{name}/{v['schema_name']}"}
                               for v in settings_vars.values()],
        "source": raw.get("source") or inp.source or (inp.settings[0]["source"] if inp.settings else None),
    }
    for c in connections:
        c["solutions"] = sorted(set(c["solutions"]))
        c["references"].sort()
    env["accounts"] = _accounts(env)
    return env


def _environment_roles(env: str, raw: dict, users: list[dict], roles_by_id: dict[str, dict]) -> list[dict]:
    """Environment roles with privileges in the solution-role shape and who holds each."""
    holders: dict[str, list[dict]] = defaultdict(list)
    seen: set[tuple[str, str, str]] = set()
    for user in users:
        for ref in user["roles"]:
            role_key = ref["id"] or ref["name"]
            if (role_key, user["key"], ref["via"]) not in seen:
                seen.add((role_key, user["key"], ref["via"]))
                holders[role_key].append({"key": user["key"], "name": user["name"], "kind": user["kind"],
                                          "via": ref["via"]})
    out = []
    for r in raw.get("roles") or []:
        rid = _norm(r.get("id"))
        role = {**r, "id": rid, "environment": env, "solution": None, "key": f"{env}/{r.get('name')}",
                "builtin": _role_ref(r, roles_by_id, "")["builtin"],
                "privileges": [_privilege(p) for p in r["privileges"]] if r.get("privileges") is not None else None,
                "holders": sorted(holders.get(rid or "", []) + (holders.get(r.get("name") or "", []) if not rid else []),
                                  key=lambda h: (h["key"], h["via"]))}
        role["custom"] = role["builtin"] is None
        if role["privileges"] is not None:
            _role_summary(role)
        out.append(role)
    return out


def _user_facts(users: list[dict], bindings: list[dict], flows: list[dict], roles: list[dict],
                deployed: list[dict]) -> None:
    """Per user: what it serves and owns, and (application users) what its roles let it change."""
    for user in users:
        user.update(served_solutions=set(), references=[], owned_flows=[], premium_owned_flows=[],
                    needed_services=set())
    for b in bindings:
        if b["user"] is not None:
            b["user"]["served_solutions"].add(b["solution"])
            b["user"]["references"].append(f"{b['solution']}/{b['logical_name']}")
            if b["service"]:
                b["user"]["needed_services"].add(b["service"])
    for f in flows:
        if f["owner"] is not None:
            f["owner"]["owned_flows"].append(f["name"])
            if f["premium"]:
                f["owner"]["premium_owned_flows"].append(f["name"])
    roles_by_id = {r["id"]: r for r in roles if r.get("id")}
    roles_by_name = {r["name"]: r for r in roles}
    solution_roles = {r["name"]: r for s in deployed for r in s["roles"]}
    tables_by_solution = {s["unique_name"]: {e["name"] for e in s["entities"]} for s in deployed}
    for user in users:
        privileges: dict[tuple, dict] = {}
        for ref in user["roles"]:
            role = roles_by_id.get(ref["id"] or "") or roles_by_name.get(ref["name"])
            if role is None or role.get("privileges") is None:
                role = solution_roles.get(ref["name"], role)
            for p in (role or {}).get("privileges") or []:
                key = (p["name"].lower(),)
                if key not in privileges or p["depth"] > privileges[key]["depth"]:
                    privileges[key] = {k: p[k] for k in ("name", "level", "depth", "access", "table")}
        served = sorted(user["served_solutions"])
        served_tables = sorted(set().union(*(tables_by_solution.get(s, set()) for s in served)) if served else set())
        write = sorted({p["table"] for p in privileges.values()
                        if p["table"] and p["access"] in ("Create", "Write", "Delete", "Assign")})
        user.update(
            served_solutions=served, references=sorted(user["references"]),
            needed_services=sorted(user["needed_services"]),
            owned_flows=sorted(user["owned_flows"]), premium_owned_flows=sorted(user["premium_owned_flows"]),
            privileges=[privileges[k] for k in sorted(privileges)],
            write_tables=write, served_tables=served_tables,
            write_tables_outside=[t for t in write if t not in served_tables],
        )


def _connection_groups(env: str, connections: list[dict], cats: Catalogs) -> list[dict]:
    """Connections grouped by (account, connector): several means duplicated credentials."""
    groups: dict[tuple[str, str], dict] = {}
    for c in connections:
        if not c.get("account") or not c.get("connector"):
            continue
        k = (c["account"].lower(), c["connector"])
        g = groups.setdefault(k, {"key": f"{env}/{c['account']}/{c['connector']}", "environment": env,
                                  "account": c["account"], "connector": c["connector"],
                                  "connector_name": cats.connector(c["connector"])["display_name"] or c["connector"],
                                  "connections": [], "source": c.get("source")})
        g["connections"].append(c["id"])
    return [groups[k] for k in sorted(groups)]


def _binding(env: str, sol: dict, ref: dict, setting: dict | None, live: dict | None,
             conn_by_id: dict[str, dict], cats: Catalogs) -> dict:
    live_id = (live or {}).get("connection_id")
    set_id = (setting or {}).get("connection_id")
    placeholder = bool(setting and setting.get("is_placeholder"))
    if live_id:
        connection_id, how, source = live_id, "environment", live["source"]
    elif set_id and not placeholder:
        connection_id, how, source = set_id, "settings", setting["source"]
    elif placeholder:
        connection_id, how, source = None, "placeholder", setting["source"]
    else:
        connection_id, how = None, None
        source = (setting or live or {}).get("source") or ref["source"]
    conn = conn_by_id.get((connection_id or "").lower())
    info = cats.connector(ref.get("connector"))
    user = conn["user"] if conn else None
    return {
        "key": f"{env}/{sol['unique_name']}/{ref['logical_name']}",
        "environment": env, "solution": sol["unique_name"],
        "logical_name": ref["logical_name"], "display_name": ref.get("display_name"),
        "connector": ref.get("connector"), "connector_name": info["display_name"] or ref.get("connector"),
        "tier": info["tier"], "service": info["m365_service"],
        "settings": setting, "live": live,
        "connection_id": connection_id, "binding_source": how, "bound": how is not None,
        "connection": {k: v for k, v in conn.items() if k not in ("user", "references", "solutions")} if conn else None,
        "account": conn["account"] if conn else None,
        "user": user,
        "reference_source": ref["source"],
        "source": source,
    }


def _flows(env: str, raw: dict, deployed: list[dict], index: _Identities, users: list[dict]) -> list[dict]:
    by_id = {f["id"]: f for s in deployed for f in s["flows"] if f.get("is_cloud_flow") and f.get("id")}
    licensed = {(x or "").strip().strip("{}").lower() for x in raw.get("process_licenses") or []}
    out = []
    for wf in raw.get("workflows") or []:
        wid = _norm(wf.get("id"))
        sol_flow = by_id.get(wid or "") or by_id.get(_norm(wf.get("unique_id")) or "")
        owner = index.get(wf.get("owner_id"))
        name = wf.get("name") or (sol_flow or {}).get("name") or wid or ""
        out.append({
            "key": f"{env}/{name}", "environment": env, "id": wid, "name": name,
            "solution": (sol_flow or {}).get("solution"),
            "state": wf.get("state"), "owner_id": _norm(wf.get("owner_id")), "owner": owner,
            "premium": (sol_flow or {}).get("premium"), "premium_reasons": (sol_flow or {}).get("premium_reasons", []),
            "connectors": (sol_flow or {}).get("connectors", []),
            "in_app_context": bool((sol_flow or {}).get("in_app_context")),
            "process_license": bool({wid, name.lower()} & licensed),
            "definition_source": (sol_flow or {}).get("source"),
            "source": wf.get("source"),
        })
    return out


def _accounts(env: dict) -> list[dict]:
    """The accounts that do something here: behind a connection reference, or owning a flow."""
    connections: dict[str, set] = defaultdict(set)
    connectors: dict[str, set] = defaultdict(set)
    for b in env["bindings"]:
        if b["user"] is not None:
            connections[b["user"]["key"]].add(b["connection_id"])
            if b["connector"]:
                connectors[b["user"]["key"]].add(b["connector"])
    out = []
    for user in sorted(env["users"], key=lambda u: u["key"]):
        if not user["served_solutions"] and not user["owned_flows"]:
            continue
        out.append({
            "key": user["key"], "environment": env["name"],
            "account": user["upn"] or user["application_id"] or user["name"], "kind": user["kind"], "user": user,
            "solutions": user["served_solutions"], "references": user["references"],
            "connections": sorted(c for c in connections[user["key"]] if c),
            "connectors": sorted(connectors[user["key"]]),
            "owned_flows": user["owned_flows"], "premium_owned_flows": user["premium_owned_flows"],
            "source": user.get("source"),
        })
    return out


def _estate_accounts(envs: list[dict]) -> list[dict]:
    """Identities across environments: the same technical user or Entra application in several."""
    acc: dict[str, dict] = {}
    for env in envs:
        for user in env["users"]:
            ident = (user.get("application_id") or user.get("upn") or user.get("name") or "").lower()
            # Graph's users.json is tenant-wide: a user is "used" in an environment only when it
            # is a Dataverse user there, signs one of its connections or owns one of its flows.
            if not ident or not (user["in_dataverse"] or user["served_solutions"] or user["owned_flows"]):
                continue
            e = acc.setdefault(ident, {"key": ident, "account": user["upn"] or user["application_id"] or user["name"],
                                       "name": user["name"], "kind": user["kind"], "application_id": user["application_id"],
                                       "environments": [], "solutions": set(), "source": user.get("source")})
            e["environments"].append(env["name"])
            e["solutions"].update(user.get("served_solutions") or [])
    return [{**e, "environments": sorted(set(e["environments"])), "solutions": sorted(e["solutions"])}
            for _, e in sorted(acc.items())]


def _custom_roles(solutions: list[dict], envs: list[dict]) -> list[dict]:
    """Custom roles with privileges: from solutions, and from environments where exported
    (an environment role that a deployed scanned solution ships is that solution's role)."""
    out = [r for s in solutions for r in s["roles"]]
    for env in envs:
        deployed = set(env["solutions"])
        shipped = {r["name"] for s in solutions if s["unique_name"] in deployed for r in s["roles"]}
        out += [r for r in env["roles"] if r["custom"] and r["privileges"] is not None and r["name"] not in shipped]
    return out


# --------------------------------------------------------------------------- entry point

def build_document(solutions: list[dict], environments: list[EnvironmentInput], policy: Policy,
                   estate_name: str = "estate", packages: list[dict] | None = None,
                   settings_only: list[dict] | None = None) -> dict[str, Any]:
    """Join everything into the normalized document (see docs/document.md)."""
    cats = Catalogs(policy)
    sols = _solutions(solutions, cats)
    for package in packages or []:
        for flow in package["flows"]:
            flow["solution"] = None
            flow["key"] = f"{package['key']}/{flow['name']}"
            flow["is_cloud_flow"] = True
            reasons = _premium(flow.get("connectors", []), flow.get("uses_http", False), cats)
            flow["premium"] = bool(reasons)
            flow["premium_reasons"] = reasons
            flow["in_app_context"] = False
    envs = [_environment(e, sols, policy, cats) for e in environments]
    return {
        "schema_version": SCHEMA_VERSION,
        "estate": {"name": estate_name},
        "solutions": sols,
        "packages": packages or [],
        "settings": [dict(s, environment=e.name) for e in environments for s in e.settings] + (settings_only or []),
        "environments": envs,
        "accounts": _estate_accounts(envs),
        "reference_names": _reference_names(sols),
        "custom_roles": _custom_roles(sols, envs),
    }
