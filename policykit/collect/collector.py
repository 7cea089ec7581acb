"""``policykit collect``: a tenant's environments into export folders (docs/environment-export.md).

Per environment, every request of :data:`permissions.REQUESTS` runs concurrently (role privileges
too, one request per role), pages merged, bodies unchanged, in a staging folder renamed into place
at the end. Microsoft Graph's users and SKUs and the data policies are tenant-wide: fetched once,
linked into every folder. ``collection.json`` records each request's provenance and each file's outcome; a file
that could not be collected is absent and marked so, never written empty.
"""

from __future__ import annotations

import datetime as _dt
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .clouds import Cloud, dataverse_scope
from .folders import Staging, dump, folder_name, link_or_copy
from .http import CollectError, Fetched, Http
from .permissions import DLPPOLICIES, DLPPOLICY, LIST_ENVIRONMENTS, REQUESTS, Request

#: Pages of 5,000 rows with formatted values, as the maker portal asks; ``If-None-Match: null``
#: because expanded role and team collections may otherwise come from a cache (Microsoft Learn,
#: "Query data using the Web API": "Retrieve related table rows").
DATAVERSE_HEADERS = {"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue",'
                               "odata.maxpagesize=5000", "If-None-Match": "null"}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Hosts:
    """Base URLs and token scopes per host kind; Dataverse's come from each environment."""

    bap: str
    powerapps: str
    graph: str
    scopes: dict[str, str]

    @classmethod
    def of(cls, cloud: Cloud, overrides: dict[str, str]) -> Hosts:
        urls = {"bap": cloud.bap, "powerapps": cloud.powerapps, "graph": cloud.graph, **overrides}
        return cls(urls["bap"].rstrip("/"), urls["powerapps"].rstrip("/"), urls["graph"].rstrip("/"),
                   {"bap": cloud.bap_audience, "powerapps": cloud.powerapps_audience, "graph": cloud.graph_audience})

    def base(self, host: str, instance_url: str | None) -> str:
        if host == "dataverse":
            if not instance_url:
                raise CollectError(0, "the environment has no Dataverse database (no instanceUrl)")
            return instance_url.rstrip("/")
        return getattr(self, host)

    def scope(self, host: str, instance_url: str | None) -> str:
        return dataverse_scope(instance_url or "") if host == "dataverse" else self.scopes[host]


def env_facts(env: dict) -> tuple[str, str | None, str | None]:
    """(id, display name, Dataverse URL) of an admin API environment object."""
    props = env.get("properties") if isinstance(env.get("properties"), dict) else {}
    linked = props.get("linkedEnvironmentMetadata") if isinstance(props.get("linkedEnvironmentMetadata"), dict) else {}
    return str(env.get("name") or ""), props.get("displayName"), linked.get("instanceUrl")


def request_url(hosts: Hosts, req: Request, env_id: str | None = None, instance: str | None = None,
                role_id: str | None = None) -> str:
    """The request's URL; with no environment (a dry run, the tenant-wide files) its placeholders
    stay as written."""
    unfilled_environment = env_id is None and req.host != "dataverse" and "{environment_id}" in req.path
    unfilled_role = role_id is None and "{role_id}" in req.path
    if unfilled_environment or unfilled_role:
        return hosts.base(req.host, instance or "https://{instanceUrl}") + req.path
    return hosts.base(req.host, instance) + req.render(environment_id=env_id or "", role_id=role_id or "")


@dataclass
class Outcome:
    """What one environment's collect did: per file, collected or why not; per request, provenance."""

    name: str
    env_id: str
    folder: Path
    files: dict[str, dict] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    error: str | None = None

    @property
    def missing(self) -> list[str]:
        return [f for f, e in self.files.items() if e["status"] != "collected"]


class Collector:
    def __init__(self, http: Http, hosts: Hosts, *, workers: int = 32, environments_at_once: int = 8,
                 say=None) -> None:
        self.http = http
        self.hosts = hosts
        self.say = say or (lambda text: None)
        self.workers = workers
        self.environments_at_once = environments_at_once

    # ---- environments

    def list_environments(self) -> list[dict]:
        url = request_url(self.hosts, LIST_ENVIRONMENTS)
        return self.http.get_all(url, self.hosts.scope("bap", None), LIST_ENVIRONMENTS.next_link_key).body["value"]

    # ---- one request

    def _fetch(self, req: Request, env_id: str, instance: str | None, role_id: str = "") -> Fetched:
        url = request_url(self.hosts, req, env_id, instance, role_id)
        scope = self.hosts.scope(req.host, instance)
        headers = DATAVERSE_HEADERS if req.host == "dataverse" else None
        if req.paged:
            return self.http.get_all(url, scope, req.next_link_key, headers)
        fetched = self.http.get(url, scope, headers)
        body = fetched.body
        fetched.records = len(body["value"]) if isinstance(body, dict) and isinstance(body.get("value"), list) \
            else len(body.get("RolePrivileges") or []) if isinstance(body, dict) else None
        return fetched

    def _record(self, out: Outcome, req: Request, fetched: Fetched | None, error: CollectError | None,
                url: str) -> None:
        entry: dict[str, Any] = {"file": req.file, "url": fetched.url if fetched else url,
                                 "api_version": req.api_version, "time": _now()}
        if fetched is not None:
            entry.update(status=fetched.status, pages=fetched.pages, records=fetched.records,
                         attempts=fetched.attempts, waited_s=round(fetched.waited, 1))
        else:
            assert error is not None
            entry.update(status=error.status or None, error=error.reason, permission=req.permission)
        out.requests.append(entry)

    # ---- tenant-wide files

    def tenant_files(self, staging_root: Path) -> dict[str, tuple[Request, Path | None, dict]]:
        """Graph's users and SKUs and the data policies, once for all environments:
        file → (request, written file or None, record with the requests made)."""
        out: dict[str, tuple[Request, Path | None, dict]] = {}
        for req in (r for r in REQUESTS if r.tenant):
            probe = Outcome("tenant", "", staging_root)
            url = request_url(self.hosts, req)
            fetched = None
            try:
                fetched = self._fetch(req, "", None)
                self._record(probe, req, fetched, None, url)
                if req is DLPPOLICIES:
                    self._whole_policies(fetched, probe)
            except CollectError as exc:
                if fetched is None:  # a failed policy read is recorded where it failed
                    self._record(probe, req, None, exc, url)
                out[req.file] = (req, None, {"status": "not_collected", "reason": self._why(req, exc),
                                             "requests": probe.requests})
                continue
            path = staging_root / req.file
            dump(path, fetched.body)
            out[req.file] = (req, path, {"status": "collected", "records": fetched.records,
                                         "requests": probe.requests})
            self.say(f"tenant: {req.file}: {fetched.records} records ({fetched.pages} pages)")
        return out

    def _whole_policies(self, listed: Fetched, probe: Outcome) -> None:
        """Replaces each listed data policy by its whole body (``GET .../v2/policies/{name}``).
        A policy that cannot be read fails the file: data policies are judged all or none."""
        whole = []
        for row in listed.body.get("value") or []:
            definition = row.get("policyDefinition") if isinstance(row, dict) else None
            name = definition.get("name") if isinstance(definition, dict) else None
            if not isinstance(name, str) or not name:
                raise CollectError(0, "a listed data policy has no policyDefinition.name")
            url = self.hosts.base("bap", None) + DLPPOLICY.render(policy_name=name)
            try:
                fetched = self.http.get(url, self.hosts.scope("bap", None))
            except CollectError as exc:
                self._record(probe, DLPPOLICY, None, exc, url)
                raise CollectError(exc.status, f"data policy {name}: {exc.reason}") from None
            self._record(probe, DLPPOLICY, fetched, None, url)
            whole.append(fetched.body)
        listed.body = {"value": whole}
        listed.records = len(whole)

    @staticmethod
    def _why(req: Request, exc: CollectError) -> str:
        hint = f"; needs {req.permission}" if exc.status in (401, 403) else ""
        return f"{exc.reason}{hint}"

    # ---- one environment

    def environment(self, env: dict, folder: Path, tenant: dict, pool: ThreadPoolExecutor) -> Outcome:
        env_id, display, instance = env_facts(env)
        out = Outcome(display or env_id, env_id, folder)
        staging = Staging(folder)
        try:
            self._environment_files(env_id, instance, staging.path, out, pool)
            for file, (req, path, record) in tenant.items():
                out.requests += record["requests"]
                out.files[file] = {k: v for k, v in record.items() if k != "requests"}
                if path is not None:
                    link_or_copy(path, staging.path / file)
            self._write_provenance(out, env, staging.path)
            staging.commit()
        except (CollectError, OSError) as exc:
            staging.abandon()
            out.error = getattr(exc, "reason", None) or str(exc)
        return out

    def _environment_files(self, env_id: str, instance: str | None, root: Path, out: Outcome,
                           pool: ThreadPoolExecutor) -> None:
        env_req = next(r for r in REQUESTS if r.file == "environment.json")
        fetched = self._fetch(env_req, env_id, instance)  # an environment we cannot read fails whole
        self._record(out, env_req, fetched, None, request_url(self.hosts, env_req, env_id))
        dump(root / env_req.file, fetched.body)
        out.files[env_req.file] = {"status": "collected", "records": 1}
        pending: dict[Request, Future] = {
            req: pool.submit(self._fetch, req, env_id, instance)
            for req in REQUESTS if not req.tenant and req.file != "environment.json"
            and "{role_id}" not in req.path}
        for req, future in pending.items():
            self._settle(req, future, env_id, instance, root, out)
        privileges = next((r for r in REQUESTS if "{role_id}" in r.path), None)
        if privileges is not None:
            self._role_privileges(privileges, env_id, instance, root, out, pool)

    def _settle(self, req: Request, future: Future, env_id: str, instance: str | None, root: Path,
                out: Outcome) -> None:
        url = request_url(self.hosts, req, env_id, instance)
        try:
            fetched = future.result()
        except CollectError as exc:
            self._record(out, req, None, exc, url)
            out.files[req.file] = {"status": "not_collected", "reason": self._why(req, exc)}
            self.say(f"{out.name}: {req.file}: NOT collected: {self._why(req, exc)}")
            return
        self._record(out, req, fetched, None, url)
        dump(root / req.file, fetched.body)
        out.files[req.file] = {"status": "collected", "records": fetched.records}
        self.say(f"{out.name}: {req.file}: {fetched.records} records ({fetched.pages} pages)")

    def _role_privileges(self, req: Request, env_id: str, instance: str | None, root: Path, out: Outcome,
                         pool: ThreadPoolExecutor) -> None:
        key = "roleprivileges/"
        if out.files.get("roles.json", {}).get("status") != "collected":
            out.files[key] = {"status": "not_collected", "reason": "roles.json was not collected"}
            return
        roles = _read_rows(root / "roles.json")
        futures = {rid: pool.submit(self._fetch, req, env_id, instance, rid) for rid in roles}
        failed: list[str] = []
        for rid, future in futures.items():
            url = request_url(self.hosts, req, env_id, instance, rid)
            try:
                fetched = future.result()
            except CollectError as exc:
                self._record(out, req, None, exc, url)
                failed.append(f"{rid}: {self._why(req, exc)}")
                continue
            self._record(out, req, fetched, None, url)
            dump(root / "roleprivileges" / f"{rid}.json", fetched.body)
        if failed:
            status = "partial" if len(failed) < len(roles) else "not_collected"
            out.files[key] = {"status": status, "records": len(roles) - len(failed),
                              "reason": f"{len(failed)} of {len(roles)} roles failed; first: {failed[0]}"}
        else:
            out.files[key] = {"status": "collected", "records": len(roles)}
        self.say(f"{out.name}: roleprivileges/: {len(roles) - len(failed)} of {len(roles)} roles")

    def _write_provenance(self, out: Outcome, env: dict, root: Path) -> None:
        env_id, display, instance = env_facts(env)
        dump(root / "collection.json", {
            "tool": {"name": "policykit collect", "version": __version__},
            "environment": {"id": env_id, "display_name": display, "instance_url": instance},
            "identity": self.http.tokens.identity(),
            "collected_at": _now(),
            "files": dict(sorted(out.files.items())),
            "requests": sorted(out.requests, key=lambda r: (r["file"], r["url"])),
            "note": "processlicenses.json is not collected: no Microsoft API exposes Process license "
                    "assignments; it stays the administrator's file (docs/collect.md)",
        })

    # ---- all of it

    def run(self, targets: list[tuple[dict, Path]], staging_root: Path) -> list[Outcome]:
        staging_root.mkdir(parents=True, exist_ok=True)
        tenant = self.tenant_files(staging_root)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="policykit-request") as pool, \
                ThreadPoolExecutor(self.environments_at_once, thread_name_prefix="policykit-env") as envs:
            futures = [envs.submit(self.environment, env, folder, tenant, pool) for env, folder in targets]
            return [f.result() for f in futures]


def _read_rows(path: Path) -> list[str]:
    """Role ids from a written roles.json."""
    import json
    body = json.loads(path.read_text(encoding="utf-8"))
    return sorted({str(r.get("roleid")).lower() for r in body.get("value") or [] if r.get("roleid")})


def target_folders(envs: list[dict], out: Path) -> list[tuple[dict, Path]]:
    """Each environment's folder: its display name, made unique with the id when two share one."""
    names: dict[str, int] = {}
    for env in envs:
        env_id, display, _ = env_facts(env)
        names[folder_name(display, env_id).lower()] = names.get(folder_name(display, env_id).lower(), 0) + 1
    result = []
    for env in envs:
        env_id, display, _ = env_facts(env)
        name = folder_name(display, env_id)
        result.append((env, out / (f"{name}-{env_id}" if names[name.lower()] > 1 else name)))
    return result
