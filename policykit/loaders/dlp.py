"""Data loss prevention (DLP) policies, normalized from the Power Platform admin API or a snapshot.

``dlppolicies.json`` in an export folder is ``{"value": [<policy>, ...]}`` where each policy is the
body of ``GET https://api.bap.microsoft.com/providers/PowerPlatform.Governance/v2/policies/{name}``
(the shape ``microsoft/terraform-provider-power-platform`` reads in
``internal/services/dlp_policy/dto.go``, and ``Get-DlpPolicy`` returns)::

    {"policyDefinition": {"name", "displayName", "defaultConnectorsClassification",
                          "environmentType", "environments": [{"id", "name", "type"}],
                          "connectorGroups": [{"classification", "connectors": [{"id", "name", "type"}]}]},
     "connectorConfigurationsDefinition": {
         "connectorActionConfigurations": [{"connectorId", "defaultConnectorActionRuleBehavior",
                                            "actionRules": [{"actionId", "behavior"}]}],
         "endpointConfigurations": [{"connectorId", "endpointRules": [{"order", "behavior", "endpoint"}]}]},
     "customConnectorUrlPatternsDefinition": {"rules": [{"order", "customConnectorRuleClassification", "pattern"}]}}

Only facts are recorded (which connector is in which group, the rules as written, sorted by their
``order``); which policies apply to an environment and what they mean for a flow is the document's
job (:mod:`policykit.document.dlp`). A wrong shape is a located :class:`~policykit.errors.InputError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..platform import api_name, is_guid, norm_guid

if TYPE_CHECKING:  # environment_export reads dlppolicies.json with this module: no import cycle
    from .environment_export import Doc

#: ``environmentType``: the policy's scope. ``SingleEnvironment`` is an environment-level policy
#: (it lists its one environment); the others are tenant-level.
ENVIRONMENT_TYPES = ("AllEnvironments", "ExceptEnvironments", "OnlyEnvironments", "SingleEnvironment")
#: The API's classifications and the names the admin center shows.
GROUPS = {"Confidential": "Business", "General": "Non-business", "Blocked": "Blocked"}
#: A custom connector URL pattern may also defer to other policies.
PATTERN_GROUPS = {**GROUPS, "Ignore": "Ignore"}
ACTION_BEHAVIORS = ("Allow", "Block")
ENDPOINT_BEHAVIORS = ("Allow", "Deny")


def _enum(doc: Doc, obj: dict, key: str, allowed: tuple[str, ...] | dict, required: bool = False) -> str | None:
    value = doc.str_(obj, key, required)
    if value is None:
        return None
    for name in allowed:  # the API's casing varies between versions; the names do not
        if name.lower() == value.lower():
            return name
    raise doc.error(f"{key!r} must be one of {', '.join(allowed)}, not {value!r}", obj, key)


def _order(doc: Doc, rule: dict) -> int:
    value = rule.get("order")
    if type(value) is not int:
        raise doc.error(f"'order' must be an integer, not {value!r}", rule, "order" if "order" in rule else None)
    return value


def _endpoint_value(doc: Doc, rule: dict) -> str:
    # The API writes "endpoint"; Microsoft's own test data for the Terraform provider has "endPoint".
    key = next((k for k in rule if k.lower() == "endpoint"), "endpoint")
    value = doc.str_(rule, key, True)
    assert value is not None
    return value


def _connector_groups(doc: Doc, definition: dict) -> list[dict[str, Any]]:
    out = []
    for group in doc.objects(definition, "connectorGroups"):
        classification = _enum(doc, group, "classification", GROUPS, True)
        for connector in doc.objects(group, "connectors"):
            cid = doc.str_(connector, "id", True) or ""
            out.append({"connector": api_name(cid), "id": cid, "name": doc.str_(connector, "name"),
                        "group": GROUPS[classification or ""], "source": doc.source(connector, "id")})
    return out


def _action_rules(doc: Doc, configs: dict) -> list[dict[str, Any]]:
    out = []
    for conf in doc.objects(configs, "connectorActionConfigurations"):
        rules = []
        for rule in doc.objects(conf, "actionRules"):
            rules.append({"action": doc.str_(rule, "actionId", True),
                          "behavior": _enum(doc, rule, "behavior", ACTION_BEHAVIORS, True),
                          "source": doc.source(rule, "actionId")})
        out.append({"connector": api_name(doc.str_(conf, "connectorId", True)),
                    "default": _enum(doc, conf, "defaultConnectorActionRuleBehavior", ACTION_BEHAVIORS) or "Allow",
                    "rules": rules, "source": doc.source(conf, "connectorId")})
    return out


def _endpoint_rules(doc: Doc, configs: dict) -> list[dict[str, Any]]:
    out = []
    for conf in doc.objects(configs, "endpointConfigurations"):
        rules = [{"order": _order(doc, rule), "behavior": _enum(doc, rule, "behavior", ENDPOINT_BEHAVIORS, True),
                  "endpoint": _endpoint_value(doc, rule), "source": doc.source(rule, "behavior")}
                 for rule in doc.objects(conf, "endpointRules")]
        out.append({"connector": api_name(doc.str_(conf, "connectorId", True)),
                    "rules": sorted(rules, key=lambda r: r["order"]), "source": doc.source(conf, "connectorId")})
    return out


def _patterns(doc: Doc, root: dict) -> list[dict[str, Any]]:
    rules = []
    for rule in doc.objects(doc.obj(root, "customConnectorUrlPatternsDefinition"), "rules"):
        classification = _enum(doc, rule, "customConnectorRuleClassification", PATTERN_GROUPS, True)
        rules.append({"order": _order(doc, rule), "group": PATTERN_GROUPS[classification or ""],
                      "pattern": doc.str_(rule, "pattern", True), "source": doc.source(rule, "pattern")})
    return sorted(rules, key=lambda r: r["order"])


def _environments(doc: Doc, definition: dict) -> list[str]:
    ids = []
    for env in doc.objects(definition, "environments"):
        ident = doc.guid(env, "name") or norm_guid(api_name(doc.str_(env, "id")))
        if not ident:
            raise doc.error("an environment of the policy has neither 'name' nor 'id'", env)
        ids.append(ident)
    return ids


def _policy(doc: Doc, row: dict) -> dict[str, Any]:
    if "policyDefinition" not in row:
        hint = (" (the legacy Microsoft.BusinessAppPlatform/scopes/admin/apiPolicies shape: export "
                "PowerPlatform.Governance/v2/policies instead, see docs/environment-export.md)"
                if "properties" in row else "")
        raise doc.error(f"a DLP policy needs 'policyDefinition'{hint}", row)
    definition = doc.obj(row, "policyDefinition")
    configs = doc.obj(row, "connectorConfigurationsDefinition")
    env_type = _enum(doc, definition, "environmentType", ENVIRONMENT_TYPES, True)
    default = _enum(doc, definition, "defaultConnectorsClassification", GROUPS) or "General"
    return {
        "id": doc.guid(definition, "name", True),
        "name": doc.str_(definition, "displayName") or doc.guid(definition, "name"),
        "environment_type": env_type,
        "environments": _environments(doc, definition),
        "default_group": GROUPS[default],
        "connectors": _connector_groups(doc, definition),
        "action_rules": _action_rules(doc, configs),
        "endpoint_rules": _endpoint_rules(doc, configs),
        "custom_connector_patterns": _patterns(doc, row),
        "source": doc.source(definition, "displayName" if "displayName" in definition else "name"),
    }


def load_dlp_policies(doc: Doc) -> list[dict[str, Any]]:
    """``dlppolicies.json``: ``{"value": [policy, ...]}`` (a first page alone is refused)."""
    from .environment_export import envelope
    policies = [_policy(doc, row) for row in envelope(doc)]
    seen: dict[str, dict] = {}
    for policy in policies:
        if policy["id"] in seen:
            raise doc.error_at(f"DLP policy {policy['id']} is listed twice", policy["source"]["line"])
        seen[policy["id"]] = policy
    return sorted(policies, key=lambda p: (p["name"].lower(), p["id"]))


# --------------------------------------------------------------------------- snapshot (docs/snapshot.md)

_SNAPSHOT_KEYS = frozenset({"id", "name", "scope", "environments", "default_group", "business", "non_business",
                            "blocked", "action_rules", "endpoint_rules", "custom_connector_patterns"})
_SNAPSHOT_GROUPS = {"business": "Business", "non_business": "Non-business", "blocked": "Blocked"}
_DEFAULT_GROUPS = ("Business", "Non-business", "Blocked")
_ACTION_KEYS = frozenset({"default", "block", "allow"})


def _single(doc: Doc, item: Any, owner: dict, key: str, allowed: dict[str, str]) -> tuple[str, str]:
    """``{deny: "pattern"}``: one behavior → one pattern."""
    if type(item) is not dict or len(item) != 1:
        raise doc.error(f"each entry of {key!r} is one mapping {{{' | '.join(allowed)}: pattern}}", owner, key)
    (name, pattern), = item.items()
    if name not in allowed:
        raise doc.error(f"{key!r}: {name!r} must be one of {', '.join(allowed)}", item, name)
    if type(pattern) is not str or not pattern:
        raise doc.error(f"{key!r}: the pattern of {name!r} must be a non-empty string", item, name)
    return allowed[name], pattern


def _snapshot_actions(doc: Doc, node: dict) -> list[dict[str, Any]]:
    out = []
    rules = doc.obj(node, "action_rules")
    for connector, conf in rules.items():
        if type(conf) is not dict:
            raise doc.error(f"action_rules of {connector}: expected {{default, block, allow}}", rules, connector)
        doc.check_keys(conf, _ACTION_KEYS, "action_rules entry")
        default = _enum(doc, conf, "default", ACTION_BEHAVIORS) or "Allow"
        actions = [{"action": a, "behavior": "Block", "source": doc.source(conf, "block")} for a in doc.strings(conf, "block")]
        actions += [{"action": a, "behavior": "Allow", "source": doc.source(conf, "allow")} for a in doc.strings(conf, "allow")]
        out.append({"connector": api_name(connector), "default": default, "rules": actions,
                    "source": doc.source(rules, connector)})
    return out


def _snapshot_endpoints(doc: Doc, node: dict) -> list[dict[str, Any]]:
    out = []
    rules = doc.obj(node, "endpoint_rules")
    for connector, items in rules.items():
        if type(items) is not list:
            raise doc.error(f"endpoint_rules of {connector}: expected a list of {{allow|deny: pattern}}", rules, connector)
        ordered = []
        for order, item in enumerate(items, 1):
            behavior, pattern = _single(doc, item, rules, connector, {"allow": "Allow", "deny": "Deny"})
            ordered.append({"order": order, "behavior": behavior, "endpoint": pattern, "source": doc.source(item)})
        out.append({"connector": api_name(connector), "rules": ordered, "source": doc.source(rules, connector)})
    return out


def _snapshot_policy(doc: Doc, node: Any, owner: dict, make_id) -> dict[str, Any]:
    if type(node) is not dict:
        raise doc.error("each DLP policy is a mapping (name, scope, business, ...)", owner, "dlp_policies")
    doc.check_keys(node, _SNAPSHOT_KEYS, "DLP policy")
    name = doc.str_(node, "name", True) or ""
    connectors = [{"connector": api_name(c), "id": c, "name": None, "group": group, "source": doc.source(node, key)}
                  for key, group in _SNAPSHOT_GROUPS.items() for c in doc.strings(node, key)]
    patterns = [dict(zip(("group", "pattern"), _single(doc, item, node, "custom_connector_patterns",
                                                       {"business": "Business", "non_business": "Non-business",
                                                        "blocked": "Blocked", "ignore": "Ignore"})),
                     order=order, source=doc.source(item))
                for order, item in enumerate(doc.value(node, "custom_connector_patterns", list) or [], 1)]
    environments = []
    for ident in doc.strings(node, "environments"):
        if not (is_guid(ident) or (ident.lower().startswith("default-") and is_guid(ident[8:]))):
            raise doc.error(f"environment {ident!r} of policy {name!r} is not an environment id", node, "environments")
        environments.append(norm_guid(ident))
    return {
        "id": doc.guid(node, "id") or make_id("dlp_policy", name),
        "name": name,
        "environment_type": _enum(doc, node, "scope", ENVIRONMENT_TYPES) or "AllEnvironments",
        "environments": environments,
        "default_group": _enum(doc, node, "default_group", _DEFAULT_GROUPS) or "Non-business",
        "connectors": connectors,
        "action_rules": _snapshot_actions(doc, node),
        "endpoint_rules": _snapshot_endpoints(doc, node),
        "custom_connector_patterns": patterns,
        "source": doc.source(node, "name"),
    }


def snapshot_dlp_policies(doc: Doc, root: dict, make_id) -> list[dict[str, Any]]:
    """A snapshot's ``dlp_policies:`` list, in the shape :func:`load_dlp_policies` returns."""
    nodes = doc.value(root, "dlp_policies", list) or []
    policies = [_snapshot_policy(doc, node, root, make_id) for node in nodes]
    seen: set[str] = set()
    for policy in policies:
        if policy["id"] in seen:
            raise doc.error_at(f"DLP policy {policy['name']!r} is listed twice", policy["source"]["line"])
        seen.add(policy["id"])
    return sorted(policies, key=lambda p: (p["name"].lower(), p["id"]))
