"""Connections and bindings: each connection joined to the account it signs in as, and each
deployed connection reference to its connection (the live binding, else the settings file)."""

from __future__ import annotations

from ..catalog import Catalogs
from .users import Identities, unlisted_account


def _account(conn: dict) -> str | None:
    """Who a connection signs in as: ``accountName``; for a service principal, the creator's id."""
    created = conn.get("created_by") or {}
    if conn.get("account"):
        return conn["account"]
    if (created.get("type") or "").lower() == "serviceprincipal":
        return created.get("id")
    return created.get("upn") or created.get("email")


def connections(env: str, raw: dict, ctx: dict) -> list[dict]:
    """The environment's connections with their account's user record.

    With user data (Dataverse or Graph users), an account that matches nobody stays unresolved:
    noticed, and recorded under ``unresolved`` so that the rules that judge accounts say which
    connection they could not judge. Without any user data, the account is classified by the
    policy's naming rules alone.
    """
    index: Identities = ctx["index"]
    has_users = bool({"systemusers", "graph_users"} & set(raw.get("available") or []))
    out = []
    for c in raw.get("connections") or []:
        conn = {**c, "environment": env, "key": f"{env}/{c.get('id')}", "references": [], "solutions": []}
        conn["tier"] = ctx["cats"].connector(conn.get("connector"))["tier"]
        account = _account(conn)
        conn["account"] = account
        created = conn.get("created_by") or {}
        user = index.get(c.get("account_user_id"), account, created.get("id") if not c.get("account") else None) \
            if account else None
        if user is None and account:
            if has_users:
                ctx["unresolved"].append({
                    "what": "connection_accounts", "key": conn["key"],
                    "detail": f"connection {c.get('id')} signs in as {account}, which matches no user",
                    "source": c.get("source")})
                ctx["notices"].add(f"connection {c.get('id')} in {env} signs in as {account}, which matches no "
                                   "Dataverse or Microsoft Graph user of the environment's data: the rules "
                                   "about connection accounts cannot judge it", c.get("source"))
            else:
                user = unlisted_account(env, account, conn, ctx["policy"])
                ctx["users"].append(user)
                index.add(user, account)
        conn["user"] = user
        conn["account_known"] = user is not None and user.get("known", False)
        conn["account_kind"] = user["kind"] if user else None
        out.append(conn)
    return out


def binding(env: str, sol: dict, ref: dict, setting: dict | None, live: dict | None,
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
        "user": conn["user"] if conn else None,
        "reference_source": ref["source"],
        "source": source,
    }


def bindings(env: str, inp_settings: list[dict], raw: dict, deployed: list[dict],
             conns: list[dict], cats: Catalogs) -> list[dict]:
    """One binding per deployed reference, when a settings file or live bindings say anything."""
    conn_by_id = {(c.get("id") or "").lower(): c for c in conns}
    live = {(r.get("logical_name") or "").lower(): r for r in raw.get("connection_references") or []}
    settings_refs: dict[str, dict] = {}
    for s in inp_settings:
        for r in s["connection_references"]:
            settings_refs.setdefault(r["logical_name"].lower(), r)
    if not inp_settings and "connection_references" not in (raw.get("available") or []):
        return []
    out = [binding(env, sol, ref, settings_refs.get(ref["logical_name"].lower()),
                   live.get(ref["logical_name"].lower()), conn_by_id, cats)
           for sol in deployed for ref in sol["connection_references"]]
    for b in out:
        conn = conn_by_id.get((b["connection_id"] or "").lower())
        if conn is not None:
            conn["references"].append(b["key"])
            conn["solutions"].append(b["solution"])
    for c in conns:
        c["solutions"] = sorted(set(c["solutions"]))
        c["references"].sort()
    return out


def connection_groups(env: str, conns: list[dict], cats: Catalogs) -> list[dict]:
    """Connections grouped by (account, connector): several means duplicated credentials."""
    groups: dict[tuple[str, str], dict] = {}
    for c in conns:
        if not c.get("account") or not c.get("connector"):
            continue
        k = (c["account"].lower(), c["connector"])
        g = groups.setdefault(k, {"key": f"{env}/{c['account']}/{c['connector']}", "environment": env,
                                  "account": c["account"], "connector": c["connector"],
                                  "connector_name": cats.connector(c["connector"])["display_name"] or c["connector"],
                                  "connections": [], "source": c.get("source")})
        g["connections"].append(c["id"])
    return [groups[k] for k in sorted(groups)]
