"""Cloud flows in an environment, joined by workflow id to their solution definition and owner."""

from __future__ import annotations

from ..platform import norm_guid, norm_ref
from .users import Identities


def environment_flows(env: str, raw: dict, deployed: list[dict], ctx: dict) -> list[dict]:
    """``workflows`` rows joined to the scanned definitions, their owner and Process license.

    ``process_license`` is null when the environment's Process-license list was not given: no
    rule may read "holds none" from missing data. An owner id that is a team is kept as
    ``owner_team``; one that matches neither a user nor a team is unresolved (noticed).
    """
    index: Identities = ctx["index"]
    by_id = {f["id"]: f for s in deployed for f in s["flows"] if f.get("is_cloud_flow") and f.get("id")}
    has_licenses = "process_licenses" in (raw.get("available") or [])
    licensed = {norm_ref(x).lower() for x in raw.get("process_licenses") or [] if isinstance(x, str)}
    teams = {norm_guid(t.get("id")) or "": t.get("name") for t in raw.get("teams") or []}
    has_users = "systemusers" in (raw.get("available") or [])
    out = []
    for wf in raw.get("workflows") or []:
        wid = norm_guid(wf.get("id"))
        sol_flow = by_id.get(wid or "") or by_id.get(norm_guid(wf.get("unique_id")) or "") or {}
        owner_id = norm_guid(wf.get("owner_id"))
        owner = index.get(owner_id)
        name = wf.get("name") or sol_flow.get("name") or wid or ""
        flow = {
            "key": f"{env}/{name}", "environment": env, "id": wid, "name": name,
            "solution": sol_flow.get("solution"),
            "state": wf.get("state"), "owner_id": owner_id, "owner": owner,
            "owner_team": teams.get(owner_id or "") if owner is None else None,
            "premium": sol_flow.get("premium"), "premium_reasons": sol_flow.get("premium_reasons", []),
            "connectors": sol_flow.get("connectors", []),
            "trigger_kind": sol_flow.get("trigger_kind"),
            "in_app_context": bool(sol_flow.get("in_app_context")),
            "process_license": bool({wid, name.lower()} & licensed) if has_licenses else None,
            "definition_source": sol_flow.get("source"),
            "source": wf.get("source"),
        }
        if owner is None and flow["owner_team"] is None and owner_id and has_users:
            ctx["unresolved"].append({"what": "flow_owners", "key": flow["key"],
                                      "detail": f"flow {name} is owned by {owner_id}, which matches no user or team",
                                      "source": wf.get("source")})
            ctx["notices"].add(f"cloud flow {name} in {env} is owned by {owner_id}, which matches no user or team "
                               "of the environment's data: the rules about flow owners cannot judge it",
                               wf.get("source"))
        out.append(flow)
    return out
