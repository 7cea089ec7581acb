"""Data loss prevention (DLP) policies per environment, and what they mean for each deployed cloud
flow and canvas app (docs/dlp.md).

Which policies apply to an environment: ``AllEnvironments``; ``OnlyEnvironments`` and
``SingleEnvironment`` (an environment-level policy) when they list its id; ``ExceptEnvironments``
when they do not. Several policies combine as Microsoft Learn, "Combined effect of multiple DLP
policies", says: a connector Blocked by any of them is blocked; and connectors can only be used
together when *every* applicable policy puts them in the same group — so each policy is judged on
its own, and a flow that mixes Business and Non-business connectors under one of them violates.

Classification of a connector under one policy: its explicit group (``connectorGroups``); for a
custom connector without one, the first custom connector URL pattern (by ``order``) matching its
host (``Ignore`` defers to the other policies); else the policy's default group. Connectors that
Microsoft lists as unblockable are never Blocked (they land in Non-business, as Microsoft does
with new ones); connectors data policies do not classify are left out (policykit/data/dlp_unblockable.json).

Everything here is facts the rules filter (PPK601–PPK606): ``environments[].dlp``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from ..catalog import Catalogs
from .notices import Notices

#: The built-in HTTP operations data policies classify like connectors (Microsoft Learn, "Connector
#: classification", and "Connector endpoint filtering": connector id ``http``), by operation type.
BUILTIN_CONNECTORS = {"http": ("http", "HTTP"), "httpwebhook": ("httpwebhook", "HTTP Webhook")}
#: "When a HTTP request is received" (type Request, kind Http).
REQUEST_CONNECTOR = ("request", "When a HTTP request is received")
_BUILTIN_NAMES = {name: label for name, label in [*BUILTIN_CONNECTORS.values(), REQUEST_CONNECTOR]}


@cache
def microsoft_lists() -> dict[str, Any]:
    """Microsoft's unblockable and not-in-DLP connectors (``policykit/data/dlp_unblockable.json``)."""
    text = resources.files("policykit").joinpath("data").joinpath("dlp_unblockable.json").read_text(encoding="utf-8")
    return json.loads(text)


def glob_match(pattern: str, text: str) -> bool:
    """DLP's patterns: ``*`` is any run of characters, everything else literal, case-insensitive,
    the whole text. Linear-time two-pointer matching (no regular expression)."""
    p, t = pattern.lower(), text.lower()
    pi = ti = 0
    star, mark = -1, 0
    while ti < len(t):
        if pi < len(p) and p[pi] != "*" and p[pi] == t[ti]:
            pi += 1
            ti += 1
        elif pi < len(p) and p[pi] == "*":
            star, mark = pi, ti
            pi += 1
        elif star >= 0:
            pi, mark = star + 1, mark + 1
            ti = mark
        else:
            return False
    return all(ch == "*" for ch in p[pi:])


# --------------------------------------------------------------------------- which policies apply

def _applies(policy: dict, env_id: str | None) -> bool | None:
    """True / False, or None when the environment's id is unknown and the scope lists environments."""
    scope = policy["environment_type"]
    if scope == "AllEnvironments":
        return True
    if env_id is None:
        return None
    listed = env_id in policy["environments"]
    return not listed if scope == "ExceptEnvironments" else listed


def _applying(env: dict, policies: list[dict], notices: Notices) -> list[dict]:
    out = []
    for policy in policies:
        applies = _applies(policy, env.get("id"))
        if applies is None:
            notices.add(f"environment {env['name']} has no id: whether DLP policy {policy['name']} "
                        f"({policy['environment_type']}) applies to it is unknown; "
                        f"{'it is taken to apply' if policy['environment_type'] == 'ExceptEnvironments' else 'it is taken not to apply'}",
                        policy["source"], key=f"dlp-scope/{env['name']}/{policy['id']}")
            applies = policy["environment_type"] == "ExceptEnvironments"
        if applies:
            out.append(policy)
    return out


# --------------------------------------------------------------------------- classification

class _Policy:
    """One policy's lookups: explicit groups, action and endpoint rules by connector."""

    def __init__(self, policy: dict, env: str) -> None:
        self.raw = policy
        self.label = f"{policy['name']} ({policy['id']})"
        self.groups = {c["connector"]: c["group"] for c in policy["connectors"] if c["connector"]}
        self.actions = {a["connector"]: a for a in policy["action_rules"] if a["connector"]}
        self.endpoints = {e["connector"]: e["rules"] for e in policy["endpoint_rules"] if e["connector"]}
        self.view = {"key": f"{env}/{policy['id']}", "environment": env, "id": policy["id"], "name": policy["name"],
                     "label": self.label, "environment_type": policy["environment_type"],
                     "default_group": policy["default_group"], "source": policy["source"]}

    def classify(self, connector: str, custom: dict | None) -> tuple[str | None, dict | None]:
        """(group or None when this policy does not classify it, the URL pattern rule that did)."""
        lists = microsoft_lists()
        if connector in lists["not_in_dlp"]:
            return None, None
        group, rule = self.groups.get(connector), None
        patterns = self.raw["custom_connector_patterns"]
        if group is None and custom is not None and patterns:
            if not custom.get("url"):
                return None, {"group": None, "pattern": None}  # host unknown: noticed by the caller
            rule = next((r for r in patterns if glob_match(r["pattern"], custom["url"])
                         or glob_match(r["pattern"], custom["host"])), None)
            if rule is not None and rule["group"] == "Ignore":
                return None, rule
            group = rule["group"] if rule else None
        group = group or self.raw["default_group"]
        if group == "Blocked" and connector in lists["unblockable"]:
            group = "Non-business"
        return group, rule

    def action_behavior(self, connector: str | None, operation: str | None) -> str | None:
        conf = self.actions.get(connector or "")
        if conf is None or not operation:
            return None
        rule = next((r for r in conf["rules"] if (r["action"] or "").lower() == operation.lower()), None)
        return rule["behavior"] if rule else conf["default"]

    def endpoint_rule(self, connector: str | None, endpoint: str | None) -> dict | None:
        """The first endpoint rule (by order) matching the literal endpoint; none means Allow."""
        rules = self.endpoints.get(connector or "")
        if not rules or not endpoint:
            return None
        return next((r for r in rules if glob_match(r["endpoint"], endpoint)), None)


# --------------------------------------------------------------------------- resources

def _custom_connectors(solutions: list[dict]) -> dict[str, dict]:
    """Custom connectors shipped by the scanned solutions, by the api name flows and apps use:
    the connector's own name, and the connector of each reference that names it."""
    by_id, by_api = {}, {}
    for sol in solutions:
        for cc in sol.get("custom_connectors") or []:
            by_id[cc["id"]] = cc
            by_api[cc["name"].lower()] = cc
    for sol in solutions:
        for ref in sol["connection_references"]:
            cc = by_id.get(ref.get("custom_connector_id"))
            if cc is not None and ref.get("connector"):
                by_api[ref["connector"]] = cc
    return by_api


def _op_connector(op: dict) -> str | None:
    kind = (op.get("type") or "").lower()
    if kind in BUILTIN_CONNECTORS:
        return BUILTIN_CONNECTORS[kind][0]
    if kind == "request" and (op.get("kind") or "").lower() == "http":
        return REQUEST_CONNECTOR[0]
    return op.get("connector")


def _resources(solutions: list[dict]) -> list[dict]:
    """Every cloud flow and canvas app of the given solutions, with the connectors it uses."""
    out = []
    for sol in solutions:
        for flow in sol["flows"]:
            if not flow.get("is_cloud_flow"):
                continue
            ops = (flow.get("triggers") or []) + (flow.get("actions") or [])
            connectors = set(flow.get("connectors") or []) | {c for c in map(_op_connector, ops) if c}
            out.append({"kind": "Cloud flow", "name": flow["name"] or flow["id"], "key": flow["key"],
                        "solution": sol["unique_name"], "connectors": sorted(connectors), "operations": ops,
                        "source": flow["source"]})
        for app in sol["canvas_apps"]:
            # The actions its metadata lists per connector: what its formulas call.
            ops = [{"name": f"{a['connector']}/{a['action']}", "label": "the app", "connector": a["connector"],
                    "operation": a["action"], "source": a.get("source") or app["source"]} for a in app.get("actions") or []]
            out.append({"kind": "Canvas app", "name": app.get("display_name") or app["name"], "key": app["key"],
                        "solution": sol["unique_name"], "connectors": list(app["connectors"]), "operations": ops,
                        "source": app["source"]})
    return sorted(out, key=lambda r: r["key"])


class _Namer:
    def __init__(self, cats: Catalogs, customs: dict[str, dict]) -> None:
        self.cats, self.customs = cats, customs

    def __call__(self, connector: str) -> str:
        if connector in _BUILTIN_NAMES:
            return _BUILTIN_NAMES[connector]
        if connector in self.customs:
            return self.customs[connector].get("display_name") or self.customs[connector]["name"]
        return self.cats.connector(connector)["display_name"] or connector

    def custom(self, connector: str) -> dict | None:
        """The custom connector behind an api name (shipped, or unknown to the catalog)."""
        if connector in _BUILTIN_NAMES:
            return None
        if connector in self.customs:
            return self.customs[connector]
        return {"name": connector, "host": None, "url": None} if self.cats.connector(connector)["custom"] else None


# --------------------------------------------------------------------------- per environment

def _evaluate(ctx: dict, res: dict, pol: _Policy) -> dict:
    """One resource under one policy: its connectors by group, custom connectors by URL pattern."""
    env, name = ctx["env"], ctx["name"]
    groups: dict[str, list[str]] = {"Business": [], "Non-business": [], "Blocked": []}
    customs, per_connector = [], []
    for connector in res["connectors"]:
        custom = name.custom(connector)
        group, rule = pol.classify(connector, custom)
        per_connector.append({"connector": connector, "connector_name": name(connector), "policy_id": pol.raw["id"],
                              "group": group, "by_pattern": rule is not None})
        if rule is not None and rule.get("pattern") is None:
            ctx["notices"].add(f"custom connector {name(connector)} ({connector}) is not in a scanned solution: "
                               f"DLP policy {pol.label} classifies custom connectors by host URL, which is unknown, "
                               "so the DLP rules do not judge it", pol.raw["source"], key=f"dlp-host/{connector}/{pol.raw['id']}")
        if rule is not None and group is not None:
            customs.append({"connector": connector, "connector_name": name(connector), "url": custom["url"],
                            "group": group, "pattern": rule["pattern"], "order": rule["order"],
                            "rule_source": rule["source"]})
        elif group is not None:
            groups[group].append(connector)
    return {
        "key": f"{env}/{res['key']}/{pol.raw['id']}", "environment": env, "kind": res["kind"],
        "resource": res["name"], "resource_key": res["key"], "solution": res["solution"],
        "policy": pol.raw["name"], "policy_id": pol.raw["id"], "policy_label": pol.label,
        "business": [name(c) for c in groups["Business"]], "non_business": [name(c) for c in groups["Non-business"]],
        "blocked": [name(c) for c in groups["Blocked"]],
        "business_connectors": groups["Business"], "non_business_connectors": groups["Non-business"],
        "blocked_connectors": groups["Blocked"], "custom": customs, "connectors": per_connector,
        "source": res["source"],
    }


def _custom_findings(ev: dict) -> list[dict]:
    """Pattern-classified custom connectors of one evaluation, with what they conflict with."""
    out = []
    for cc in ev["custom"]:
        other = {"Business": "Non-business", "Non-business": "Business"}.get(cc["group"])
        names = {"Business": ev["business"], "Non-business": ev["non_business"]}
        conflicts = list(names.get(other or "", [])) + [o["connector_name"] for o in ev["custom"]
                                                        if o["group"] == other]
        out.append({**cc, "key": f"{ev['environment']}/{ev['resource_key']}/{cc['connector']}/{ev['policy_id']}",
                    "environment": ev["environment"], "kind": ev["kind"], "resource": ev["resource"],
                    "resource_key": ev["resource_key"], "solution": ev["solution"], "policy": ev["policy"],
                    "policy_id": ev["policy_id"], "policy_label": ev["policy_label"],
                    "other_group": other, "conflicts_with": conflicts, "source": ev["source"]})
    return out


def _blocked(env: str, res: dict, evaluations: list[dict], name: _Namer) -> list[dict]:
    """Connectors of a resource that some applicable policy blocks (explicitly or by default)."""
    by_connector: dict[str, list[str]] = {}
    for ev in evaluations:
        for connector in ev["blocked_connectors"]:
            by_connector.setdefault(connector, []).append(ev["policy_label"])
    return [{"key": f"{env}/{res['key']}/{connector}", "environment": env, "kind": res["kind"],
             "resource": res["name"], "resource_key": res["key"], "solution": res["solution"],
             "connector": connector, "connector_name": name(connector), "policies": labels,
             "source": res["source"]}
            for connector, labels in sorted(by_connector.items())]


def _operation_findings(env: str, res: dict, policies: list[_Policy], name: _Namer) -> tuple[list, list]:
    """Actions that action rules block, and literal endpoints that endpoint rules deny."""
    actions, endpoints = [], []
    for op in res["operations"]:
        connector = _op_connector(op)
        base = {"environment": env, "kind": res["kind"], "resource": res["name"], "resource_key": res["key"],
                "solution": res["solution"], "operation_name": op.get("label") or op["name"], "connector": connector,
                "connector_name": name(connector) if connector else None, "source": op["source"]}
        blocking = [p.label for p in policies if p.action_behavior(connector, op.get("operation")) == "Block"]
        if blocking:
            actions.append({**base, "key": f"{env}/{res['key']}/{op['name']}", "action": op.get("operation"),
                            "policies": blocking})
        denied = [(p, rule) for p in policies
                  for rule in [p.endpoint_rule(connector, op.get("endpoint"))] if rule and rule["behavior"] == "Deny"]
        if denied:
            endpoints.append({**base, "key": f"{env}/{res['key']}/{op['name']}", "endpoint": op.get("endpoint"),
                              "policies": [p.label for p, _ in denied],
                              "rules": sorted({rule["endpoint"] for _, rule in denied})})
    return actions, endpoints


def _environment_dlp(env: dict, raw: dict, solutions: list[dict], name: _Namer, notices: Notices) -> dict:
    available = "dlp_policies" in (raw.get("available") or [])
    applying = [_Policy(p, env["name"]) for p in _applying(env, raw.get("dlp_policies") or [], notices)]
    here = set(env["solutions"])
    deployed = [s for s in solutions if s["unique_name"] in here]
    ctx = {"env": env["name"], "name": name, "notices": notices}
    out: dict[str, list] = {"resources": [], "evaluations": [], "blocked": [], "blocked_actions": [],
                            "denied_endpoints": [], "custom_connectors": []}
    for res in _resources(deployed) if available else []:
        evaluations = [_evaluate(ctx, res, pol) for pol in applying]
        out["evaluations"] += evaluations
        out["blocked"] += _blocked(env["name"], res, evaluations, name)
        actions, endpoints = _operation_findings(env["name"], res, applying, name)
        out["blocked_actions"] += actions
        out["denied_endpoints"] += endpoints
        out["custom_connectors"] += [c for ev in evaluations for c in _custom_findings(ev)]
        out["resources"].append({"key": f"{env['name']}/{res['key']}", "environment": env["name"], "kind": res["kind"],
                                 "name": res["name"], "solution": res["solution"], "connectors": res["connectors"],
                                 "groups": [c for ev in evaluations for c in ev["connectors"]],
                                 "source": res["source"]})
    return {"available": available, "covered": bool(applying), "policies": [p.view for p in applying], **out}


def attach_dlp(envs: list[dict], raws: list[dict | None], solutions: list[dict], cats: Catalogs,
               notices: Notices) -> list[dict]:
    """Set ``env["dlp"]`` on every environment; return the estate's DLP policies, once each."""
    name = _Namer(cats, _custom_connectors(solutions))
    estate: dict[str, dict] = {}
    for env, raw in zip(envs, raws):
        env["dlp"] = _environment_dlp(env, raw or {}, solutions, name, notices)
        for policy in (raw or {}).get("dlp_policies") or []:
            entry = estate.setdefault(policy["id"], {**policy, "applies_to": []})
            if any(p["id"] == policy["id"] for p in env["dlp"]["policies"]):
                entry["applies_to"].append(env["name"])
    return [estate[k] for k in sorted(estate, key=lambda k: (estate[k]["name"].lower(), k))]
