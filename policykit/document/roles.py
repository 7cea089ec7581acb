"""Security roles: which Microsoft role a role is (by template), which tables only have Global
depth, what a role reaches at Global depth, an environment's roles with their holders, and the
custom roles the role rules judge."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from ..platform import (
    DEPTHS,
    ORGANIZATION_OWNED_TABLES,
    builtin_role,
    norm_guid,
    parse_privilege,
)


def role_ref(role: dict, roles_by_id: dict[str, dict], via: str) -> dict:
    """A role a user or team holds, resolved to its template and built-in name."""
    rid = norm_guid(role.get("id"))
    known = roles_by_id.get(rid or "", {})
    template = norm_guid(role.get("template_id")) or norm_guid(known.get("template_id"))
    root = norm_guid(known.get("parent_root_id"))
    if not template and root:
        template = norm_guid(roles_by_id.get(root, {}).get("template_id"))
    name = role.get("name") or known.get("name") or ""
    return {"id": rid, "name": name, "template_id": template,
            "builtin": builtin_role(template, rid, root, name), "via": via}


def org_owned_tables(solutions: Iterable[dict]) -> frozenset[str]:
    """Tables whose privileges only have Global depth: Dataverse's organization-owned system tables
    (``platform.ORGANIZATION_OWNED_TABLES``) and the scanned solutions' organization-owned ones."""
    return ORGANIZATION_OWNED_TABLES | {e["name"] for s in solutions for e in s.get("entities") or []
                                        if e.get("org_owned")}


def role_summary(role: dict, org_owned: frozenset[str] = ORGANIZATION_OWNED_TABLES) -> None:
    """Marks each privilege ``org_owned`` (its table only has Global depth) and sums up the tables
    the role touches: ``global_tables`` and ``global_share`` count user- and team-owned tables only,
    where Global is a choice; ``org_owned_tables`` are the others."""
    for p in role["privileges"]:
        p["org_owned"] = bool(p.get("table")) and p["table"] in org_owned
    tables = {p["table"] for p in role["privileges"] if p.get("table")}
    org = tables & org_owned
    global_tables = {p["table"] for p in role["privileges"]
                     if p.get("table") and not p["org_owned"] and p["level"] == "Global"}
    owned = len(tables) - len(org)
    role["tables"] = sorted(tables)
    role["org_owned_tables"] = sorted(org)
    role["global_tables"] = sorted(global_tables)
    role["global_share"] = round(100.0 * len(global_tables) / owned, 1) if owned else 0.0


def _privilege(raw: dict) -> dict:
    """An environment role privilege in the same shape as a solution role's."""
    level = raw.get("level") or raw.get("depth")
    access, table = parse_privilege(raw.get("name") or "")
    return {"name": raw.get("name") or "", "level": level, "depth": DEPTHS.get(level, 0),
            "access": access, "table": table, "source": raw.get("source")}


def solution_roles(sol: dict) -> None:
    """Where each role of a solution comes from. Its summary waits for :func:`custom_roles`, where
    every scanned solution's organization-owned tables are known."""
    for role in sol["roles"]:
        role["solution"] = sol["unique_name"]
        role["environment"] = None
        role["key"] = f"{sol['unique_name']}/{role['name']}"


def environment_roles(env: str, raw: dict, users: list[dict], roles_by_id: dict[str, dict]) -> list[dict]:
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
        rid = norm_guid(r.get("id"))
        held = holders.get(rid or "", []) + (holders.get(r.get("name") or "", []) if not rid else [])
        role = {**r, "id": rid, "environment": env, "solution": None, "key": f"{env}/{r.get('name')}",
                "builtin": role_ref(r, roles_by_id, "")["builtin"],
                "privileges": [_privilege(p) for p in r["privileges"]] if r.get("privileges") is not None else None,
                "holders": sorted(held, key=lambda h: (h["key"], h["via"]))}
        role["custom"] = role["builtin"] is None
        out.append(role)  # its summary: in custom_roles, where every solution's tables are known
    return out


def effective_privileges(user: dict, roles_by_id: dict, roles_by_name: dict, shipped: dict) -> list[dict]:
    """The union of a user's roles' privileges, the deepest level winning."""
    privileges: dict[str, dict] = {}
    for ref in user["roles"]:
        role = roles_by_id.get(ref["id"] or "") or roles_by_name.get(ref["name"])
        if role is None or role.get("privileges") is None:
            role = shipped.get(ref["name"], role)
        for p in (role or {}).get("privileges") or []:
            key = p["name"].lower()
            if key not in privileges or p["depth"] > privileges[key]["depth"]:
                privileges[key] = {k: p[k] for k in ("name", "level", "depth", "access", "table")}
    return [privileges[k] for k in sorted(privileges)]


def custom_roles(solutions: list[dict], envs: list[dict]) -> list[dict]:
    """Custom roles with privileges: from solutions, and from environments where exported
    (an environment role that a deployed scanned solution ships is that solution's role).

    Every role's summary is computed here, where every scanned solution is known: a table one
    solution declares organization-owned is so in every role that touches it."""
    org_owned = org_owned_tables(solutions)
    for role in [r for s in solutions for r in s["roles"]] + [r for e in envs for r in e["roles"]]:
        if role.get("privileges") is not None:
            role_summary(role, org_owned)
    out = [r for s in solutions for r in s["roles"]]
    for env in envs:
        deployed = set(env["solutions"])
        shipped = {r["name"] for s in solutions if s["unique_name"] in deployed for r in s["roles"]}
        out += [r for r in env["roles"] if r["custom"] and r["privileges"] is not None and r["name"] not in shipped]
    return out
