"""A local fake of the three Microsoft APIs an environment export comes from, serving export folders.

    with FakeTenant({"dev": EXAMPLE / "environments" / "dev"}, page_size=2) as tenant:
        httpx.get(tenant.graph + "/v1.0/users", params={"$top": "999"},
                  headers={"Authorization": "Bearer test-token"})

One real HTTP server (stdlib ``ThreadingHTTPServer``, daemon threads, 127.0.0.1, an ephemeral port)
answers the request shapes of the Power Platform admin API (``tenant.bap``, for
api.bap.microsoft.com), the PowerApps admin API (``tenant.powerapps``, api.powerapps.com), each
environment's Dataverse Web API (``tenant.dataverse(id)``, the ``instanceUrl`` the fake's
environment objects report) and Microsoft Graph (``tenant.graph``). A client that follows the
next links gets back exactly each file's content (see docs/environment-export.md): the export files
are the responses, so ``$select``/``$expand``/``$filter`` are accepted and not applied.

Paging, per API (``page_size`` is the fake's server-side maximum page; every next link is absolute,
keeps the request's query as sent and adds ``$skiptoken``; a client must treat it as opaque):

- admin APIs (environments, connections): ``nextLink`` — no ``@odata.`` prefix, as Microsoft's own
  PowerShell module (Microsoft.PowerApps.RestClientModule ``InvokeApi``) reads it. ``$top`` sets the
  page size (as ``Get-AdminPowerApp`` uses it); ``api-version`` is required (400 without, as ARM).
- Dataverse: ``@odata.nextLink`` after ``value``, with ``$skiptoken=<cookie pagenumber="2"
  pagingcookie="..." istracking="False" />`` (the paging cookie names the last row's id, as Dataverse
  does). Page size: ``Prefer: odata.maxpagesize=N`` (1..5000, else ignored; default 5000), capped by
  ``page_size`` and answered with ``Preference-Applied``; it is read on every page request, as
  Dataverse does. ``$top`` limits the total rows (OData), paging still applies within it.
- Graph ``/users``: ``@odata.nextLink`` before ``value``; ``$top`` (1..999, else 400) sets the page
  size, default 100, capped by ``page_size``. ``/subscribedSkus`` is not paged.

Graph is tenant-wide: ``/users`` and ``/subscribedSkus`` serve the union of every environment's
``users.json`` / ``subscribedSkus.json`` (rows de-duplicated by ``id`` / ``skuId``, first file's
``@odata.context``). ``processlicenses.json`` is never served: no API returns it. The data policies
(``/providers/PowerPlatform.Governance/v2/policies``, no ``api-version``) are the union of every
folder's ``dlppolicies.json``: the list gives each ``policyDefinition`` (paged with ``nextLink``),
``.../policies/{name}`` the whole body.

Errors: Dataverse ``{"error": {"code": "0x…", "message"}}`` (404 ``0x80060888`` "Resource not found for
the segment 'x'.", unknown role ``0x80040217``, 429 ``0x80072322``), 401 with an empty body and
``WWW-Authenticate: Bearer authorization_uri=…, resource_id=…``; Graph ``{"error": {"code", "message",
"innerError": {date, request-id, client-request-id}}}``; the admin APIs the ARM envelope
``{"error": {"code", "message"}}``. Chosen where Microsoft documents nothing: the admin APIs' error
codes (ARM's ``AuthenticationFailed``, ``MissingApiVersionParameter``; ``EnvironmentNotFound``), paging
of the environment list (it rarely pages in practice), and which Graph code a ``$top`` over 999 gets.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

#: Dataverse entity sets served, with the primary key the paging cookie names.
DATAVERSE_SETS = {"systemusers": "systemuserid", "applicationusers": "applicationuserid", "teams": "teamid",
                  "roles": "roleid", "connectionreferences": "connectionreferenceid", "workflows": "workflowid"}
NOT_SERVED = frozenset({"processlicenses.json"})
DATAVERSE_MAX_PAGE = 5000
GRAPH_DEFAULT_PAGE = 100
GRAPH_MAX_TOP = 999

_DLP_LIST = re.compile(r"/providers/powerplatform\.governance/v2/policies/?", re.I)
_DLP_ONE = re.compile(r"/providers/powerplatform\.governance/v2/policies/([^/]+)/?", re.I)
_BAP_LIST = re.compile(r"/providers/microsoft\.businessappplatform/scopes/admin/environments/?", re.I)
_BAP_ONE = re.compile(r"/providers/microsoft\.businessappplatform/scopes/admin/environments/([^/]+)/?", re.I)
_CONNECTIONS = re.compile(r"/providers/microsoft\.powerapps/scopes/admin/environments/([^/]+)/connections/?", re.I)
_DATAVERSE = re.compile(r"/([^/]+)/api/data/v9\.2/(.*)", re.I)
# Entity set and function names are case-sensitive in Dataverse (a wrong case is a 404).
_PRIVILEGES = re.compile(r"roles\(\{?([0-9A-Fa-f-]{36})\}?\)/Microsoft\.Dynamics\.CRM\.RetrieveRolePrivilegesRole\(\)")
_GRAPH_USERS = re.compile(r"/v1\.0/users/?", re.I)
_GRAPH_SKUS = re.compile(r"/v1\.0/subscribedskus/?", re.I)
_LAST_ID = re.compile(r'last="\{?([^}"]*)\}?"')
_PAGE_NUMBER = re.compile(r'pagenumber="(\d+)"')

_JSON = "application/json; charset=utf-8"
_DV_HEADERS = {"Content-Type": "application/json; odata.metadata=minimal", "OData-Version": "4.0"}
_GRAPH_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

#: Default error bodies of injected faults: (code, message) per API and status (None: any other).
_FAULT_ERRORS = {
    "dv": {403: ("0x80040220", "Principal user (Id=00000000-0000-0000-0000-000000000000, type=8, roleCount=1, "
                               "privilegeCount=0, accessMode=0) is missing prvReadSystemUser privilege "
                               "(Id=e0f4f5d6-1e44-4cd6-8fb1-3a7ec8e8b3a5) on OTC=8 for entity 'systemuser'."),
           429: ("0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds."),
           None: ("0x80040216", "An unexpected error occurred.")},
    "graph": {403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
              429: ("TooManyRequests", "Too many requests."),
              503: ("serviceNotAvailable", "Service is unavailable. Please try again later."),
              None: ("generalException", "General exception while processing.")},
    "admin": {403: ("Forbidden", "The caller does not have the permission to perform this action."),
              429: ("TooManyRequests", "Rate limit is exceeded. Try again later."),
              None: ("InternalServerError", "An internal server error occurred.")},
}


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _guid(text: str) -> str:
    return text.strip().strip("{}").lower()


def _key(name: str) -> str:
    """A file's key in an environment: its name, or ``roleprivileges/<lower-case role id>.json``."""
    name = name.replace("\\", "/")
    folder, _, leaf = name.rpartition("/")
    if folder.lower() == "roleprivileges":
        stem = leaf[:-5] if leaf.lower().endswith(".json") else leaf
        return f"roleprivileges/{_guid(stem)}.json"
    return name


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8-sig"))


def load_environment(source: Path | str | dict[str, Any]) -> dict[str, Any]:
    """An export folder, or an in-memory ``{filename: parsed JSON}``, as ``{key: body}`` (not copied)."""
    if isinstance(source, dict):
        return {_key(name): body for name, body in source.items() if name not in NOT_SERVED}
    folder = Path(source)
    files = {path.name: _read(path) for path in sorted(folder.glob("*.json")) if path.name not in NOT_SERVED}
    for path in sorted((folder / "roleprivileges").glob("*.json")):
        files[_key("roleprivileges/" + path.name)] = _read(path)
    return files


def _tenant_wide(environments: list[dict[str, Any]], name: str, key: str) -> dict | None:
    """The union of every environment's copy of a tenant-wide Graph list, rows de-duplicated by key."""
    bodies: list[dict] = []
    for files in environments:
        body = files.get(name)
        if isinstance(body, dict) and not any(body is seen for seen in bodies):
            bodies.append(body)
    if len(bodies) <= 1:
        return bodies[0] if bodies else None
    merged, seen = dict(bodies[0]), set()
    merged["value"] = []
    for body in bodies:
        for row in body.get("value") or []:
            ident = row.get(key) if isinstance(row, dict) else None
            if ident is None or ident not in seen:
                merged["value"].append(row)
                seen.add(ident)
    return merged


def _policies(environments: list[dict[str, Any]]) -> dict[str, dict]:
    """The tenant's data policies by name: the union of every folder's ``dlppolicies.json``."""
    out: dict[str, dict] = {}
    for files in environments:
        body = files.get("dlppolicies.json")
        for row in (body.get("value") or []) if isinstance(body, dict) else []:
            name = ((row.get("policyDefinition") or {}).get("name") or "").lower()
            out.setdefault(name, row)
    return out


def _opaque(offset: int) -> str:
    return base64.urlsafe_b64encode(f"fake-page:{offset}".encode()).decode().rstrip("=")


def _unopaque(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "fake-page" and number.isdigit() else None


def _query(raw: str) -> dict[str, str]:
    """Query parameters by lower-case name (OData system query options are case-insensitive)."""
    return {k.lower(): v for k, v in parse_qsl(raw, keep_blank_values=True)}


def _without_skiptoken(raw: str) -> str:
    return "&".join(p for p in raw.split("&") if p and unquote(p.partition("=")[0]).lower() != "$skiptoken")


def _merge_headers(base: dict[str, str], extra: dict[str, str] | None) -> dict[str, str]:
    merged = dict(base)
    for name, value in (extra or {}).items():
        for old in [k for k in merged if k.lower() == name.lower()]:
            del merged[old]
        merged[name] = value
    return merged


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, _dumps({"error": {"code": code, "message": message}}), {"Content-Type": _JSON, **(headers or {})})


def _dv_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, _dumps({"error": {"code": code, "message": message}}), dict(_DV_HEADERS))


def _graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    request_id = str(uuid.uuid4())
    body = {"error": {"code": code, "message": message, "innerError": {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "request-id": request_id,
        "client-request-id": request_id}}}
    return Reply(status, _dumps(body), {"Content-Type": _GRAPH_TYPE, "request-id": request_id, **(headers or {})})


def _api_of(path: str) -> tuple[str | None, str]:
    """Which API a path belongs to ("bap", "powerapps", "dv", "graph") and the path below its prefix."""
    lowered = path.lower()
    for prefix in ("bap", "powerapps", "dv", "graph"):
        if lowered.startswith(f"/{prefix}/"):
            return prefix, path[len(prefix) + 1:]
    return None, path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as a real client pools connections
    timeout = 30                    # an idle keep-alive connection's thread ends after this
    server_version = "FakePowerPlatform/1.0"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.tenant._serve(self)  # type: ignore[attr-defined]

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET  # noqa: N815 (answered 405)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class FakeTenant:
    """A fake tenant serving export folders through Microsoft's request shapes; see the module doc.

    ``environments``: label → export folder, or an in-memory ``{filename: parsed JSON}`` with role
    privileges under ``"roleprivileges/<roleid>.json"``. The environment id is each
    ``environment.json``'s ``name`` (lower-case); ``environment_ids`` maps label → id.
    """

    def __init__(self, environments: dict[str, Path | dict], *, page_size: int = 2, latency: float = 0.0,
                 token: str = "test-token") -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size = page_size
        self.latency = latency
        self.token = token
        self.requests: list[dict] = []
        self.environment_ids: dict[str, str] = {}
        self._envs: dict[str, dict[str, Any]] = {}
        for label, source in environments.items():
            files = load_environment(source)
            env = files.get("environment.json")
            if not isinstance(env, dict) or not env.get("name"):
                raise ValueError(f"environment {label!r}: environment.json with a name is required")
            self.environment_ids[label] = _guid(str(env["name"]))
            self._envs[_guid(str(env["name"]))] = files
        envs = list(self._envs.values())
        self._graph = {"users": _tenant_wide(envs, "users.json", "id"),
                       "subscribedSkus": _tenant_wide(envs, "subscribedSkus.json", "skuId")}
        self._dlp = _policies(envs)
        self._faults: list[dict] = []
        self._positions: dict[tuple[str, str], dict[str, int]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base = self.bap = self.powerapps = self.graph = ""

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> FakeTenant:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.tenant = self  # type: ignore[attr-defined]
        self._server = server
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        self.bap, self.powerapps, self.graph = self.base + "/bap", self.base + "/powerapps", self.base + "/graph"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="FakeTenant", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def dataverse(self, env_id: str) -> str:
        """The environment's Dataverse URL (no trailing slash), as its ``instanceUrl`` reports it."""
        return f"{self.base}/dv/{_guid(env_id)}"

    def fail(self, path_contains: str, status: int, *, times: int = 1, headers: dict | None = None,
             body: bytes | None = None, delay: float = 0.0) -> None:
        """The next ``times`` authenticated requests whose path+query contains the text get this answer.

        ``body`` None gives the API's own error shape for the status; status 200 with no body only
        delays (``delay`` seconds) the real answer, adding ``headers``.
        """
        with self._lock:
            self._faults.append({"text": path_contains, "status": status, "times": times, "headers": headers or {},
                                 "body": body, "delay": delay})

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        record = {"method": handler.command, "path": unquote(parts.path),
                  "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                  "headers": {k.lower(): v for k, v in handler.headers.items()}, "status": None}
        with self._lock:
            self.requests.append(record)
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        if self.latency:
            time.sleep(self.latency)
        reply = self._respond(handler.command, parts, record["headers"])
        record["status"] = reply.status
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            handler.close_connection = True

    def _respond(self, method: str, parts: Any, headers: dict[str, str]) -> Reply:
        api, rest = _api_of(unquote(parts.path))
        if api is None:
            return _error(404, "NotFound", f"No API is served at {parts.path}.")
        denied = self._authenticate(api, rest, headers)
        if denied is not None:
            return denied
        fault = self._take_fault(parts)
        if fault is not None:
            if fault["delay"]:
                time.sleep(fault["delay"])
            if fault["status"] != 200 or fault["body"] is not None:
                return self._fault_reply(api, fault)
        if method != "GET":
            return self._fault_reply(api, {"status": 405, "body": None, "headers": {"Allow": "GET"}})
        reply = self._route(api, rest, parts, headers)
        if fault is not None:
            reply.headers = _merge_headers(reply.headers, fault["headers"])
        return reply

    def _route(self, api: str, rest: str, parts: Any, headers: dict[str, str]) -> Reply:
        query = _query(parts.query)
        if api == "dv":
            return self._dataverse(rest, parts, query, headers)
        if api == "graph":
            return self._graph_route(rest, parts, query)
        if api == "bap" and (_DLP_LIST.fullmatch(rest) or _DLP_ONE.fullmatch(rest)):
            return self._dlp_route(rest, parts, query)  # the governance API takes no api-version
        if "api-version" not in query:
            return _error(400, "MissingApiVersionParameter",
                          "The api-version query parameter (?api-version=) is required for all requests.")
        if api == "bap":
            return self._bap(rest, parts, query)
        return self._powerapps(rest, parts, query)

    # -- authentication and faults ---------------------------------------------------------------

    def _authenticate(self, api: str, rest: str, headers: dict[str, str]) -> Reply | None:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip() == self.token:
            return None
        if api == "dv":
            match = _DATAVERSE.fullmatch(rest)
            env_id = _guid(match.group(1)) if match else ""
            env = self._envs.get(env_id, {}).get("environment.json") or {}
            tenant_id = (env.get("properties") or {}).get("tenantId") or "common"
            # Dataverse answers 401 with an empty body and where to get a token.
            return Reply(401, b"", {"WWW-Authenticate": f"Bearer authorization_uri=https://login.microsoftonline.com/"
                                                        f"{tenant_id}/oauth2/authorize, "
                                                        f"resource_id={self.dataverse(env_id)}/"})
        if api == "graph":
            return _graph_error(401, "InvalidAuthenticationToken",
                                "Access token is empty." if not value else "Access token validation failure.",
                                {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline'
                                                     '.com/common/oauth2/authorize", client_id="00000003-0000-0000-'
                                                     'c000-000000000000"'})
        if not value:  # the shape Azure Resource Manager uses; the admin APIs share its error envelope
            return _error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")

    def _take_fault(self, parts: Any) -> dict | None:
        target = parts.path + ("?" + parts.query if parts.query else "")
        decoded = unquote(target)
        with self._lock:
            for fault in self._faults:
                if fault["text"] in target or fault["text"] in decoded:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _fault_reply(self, api: str, fault: dict) -> Reply:
        status = fault["status"]
        if fault["body"] is not None:
            return Reply(status, fault["body"], _merge_headers({"Content-Type": _JSON}, fault["headers"]))
        family = api if api in ("dv", "graph") else "admin"
        code, message = _FAULT_ERRORS[family].get(status) or _FAULT_ERRORS[family][None]
        if status == 405:
            code, message = ("0x80060888" if family == "dv" else "MethodNotAllowed"), "The method is not allowed."
        if family == "dv":
            reply = _dv_error(status, code, message)
        elif family == "graph":
            reply = _graph_error(status, code, message)
        else:
            reply = _error(status, code, message)
        reply.headers = _merge_headers(reply.headers, fault["headers"])
        return reply

    # -- paging ----------------------------------------------------------------------------------

    def _next_link(self, parts: Any, token: str) -> str:
        query = _without_skiptoken(parts.query)
        return f"{self.base}{parts.path}?{query + '&' if query else ''}$skiptoken={quote(token, safe='=/')}"

    def _offset_page(self, file_body: dict, rows: list, parts: Any, query: dict[str, str], size: int,
                     link_key: str, link_first: bool = False) -> dict | None:
        """A page of rows addressed by an opaque offset token (admin APIs, Graph); None: a bad token."""
        start = 0
        if "$skiptoken" in query:
            start = _unopaque(query["$skiptoken"])
            if start is None:
                return None
        body = {k: v for k, v in file_body.items() if k not in ("value", link_key)}
        link = self._next_link(parts, _opaque(start + size)) if start + size < len(rows) else None
        if link and link_first:  # Graph sends the next link before the rows
            body[link_key] = link
        body["value"] = rows[start:start + size]
        if link and not link_first:
            body[link_key] = link
        return body

    # -- admin APIs ------------------------------------------------------------------------------

    def _environment(self, env_id: str) -> dict:
        env = copy.deepcopy(self._envs[env_id]["environment.json"])
        linked = (env.get("properties") or {}).get("linkedEnvironmentMetadata")
        if isinstance(linked, dict):
            linked["instanceUrl"] = self.dataverse(env_id) + "/"
            if "instanceApiUrl" in linked:
                linked["instanceApiUrl"] = self.dataverse(env_id)
        return env

    def _admin_size(self, query: dict[str, str]) -> int | None:
        top = query.get("$top")
        if top is None:
            return self.page_size
        return min(int(top), self.page_size) if top.isdigit() and int(top) > 0 else None

    def _admin_list(self, file_body: dict, parts: Any, query: dict[str, str]) -> Reply:
        size = self._admin_size(query)
        if size is None:
            return _error(400, "InvalidQueryParameter", f"The value '{query.get('$top')}' of $top is not valid.")
        rows = file_body.get("value") or []
        body = self._offset_page(file_body, rows, parts, query, size, "nextLink")
        if body is None:
            return _error(400, "InvalidSkipToken", "The $skiptoken is not valid.")
        return Reply(200, _dumps(body), {"Content-Type": _JSON})

    def _bap(self, rest: str, parts: Any, query: dict[str, str]) -> Reply:
        if _BAP_LIST.fullmatch(rest):
            return self._admin_list({"value": [self._environment(i) for i in self._envs]}, parts, query)
        match = _BAP_ONE.fullmatch(rest)
        if match is None:
            return _error(404, "NotFound", f"The resource '{rest}' was not found.")
        env_id = _guid(match.group(1))
        if env_id not in self._envs:
            return _error(404, "EnvironmentNotFound", f"The environment '{match.group(1)}' could not be found.")
        return Reply(200, _dumps(self._environment(env_id)), {"Content-Type": _JSON})

    def _dlp_route(self, rest: str, parts: Any, query: dict[str, str]) -> Reply:
        """Data policies: the list names each policy (``policyDefinition`` alone, so a client must
        read each one whole, as Microsoft's Terraform provider does); one policy is its whole body."""
        if _DLP_LIST.fullmatch(rest):
            listed = [{"policyDefinition": row.get("policyDefinition")} for _, row in sorted(self._dlp.items())]
            return self._admin_list({"value": listed}, parts, query)
        match = _DLP_ONE.fullmatch(rest)
        assert match is not None
        row = self._dlp.get(unquote(match.group(1)).lower())
        if row is None:
            return _error(404, "PolicyNotFound", f"The policy '{match.group(1)}' could not be found.")
        return Reply(200, _dumps(row), {"Content-Type": _JSON})

    def _powerapps(self, rest: str, parts: Any, query: dict[str, str]) -> Reply:
        match = _CONNECTIONS.fullmatch(rest)
        if match is None:
            return _error(404, "NotFound", f"The resource '{rest}' was not found.")
        env_id = _guid(match.group(1))
        if env_id not in self._envs:
            return _error(404, "EnvironmentNotFound", f"The environment '{match.group(1)}' could not be found.")
        connections = self._envs[env_id].get("connections.json")
        if not isinstance(connections, dict):
            return _error(404, "ResourceNotFound", f"The connections of environment '{env_id}' were not found.")
        return self._admin_list(connections, parts, query)

    # -- Graph -----------------------------------------------------------------------------------

    def _graph_route(self, rest: str, parts: Any, query: dict[str, str]) -> Reply:
        if _GRAPH_SKUS.fullmatch(rest):
            skus = self._graph["subscribedSkus"]
            if skus is None:
                return _graph_error(404, "Request_ResourceNotFound", "Resource 'subscribedSkus' does not exist.")
            return Reply(200, _dumps(skus), {"Content-Type": _GRAPH_TYPE, "request-id": str(uuid.uuid4())})
        users = self._graph["users"] if _GRAPH_USERS.fullmatch(rest) else None
        if users is None:
            return _graph_error(404, "Request_ResourceNotFound",
                                f"Resource '{rest.rsplit('/', 1)[-1]}' does not exist or one of its queried "
                                "reference-property objects are not present.")
        top = query.get("$top")
        if top is not None and not (top.isdigit() and 1 <= int(top) <= GRAPH_MAX_TOP):
            return _graph_error(400, "Request_UnsupportedQuery",
                                f"Invalid page size specified: '{top}'. Must be between 1 and {GRAPH_MAX_TOP} inclusive.")
        size = min(int(top) if top else GRAPH_DEFAULT_PAGE, self.page_size)
        body = self._offset_page(users, users.get("value") or [], parts, query, size, "@odata.nextLink", True)
        if body is None:
            return _graph_error(400, "Directory_InvalidSkipToken", "The specified skip token is invalid.")
        return Reply(200, _dumps(body), {"Content-Type": _GRAPH_TYPE, "request-id": str(uuid.uuid4())})

    # -- Dataverse -------------------------------------------------------------------------------

    def _dataverse(self, rest: str, parts: Any, query: dict[str, str], headers: dict[str, str]) -> Reply:
        match = _DATAVERSE.fullmatch(rest)
        segment = rest.strip("/").split("/")[-1] if match is None else match.group(2)
        files = self._envs.get(_guid(match.group(1))) if match else None
        if files is None:
            return _dv_error(404, "0x80060888", f"Resource not found for the segment '{segment}'.")
        env_id = _guid(match.group(1))
        privileges = _PRIVILEGES.fullmatch(segment)
        if privileges:
            return self._role_privileges(env_id, files, _guid(privileges.group(1)))
        name = segment.rstrip("/")
        body = files.get(f"{name}.json") if name in DATAVERSE_SETS else None
        if not isinstance(body, dict):
            first = re.split(r"[/(]", segment, maxsplit=1)[0]
            return _dv_error(404, "0x80060888", f"Resource not found for the segment '{first}'.")
        return self._dataverse_list(env_id, name, body, parts, query, headers)

    def _dataverse_size(self, headers: dict[str, str]) -> tuple[int, list[str]]:
        size, applied = DATAVERSE_MAX_PAGE, []
        for preference in (p.strip() for p in headers.get("prefer", "").split(",")):
            name, _, value = preference.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "odata.maxpagesize" and value.isdigit() and 1 <= int(value) <= DATAVERSE_MAX_PAGE:
                size = int(value)
                applied.append(f"odata.maxpagesize={size}")
            elif name == "odata.include-annotations":
                applied.append(preference)
        return min(size, self.page_size), applied

    def _row_positions(self, env_id: str, name: str, rows: list) -> dict[str, int]:
        with self._lock:
            positions = self._positions.get((env_id, name))
            if positions is None:
                key = DATAVERSE_SETS[name]
                positions = {self._row_id(row, key, i): i for i, row in enumerate(rows)}
                self._positions[(env_id, name)] = positions
        return positions

    @staticmethod
    def _row_id(row: Any, key: str, index: int) -> str:
        ident = row.get(key) if isinstance(row, dict) else None
        return _guid(str(ident)).upper() if ident else f"#{index}"

    def _dataverse_start(self, env_id: str, name: str, rows: list, token: str | None) -> tuple[int, int] | None:
        """Where a page starts and its number, from Dataverse's paging cookie; None: a bad token."""
        if token is None:
            return 0, 1
        last, number = _LAST_ID.search(unquote(token)), _PAGE_NUMBER.search(token)
        if last is None or number is None:
            return None
        position = self._row_positions(env_id, name, rows).get(last.group(1).upper())
        return None if position is None else (position + 1, int(number.group(1)))

    def _cookie(self, name: str, rows: list, start: int, end: int, number: int) -> str:
        key = DATAVERSE_SETS[name]
        last, first = self._row_id(rows[end - 1], key, end - 1), self._row_id(rows[start], key, start)
        inner = f'<cookie page="{number}"><{key} last="{{{last}}}" first="{{{first}}}" /></cookie>'
        return f'<cookie pagenumber="{number + 1}" pagingcookie="{quote(inner, safe="")}" istracking="False" />'

    def _dataverse_list(self, env_id: str, name: str, file_body: dict, parts: Any, query: dict[str, str],
                        headers: dict[str, str]) -> Reply:
        rows = file_body.get("value") or []
        top = query.get("$top")
        if top is not None:
            if not top.isdigit():
                return _dv_error(400, "0x80060888", f"Invalid value '{top}' for $top query option found.")
            rows = rows[:int(top)]
        size, applied = self._dataverse_size(headers)
        where = self._dataverse_start(env_id, name, file_body.get("value") or [], query.get("$skiptoken"))
        if where is None:
            return _dv_error(400, "0x80040203", "Invalid skip token.")
        start, number = where
        end = min(start + size, len(rows))
        body = {k: v for k, v in file_body.items() if k not in ("value", "@odata.nextLink")}
        body["value"] = rows[start:end]
        if end < len(rows):
            body["@odata.nextLink"] = self._next_link(parts, self._cookie(name, rows, start, end, number))
        headers_out = dict(_DV_HEADERS)
        if applied:
            headers_out["Preference-Applied"] = ",".join(applied)
        return Reply(200, _dumps(body), headers_out)

    def _role_privileges(self, env_id: str, files: dict[str, Any], role_id: str) -> Reply:
        body = files.get(f"roleprivileges/{role_id}.json")
        if body is not None:
            return Reply(200, _dumps(body), dict(_DV_HEADERS))
        roles = files.get("roles.json") or {}
        known = {_guid(str(r.get("roleid"))) for r in roles.get("value") or [] if isinstance(r, dict)}
        if role_id not in known:
            return _dv_error(404, "0x80040217", f"role With Id = {role_id} Does Not Exist")
        # A role without a file has no privileges: Dataverse answers an empty list.
        context = f"{self.dataverse(env_id)}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRoleResponse"
        return Reply(200, _dumps({"@odata.context": context, "RolePrivileges": []}), dict(_DV_HEADERS))


def http_date(seconds_from_now: float) -> str:
    """An HTTP-date ``seconds_from_now`` in the future (for a ``Retry-After`` fault)."""
    return formatdate(time.time() + seconds_from_now, usegmt=True)
