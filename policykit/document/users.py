"""Who is who in an environment: Dataverse users joined with Microsoft Graph users and
application users, their kind (person, technical, application, platform), effective roles and
licensed rights.

The index is a dictionary keyed by every identifier a connection or a flow may carry (user name,
object id, application id, system user id, e-mail), so joining a connection to its account is one
lookup.
"""

from __future__ import annotations

from typing import Any

from ..catalog import Catalogs
from ..platform import is_microsoft_identity, norm_guid
from ..policy import Policy
from .notices import Notices
from .roles import role_ref

#: Service plan states that grant the plan's rights.
ENABLED_PLAN_STATES = {"success", "pendingprovisioning", "pendingactivation"}


class Identities:
    """Index of an environment's users by every identifier a connection or flow may carry."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict] = {}

    def add(self, user: dict, *ids: str | None) -> None:
        for i in ids:
            n = norm_guid(i)
            if n and n not in self.by_id:
                self.by_id[n] = user

    def get(self, *ids: str | None) -> dict | None:
        for i in ids:
            n = norm_guid(i)
            if n and n in self.by_id:
                return self.by_id[n]
        return None


# --------------------------------------------------------------------------- licenses

class Licenses:
    """Resolves Graph license assignments to SKUs, plans and rights, once per environment.

    An export's ``subscribedSkus.json`` is the tenant's own truth; the shipped catalog (with the
    policy's overrides) fills in SKUs it lacks and serves snapshots, which name SKUs by part number.
    A SKU that neither knows makes its holder's licenses unknown, and is noticed once.
    """

    def __init__(self, raw: dict, cats: Catalogs, notices: Notices, env: str) -> None:
        self.cats = cats
        self.notices = notices
        self.env = env
        self.tenant: dict[str, dict] = {}
        self._answers: dict[tuple, dict] = {}
        for sku in raw.get("skus") or []:
            sku_id = norm_guid(sku.get("sku_id"))
            if sku_id:
                self.tenant[sku_id] = sku

    def sku(self, assigned: dict) -> dict | None:
        sku_id = norm_guid(assigned.get("sku_id"))
        if sku_id and sku_id in self.tenant:
            return self.tenant[sku_id]
        if sku_id and sku_id in self.cats.skus_by_id:
            return self.cats.skus_by_id[sku_id]
        part = assigned.get("sku_part_number")
        return self.cats.sku_by_part(part) if part else None

    def of(self, graph: dict | None) -> dict:
        """Licenses, enabled plans and rights of a Graph user. The answer depends only on the
        assignments, which thousands of users share: computed once per combination (the lists
        returned are shared, and only read)."""
        if graph is None or graph.get("licenses") is None:
            return {"licenses_known": False, "licenses": [], "service_plans": [], "rights": [], "unknown_skus": []}
        key = tuple((lic.get("sku_id"), lic.get("sku_part_number"), tuple(lic.get("disabled_plans") or ()))
                    for lic in graph["licenses"])
        if key not in self._answers:
            self._answers[key] = self._resolve(graph)
        return dict(self._answers[key])

    def _resolve(self, graph: dict) -> dict:
        parts, plans, unknown = set(), set(), []
        for lic in graph.get("licenses") or []:
            sku = self.sku(lic)
            if sku is None:
                unknown.append(lic.get("sku_part_number") or norm_guid(lic.get("sku_id")) or "?")
                continue
            parts.add(sku["sku_part_number"])
            disabled = {str(d).lower() for d in lic.get("disabled_plans") or []}
            for plan in sku["service_plans"]:
                if (plan.get("id") or "").lower() in disabled or plan["name"].lower() in disabled:
                    continue
                if (plan.get("status") or "Success").lower() in ENABLED_PLAN_STATES:
                    plans.add(plan["name"])
        for sku_name in unknown:
            self.notices.add(f"SKU {sku_name} is in no license catalog (the tenant's subscribedSkus.json "
                             "or PolicyKit's): the licenses of the accounts holding it are unknown, and the "
                             "license rules do not judge them; add it under catalog.skus in the policy",
                             graph.get("source"), key=f"sku:{sku_name}")
        rights = {self.cats.plan_rights[p] for p in plans if p in self.cats.plan_rights}
        return {"licenses_known": not unknown, "licenses": sorted(parts), "service_plans": sorted(plans),
                "rights": sorted(rights), "unknown_skus": sorted(set(unknown))}


# --------------------------------------------------------------------------- kinds

def kind_of(policy: Policy, *, name: str | None, upn: str | None, application_id: str | None,
            application_type: int | None, service_principal: bool = False) -> str:
    """platform (Microsoft's own), application (a customer's Entra app), technical or person."""
    if is_microsoft_identity(upn, application_id, application_type) \
            or policy.is_platform(name, upn, application_id):
        return "platform"
    if application_id or service_principal:
        return "application"
    if policy.is_technical(upn, name):
        return "technical"
    return "person"


def _application_types(raw: dict) -> dict[str, int]:
    """``applicationusers.json``: applicationtype by system user id and by application id."""
    out: dict[str, int] = {}
    for row in raw.get("application_users") or []:
        if row.get("application_type") is None:
            continue
        for key in (row.get("user_id"), row.get("application_id")):
            if norm_guid(key):
                out[norm_guid(key) or ""] = row["application_type"]
    return out


def _user_roles(su: dict, roles_by_id: dict[str, dict], teams_by_id: dict[str, dict]) -> tuple[list, list]:
    roles = [role_ref(r, roles_by_id, "direct") for r in su.get("roles") or []]
    teams = []
    for t in su.get("teams") or []:
        team = teams_by_id.get(norm_guid(t.get("id")) or "", t)
        teams.append(team.get("name") or t.get("name") or "")
        roles += [role_ref(r, roles_by_id, f"team:{team.get('name') or ''}") for r in team.get("roles") or []]
    return roles, sorted(set(teams))


def _systemuser(su: dict, graph: dict | None, ctx: dict) -> dict:
    upn = su.get("domainname") or (graph or {}).get("upn")
    app_id = norm_guid(su.get("application_id"))
    app_type = su.get("application_type")
    if app_type is None:
        app_type = ctx["app_types"].get(norm_guid(su.get("id")) or "") or ctx["app_types"].get(app_id or "")
    roles, teams = _user_roles(su, ctx["roles_by_id"], ctx["teams_by_id"])
    azure_state = su.get("azure_state")
    return {
        "id": norm_guid(su.get("id")), "name": su.get("fullname") or upn or app_id or "",
        "upn": upn, "email": su.get("email"), "application_id": app_id, "application_type": app_type,
        "aad_object_id": norm_guid(su.get("aad_object_id")) or norm_guid((graph or {}).get("id")),
        "kind": kind_of(ctx["policy"], name=su.get("fullname"), upn=upn, application_id=app_id,
                        application_type=app_type),
        "in_dataverse": True, "in_graph": graph is not None, "known": True,
        "disabled": bool(su.get("disabled")) or (graph or {}).get("enabled") is False,
        "deleted": azure_state in (1, 2),
        "guest": "#ext#" in (upn or "").lower() or (graph or {}).get("user_type") == "Guest",
        "access_mode": su.get("access_mode"), "azure_state": azure_state,
        "roles": roles, "teams": teams,
        **ctx["licenses"].of(graph),
        "source": su.get("source"),
    }


def _graph_only(g: dict, ctx: dict) -> dict:
    upn = g.get("upn")
    return {
        "id": None, "name": g.get("display_name") or upn or "", "upn": upn, "email": None,
        "application_id": None, "application_type": None, "aad_object_id": norm_guid(g.get("id")),
        "kind": kind_of(ctx["policy"], name=g.get("display_name"), upn=upn, application_id=None,
                        application_type=None),
        "in_dataverse": False, "in_graph": True, "known": True,
        "disabled": g.get("enabled") is False, "deleted": False,
        "guest": "#ext#" in (upn or "").lower() or g.get("user_type") == "Guest",
        "access_mode": None, "azure_state": None, "roles": [], "teams": [],
        **ctx["licenses"].of(g), "source": g.get("source"),
    }


def environment_users(env: str, raw: dict, policy: Policy, cats: Catalogs, roles_by_id: dict[str, dict],
                      notices: Notices) -> tuple[list[dict], Identities]:
    """Every user of the environment, indexed by each identifier a connection or flow may carry."""
    ctx: dict[str, Any] = {
        "policy": policy, "roles_by_id": roles_by_id,
        "teams_by_id": {norm_guid(t.get("id")) or "": t for t in raw.get("teams") or []},
        "app_types": _application_types(raw),
        "licenses": Licenses(raw, cats, notices, env),
    }
    graph_by = Identities()
    for g in raw.get("graph_users") or []:
        graph_by.add(g, g.get("id"), g.get("upn"))
    users, index, used_graph = [], Identities(), set()
    for su in raw.get("systemusers") or []:
        graph = graph_by.get(su.get("aad_object_id"), su.get("domainname"))
        if graph is not None:
            used_graph.add(id(graph))
        user = _systemuser(su, graph, ctx)
        users.append(user)
        index.add(user, user["id"], user["upn"], user["application_id"], user["aad_object_id"], su.get("email"))
    for g in raw.get("graph_users") or []:
        if id(g) not in used_graph:
            user = _graph_only(g, ctx)
            users.append(user)
            index.add(user, user["upn"], user["aad_object_id"])
    for user in users:
        _finish(user, env)
    return users, index


def _finish(user: dict, env: str) -> None:
    user["environment"] = env
    user["key"] = f"{env}/{user['upn'] or user['application_id'] or user['name'] or user['id']}"
    user["inactive"] = user["disabled"] or user["deleted"] or user["guest"]
    user["role_names"] = sorted({r["name"] for r in user["roles"]})


def unlisted_account(env: str, account: str, conn: dict, policy: Policy) -> dict:
    """A connection's account when the environment has no user data at all: classified by the
    policy's naming rules alone (``known`` false), so that PPK101 can still tell a person."""
    created = conn.get("created_by") or {}
    sp = (created.get("type") or "").lower() == "serviceprincipal" and not conn.get("account")
    user = {
        "id": None, "name": account, "upn": None if sp else account, "email": None,
        "application_id": account if sp else None, "application_type": None, "aad_object_id": None,
        "kind": kind_of(policy, name=created.get("display_name") if sp else None, upn=None if sp else account,
                        application_id=account if sp else None, application_type=None, service_principal=sp),
        "in_dataverse": False, "in_graph": False, "known": False, "disabled": False, "deleted": False,
        "guest": "#ext#" in account.lower(), "access_mode": None, "azure_state": None,
        "roles": [], "teams": [], "licenses_known": False, "licenses": [], "service_plans": [], "rights": [],
        "unknown_skus": [], "source": conn.get("source"),
    }
    _finish(user, env)
    user["key"] = f"{env}/{account}"
    return user
