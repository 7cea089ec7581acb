"""What a scan covered, as plain data for the reports: the identity inventory, the identity graph
and the rule settings in force.

:func:`inventory_of` reads the normalized document (see ``docs/document.md``) once, after the
joins, and keeps only what a reviewer reads:

- per environment: its data sets (``available``, ``not_collected``), how many objects the joins
  left unresolved per kind (``unresolved``), every account that does something there — signs a
  connection, owns a flow, is an application user, or holds a security role — with its kind,
  roles, licenses and the solutions it serves, and the bindings that make the identity graph
  (solution → connection reference → connection → account);
- across environments: each identity (``accounts[]``) with the environments it is used in.

:func:`configuration_of` records what the policy changed against the rules' own defaults: rules
disabled, severities changed, parameters changed, environment scopes, and the waivers declared.

Everything is sorted and made of dicts, lists, strings, numbers, booleans and None, so a reporter
is a pure function of it. :func:`graph_layers` lays the graph out in columns for the HTML (SVG)
and markdown (mermaid) reports alike.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .engine import _environment_matches
from .models import Rule

#: Role holders listed per environment beyond the accounts that sign, own or are applications:
#: in a large tenant every user holds Basic User, and nobody reads 20,000 rows. The rest are counted.
MAX_ROLE_HOLDERS = 2000

#: The order kinds are listed in: the identities automation runs as first.
KIND_ORDER = ("application", "technical", "person", "platform")

#: The identity graph's columns, left to right.
GRAPH_COLUMNS = ("solution", "reference", "connection", "account")


def inventory_of(document: dict[str, Any]) -> dict[str, Any]:
    """The identity inventory and graph of every environment, and the identities across them."""
    environments = [_environment(env) for env in document.get("environments") or []]
    return {
        "environments": environments,
        "accounts": sorted((_estate_account(a) for a in document.get("accounts") or []),
                           key=lambda a: (a["name"].lower(), a["key"])),
    }


# --------------------------------------------------------------------------- environments


def _environment(env: dict[str, Any]) -> dict[str, Any]:
    unresolved: dict[str, int] = {}
    for item in env.get("unresolved") or []:
        unresolved[item.get("what") or "other"] = unresolved.get(item.get("what") or "other", 0) + 1
    accounts, omitted = _accounts(env)
    return {
        "name": env.get("name") or "",
        "type": env.get("type"),
        "display_name": env.get("display_name"),
        "available": sorted(env.get("available") or []),
        "not_collected": {k: str(v) for k, v in sorted((env.get("not_collected") or {}).items())},
        "unresolved": dict(sorted(unresolved.items())),
        "solutions": sorted(env.get("solutions") or []),
        "accounts": accounts,
        "omitted_role_holders": omitted,
        "bindings": sorted((_binding(b) for b in env.get("bindings") or []),
                           key=lambda b: (b["solution"], b["reference"])),
    }


def _strings(values: Any) -> list[str]:
    return sorted({str(v) for v in values or [] if v is not None})


def _roles(user: dict[str, Any] | None) -> list[dict[str, str]]:
    roles = {(str(r.get("name") or r.get("builtin") or r.get("id") or "?"), str(r.get("via") or "direct"))
             for r in (user or {}).get("roles") or [] if isinstance(r, dict)}
    return [{"name": name, "via": via} for name, via in sorted(roles, key=lambda r: (r[0].lower(), r[1]))]


def _status(user: dict[str, Any] | None) -> list[str]:
    user = user or {}
    states = [s for s in ("disabled", "deleted", "guest") if user.get(s)]
    if user and user.get("known") is False:
        states.append("unknown to the environment's user data")
    return states


def _account_record(key: str, account: dict[str, Any] | None, user: dict[str, Any] | None) -> dict[str, Any]:
    """One row of the inventory: the environment's account entry and its user record, merged."""
    account = account or {}
    user = user or account.get("user") or {}
    ident = account.get("account") or user.get("upn") or user.get("email") or user.get("application_id") \
        or user.get("id") or key
    roles = _roles(user)
    why = []
    if account.get("connections") or account.get("references"):
        why.append("connection account")
    if account.get("owned_flows") or user.get("owned_flows"):
        why.append("flow owner")
    if (account.get("kind") or user.get("kind")) == "application":
        why.append("application user")
    if roles:
        why.append("role holder")
    return {
        "key": key,
        "account": str(ident),
        "name": str(user.get("name") or ident),
        "kind": str(account.get("kind") or user.get("kind") or "unknown"),
        "why": why,
        "status": _status(user),
        "roles": roles,
        "licenses": _strings(user.get("licenses")),
        "licenses_known": bool(user.get("licenses_known")),
        "solutions": _strings(account.get("solutions") or user.get("served_solutions")),
        "references": _strings(account.get("references") or user.get("references")),
        "connections": _strings(account.get("connections")),
        "connectors": _strings(account.get("connectors") or user.get("connectors")),
        "owned_flows": _strings(account.get("owned_flows") or user.get("owned_flows")),
        "source": _source(account.get("source") or user.get("source")),
    }


def _accounts(env: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Accounts that sign, own or are applications, then role holders (at most MAX_ROLE_HOLDERS)."""
    users = {u.get("key"): u for u in env.get("users") or [] if isinstance(u, dict)}
    rows: dict[str, dict[str, Any]] = {}
    for account in env.get("accounts") or []:
        key = str(account.get("key") or account.get("account"))
        rows[key] = _account_record(key, account, users.get(key) or account.get("user"))
    holders = []
    for key, user in users.items():
        if key in rows:
            continue
        if user.get("kind") == "application" or user.get("owned_flows"):
            rows[str(key)] = _account_record(str(key), None, user)
        elif user.get("roles"):
            holders.append(_account_record(str(key), None, user))
    holders.sort(key=_account_order)
    kept = holders[:MAX_ROLE_HOLDERS]
    ordered = sorted([*rows.values(), *kept], key=_account_order)
    return ordered, len(holders) - len(kept)


def _account_order(row: dict[str, Any]) -> tuple:
    kind = KIND_ORDER.index(row["kind"]) if row["kind"] in KIND_ORDER else len(KIND_ORDER)
    return (kind, row["name"].lower(), row["account"].lower(), row["key"])


def _source(source: Any) -> dict[str, Any] | None:
    if not isinstance(source, dict) or not source.get("file"):
        return None
    return {k: source[k] for k in ("file", "entry", "line") if source.get(k) is not None}


def _binding(b: dict[str, Any]) -> dict[str, Any]:
    user = b.get("user") or {}
    connection = b.get("connection") or {}
    account = b.get("account")
    return {
        "solution": str(b.get("solution") or ""),
        "reference": str(b.get("logical_name") or ""),
        "connector": str(b.get("connector_name") or b.get("connector") or ""),
        "bound": bool(b.get("bound")),
        "binding_source": b.get("binding_source"),
        "connection": str(b.get("connection_id")) if b.get("connection_id") else None,
        "connection_status": connection.get("status"),
        "account": str(account) if account else None,
        "account_name": str(user.get("name") or account) if account else None,
        "account_kind": str(user.get("kind") or connection.get("account_kind") or "unknown") if account else None,
    }


def _estate_account(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": str(a.get("key") or a.get("account") or ""),
        "name": str(a.get("name") or a.get("account") or a.get("key") or ""),
        "kind": str(a.get("kind") or "unknown"),
        "environments": _strings(a.get("environments")),
        "solutions": _strings(a.get("solutions")),
        "licenses": _strings(a.get("licenses")),
        "licenses_known": bool(a.get("licenses_known")),
    }


# --------------------------------------------------------------------------- graph layout


def graph_layers(bindings: list[dict[str, Any]]) -> tuple[list[list[dict[str, Any]]], list[tuple[str, str]]]:
    """The identity graph of one environment in four columns, and its edges (node id → node id).

    Each node is ``{id, column, label, detail, kind}``; ids are ``s:``, ``r:``, ``c:``, ``a:``
    followed by the object's identity. Solutions are sorted by name; each other column lists its
    nodes in the order the column before it first reaches them, which keeps most edges short.
    A reference without a connection has no edge onward; a connection whose account is unknown
    leads to no account node. Deterministic: the same bindings give the same layout.
    """
    columns: list[dict[str, dict[str, Any]]] = [{} for _ in GRAPH_COLUMNS]
    edges: dict[tuple[str, str], None] = {}
    for b in sorted(bindings, key=lambda b: (b["solution"], b["reference"], b["connection"] or "")):
        sol = _node(columns[0], f"s:{b['solution']}", 0, b["solution"], "", "solution")
        ref = _node(columns[1], f"r:{b['solution']}/{b['reference']}", 1, b["reference"],
                    b["connector"] or "", "reference" if b["connection"] else "unbound")
        edges[(sol, ref)] = None
        if not b["connection"]:
            continue
        con = _node(columns[2], f"c:{b['connection']}", 2, b["connector"] or "connection", b["connection"],
                    "connection")
        edges[(ref, con)] = None
        if b["account"]:
            acc = _node(columns[3], f"a:{b['account'].lower()}", 3, b["account_name"] or b["account"],
                        b["account"] if b["account_name"] != b["account"] else "", b["account_kind"] or "unknown")
            edges[(con, acc)] = None
    return [list(c.values()) for c in columns], list(edges)


def _node(column: dict[str, dict[str, Any]], ident: str, index: int, label: str, detail: str, kind: str) -> str:
    if ident not in column:
        column[ident] = {"id": ident, "column": GRAPH_COLUMNS[index], "label": label, "detail": detail, "kind": kind}
    return ident


# --------------------------------------------------------------------------- configuration


def configuration_of(policy: Any, rules: list[Rule], document: dict[str, Any]) -> dict[str, Any]:
    """What the policy changes against the rules' defaults, per rule, and the waivers it declares.

    ``rules`` are every rule loaded (disabled ones included); a rule appears only when the policy
    disables it, changes its severity or a parameter, or scopes it to some environments.
    ``in_scope`` names the scanned environments a scoped rule runs in.
    """
    environments = document.get("environments") or []
    out = []
    for rule in sorted(rules, key=lambda r: r.id):
        settings = policy.settings_for(rule.id, rule.name)
        changed = [{"name": name, "default": rule.parameters.get(name), "value": value,
                    "declared": name in rule.parameters or name in rule.parameter_specs}
                   for name, value in sorted(settings.parameters.items())
                   if name not in rule.parameters or rule.parameters[name] != value]
        severity = settings.severity if settings.severity and settings.severity != rule.severity else None
        scoped = settings.environments is not None
        if settings.enabled and not severity and not changed and not scoped:
            continue
        where = policy.rule_lines.get(rule.id) or policy.rule_lines.get(rule.name)
        out.append({
            "rule": rule.id, "name": rule.name, "title": rule.title, "default_severity": rule.severity,
            "enabled": bool(settings.enabled), "severity": severity, "parameters": changed,
            "environments": list(settings.environments) if scoped else None,
            "in_scope": sorted(e["name"] for e in environments if _environment_matches(e, settings.environments))
            if scoped else None,
            "set_in": _source(where),
        })
    return {"recorded": True, "rules": out, "waivers": [_waiver(w) for w in getattr(policy, "waivers", [])]}


def _waiver(waiver: Any) -> dict[str, Any]:
    """A declared waiver's fields (whatever the policy's Waiver carries), its place as ``source``."""
    if dataclasses.is_dataclass(waiver) and not isinstance(waiver, type):
        data = {f.name: getattr(waiver, f.name) for f in dataclasses.fields(waiver)}
    elif isinstance(waiver, dict):
        data = dict(waiver)
    else:
        data = {k: v for k, v in vars(waiver).items() if not k.startswith("_")}
    return {k: _plain(v) for k, v in data.items() if v is not None and v != "" and v != []}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # a date, a path
