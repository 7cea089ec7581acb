"""One environment's view: users, connections, bindings, flows and roles joined, then what each
user serves, owns and may change, and the accounts that do something here."""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import Catalogs
from ..platform import norm_guid
from ..policy import Policy
from ..reading import git_top_level
from .bindings import bindings, connection_groups, connections
from .flows import environment_flows
from .notices import Notices
from .roles import effective_privileges, environment_roles
from .users import Directory, EnvironmentUsers, environment_users, idle


@dataclass
class EnvironmentInput:
    """What the estate says about one environment, loaded but not yet joined."""

    name: str
    raw: dict | None = None                              # from an environment loader
    settings: list[dict] = field(default_factory=list)   # from the settings loader
    solutions: list[str] | None = None                   # unique names deployed; None = all scanned
    source: dict | None = None                           # where the estate declares it


def _touched(binds: list[dict], flows: list[dict]) -> dict[int, dict]:
    """What each user behind a binding or owning a flow does here, by ``id(user)``."""
    facts: dict[int, dict] = {}

    def of(user: dict) -> dict:
        return facts.setdefault(id(user), {"served_solutions": set(), "references": [], "owned_flows": [],
                                           "premium_owned_flows": [], "needed_services": set(),
                                           "connectors": set()})
    for b in binds:
        if b["user"] is not None:
            done = of(b["user"])
            done["served_solutions"].add(b["solution"])
            done["references"].append(f"{b['solution']}/{b['logical_name']}")
            if b["service"]:
                done["needed_services"].add(b["service"])
            if b["connector"]:
                done["connectors"].add(b["connector"])
    for f in flows:
        if f["owner"] is not None:
            done = of(f["owner"])
            done["owned_flows"].append(f["name"])
            if f["premium"]:
                done["premium_owned_flows"].append(f["name"])
    return facts


def _user_facts(users: list[dict], binds: list[dict], flows: list[dict], roles: list[dict],
                deployed: list[dict]) -> None:
    """Per user: what it serves and owns, and (application users) what its roles let it change."""
    touched = _touched(binds, flows)
    roles_by_id = {r["id"]: r for r in roles if r.get("id")}
    roles_by_name = {r["name"]: r for r in roles}
    shipped = {r["name"]: r for s in deployed for r in s["roles"]}
    tables_by_solution = {s["unique_name"]: {e["name"] for e in s["entities"]} for s in deployed}
    # What a set of roles allows depends on the roles alone, and thousands of users hold the same
    # few sets: computed once per set (the lists are shared, and only read).
    by_roles: dict[tuple, tuple[list[dict], list[str]]] = {}

    def allowed(user: dict) -> tuple[list[dict], list[str]]:
        held = tuple((r["id"], r["name"]) for r in user["roles"])
        if held not in by_roles:
            privileges = effective_privileges(user, roles_by_id, roles_by_name, shipped)
            by_roles[held] = privileges, sorted({p["table"] for p in privileges if p["table"] and p["access"]
                                                 in ("Create", "Write", "Delete", "Assign")})
        return by_roles[held]
    for user in users:
        done = touched.get(id(user))
        if done is None and not user["roles"]:
            # Most users of a tenant-wide Graph directory hold no role and do nothing here.
            idle(user)
            continue
        done = done or {"served_solutions": (), "references": (), "owned_flows": (), "premium_owned_flows": (),
                        "needed_services": (), "connectors": ()}
        privileges, write = allowed(user)
        served = sorted(done["served_solutions"])
        served_tables = sorted(set().union(*(tables_by_solution.get(s, set()) for s in served)))
        user.update(
            served_solutions=served, references=sorted(done["references"]),
            needed_services=sorted(done["needed_services"]), connectors=sorted(done["connectors"]),
            owned_flows=sorted(done["owned_flows"]), premium_owned_flows=sorted(done["premium_owned_flows"]),
            privileges=privileges, write_tables=write, served_tables=served_tables,
            write_tables_outside=[t for t in write if t not in served_tables],
        )


def _accounts(env: dict) -> list[dict]:
    """The accounts that do something here: behind a connection reference, or owning a flow."""
    conns: dict[str, set] = defaultdict(set)
    for b in env["bindings"]:
        if b["user"] is not None and b["connection_id"]:
            conns[b["user"]["key"]].add(b["connection_id"])
    out = []
    for user in sorted(env["users"], key=lambda u: u["key"]):
        if not user["served_solutions"] and not user["owned_flows"]:
            continue
        out.append({
            "key": user["key"], "environment": env["name"],
            "account": user["upn"] or user["application_id"] or user["name"], "kind": user["kind"], "user": user,
            "solutions": user["served_solutions"], "references": user["references"],
            "connections": sorted(conns[user["key"]]), "connectors": user["connectors"],
            "owned_flows": user["owned_flows"], "premium_owned_flows": user["premium_owned_flows"],
            "source": user.get("source"),
        })
    return out


def settings_path(file: str, estate_file: str | None) -> str:
    """A settings file's path as finding keys name it, the same wherever the scan runs: from the
    folder of the estate file that declares its environment (as ``policykit.yaml`` names it), else
    from the top of the git work tree holding it, else as displayed. ``file`` and ``estate_file``
    are both displayed relative to the working directory, so the path between them is not."""
    if estate_file:
        return posixpath.relpath(file, posixpath.dirname(estate_file) or ".")
    resolved = Path(file).resolve()
    top = git_top_level(resolved.parent)
    return resolved.relative_to(top).as_posix() if top else file


def with_settings_path(settings: dict, estate_file: str | None) -> dict:
    """A copy of a loaded settings file with its ``path`` (:func:`settings_path`), also on each of
    its environment variables as ``settings_path`` (the loader's dicts are shared, never changed)."""
    path = settings_path(settings["file"], estate_file)
    return {**settings, "path": path,
            "environment_variables": [{**v, "settings_path": path} for v in settings["environment_variables"]]}


def _settings_references(name: str, settings: list[dict], solutions: list[dict], estate_file: str | None) -> list[dict]:
    known = {ref["logical_name"].lower() for s in solutions for ref in s["connection_references"]}
    paths = {s["file"]: settings_path(s["file"], estate_file) for s in settings}
    return [{**r, "environment": name, "file": s["file"],
             "key": f"{name}/{paths[s['file']]}/{r['logical_name']}",
             "known": r["logical_name"].lower() in known}
            for s in settings for r in s["connection_references"]]


def _settings_variables(name: str, settings: list[dict]) -> list[dict]:
    variables: dict[str, dict] = {}
    for s in settings:
        for v in s["environment_variables"]:
            variables.setdefault(v["schema_name"].lower(), v)
    return [{**v, "environment": name, "key": f"{name}/{v['schema_name']}"} for v in variables.values()]


def build_environment(inp: EnvironmentInput, solutions: list[dict], policy: Policy, cats: Catalogs,
                      notices: Notices, directories: dict[int, Directory]) -> tuple[dict, list[tuple]]:
    """The environment's view, and the directory's technical accounts that do nothing in it (not
    users of the environment, but seen there by the tenant-wide license rules)."""
    raw = inp.raw or {}
    name = inp.name
    wanted = None if inp.solutions is None else set(inp.solutions)
    deployed = [s for s in solutions if wanted is None or s["unique_name"] in wanted]
    roles_by_id = {norm_guid(r.get("id")) or "": r for r in raw.get("roles") or []}
    people = environment_users(name, raw, policy, cats, roles_by_id, notices, directories) if inp.raw \
        else EnvironmentUsers(name)
    ctx = {"index": people.index, "users": people.unlisted, "policy": policy, "cats": cats, "notices": notices,
           "unresolved": []}
    conns = connections(name, raw, ctx)
    binds = bindings(name, inp.settings, raw, deployed, conns, cats)
    flows = environment_flows(name, raw, deployed, ctx)
    users = people.all()
    idle = people.idle_technical()
    roles = environment_roles(name, raw, users, roles_by_id)
    _user_facts(users, binds, flows, roles, deployed)
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
        "connections": conns,
        "connection_groups": connection_groups(name, conns, cats),
        "settings_references": _settings_references(name, inp.settings, solutions, (inp.source or {}).get("file")),
        "bindings": binds,
        "flows": flows,
        "settings_variables": _settings_variables(name, inp.settings),
        "unresolved": ctx["unresolved"],
        "not_collected": dict(raw.get("not_collected") or {}),
        "source": raw.get("source") or inp.source or (inp.settings[0]["source"] if inp.settings else None),
    }
    env["accounts"] = _accounts(env)
    if "role_privileges" in env["not_collected"]:
        notices.add(f"role privileges of {name} were not all collected ({env['not_collected']['role_privileges']}): "
                    "roles without them are not judged", env["source"])
    return env, idle
