"""Tenant scale: how a full scan grows with solutions, environments and users (reports, asserts nothing).

    .venv/bin/python bench/bench_scale.py                      # the default sizes + the public corpus (~5 min)
    .venv/bin/python bench/bench_scale.py --sizes 100x20x5000,300x10x10000 --repeat 3 --cache ../estates
    .venv/bin/python bench/bench_scale.py --issue-sizes --cache ../estates      # issue 11's list: ~3 min once cached
    .venv/bin/python bench/bench_scale.py --digest 1000x50x20000 --cache ../estates   # docs/scale.md

A size is SOLUTIONS x ENVIRONMENTS x USERS (``1k`` = 1000). For each one, an estate is written by
``../shared/tools/gen_estate.py`` (kept and reused under ``--cache DIR``), then, in the same run:

* parse floor: ``parse_floor.py`` (bare lxml / json over every file the scanner reads), best of N;
* scan: ``python -m policykit scan --no-plugins --fail-on never --format sarif -o OUT`` in the estate
  folder, start-up included: wall time and the peak RSS of that one process (each scan runs under a
  fresh helper process that reads its own ``RUSAGE_CHILDREN``);
* stages, in another process running the same command in-process, with the stage functions wrapped:
  load = ``scanner.build`` minus ``build_document`` (reading, parsing, loaders, policy, plugins),
  document = ``build_document`` (the joins), rules = ``run_rules``, report = ``to_sarif``; then every
  rule again on its own for the slowest rules.

Times are medians of ``--repeat`` runs (the floor is the best). The exponents are log-log least-squares
slopes over the sizes that differ in one dimension only: 1 is linear. ``--digest`` measures the
per-environment identity digest of docs/scale.md at one size (and checks that the cross-environment
rules find over the merged digests exactly what they find over the whole document).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_SIZES = "30x5x1000,100x5x1000,300x5x1000,100x20x1000,100x5x5000"
ISSUE_SIZES = "100x20x5000,300x10x10000,1000x5x1000,3000x5x1000,100x50x5000,1000x20x20000,1000x50x20000"
DIGEST_SIZE = "1000x50x20000"
STARTUP_SIZE = "1x1x10"
STAGES = ("load", "document", "rules", "report")
DIMENSIONS = ("solutions", "environments", "users")
#: The rules that read the estate-level ``accounts`` (identities across environments).
CROSS_RULES = ("PPK202", "PPK404")
_DATAVERSE = {"shared_commondataserviceforapps", "shared_commondataservice"}


# --------------------------------------------------------------------------- sizes and estates

@dataclass(frozen=True)
class Size:
    solutions: int
    environments: int
    users: int

    @classmethod
    def parse(cls, text: str) -> Size:
        parts = [p.strip().lower() for p in text.replace("×", "x").split("x")]
        if len(parts) != 3:
            raise argparse.ArgumentTypeError(f"not SOLUTIONSxENVIRONMENTSxUSERS: {text}")
        try:
            return cls(*(int(float(p[:-1]) * 1000) if p.endswith("k") else int(p) for p in parts))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not SOLUTIONSxENVIRONMENTSxUSERS: {text}") from None

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.solutions, self.environments, self.users)

    @property
    def label(self) -> str:
        users = f"{self.users // 1000}k" if self.users >= 1000 and self.users % 1000 == 0 else str(self.users)
        return f"{self.solutions}×{self.environments}×{users}"


def sizes_arg(text: str) -> list[Size]:
    out: list[Size] = []
    for part in text.split(","):
        if part.strip() and Size.parse(part) not in out:
            out.append(Size.parse(part))
    return out


def child_env() -> dict[str, str]:
    """PolicyKit from this source tree, whatever is installed in the interpreter."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def estate(size: Size, seed: int, tools: Path, cache: Path | None, scratch: Path) -> Path:
    """The estate folder of ``size``: reused from the cache when gen_estate wrote it with the same
    parameters, else generated (into the cache, or the run's scratch folder)."""
    base = cache if cache is not None else scratch
    out = base / f"{size.solutions}x{size.environments}x{size.users}-seed{seed}"
    info = out / "gen.json"
    if info.is_file():
        params = json.loads(info.read_text())["params"]
        if (params["solutions"], params["envs"], params["users"], params["seed"]) == (*size.dims, seed):
            return out
    base.mkdir(parents=True, exist_ok=True)
    partial = base / f"{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(tools / "gen_estate.py"), str(partial), "--solutions", str(size.solutions),
                    "--envs", str(size.environments), "--users", str(size.users), "--seed", str(seed)],
                   check=True, stdout=subprocess.DEVNULL)
    partial.rename(out)
    print(f"  generated {size.label} in {time.perf_counter() - started:.1f} s: {out}", file=sys.stderr)
    return out


def input_mb(folder: Path) -> float | None:
    info = folder / "gen.json"
    return json.loads(info.read_text())["input_bytes"] / 1e6 if info.is_file() else None


# --------------------------------------------------------------------------- measuring (parent side)

def run_json(argv: list[str], cwd: Path | None = None) -> dict:
    """Run a worker; its last stdout line is JSON."""
    proc = subprocess.run(argv, check=False, cwd=cwd, env=child_env(), capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scan_argv(python: str, out: Path, paths: list[str]) -> list[str]:
    return [python, "-m", "policykit", "scan", "--no-plugins", "--fail-on", "never", "--format", "sarif",
            "-o", str(out), *paths]


def parse_floor(python: str, tools: Path, folder: Path, runs: int) -> float:
    proc = subprocess.run([python, str(tools / "parse_floor.py"), str(folder), str(runs)],
                          capture_output=True, text=True, check=True)
    found = re.search(r"best of \d+: ([0-9.]+) s", proc.stdout)
    if not found:
        raise SystemExit(f"parse_floor.py: unexpected output: {proc.stdout!r}")
    return float(found.group(1))


def corpus_floor_root(corpus: Path, scratch: Path) -> Path:
    """A folder whose ``solutions/`` links to every solution PolicyKit finds in the corpus, so that
    parse_floor.py parses exactly those (it reads ESTATE/solutions/*)."""
    sys.path.insert(0, str(ROOT))
    from policykit.scanner import discover_solutions
    root = scratch / "corpus-floor"
    shutil.rmtree(root, ignore_errors=True)
    (root / "solutions").mkdir(parents=True)
    for i, path in enumerate(discover_solutions(corpus)):
        (root / "solutions" / f"{i:04d}-{path.name}").symlink_to(path.resolve())
    return root


@dataclass
class Row:
    label: str
    size: Size | None
    mb: float | None
    floor: float
    scans: list[dict] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)

    def scan(self) -> float:
        return statistics.median(s["wall"] for s in self.scans)

    def rss_mib(self) -> float:
        return statistics.median(s["maxrss_kib"] for s in self.scans) / 1024

    def stage(self, name: str) -> float | None:
        values = [s[name] for s in self.stages if s.get(name) is not None]
        return statistics.median(values) if values else None

    def slowest(self, n: int = 5) -> list[tuple[str, float]]:
        ids = {r for s in self.stages for r in s["per_rule"]}
        each = {r: statistics.median(s["per_rule"].get(r, 0.0) for s in self.stages) for r in ids}
        return sorted(each.items(), key=lambda kv: -kv[1])[:n]

    def as_dict(self) -> dict:
        return {"estate": self.label, "size": self.size.dims if self.size else None, "input_mb": self.mb,
                "parse_floor_s": self.floor, "scan_s": self.scan(), "peak_rss_mib": self.rss_mib(),
                **{f"{s}_s": self.stage(s) for s in STAGES}, "slowest_rules": self.slowest(),
                "runs": {"scans": self.scans, "stages": self.stages}}


def measure(label: str, size: Size | None, cwd: Path, paths: list[str], floor_root: Path, args,
            scratch: Path) -> Row:
    """Parse floor, then ``--repeat`` scans (wall, peak RSS) and ``--repeat`` staged runs."""
    row = Row(label, size, input_mb(floor_root) if size else None,
              parse_floor(args.python, args.tools, floor_root, args.repeat))
    me = str(Path(__file__).resolve())
    out = scratch / "out.sarif"
    for _ in range(args.repeat):
        row.scans.append(run_json([args.python, me, "_child", str(cwd), *scan_argv(args.python, out, paths)]))
        if row.scans[-1]["rc"] != 0:
            print(f"  warning: {label}: scan exit code {row.scans[-1]['rc']}: {row.scans[-1]['stderr']}",
                  file=sys.stderr)
    for _ in range(args.repeat):
        row.stages.append(run_json([args.python, me, "_stages", str(out), *paths], cwd=cwd))
    print(f"  measured {label}: scan {row.scan():.2f} s", file=sys.stderr)
    return row


def startup(args, scratch: Path) -> Row:
    """The smallest estate (1 solution, 1 environment, 10 users): interpreter, imports, plugins."""
    size = Size.parse(STARTUP_SIZE)
    folder = estate(size, args.seed, args.tools, args.cache, scratch)
    me = str(Path(__file__).resolve())
    row = Row(f"start-up ({size.label})", size, input_mb(folder), 0.0)
    row.scans = [run_json([args.python, me, "_child", str(folder),
                           *scan_argv(args.python, scratch / "out.sarif", [])]) for _ in range(max(3, args.repeat))]
    return row


# --------------------------------------------------------------------------- workers (child side)

def worker_child(cwd: str, argv: list[str]) -> None:
    """Run one command; report its wall time and peak RSS (this process has no other child)."""
    started = time.perf_counter()
    proc = subprocess.run(argv, check=False, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    kib = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss
    print(json.dumps({"rc": proc.returncode, "wall": wall, "maxrss_kib": kib, "cpu": usage.ru_utime + usage.ru_stime,
                      "stderr": (proc.stderr.strip().splitlines() or [""])[-1][:300]}))


def _timed(times: dict, key: str, fn):
    def wrapper(*a, **kw):
        started = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            times[key] = times.get(key, 0.0) + time.perf_counter() - started
    return wrapper


def _rules_timed(times: dict, per_rule: dict, fn):
    """run_rules once as the scan runs it (the rules stage), then each rule alone (per rule)."""
    def wrapper(document, rules, *a, **kw):
        started = time.perf_counter()
        result = fn(document, rules, *a, **kw)
        times["rules"] = times.get("rules", 0.0) + time.perf_counter() - started
        for rule in rules:
            started = time.perf_counter()
            fn(document, [rule], *a, **kw)
            per_rule[rule.id] = per_rule.get(rule.id, 0.0) + time.perf_counter() - started
        return result
    return wrapper


def worker_stages(out: str, paths: list[str]) -> None:
    """``policykit scan`` in-process (the CLI's own code path) with its stage functions wrapped."""
    from policykit import scanner
    from policykit.cli import main
    from policykit.reporters import sarif
    times: dict[str, float] = {}
    per_rule: dict[str, float] = {}
    missing = [name for mod, name in ((scanner, "build"), (scanner, "build_document"), (scanner, "run_rules"),
                                      (sarif, "to_sarif")) if not hasattr(mod, name)]
    if missing:
        print(f"bench_scale: cannot time {', '.join(missing)} (renamed?)", file=sys.stderr)
    if hasattr(scanner, "build"):
        scanner.build = _timed(times, "build", scanner.build)
    if hasattr(scanner, "build_document"):
        scanner.build_document = _timed(times, "document", scanner.build_document)
    if hasattr(scanner, "run_rules"):
        scanner.run_rules = _rules_timed(times, per_rule, scanner.run_rules)
    if hasattr(sarif, "to_sarif"):
        sarif.to_sarif = _timed(times, "report", sarif.to_sarif)
    rc = main(["scan", "--no-plugins", "--fail-on", "never", "--format", "sarif", "-o", out, *paths])
    load = times["build"] - times.get("document", 0.0) if "build" in times else None
    print(json.dumps({"rc": rc, "load": load, "document": times.get("document"), "rules": times.get("rules"),
                      "report": times.get("report"), "per_rule": per_rule}))


# --------------------------------------------------------------------------- output

def _s(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


def table(rows: list[Row], base: Row | None = None) -> str:
    """One line per estate. ``scan/floor`` is the whole process against the parse floor; the next
    column takes the start-up (``base``: interpreter, imports, rule loading) out of the scan, which
    is most of a small estate's scan and none of the floor's."""
    lines = ["| estate | scan | peak RSS | parse floor | scan/floor | less start-up | load | document | rules | report |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        name = f"{r.label} ({r.mb:.0f} MB)" if r.mb else r.label
        ratio = f"{r.scan() / r.floor:.0f}×" if r.floor else "n/a"
        net = f"{(r.scan() - base.scan()) / r.floor:.0f}×" if r.floor and base else "n/a"
        lines.append(f"| {name} | {_s(r.scan())} | {r.rss_mib():.0f} MiB | {_s(r.floor)} | {ratio} | {net} | "
                     + " | ".join(_s(r.stage(s)) for s in STAGES) + " |")
    return "\n".join(lines)


def slowest_rules(rows: list[Row]) -> str:
    lines = ["Slowest rules (each run alone, median s):"]
    for r in rows:
        lines.append(f"  {r.label}: " + ", ".join(f"{rid} {sec:.2f}" for rid, sec in r.slowest()))
    return "\n".join(lines)


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) over log(x)."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y is not None and y > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def _metrics(row: Row, base: Row | None) -> dict[str, float | None]:
    over = (lambda v, b: v - b if v is not None and b is not None and v > b else None)
    return {
        "scan": row.scan(),
        "scan−start-up": over(row.scan(), base.scan() if base else None),
        "RSS": row.rss_mib(),
        "RSS−start-up": over(row.rss_mib(), base.rss_mib() if base else None),
        **{s: row.stage(s) for s in STAGES},
    }


def exponents(rows: list[Row], base: Row | None) -> str:
    """Per dimension, per group of sizes equal in the other two: the slope of each metric."""
    lines = ["Scaling exponents (log-log slope; 1 = linear):"]
    sized = [r for r in rows if r.size is not None]
    for d, dim in enumerate(DIMENSIONS):
        groups: dict[tuple, list[Row]] = {}
        for r in sized:
            groups.setdefault(r.size.dims[:d] + r.size.dims[d + 1:], []).append(r)
        for other, members in sorted(groups.items()):
            values = sorted({r.size.dims[d] for r in members})
            if len(values) < 2:
                continue
            fixed = ", ".join(f"{n}={v}" for n, v in zip([x for x in DIMENSIONS if x != dim], other))
            metrics = [_metrics(r, base) for r in members]
            fits = []
            for name in metrics[0]:
                k = slope([(r.size.dims[d], m[name]) for r, m in zip(members, metrics)])
                fits.append(f"{name} {k:.2f}" if k is not None else f"{name} n/a")
            lines.append(f"  {dim} {values[0]}→{values[-1]} ({fixed}): " + ", ".join(fits))
    if len(lines) == 1:
        lines.append("  (no two sizes differ in one dimension only)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the identity digest

def _identity_key(user: dict) -> str:
    return (user.get("application_id") or user.get("upn") or user.get("name") or "").lower()


def _used(user: dict) -> bool:
    return bool(user["in_dataverse"] or user["served_solutions"] or user["owned_flows"])


def _record(user: dict, used: bool, licenses: bool = True) -> dict:
    """One identity in one environment: what the cross-environment rules read."""
    premium = set(user["premium_owned_flows"])
    rec = {"key": _identity_key(user), "kind": user["kind"],
           "account": user["upn"] or user["application_id"] or user["name"], "name": user["name"],
           "application_id": user["application_id"], "used": used,
           "solutions": sorted(user.get("served_solutions") or []),
           "flows": [[f, f in premium] for f in sorted(user["owned_flows"])],
           "connectors": sorted(user.get("connectors") or []), "source": user.get("source")}
    if licenses:
        rec.update(licenses_known=user["licenses_known"], licenses=user["licenses"], rights=user["rights"])
    return rec


def _header(env: dict, graph: str | None = None) -> dict:
    return {"digest": 1, "environment": env["name"], "type": env.get("type"),
            "flows_known": "workflows" in env["available"], "available": env["available"],
            "not_collected": env.get("not_collected") or {}, "graph": graph,
            "unresolved": [u for u in env.get("unresolved") or [] if u["what"] == "connection_accounts"]}


def digest_self_contained(env: dict, kinds: tuple[str, ...]) -> dict:
    """Variant A: every identity ``accounts`` keeps for this environment, with its licenses."""
    ids = []
    for user in env["users"]:
        used = _used(user)
        if _identity_key(user) and (used or user["kind"] == "technical") and user["kind"] in kinds:
            ids.append(_record(user, used))
    return {**_header(env), "identities": ids}


def graph_hash(env: dict) -> str | None:
    """Which tenant-wide Graph user list the environment's export holds (the same file in every
    environment of a tenant, so the same hash): set by :func:`_listed_environments`."""
    return env.get("graph_hash")


def _listed_environments(build_document_module) -> tuple[list[dict], object]:
    """Wraps ``build_environment`` so that each environment view also lists the directory's
    technical accounts that do nothing there (the document keeps them out of ``users``, but a
    digest carries them for ``seen_in``) and the hash of its Graph user list."""
    listed: list[dict] = []
    real = build_document_module.build_environment

    def wrapped(inp, *args, **kwargs):
        env, idle = real(inp, *args, **kwargs)
        graph = sorted((g.get("upn") or "").lower() for g in (inp.raw or {}).get("graph_users") or [])
        listed.append({**env, "users": env["users"] + [make() for _, make in idle],
                       "graph_hash": hashlib.sha256("\n".join(graph).encode()).hexdigest()[:16] if graph else None})
        return env, idle
    build_document_module.build_environment = wrapped
    return listed, real


def digest_split(envs: list[dict], kinds: tuple[str, ...]) -> tuple[list[dict], dict]:
    """Variant B: per environment only the identities used there, without licenses; once per
    tenant (per Graph user list) the technical accounts in Graph and every licensed identity's
    licenses and rights."""
    digests, tenant = [], {}
    for env in envs:
        h = graph_hash(env)
        part = tenant.setdefault(h, {"graph": h, "technical": [], "licenses": {}}) if h else None
        ids = []
        for user in env["users"]:
            key, used = _identity_key(user), _used(user)
            if not key or user["kind"] not in kinds:
                continue
            if used:
                ids.append(_record(user, True, licenses=not (user["in_graph"] and part is not None)))
            if part is not None and user["in_graph"] and key not in part["licenses"]:
                part["licenses"][key] = {"licenses_known": user["licenses_known"], "licenses": user["licenses"],
                                         "rights": user["rights"]}
                if user["kind"] == "technical":  # present, not necessarily used: seen_in only
                    part["technical"].append({k: v for k, v in _record(user, False, licenses=False).items()
                                              if k not in ("solutions", "flows", "connectors")})
        digests.append({**_header(env, h), "identities": ids})
    return digests, tenant


def _new(rec: dict) -> dict:
    return {"key": rec["key"], "account": rec["account"], "name": rec["name"], "kind": rec["kind"],
            "application_id": rec["application_id"], "environments": set(), "seen_in": set(),
            "solutions": set(), "owned_flows": [], "premium_owned_flows": [], "connectors": set(),
            "flows_known": True, "licenses_known": rec.get("licenses_known", False),
            "licenses": rec.get("licenses", []), "rights": rec.get("rights", []), "source": rec["source"]}


def _add(acc: dict, env: dict, rec: dict, lic: dict | None) -> None:
    rec = {**rec, **(lic or {})}
    e = acc.setdefault(rec["key"], _new(rec))
    e["seen_in"].add(env["environment"])
    e["flows_known"] = e["flows_known"] and env["flows_known"]
    if rec["used"]:
        e["environments"].add(env["environment"])
    e["solutions"].update(rec.get("solutions", ()))
    e["owned_flows"] += [f"{env['environment']}/{f}" for f, _ in rec.get("flows", ())]
    e["premium_owned_flows"] += [f"{env['environment']}/{f}" for f, premium in rec.get("flows", ()) if premium]
    e["connectors"].update(rec.get("connectors", ()))
    if not e["licenses_known"] and rec.get("licenses_known"):
        e.update(licenses_known=True, licenses=rec["licenses"], rights=rec["rights"])


def merge(digests: list[dict], tenant: dict | None = None) -> list[dict]:
    """The estate-level ``accounts`` from the digests, as ``build_document`` computes them."""
    acc: dict[str, dict] = {}
    for env in digests:
        part = (tenant or {}).get(env["graph"]) if env["graph"] else None
        licenses = part["licenses"] if part else {}
        for rec in env["identities"]:
            _add(acc, env, rec, licenses.get(rec["key"]) if "licenses_known" not in rec else None)
        here = {r["key"] for r in env["identities"]}
        for rec in part["technical"] if part else []:
            if rec["key"] not in here:
                _add(acc, env, rec, licenses.get(rec["key"]))
    out = []
    for _, e in sorted(acc.items()):
        e["dataverse_connections"] = bool(_DATAVERSE & e["connectors"])
        for name in ("environments", "seen_in", "solutions", "connectors", "owned_flows", "premium_owned_flows"):
            e[name] = sorted(e[name])
        out.append(e)
    return out


def _digest_document(document: dict, digests: list[dict], accounts: list[dict]) -> dict:
    envs = [{"name": d["environment"], "key": d["environment"], "type": d["type"], "available": d["available"],
             "not_collected": d["not_collected"], "unresolved": d["unresolved"]} for d in digests]
    return {**document, "solutions": [], "packages": [], "settings": [], "reference_names": [],
            "custom_roles": [], "environments": envs, "accounts": accounts}


_COMPARED = ("account", "name", "kind", "application_id", "environments", "seen_in", "solutions", "owned_flows",
             "premium_owned_flows", "connectors", "dataverse_connections", "flows_known", "licenses_known",
             "licenses", "rights")


def same_accounts(document: dict, merged: list[dict], kinds: tuple[str, ...]) -> bool:
    """The merged accounts equal the document's, field by field, for the digest's kinds."""
    def view(accounts: list[dict]) -> dict:
        return {a["key"]: [a[f] for f in _COMPARED] for a in accounts if a["kind"] in kinds}
    return view(document["accounts"]) == view(merged)


def _sizes(parts: list[dict]) -> dict:
    raw = [json.dumps(p, sort_keys=True, separators=(",", ":")).encode() for p in parts]
    packed = [len(gzip.compress(b, 6)) for b in raw]
    return {"count": len(raw), "json_total": sum(map(len, raw)), "gzip_total": sum(packed),
            "json_max": max(map(len, raw), default=0), "gzip_max": max(packed, default=0),
            "records": sum(len(p.get("identities") or p.get("technical") or []) for p in parts)}


def worker_digest(folder: str) -> None:
    """Build the document in-process, write the digests' sizes, and check that PPK202 and PPK404
    find over the merged digests what they find over the whole document."""
    os.chdir(folder)
    import policykit.document as document_module
    from policykit.engine import run_rules
    from policykit.scanner import build, load_estate
    envs, _ = _listed_environments(document_module)
    started = time.perf_counter()
    built = build(load_estate(Path("policykit.yaml")), entry_points=False)
    build_s = time.perf_counter() - started
    doc = built.document
    rules = [r for r in built.rules if r.id in CROSS_RULES]

    def findings(document: dict) -> tuple[list, list]:
        found, failures, skipped = run_rules(document, rules, built.policy, built.functions)
        assert not failures, failures
        return sorted((f.rule_id, f.key, f.message) for f in found), sorted(skipped)

    want = findings(doc)
    cross = ("technical", "application")
    started = time.perf_counter()
    a = [digest_self_contained(e, cross) for e in envs]
    b, tenant = digest_split(envs, cross)
    digest_s = time.perf_counter() - started
    started = time.perf_counter()
    merged_b = merge(b, tenant)
    merge_s = time.perf_counter() - started
    result = {
        "environments": len(envs), "accounts": len(doc["accounts"]), "build_s": build_s,
        "digest_s": digest_s, "merge_s": merge_s, "findings": len(want[0]),
        "a": _sizes(a), "b_env": _sizes(b), "b_tenant": _sizes(list(tenant.values())),
        "all_kinds": _sizes([digest_self_contained(e, ("technical", "application", "person", "platform"))
                             for e in envs]),
        "a_same": findings(_digest_document(doc, a, merge(a))) == want and same_accounts(doc, merge(a), cross),
        "b_same": findings(_digest_document(doc, b, merged_b)) == want and same_accounts(doc, merged_b, cross),
    }
    print(json.dumps(result))


def _kb(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def digest_report(size: Size, folder: Path, r: dict) -> str:
    n = r["environments"]
    b_total = r["b_env"]["json_total"] + r["b_tenant"]["json_total"]
    b_gzip = r["b_env"]["gzip_total"] + r["b_tenant"]["gzip_total"]
    lines = [
        (f"Identity digest at {size.label} ({input_mb(folder) or 0:.0f} MB of input, {n} environments, "
         f"{r['accounts']} estate-level accounts, {r['findings']} PPK202/PPK404 findings); document built in "
         f"{r['build_s']:.1f} s, digests in {r['digest_s']:.2f} s, merged in {r['merge_s']:.2f} s"),
        ("| digest | records | JSON per env (mean / max) | gzip per env (mean / max) | JSON total | gzip total |"
         " same accounts and findings |"),
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for name, s, same in (("A: self-contained per environment", r["a"], r["a_same"]),
                          ("B: used identities per environment", r["b_env"], r["b_same"]),
                          ("B: tenant part (once)", r["b_tenant"], None),
                          ("every kind, persons included (A-style)", r["all_kinds"], None)):
        lines.append(f"| {name} | {s['records']} | {_kb(s['json_total'] / max(s['count'], 1))} / {_kb(s['json_max'])} | "
                     f"{_kb(s['gzip_total'] / max(s['count'], 1))} / {_kb(s['gzip_max'])} | {_kb(s['json_total'])} | "
                     f"{_kb(s['gzip_total'])} | {'' if same is None else 'yes' if same else 'NO'} |")
    lines.append(f"B in all: {_kb(b_total)} JSON, {_kb(b_gzip)} gzip ({_kb(b_gzip / max(n, 1))} gzip per environment)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def compile_bytecode(python: str) -> None:
    """Byte-compile the source tree first, as installing a wheel does: otherwise every scan (run
    with PYTHONDONTWRITEBYTECODE, as on this machine) compiles PolicyKit's modules again, 50 ms of
    start-up no installed copy pays."""
    subprocess.run([python, "-m", "compileall", "-q", str(ROOT / "policykit")], check=True,
                   stdout=subprocess.DEVNULL)


def run_sizes(args, scratch: Path) -> None:
    compile_bytecode(args.python)
    base = startup(args, scratch)
    print(f"start-up: scan of a {base.label} estate {base.scan():.2f} s, peak RSS {base.rss_mib():.0f} MiB",
          file=sys.stderr)
    rows = []
    if args.corpus and args.corpus.is_dir():
        root = corpus_floor_root(args.corpus, scratch)
        n = len(list((root / "solutions").iterdir()))
        rows.append(measure(f"corpus ({n} inputs)", None, ROOT, [os.path.relpath(args.corpus, ROOT)], root,
                            args, scratch))
    for size in args.sizes:
        folder = estate(size, args.seed, args.tools, args.cache, scratch)
        rows.append(measure(size.label, size, folder, [], folder, args, scratch))
    print(f"\nsolutions × environments × users; median of {args.repeat}; start-up (scan of a {base.size.label} "
          f"estate) {base.scan():.2f} s, {base.rss_mib():.0f} MiB\n")
    print(table(rows, base))
    print()
    print(slowest_rules(rows))
    print()
    print(exponents(rows, base))
    if args.json:
        args.json.write_text(json.dumps({"startup": base.as_dict(), "rows": [r.as_dict() for r in rows]}, indent=1))


def run_digest(args, scratch: Path) -> None:
    folder = estate(args.digest, args.seed, args.tools, args.cache, scratch)
    result = run_json([args.python, str(Path(__file__).resolve()), "_digest", str(folder)])
    print(digest_report(args.digest, folder, result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--sizes", type=sizes_arg, default=sizes_arg(DEFAULT_SIZES),
                        help=f"comma-separated SOLUTIONSxENVIRONMENTSxUSERS (default {DEFAULT_SIZES})")
    parser.add_argument("--issue-sizes", action="store_true", help=f"issue 11's sizes: {ISSUE_SIZES}")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; times are medians (default 1)")
    parser.add_argument("--cache", type=Path, help="keep generated estates here and reuse them")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus", help="the public corpus (a row)")
    parser.add_argument("--no-corpus", dest="corpus", action="store_const", const=None)
    parser.add_argument("--tools", type=Path, default=SHARED / "tools", help="where gen_estate.py and "
                        "parse_floor.py are")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs PolicyKit")
    parser.add_argument("--digest", type=Size.parse, nargs="?", const=Size.parse(DIGEST_SIZE),
                        help=f"measure the identity digest at this size instead (default {DIGEST_SIZE})")
    parser.add_argument("--json", type=Path, help="also write the raw measurements here")
    args = parser.parse_args()
    if args.issue_sizes:
        args.sizes = sizes_arg(ISSUE_SIZES)
    args.repeat = max(1, args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench_scale-") as tmp:
        if args.digest:
            run_digest(args, Path(tmp))
        else:
            run_sizes(args, Path(tmp))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        worker_child(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) > 1 and sys.argv[1] == "_stages":
        worker_stages(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) > 1 and sys.argv[1] == "_digest":
        worker_digest(sys.argv[2])
    else:
        main()
