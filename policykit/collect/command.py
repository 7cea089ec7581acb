"""The ``policykit collect`` command: which environments, where to, dry run and preflight."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

from ..errors import UsageError, one_line
from ..platform import is_guid, norm_guid
from .arguments import HOST_KINDS
from .clouds import CLOUDS
from .collector import Collector, Hosts, Outcome, env_facts, request_url, target_folders
from .http import CollectError, Http
from .permissions import LIST_ENVIRONMENTS, REQUESTS
from .tokens import token_provider

EXIT_OK, EXIT_ERROR = 0, 2
def _endpoints(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        kind, sep, url = value.partition("=")
        if not sep or kind not in HOST_KINDS or not url.startswith(("https://", "http://")):
            raise UsageError(f"--endpoint expects KIND=URL with KIND one of {', '.join(HOST_KINDS)}, got {value!r}")
        out[kind] = url
    return out


def _matches(env: dict, wanted: str) -> bool:
    env_id, display, instance = env_facts(env)
    text = wanted.strip()
    if is_guid(text):
        return norm_guid(text) == norm_guid(env_id)
    if text.lower().startswith(("https://", "http://")):
        return bool(instance) and instance.rstrip("/").lower() == text.rstrip("/").lower()
    return (display or "").casefold() == text.casefold()


def _estate_targets(config: Path) -> list[tuple[str, Path]]:
    """(environment to look for, folder) for each estate environment whose metadata is a folder."""
    import json

    from ..scanner import load_estate
    estate = load_estate(config)
    out = []
    for spec in estate.environments:
        if spec.metadata is None or spec.metadata.suffix.lower() in (".yaml", ".yml", ".json"):
            continue
        known = spec.metadata / "environment.json"
        wanted = spec.name
        if known.is_file():
            wanted = str(json.loads(known.read_text(encoding="utf-8")).get("name") or spec.name)
        out.append((wanted, spec.metadata))
    if not out:
        raise UsageError(f"{config}: no environment has an export folder as its metadata")
    return out


def _select(all_envs: list[dict], args: argparse.Namespace) -> list[tuple[dict, Path]]:
    if args.config:
        pairs = _estate_targets(Path(args.config))
    else:
        if not args.out:
            raise UsageError("collect needs --out DIR (or --config FILE)")
        if args.all:
            return target_folders(all_envs, Path(args.out))
        pairs = [(w, Path()) for w in args.environment]
    chosen: list[tuple[dict, Path]] = []
    for wanted, folder in pairs:
        found = [e for e in all_envs if _matches(e, wanted)]
        if len(found) != 1:
            raise UsageError(f"environment {wanted!r} {'matches no' if not found else 'matches several'} "
                             "environment of the tenant (give its id)")
        chosen.append((found[0], folder))
    if args.config:
        return chosen
    return target_folders([e for e, _ in chosen], Path(args.out))


def dry_run(hosts: Hosts, args: argparse.Namespace, out: TextIO) -> int:
    """Every request, with the permission it needs; nothing is sent."""
    envs = args.environment or ["{environment_id}"]
    out.write(f"GET {request_url(hosts, LIST_ENVIRONMENTS)}\n    needs: {LIST_ENVIRONMENTS.permission}\n")
    for wanted in envs:
        env_id = norm_guid(wanted) if is_guid(wanted) else None
        instance = wanted if wanted.startswith("https://") else "https://{instanceUrl}"
        out.write(f"\n# environment {wanted}\n")
        out.writelines(f"GET {request_url(hosts, req, env_id, instance)}\n    needs: {req.permission}\n" for req in REQUESTS)
    out.write("\n(dry run: no request was sent)\n")
    return EXIT_OK


def preflight(collector: Collector, targets: list[tuple[dict, Path]], out: TextIO) -> int:
    """Try each request once per environment (first page only) and say what is missing."""
    problems = 0
    for env, _ in targets:
        env_id, display, instance = env_facts(env)
        out.write(f"{display or env_id} ({env_id})\n")
        for req in (r for r in REQUESTS if "{role_id}" not in r.path):
            url = request_url(collector.hosts, req, env_id, instance)
            try:
                collector.http.get(url, collector.hosts.scope(req.host, instance))
                out.write(f"  ok       {req.file}\n")
            except CollectError as exc:
                problems += 1
                out.write(f"  MISSING  {req.file}: {exc.reason}; needs {req.permission}\n")
    out.write(f"\n{problems} problem(s)\n")
    return EXIT_OK if problems == 0 else EXIT_ERROR


def _summary(outcomes: list[Outcome], err: TextIO) -> int:
    code = EXIT_OK
    for o in outcomes:
        if o.error:
            code = EXIT_ERROR
            err.write(one_line(f"policykit: error: {o.name}: not collected: {o.error}", 600) + "\n")
        elif o.missing:
            code = EXIT_ERROR
            reasons = "; ".join(f"{f}: {o.files[f].get('reason')}" for f in o.missing)
            err.write(one_line(f"policykit: error: {o.name}: {len(o.missing)} file(s) not collected ({reasons}) "
                               f"-> {o.folder}", 1000) + "\n")
        else:
            err.write(f"policykit: collected {o.name}: {len(o.files)} files -> {o.folder}\n")
    return code


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    if not (args.all or args.environment or args.config or args.dry_run):
        raise UsageError("collect needs --all, --environment NAME_OR_ID or --config FILE")
    hosts = Hosts.of(CLOUDS[args.cloud], _endpoints(args.endpoint))
    if args.dry_run:
        return dry_run(hosts, args, stdout)
    tty = stderr.isatty()
    say = (lambda text: stderr.write(one_line(f"policykit: {text}", 600) + "\n")) if tty else None
    waits = (lambda text, _s: stderr.write(f"policykit: {text}\n")) if tty else None
    http = Http(token_provider(args.auth, authority=CLOUDS[args.cloud].authority), timeout=args.timeout, retries=args.retries, on_wait=waits)
    try:
        collector = Collector(http, hosts, say=say)
        try:
            targets = _select(collector.list_environments(), args)
        except CollectError as exc:
            stderr.write(one_line(f"policykit: error: cannot list the tenant's environments: {exc.reason}; "
                                  f"needs {LIST_ENVIRONMENTS.permission}", 600) + "\n")
            return EXIT_ERROR
        if args.check:
            return preflight(collector, targets, stdout)
        root = (Path(args.out) if args.out else targets[0][1].parent) if targets else Path(".")
        outcomes = collector.run(targets, root / f".policykit-tenant-{os.getpid()}")
    finally:
        http.close()
    _cleanup(root / f".policykit-tenant-{os.getpid()}")
    stderr.write(f"policykit: {http.requests} requests\n")
    return _summary(outcomes, stderr)


def _cleanup(path: Path) -> None:
    import shutil
    shutil.rmtree(path, ignore_errors=True)
