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

from .catalog import Catalogs, premium_reasons
from .identities import (
    Identities,
    account_user,
    environment_users,
    norm_id,
    role_ref,
)
from .platform import DEPTHS, parse_privilege
from .policy import Policy

SCHEMA_VERSION = 1


@dataclass
class EnvironmentInput:
    """What the estate says about one environment, loaded but not yet joined."""

    name: str
    raw: dict | None = None                              # from an environment loader
    settings: list[dict] = field(default_factory=list)   # from the settings loader
    solutions: list[str] | None = None                   # unique names deployed; None = all scanned
    source: dict | None = None                           # where the estate declares it


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
            reasons = premium_reasons(flow.get("connectors", []), flow.get("uses_http", False), cats) \
                if flow["is_cloud_flow"] else []
            flow["premium"] = bool(reasons)
            flow["premium_reasons"] = reasons
            flow["in_app_context"] = has_app
            _operations_of(flow, f"solution {uname}")
        for var in sol["environment_variables"]:
            var["solution"] = uname
            var["key"] = f"{uname}/{var['schema_name']}"
        for app in sol["canvas_apps"]:
            app["solution"] = uname
            app["key"] = f"{uname}/{app['name']}"
        out.append(sol)
    return out


def _operations_of(flow: dict, origin: str) -> None:
    """Triggers and actions name their flow, so that a rule can report one of them on its own."""
    flow["origin"] = origin
    for op in (flow.get("triggers") or []) + (flow.get("actions") or []):
        op.update(flow=flow["name"], flow_key=flow["key"], origin=origin)


def _role_summary(role: dict) -> None:
    """Tables a role touches and how many it reaches at Global depth (for breadth rules)."""
    tables = {p["table"] for p in role["privileges"] if p.get("table")}
    global_tables = {p["table"] for p in role["privileges"] if p.get("table") and p["level"] == "Global"}
    role["tables"] = sorted(tables)
    role["global_tables"] = sorted(global_tables)
    role["global_share"] = round(100.0 * len(global_tables) / len(tables), 1) if tables else 0.0


def _privilege(raw: dict) -> dict:
    """An environment role privilege in the same shape as a solution role's."""
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


# --------------------------------------------------------------------------- environments

def _environment(inp: EnvironmentInput, solutions: list[dict], policy: Policy, cats: Catalogs) -> dict:
    raw = inp.raw or {}
    name = inp.name
    deployed = [s for s in solutions if inp.solutions is None or s["unique_name"] in inp.solutions]
    users, index, roles_by_id = environment_users(name, raw, policy, cats) if inp.raw else ([], Identities(), {})

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
        conn["user"] = account_user(name, account, conn, index, policy, users) if account else None
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
        rid = norm_id(r.get("id"))
        role = {**r, "id": rid, "environment": env, "solution": None, "key": f"{env}/{r.get('name')}",
                "builtin": role_ref(r, roles_by_id, "")["builtin"],
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


def _flows(env: str, raw: dict, deployed: list[dict], index: Identities, users: list[dict]) -> list[dict]:
    by_id = {f["id"]: f for s in deployed for f in s["flows"] if f.get("is_cloud_flow") and f.get("id")}
    licensed = {(x or "").strip().strip("{}").lower() for x in raw.get("process_licenses") or []}
    out = []
    for wf in raw.get("workflows") or []:
        wid = norm_id(wf.get("id"))
        sol_flow = by_id.get(wid or "") or by_id.get(norm_id(wf.get("unique_id")) or "")
        owner = index.get(wf.get("owner_id"))
        name = wf.get("name") or (sol_flow or {}).get("name") or wid or ""
        out.append({
            "key": f"{env}/{name}", "environment": env, "id": wid, "name": name,
            "solution": (sol_flow or {}).get("solution"),
            "state": wf.get("state"), "owner_id": norm_id(wf.get("owner_id")), "owner": owner,
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
            reasons = premium_reasons(flow.get("connectors", []), flow.get("uses_http", False), cats)
            flow["premium"] = bool(reasons)
            flow["premium_reasons"] = reasons
            flow["in_app_context"] = False
            _operations_of(flow, f"export package {package['key']}")
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
