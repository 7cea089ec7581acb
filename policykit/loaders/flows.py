"""Facts about one cloud flow, read from its JSON definition (``Workflows/<Name>-<ID>.json``).

Only facts: which connection references and connectors the flow uses, its triggers and
actions, connections that bypass a connection reference, HTTP use, and the literal credentials
an HTTP request carries. Judging them is the rules' job; deciding whether a connector is premium
is the document's (it knows the catalog).
"""

from __future__ import annotations

import re
from typing import Any

from ..parsing import Parsed
from ..platform import api_name
from ..secrets import authentication_literals, header_literals, request_literals

#: ``@parameters('$connections')['shared_office365_1']['connectionId']`` → ``shared_office365_1``.
_LEGACY_KEY = re.compile(r"""\$connections'\s*\)\s*\[\s*'([^']+)'""")

# Built-in operation types that call arbitrary HTTP endpoints (premium).
HTTP_TYPES = {"http", "httpwebhook"}
# The requests an HttpWebhook trigger/action sends, each described like an Http action's inputs.
WEBHOOK_REQUESTS = ("subscribe", "unsubscribe")


def _children(op: dict) -> list[dict]:
    """Nested action containers of a scope, condition, switch, loop."""
    out = []
    if isinstance(op.get("actions"), dict):
        out.append(op["actions"])
    if isinstance(op.get("else"), dict) and isinstance(op["else"].get("actions"), dict):
        out.append(op["else"]["actions"])
    if isinstance(op.get("default"), dict) and isinstance(op["default"].get("actions"), dict):
        out.append(op["default"]["actions"])
    if isinstance(op.get("cases"), dict):
        for case in op["cases"].values():
            if isinstance(case, dict) and isinstance(case.get("actions"), dict):
                out.append(case["actions"])
    return out


def _operations(container: Any, kind: str, out: list[tuple[str, str, dict, dict]]) -> None:
    """(kind, name, operation, the dict holding it) for every trigger/action, nested ones too."""
    stack = [container] if isinstance(container, dict) else []
    while stack:
        ops = stack.pop()
        for name, op in ops.items():
            if not isinstance(op, dict):
                continue
            out.append((kind, name, op, ops))
            stack.extend(reversed(_children(op)))


def literal_secrets(op_type: str, inputs: dict) -> list[dict[str, str]]:
    """``{where, value}`` for each credential written literally into a trigger's or action's inputs.

    ``Http``: headers (``Authorization``, ``x-api-key``, ``Ocp-Apim-Subscription-Key``, ...), body
    (``client_secret=``, ``"password": ...``), URI and ``queries`` (``code=``, ``sig=``,
    ``api_key=``) and the ``authentication`` block. ``HttpWebhook``: the same for its
    ``subscribe`` and ``unsubscribe`` requests. Any other operation (connector actions,
    ``Response``): its ``headers`` and ``authentication``. Expressions (``@parameters(...)``,
    ``Bearer @{...}``) and pipeline placeholders are not literals (:mod:`policykit.secrets`).
    """
    kind = op_type.lower()
    if kind == "http":
        return request_literals(inputs)
    if kind == "httpwebhook":
        return [{"where": f"{part} {found['where']}", "value": found["value"]}
                for part in WEBHOOK_REQUESTS for found in request_literals(inputs.get(part))]
    return header_literals(inputs.get("headers")) + authentication_literals(inputs.get("authentication"))


def _literal(value: Any) -> str | None:
    """A value written into the definition, not computed: no expression, no ``default`` (the
    connection's own server or site)."""
    if not isinstance(value, str) or not value.strip() or value.lstrip().startswith("@") or "@{" in value:
        return None
    return None if value.strip().lower() == "default" else value.strip()


def endpoint_literal(op_type: str, connector: str | None, inputs: dict) -> str | None:
    """The endpoint a trigger or action names literally, as DLP endpoint rules write it (Microsoft
    Learn, "Connector endpoint filtering"): an HTTP or HTTP Webhook URI, SQL Server's
    ``server,database``, a SharePoint site or Azure Blob Storage account (``dataset``)."""
    kind = op_type.lower()
    if kind == "http":
        return _literal(inputs.get("uri"))
    if kind == "httpwebhook":
        subscribe = inputs.get("subscribe")
        return _literal(subscribe.get("uri")) if isinstance(subscribe, dict) else None
    params = inputs.get("parameters") if isinstance(inputs.get("parameters"), dict) else {}
    if connector == "shared_sql":
        server, database = _literal(params.get("server")), _literal(params.get("database"))
        return f"{server},{database}" if server and database else server
    if connector in ("shared_sharepointonline", "shared_azureblob"):
        return _literal(params.get("dataset"))
    return None


def analyse_flow(parsed: Parsed, source: dict) -> dict[str, Any]:
    """Extract the facts the rules need from a flow definition.

    ``source`` is the flow file's source dict; objects get the line of their JSON object.
    """
    doc = parsed.value if isinstance(parsed.value, dict) else {}
    props = doc.get("properties") if isinstance(doc.get("properties"), dict) else doc
    definition = props.get("definition") if isinstance(props.get("definition"), dict) else {}

    def named(holder: dict, name: str) -> dict:
        """The line of ``"name": {`` — where the action, parameter or reference is named."""
        return {**source, "line": parsed.key_line(holder, name) or source.get("line") or 1}

    refs = []
    conn_refs = props.get("connectionReferences")
    for key, entry in (conn_refs.items() if isinstance(conn_refs, dict) else []):
        if not isinstance(entry, dict):
            continue
        connection = entry.get("connection") if isinstance(entry.get("connection"), dict) else {}
        api = entry.get("api") if isinstance(entry.get("api"), dict) else {}
        logical = connection.get("connectionReferenceLogicalName")
        impersonation = entry.get("impersonation") if isinstance(entry.get("impersonation"), dict) else {}
        refs.append({
            "key": key,
            "logical_name": logical if isinstance(logical, str) and logical else None,
            "connector": api_name(api.get("name") or api.get("id")) or api_name(entry.get("id")),
            "runtime_source": entry.get("runtimeSource") or impersonation.get("source") or "embedded",
            "legacy_connection_name": connection.get("name") if isinstance(connection.get("name"), str) else None,
            "source": named(conn_refs, key),
        })

    ops: list[tuple[str, str, dict, dict]] = []
    _operations(definition.get("triggers"), "trigger", ops)
    _operations(definition.get("actions"), "action", ops)
    ref_by_key = {r["key"]: r for r in refs}
    triggers, actions, bypasses = [], [], []
    connectors = {r["connector"] for r in refs if r["connector"]}
    uses_http = False
    for kind, name, op, holder in ops:
        op_type = str(op.get("type") or "")
        inputs = op.get("inputs") if isinstance(op.get("inputs"), dict) else {}
        host = inputs.get("host") if isinstance(inputs.get("host"), dict) else {}
        connector = api_name(host.get("apiId"))
        connection_name = host.get("connectionName") if isinstance(host.get("connectionName"), str) else None
        legacy = host.get("connection") if isinstance(host.get("connection"), dict) else None
        if connector:
            connectors.add(connector)
        info = {
            "name": name,
            "type": op_type,
            "kind": op.get("kind") if isinstance(op.get("kind"), str) else None,
            "connector": connector,
            "connection_name": connection_name,
            "operation": host.get("operationId") if isinstance(host.get("operationId"), str) else None,
            "endpoint": endpoint_literal(op_type, connector, inputs),
            "source": named(holder, name),
        }
        auth = inputs.get("authentication")
        info["authentication"] = {"type": auth.get("type") if isinstance(auth.get("type"), str) else None} \
            if isinstance(auth, dict) else None
        # The credentials written into the file; PPK502 reports them (redacted), one finding per operation.
        info["literal_secrets"] = literal_secrets(op_type, inputs)
        if op_type.lower() in HTTP_TYPES:
            uses_http = True
        if kind == "trigger":
            trigger_auth = inputs.get("triggerAuthenticationType")
            info["trigger_authentication_type"] = trigger_auth if isinstance(trigger_auth, str) else None
            if op_type.lower() == "request" and str(op.get("kind") or "").lower() == "http":
                uses_http = True  # "When an HTTP request is received" is a premium trigger
            triggers.append(info)
        else:
            actions.append(info)
        # A connection that is not a reference: legacy $connections parameter, or a
        # connectionName that is no key of connectionReferences / a key whose entry is unbound.
        legacy_name = legacy.get("name") if legacy else None
        if isinstance(legacy_name, str) and "$connections" in legacy_name:
            # ApiConnection actions address @parameters('$connections')['<key>']: that is still a
            # connection reference when <key> is a connectionReferences key (its entry is judged below).
            key = _LEGACY_KEY.search(legacy_name)
            ref = ref_by_key.get(key.group(1)) if key else None
            if ref is None or ref["logical_name"] is None:
                bypasses.append({"operation": name, "connector": connector, "how": "legacy $connections parameter",
                                 "source": info["source"]})
        elif connection_name is not None:
            ref = ref_by_key.get(connection_name)
            if ref is None:
                bypasses.append({"operation": name, "connector": connector,
                                 "how": f"connection '{connection_name}' is not a connection reference",
                                 "source": info["source"]})
    for ref in refs:
        if ref["logical_name"] is None:
            bypasses.append({"operation": None, "connector": ref["connector"],
                             "how": f"connectionReferences entry '{ref['key']}' has no connection reference",
                             "source": ref["source"]})

    parameters = []
    params = definition.get("parameters")
    for pname, p in (params.items() if isinstance(params, dict) else []):
        if not isinstance(p, dict):
            continue
        default = p.get("defaultValue")
        parameters.append({
            "name": pname,
            "type": p.get("type") if isinstance(p.get("type"), str) else None,
            "default_value": default if isinstance(default, (str, int, float, bool)) else None,
            "source": named(params, pname),
            "value_source": {**source, "line": parsed.key_line(p, "defaultValue") or parsed.line_of(p) or 1},
        })

    return {
        "connection_references": sorted({r["logical_name"] for r in refs if r["logical_name"]}),
        "connection_reference_entries": refs,
        "connectors": sorted(connectors),
        "triggers": triggers,
        "actions": actions,
        "unbound_connections": bypasses,
        "uses_http": uses_http,
        "parameters": parameters,
    }
