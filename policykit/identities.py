"""Who is who in an environment: Dataverse users joined with Microsoft Graph users, their kind
(person, technical, application, platform), effective roles and licensed rights.

Indexes are dictionaries keyed by every identifier a connection or a flow may carry (UPN, object
id, application id, system user id), so joining a connection to its account is one lookup.
"""

from __future__ import annotations


from .catalog import Catalogs
from .platform import ENVIRONMENT_MAKER_ROOT, NAME_ONLY_BUILTINS, ROLE_TEMPLATES
from .platform import norm_guid as norm_id
from .policy import Policy

#: Service plan states that grant the plan's rights.
ENABLED_PLAN_STATES = {"success", "pendingprovisioning", "pendingactivation"}


class Identities:
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


def role_ref(role: dict, roles_by_id: dict[str, dict], via: str) -> dict:
    rid = norm_id(role.get("id"))
    known = roles_by_id.get(rid or "", {})
    template = norm_id(role.get("template_id")) or norm_id(known.get("template_id"))
    if not template and known.get("parent_root_id"):
        template = norm_id(roles_by_id.get(norm_id(known["parent_root_id"]) or "", {}).get("template_id"))
    name = role.get("name") or known.get("name") or ""
    builtin = ROLE_TEMPLATES.get(template or "")
    if not builtin and (rid == ENVIRONMENT_MAKER_ROOT or norm_id(known.get("parent_root_id")) == ENVIRONMENT_MAKER_ROOT):
        builtin = "Environment Maker"
    if not builtin and name in NAME_ONLY_BUILTINS:
        builtin = name
    return {"id": rid, "name": name, "template_id": template, "builtin": builtin, "via": via}


def _licenses(graph: dict | None, skus_by_id: dict[str, dict], cats: Catalogs) -> dict:
    if graph is None:
        return {"licenses_known": False, "licenses": [], "service_plans": [], "rights": []}
    parts, plans = set(), set()
    for lic in graph.get("licenses") or []:
        sku = skus_by_id.get(norm_id(lic.get("sku_id")) or "")
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


def environment_users(env: str, raw: dict, policy: Policy, cats: Catalogs) -> tuple[list[dict], Identities, dict]:
    roles_by_id = {norm_id(r.get("id")) or "": r for r in raw.get("roles") or []}
    teams_by_id = {norm_id(t.get("id")) or "": t for t in raw.get("teams") or []}
    skus_by_id = dict(cats.skus_by_id)
    # A snapshot's SKUs come from the shipped catalog, so the policy's overrides apply to them;
    # an export's subscribedSkus.json is the tenant's own truth.
    for sku in (raw.get("skus") or []) if raw.get("format") != "snapshot" else []:
        skus_by_id[norm_id(sku.get("sku_id")) or ""] = {"sku_part_number": sku.get("sku_part_number"),
                                                       "service_plans": sku.get("service_plans") or []}
    # The catalog gives plan names only; normalize its entries to the {name, status} shape.
    for sku_id, sku in list(skus_by_id.items()):
        sku["service_plans"] = [p if isinstance(p, dict) else {"id": None, "name": p, "status": "Success"}
                                for p in sku["service_plans"]]
    graph_by = Identities()
    for g in raw.get("graph_users") or []:
        graph_by.add(g, g.get("id"), g.get("upn"))
    users, index, used_graph = [], Identities(), set()
    for su in raw.get("systemusers") or []:
        graph = graph_by.get(su.get("aad_object_id"), su.get("domainname"))
        if graph is not None:
            used_graph.add(id(graph))
        roles = [role_ref(r, roles_by_id, "direct") for r in su.get("roles") or []]
        teams = []
        for t in su.get("teams") or []:
            team = teams_by_id.get(norm_id(t.get("id")) or "", t)
            teams.append(team.get("name") or t.get("name") or "")
            roles += [role_ref(r, roles_by_id, f"team:{team.get('name') or ''}") for r in team.get("roles") or []]
        upn = su.get("domainname") or (graph or {}).get("upn")
        app_id = norm_id(su.get("application_id"))
        azure_state = su.get("azure_state")
        user = {
            "id": norm_id(su.get("id")), "name": su.get("fullname") or upn or app_id or "",
            "upn": upn, "email": su.get("email"), "application_id": app_id,
            "aad_object_id": norm_id(su.get("aad_object_id")) or norm_id((graph or {}).get("id")),
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
            "application_id": None, "aad_object_id": norm_id(g.get("id")),
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


def account_user(env: str, account: str, conn: dict, index: Identities, policy: Policy,
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
