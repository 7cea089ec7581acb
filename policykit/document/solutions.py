"""Scanned solutions and legacy export packages: keys, connector tiers from the catalog, and the
flow facts licensing depends on (premium reasons, trigger kind)."""

from __future__ import annotations

from ..catalog import Catalogs, premium_reasons
from ..platform import trigger_kind
from .roles import solution_roles

#: ``Request`` trigger kinds that an app starts: the flow runs in the app's context.
_APP_TRIGGER_KINDS = {"powerapp", "powerappv2"}


def _flow_facts(flow: dict, origin: str, cats: Catalogs) -> None:
    """Premium reasons and trigger kind of a cloud flow; its triggers and actions name it, so that
    a rule can report one of them on its own."""
    reasons = premium_reasons(flow.get("connectors", []), flow.get("uses_http", False), cats)
    flow["premium"] = bool(reasons)
    flow["premium_reasons"] = reasons
    triggers = flow.get("triggers") or []
    flow["trigger_kind"] = trigger_kind(triggers)
    # Licensing's "in the context of an app": started from the app (a Power Apps trigger). A flow
    # that merely ships in the same solution as an app is not in its context.
    flow["in_app_context"] = any(str(t.get("kind") or "").lower() in _APP_TRIGGER_KINDS for t in triggers)
    flow["origin"] = origin
    for op in triggers + (flow.get("actions") or []):
        op.update(flow=flow["name"], flow_key=flow["key"], origin=origin)


def prepare_solutions(solutions: list[dict], cats: Catalogs) -> list[dict]:
    for sol in solutions:
        uname = sol["unique_name"]
        sol["key"] = uname
        sol["has_app"] = bool(sol.get("canvas_apps") or sol.get("app_modules"))
        for ref in sol["connection_references"]:
            ref["solution"] = uname
            ref["solution_display_name"] = sol["display_name"]
            ref["key"] = f"{uname}/{ref['logical_name']}"
            info = cats.connector(ref.get("connector"))
            ref["tier"] = info["tier"]
            ref["connector_name"] = info["display_name"] or ref.get("connector")
            ref["custom_connector"] = bool(ref.get("custom_connector_id")) or info["custom"]
        solution_roles(sol)
        for flow in sol["flows"]:
            flow["solution"] = uname
            flow["key"] = f"{uname}/{flow['name'] or flow['id']}"
            flow["is_cloud_flow"] = flow.get("category") == 5
            if flow["is_cloud_flow"]:
                _flow_facts(flow, f"solution {uname}", cats)
            else:
                flow.update(premium=False, premium_reasons=[], trigger_kind=None, in_app_context=False,
                            origin=f"solution {uname}")
        for var in sol["environment_variables"]:
            var["solution"] = uname
            var["key"] = f"{uname}/{var['schema_name']}"
        for app in sol["canvas_apps"]:
            app["solution"] = uname
            app["key"] = f"{uname}/{app['name']}"
    return solutions


def prepare_packages(packages: list[dict], cats: Catalogs) -> list[dict]:
    """Legacy export packages: their flows are cloud flows outside any solution."""
    for package in packages:
        for flow in package["flows"]:
            flow["solution"] = None
            flow["key"] = f"{package['key']}/{flow['name']}"
            flow["is_cloud_flow"] = True
            _flow_facts(flow, f"export package {package['key']}", cats)
    return packages


def reference_names(solutions: list[dict]) -> list[dict]:
    """Each connection reference logical name and the scanned solutions that ship it."""
    by_name: dict[str, dict] = {}
    for sol in solutions:
        for ref in sol["connection_references"]:
            entry = by_name.setdefault(ref["logical_name"].lower(), {
                "key": ref["logical_name"], "logical_name": ref["logical_name"], "solutions": [],
                "connectors": [], "source": ref["source"], "sources": []})
            entry["solutions"].append(sol["unique_name"])
            entry["sources"].append(ref["source"])
            if ref.get("connector") and ref["connector"] not in entry["connectors"]:
                entry["connectors"].append(ref["connector"])
    return [by_name[k] for k in sorted(by_name)]
