"""Who is who in an environment: Dataverse users joined with Microsoft Graph users and
application users, their kind (person, technical, application, platform), effective roles and
licensed rights.

The index is a dictionary keyed by every identifier a connection or a flow may carry (user name,
object id, application id, system user id, e-mail), so joining a connection to its account is one
lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ..catalog import Catalogs
from ..platform import is_microsoft_identity, norm_guid
from ..policy import Policy
from .notices import Notices
from .roles import role_ref

#: Service plan states that grant the plan's rights.
ENABLED_PLAN_STATES = {"success", "pendingprovisioning", "pendingactivation"}


#: What a user serves, owns and may change in an environment: all empty for one that holds no
#: role and does nothing there.
USER_FACTS = ("served_solutions", "references", "needed_services", "connectors", "owned_flows",
              "premium_owned_flows", "privileges", "write_tables", "served_tables", "write_tables_outside")


def idle(user: dict) -> None:
    """Records that ``user`` holds no role and does nothing in its environment."""
    user.update({name: [] for name in USER_FACTS})


class Identities:
    """Index of an environment's users by every identifier a connection or flow may carry.

    ``fallback`` answers an identifier the index lacks (the tenant directory's users, made an
    environment's user only when a connection or a flow names them); the user it gives is indexed
    by its UPN and object id from then on. The fallback never refers back to this index: a
    reference cycle would keep every environment's index alive until the scan is over."""

    def __init__(self, fallback: Callable[[str], dict | None] | None = None) -> None:
        self.by_id: dict[str, dict] = {}
        self._fallback = fallback

    def add(self, user: dict, *ids: str | None) -> None:
        for i in ids:
            n = norm_guid(i)
            if n and n not in self.by_id:
                self.by_id[n] = user

    def get(self, *ids: str | None) -> dict | None:
        for i in ids:
            n = norm_guid(i)
            if not n:
                continue
            if n in self.by_id:
                return self.by_id[n]
            found = self._fallback(n) if self._fallback else None
            if found is not None:
                self.add(found, found["upn"], found["aad_object_id"])
                return found
        return None


class Directory:
    """A tenant's Microsoft Graph users, indexed once per scan.

    Graph's ``users.json`` is tenant-wide: every environment's export holds the same rows (the
    loader hands them all the same list). Most of those people do nothing in a given environment,
    so an environment makes a user of a directory row only when it is a Dataverse user there or
    when a connection or a flow names it (:class:`_EnvironmentUsers`).
    """

    def __init__(self, rows: list[dict], policy: Policy) -> None:
        self.rows = rows
        self.index = Identities()
        self.position: dict[int, int] = {}
        for i, g in enumerate(rows):
            self.index.add(g, g.get("id"), g.get("upn"))
            self.position[id(g)] = i
        self.technical = [g for g in rows if _graph_kind(policy, g) == "technical"]


def _graph_kind(policy: Policy, g: dict) -> str:
    return kind_of(policy, name=g.get("display_name"), upn=g.get("upn"), application_id=None, application_type=None)


def directory(rows: list[dict], policy: Policy, shared: dict[int, Directory]) -> Directory:
    """The directory of ``rows``, built once for every environment sharing them."""
    if id(rows) not in shared:
        shared[id(rows)] = Directory(rows, policy)
    return shared[id(rows)]


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

    def of(self, graph: dict | None, source: dict | None = None) -> dict:
        """Licenses, enabled plans and rights of a Graph user. The answer depends only on the
        assignments, which thousands of users share: computed once per combination (the lists
        returned are shared, and only read)."""
        if graph is None or graph.get("licenses") is None:
            return {"licenses_known": False, "licenses": [], "service_plans": [], "rights": [], "unknown_skus": []}
        key = tuple((lic.get("sku_id"), lic.get("sku_part_number"), tuple(lic.get("disabled_plans") or ()))
                    for lic in graph["licenses"])
        if key not in self._answers:
            self._answers[key] = self._resolve(graph, source)
        return dict(self._answers[key])

    def _resolve(self, graph: dict, source: dict | None) -> dict:
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
                             source, key=f"sku:{sku_name}")
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


def _user_roles(su: dict, ctx: dict) -> tuple[list, list]:
    refs: dict[tuple, dict] = ctx["role_refs"]  # one record per role and way of holding it, shared

    def ref(role: dict, via: str) -> dict:
        key = (role.get("id"), role.get("template_id"), role.get("name"), via)
        if key not in refs:
            refs[key] = role_ref(role, ctx["roles_by_id"], via)
        return refs[key]
    roles = [ref(r, "direct") for r in su.get("roles") or []]
    teams = []
    for t in su.get("teams") or []:
        team = ctx["teams_by_id"].get(norm_guid(t.get("id")) or "", t)
        teams.append(team.get("name") or t.get("name") or "")
        roles += [ref(r, f"team:{team.get('name') or ''}") for r in team.get("roles") or []]
    return roles, sorted(set(teams))


def _systemuser(su: dict, graph: dict | None, ctx: dict) -> dict:
    upn = su.get("domainname") or (graph or {}).get("upn")
    app_id = norm_guid(su.get("application_id"))
    app_type = su.get("application_type")
    if app_type is None:
        app_type = ctx["app_types"].get(norm_guid(su.get("id")) or "") or ctx["app_types"].get(app_id or "")
    roles, teams = _user_roles(su, ctx)
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
        **ctx["licenses"].of(graph, ctx["graph_source"](graph) if graph else None),
        "source": su.get("source"),
    }


def _graph_only(g: dict, ctx: dict) -> dict:
    upn = g.get("upn")
    return {
        "id": None, "name": g.get("display_name") or upn or "", "upn": upn, "email": None,
        "application_id": None, "application_type": None, "aad_object_id": norm_guid(g.get("id")),
        "kind": _graph_kind(ctx["policy"], g),
        "in_dataverse": False, "in_graph": True, "known": True,
        "disabled": g.get("enabled") is False, "deleted": False,
        "guest": "#ext#" in (upn or "").lower() or g.get("user_type") == "Guest",
        "access_mode": None, "azure_state": None, "roles": [], "teams": [],
        **ctx["licenses"].of(g, ctx["graph_source"](g)), "source": ctx["graph_source"](g),
    }


class _DirectoryUsers:
    """The directory's users made an environment's users, each on the first lookup that names
    it: the fallback of the environment's :class:`Identities`."""

    def __init__(self, env: str, ctx: dict | None, people: Directory | None) -> None:
        self.env = env
        self.ctx = ctx
        self.people = people
        self.used_graph: set[int] = set()          # directory rows a Dataverse user stands for
        self.made: dict[int, dict] = {}            # directory rows made users here, by id(row)

    def __call__(self, ident: str) -> dict | None:
        assert self.people is not None
        g = self.people.index.by_id.get(ident)
        if g is None or id(g) in self.used_graph:
            return None
        if id(g) not in self.made:
            self.made[id(g)] = self.user(g)
        return self.made[id(g)]

    def user(self, g: dict) -> dict:
        user = _graph_only(g, self.ctx)
        _finish(user, self.env)
        return user


class EnvironmentUsers:
    """An environment's users: its Dataverse users (joined with their Graph user), the directory's
    users that a connection or a flow names (made on the first lookup), and accounts known only
    from a connection (``unlisted``, when the environment has no user data at all)."""

    def __init__(self, env: str, ctx: dict | None = None, people: Directory | None = None) -> None:
        self.env = env
        self.people = people
        self.dataverse: list[dict] = []
        self.unlisted: list[dict] = []
        self._directory = _DirectoryUsers(env, ctx, people)
        self.used_graph = self._directory.used_graph
        self.index = Identities(self._directory if people is not None else None)

    def all(self) -> list[dict]:
        """Every user of the environment, in the order of its data."""
        position = self.people.position if self.people is not None else {}
        made = self._directory.made
        named = [made[k] for k in sorted(made, key=position.__getitem__)]
        return self.dataverse + named + self.unlisted

    def idle_technical(self) -> list[tuple[str, Callable[[], dict]]]:
        """The directory's technical accounts that do nothing here: not environment users, but the
        license rules judge technical accounts wherever their licenses are visible. Each comes as
        its identity and a maker of its user record, wanted only where the account is first seen."""
        if self.people is None:
            return []
        made = self._directory.made
        return [((g.get("upn") or g.get("display_name") or "").lower(), partial(self._idle_user, g))
                for g in self.people.technical if id(g) not in self.used_graph and id(g) not in made]

    def _idle_user(self, g: dict) -> dict:
        user = self._directory.user(g)
        idle(user)
        return user


def environment_users(env: str, raw: dict, policy: Policy, cats: Catalogs, roles_by_id: dict[str, dict],
                      notices: Notices, shared: dict[int, Directory]) -> EnvironmentUsers:
    """The environment's users, indexed by each identifier a connection or flow may carry."""
    graph_file = (raw.get("tenant_files") or {}).get("graph_users")

    def graph_source(g: dict) -> dict | None:
        source = g.get("source")
        return {"file": graph_file, **source} if source is not None and "file" not in source else source
    ctx: dict[str, Any] = {
        "policy": policy, "roles_by_id": roles_by_id,
        "teams_by_id": {norm_guid(t.get("id")) or "": t for t in raw.get("teams") or []},
        "app_types": _application_types(raw),
        "licenses": Licenses(raw, cats, notices, env),
        "graph_source": graph_source, "role_refs": {},
    }
    people = directory(raw["graph_users"], policy, shared) if raw.get("graph_users") else None
    out = EnvironmentUsers(env, ctx, people)
    for su in raw.get("systemusers") or []:
        graph = people.index.get(su.get("aad_object_id"), su.get("domainname")) if people else None
        if graph is not None:
            out.used_graph.add(id(graph))
        user = _systemuser(su, graph, ctx)
        _finish(user, env)
        out.dataverse.append(user)
        out.index.add(user, user["id"], user["upn"], user["application_id"], user["aad_object_id"], su.get("email"))
    return out


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
