"""The normalized document: raw facts plus the joined views every rule needs.

The joins run once, in linear time, with dictionaries as indexes, one module per link of the chain:

    solutions      keys, connector tiers, flow facts (premium, trigger kind)
    users          Dataverse users + Graph users + application users → kind, roles, licenses, rights
    bindings       connection reference → bound connection → the account it signs in as → its user
    flows          environment flows → their definition, owner and Process license
    roles          role templates, Global reach, holders, effective privileges
    environment    one environment's view, and what each user serves, owns and may change

and, across environments, each identity's use (``accounts``): licenses are tenant-wide, so a rule
that judges a license looks at every scanned environment. The result is plain dicts, lists,
strings, numbers and booleans — JMESPath rejects subclasses — described in ``docs/document.md``
and ``docs/document.schema.json``.
"""

from __future__ import annotations

from typing import Any

from ..catalog import Catalogs
from ..policy import Policy
from .dlp import attach_dlp
from .environment import EnvironmentInput, build_environment, with_settings_path
from .notices import Notices
from .roles import custom_roles
from .solutions import prepare_packages, prepare_solutions, reference_names

__all__ = ["SCHEMA_VERSION", "EnvironmentInput", "build_document"]

SCHEMA_VERSION = 1
#: The Dataverse connector: an ordinary user signing its connections must be a licensed Dataverse user.
_DATAVERSE = {"shared_commondataserviceforapps", "shared_commondataservice"}


def _new_account(user: dict, ident: str) -> dict:
    return {"key": ident, "account": user["upn"] or user["application_id"] or user["name"],
            "name": user["name"], "kind": user["kind"], "application_id": user["application_id"],
            "environments": [], "seen_in": [], "solutions": set(), "owned_flows": [], "premium_owned_flows": [],
            "connectors": set(), "flows_known": True, "licenses_known": user["licenses_known"],
            "licenses": user["licenses"], "rights": user["rights"], "user": user, "source": user.get("source")}


def _seen(acc: dict[str, dict], ident: str, env: dict, user: dict, used: bool) -> None:
    e = acc.get(ident)
    if e is None:
        e = acc[ident] = _new_account(user, ident)
    e["seen_in"].append(env["name"])
    e["flows_known"] = e["flows_known"] and "workflows" in env["available"]
    if used:
        e["environments"].append(env["name"])
    e["solutions"].update(user.get("served_solutions") or [])
    e["owned_flows"] += [f"{env['name']}/{f}" for f in user["owned_flows"]]
    e["premium_owned_flows"] += [f"{env['name']}/{f}" for f in user["premium_owned_flows"]]
    e["connectors"].update(user.get("connectors") or [])
    if not e["licenses_known"] and user["licenses_known"]:
        e.update(licenses_known=True, licenses=user["licenses"], rights=user["rights"])


def _estate_accounts(envs: list[dict], idle_technical: list[list[tuple]]) -> list[dict]:
    """Identities across environments: the same technical user or Entra application in several.

    Licenses are tenant-wide (one assignment counts in every environment), so each account also
    carries what it does in every scanned environment: the flows it owns (``flows_known`` is false
    when an environment where it is present has no flow data), the connectors it signs.
    """
    acc: dict[str, dict] = {}
    for env, idle in zip(envs, idle_technical):
        for user in env["users"]:
            ident = (user.get("application_id") or user.get("upn") or user.get("name") or "").lower()
            # Graph's users.json is tenant-wide: a user is "used" in an environment only when it
            # is a Dataverse user there, signs one of its connections or owns one of its flows.
            # Technical accounts are kept even where unused, for the license rules.
            used = bool(user["in_dataverse"] or user["served_solutions"] or user["owned_flows"])
            if ident and (used or user["kind"] == "technical"):
                _seen(acc, ident, env, user, used)
        for ident, make in idle:  # the directory's technical accounts that do nothing here
            known = acc.get(ident)
            if known is not None and known["licenses_known"]:  # nothing to learn from its record
                known["seen_in"].append(env["name"])
                known["flows_known"] = known["flows_known"] and "workflows" in env["available"]
            elif ident:
                _seen(acc, ident, env, make(), False)
    out = []
    for _, e in sorted(acc.items()):
        e["dataverse_connections"] = bool(_DATAVERSE & e["connectors"])
        e.update(environments=sorted(set(e["environments"])), seen_in=sorted(set(e["seen_in"])), solutions=sorted(e["solutions"]),
                 connectors=sorted(e["connectors"]), owned_flows=sorted(e["owned_flows"]),
                 premium_owned_flows=sorted(e["premium_owned_flows"]))
        out.append(e)
    return out


def build_document(solutions: list[dict], environments: list[EnvironmentInput], policy: Policy,
                   estate_name: str = "estate", packages: list[dict] | None = None,
                   settings_only: list[dict] | None = None, notices: Notices | None = None) -> dict[str, Any]:
    """Join everything into the normalized document (see docs/document.md)."""
    cats = Catalogs(policy)
    notices = notices or Notices()
    sols = prepare_solutions(solutions, cats)
    pkgs = prepare_packages(packages or [], cats)
    directories: dict = {}  # each tenant's Graph users, indexed once for all its environments
    built = [build_environment(e, sols, policy, cats, notices, directories) for e in environments]
    envs = [env for env, _ in built]
    return {
        "schema_version": SCHEMA_VERSION,
        "estate": {"name": estate_name},
        "solutions": sols,
        "packages": pkgs,
        "settings": [with_settings_path(dict(s, environment=e.name), (e.source or {}).get("file"))
                     for e in environments for s in e.settings] + (settings_only or []),
        "environments": envs,
        "dlp_policies": attach_dlp(envs, [e.raw for e in environments], sols, cats, notices),
        "accounts": _estate_accounts(envs, [idle for _, idle in built]),
        "reference_names": reference_names(sols),
        "custom_roles": custom_roles(sols, envs),
        "notices": notices.items,
    }
