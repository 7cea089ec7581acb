"""What the evidence records, and the bundle a security reviewer accepts (docs/evidence.md).

:func:`facts` gathers, once per scan, what the reports need to show *how* a result was reached:

- the tool and its version (the command line is added by the CLI);
- every piece of the rule set, hashed: the built-in default policy, the policy files, the
  catalogs shipped with PolicyKit, and each rule pack (name, version, origin, a SHA-256 over its
  rules' ``rule.yaml`` files, or over a rule's definition when it has no file);
- every input with its SHA-256 (a folder: the number of files read from it; each file is in
  ``ScanResult.files_read``);
- the version control of the estate (``versionControlProvenance``: repository URL without any
  credentials, commit, branch) when it lies in a git checkout — read with ``git`` when it is
  installed; its absence, or any git failure, only leaves the record out;
- for each environment collected by ``policykit collect``, the collection time, the identity that
  collected (claims only, never a token) and the tool version, from its ``collection.json``.

:func:`bundle` turns a result and its SARIF and HTML reports into the files of an evidence bundle:
``policykit.sarif``, ``report.html``, ``predicate.json``, ``statement.intoto.json`` (an in-toto
Statement v1: subjects are the digests of every file the scan read, the predicate the scan's
summary and the digests of both reports) and ``SHA256SUMS`` (``sha256sum -c`` reads it) over all
of them. Everything is sorted JSON: the same inputs give the same bytes (the scan's start and end
times only when the reports carry them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import __version__
from .models import ScanResult

#: The in-toto Statement type, and PolicyKit's predicate type.
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://github.com/policykit/power-policykit/blob/main/docs/evidence.md#predicate-v1"

#: The files of a bundle, in the order SHA256SUMS lists them.
SARIF_NAME, HTML_NAME, PREDICATE_NAME, STATEMENT_NAME, MANIFEST_NAME = (
    "policykit.sarif", "report.html", "predicate.json", "statement.intoto.json", "SHA256SUMS")

#: The longest a git command may take before the record is left out.
GIT_TIMEOUT = 10
#: The largest collection.json read for its provenance.
MAX_COLLECTION_BYTES = 16 * 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- the facts


def facts(estate: Any, built: Any, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """What the evidence records about one scan (``estate`` and ``built`` from the scanner)."""
    from .policy import default_policy_text
    default_bytes, default_name = default_policy_text()
    default = {"name": default_name, "sha256": sha256(default_bytes), "built_in": True}
    files_read = built.files_read
    policies = [default if i == 0 and name == default_name and name not in files_read
                else {"name": name, "sha256": files_read.get(name)} for i, name in enumerate(built.policy.files)]
    folder = estate.path.resolve().parent if estate.path is not None else Path.cwd()
    return {
        "tool": {"name": "PolicyKit", "version": __version__},
        "default_policy": default,
        "policy_files": policies,
        "catalogs": catalogs(),
        "packs": packs(built.packs),
        "inputs": [_input(name, files_read) for name in built.inputs],
        "version_control": version_control(folder, os.environ if environ is None else environ),
        "collections": collections(estate),
    }


def catalogs() -> list[dict[str, str]]:
    """Each catalog shipped with PolicyKit (policykit/data/*.json) and its SHA-256."""
    data = resources.files("policykit").joinpath("data")
    return [{"name": f"policykit/data/{item.name}", "sha256": sha256(item.read_bytes())}
            for item in sorted(data.iterdir(), key=lambda i: i.name) if item.name.endswith(".json")]


def _rule_digest(rule: Any) -> str:
    """The SHA-256 of the rule's rule.yaml, or of its definition when it has no file (a plugin's)."""
    if rule.folder and (Path(rule.folder) / "rule.yaml").is_file():
        return sha256((Path(rule.folder) / "rule.yaml").read_bytes())
    definition = {k: getattr(rule, k) for k in ("id", "name", "title", "severity", "query", "message", "key",
                                                "location", "parameters", "requires", "judges")}
    return sha256(json.dumps(definition, sort_keys=True, default=list).encode("utf-8"))


def packs(rule_packs: list[Any]) -> list[dict[str, Any]]:
    """Each rule pack: name, version, origin, its rules with their digests, and one SHA-256 over
    them (the lines ``<digest>  <rule id>``, sorted by id)."""
    out = []
    for pack in rule_packs:
        rules = {r.id: _rule_digest(r) for r in sorted(pack.rules, key=lambda r: r.id)}
        digest = sha256("".join(f"{d}  {i}\n" for i, d in rules.items()).encode("utf-8"))
        out.append({"name": pack.name, "version": pack.version, "origin": pack.origin, "sha256": digest,
                    "rules": rules})
    return sorted(out, key=lambda p: (p["name"], p["version"]))


def _input(name: str, files_read: dict[str, str]) -> dict[str, Any]:
    if name in files_read:
        return {"name": name, "sha256": files_read[name]}
    prefix = name.rstrip("/") + "/"
    return {"name": name, "files": sum(1 for p in files_read if p.startswith(prefix))}


def collections(estate: Any) -> list[dict[str, Any]]:
    """Per collected environment: when, by whom and with which tool ``collection.json`` says it was
    collected. A missing or unreadable file is left out (the loader reports a malformed one)."""
    out = []
    for spec in getattr(estate, "environments", []):
        path = spec.metadata / "collection.json" if spec.metadata is not None and spec.metadata.is_dir() else None
        if path is None or not path.is_file() or path.stat().st_size > MAX_COLLECTION_BYTES:
            continue
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        identity = data.get("identity") if isinstance(data.get("identity"), dict) else {}
        tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
        out.append({"environment": spec.name, "collected_at": _str(data.get("collected_at")),
                    "identity": {str(k): _str(v) for k, v in sorted(identity.items())},
                    "tool": {str(k): _str(v) for k, v in sorted(tool.items())}})
    return out


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- version control


def _git(folder: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        run = subprocess.run([git, "-C", str(folder), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT,
                             check=False, env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    out = run.stdout.strip()
    return out if run.returncode == 0 and out else None


_SCP = re.compile(r"^(?:[^@/\s]+@)?([^:/\s]+):(?!//)(.+)$")


def repository_uri(remote: str | None) -> str | None:
    """A remote URL as a URI without credentials (``https://token@host/x`` → ``https://host/x``);
    ``git@host:org/repo.git`` → ``ssh://host/org/repo.git``; a local path → None."""
    if not remote:
        return None
    scp = _SCP.match(remote)
    if scp and "://" not in remote:
        return f"ssh://{scp.group(1)}/{scp.group(2).lstrip('/')}"
    parts = urlsplit(remote)
    if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def version_control(folder: Path, environ: dict[str, str]) -> dict[str, Any] | None:
    """``{repositoryUri, revisionId, branch, modified}`` of the git checkout holding ``folder``; None
    outside a checkout or without git. The URL falls back to the CI's (GitHub, Azure Pipelines)."""
    commit = _git(folder, "rev-parse", "HEAD")
    if commit is None:
        return None
    remote = repository_uri(_git(folder, "config", "--get", "remote.origin.url"))
    if remote is None and environ.get("GITHUB_SERVER_URL") and environ.get("GITHUB_REPOSITORY"):
        remote = repository_uri(f"{environ['GITHUB_SERVER_URL'].rstrip('/')}/{environ['GITHUB_REPOSITORY']}")
    remote = remote or repository_uri(environ.get("BUILD_REPOSITORY_URI"))
    branch = _git(folder, "symbolic-ref", "--short", "-q", "HEAD") or environ.get("GITHUB_REF_NAME") \
        or environ.get("BUILD_SOURCEBRANCH")
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    out: dict[str, Any] = {"revisionId": commit, "modified": bool(status)}
    if remote:
        out["repositoryUri"] = remote
    if branch:
        out["branch"] = branch
    return out


# --------------------------------------------------------------------------- summary and bundle


def summary(result: ScanResult) -> dict[str, Any]:
    """The scan in numbers. A rule passed when it ran, did not fail, was not skipped anywhere and
    found nothing — waived findings included: waived is never counted as passed."""
    active = result.active
    with_findings = {f.rule_id for f in result.findings}
    with_open = {f.rule_id for f in active}
    not_evaluated = {rule_id for rule_id, _ in result.skipped} | {f.rule_id for f in result.rule_failures}
    ran = {r.id for r in result.rules}
    states = [w.get("state") for w in result.waivers]
    return {
        "complete": result.complete,
        "findings": {"error": sum(f.level == "error" for f in active), "warning": sum(f.level == "warning" for f in active),
                     "note": sum(f.level == "note" for f in active), "waived": len(result.findings) - len(active)},
        "rules": {"run": len(ran), "passed": len(ran - with_findings - not_evaluated),
                  "open_findings": len(with_open), "only_waived_findings": len(with_findings - with_open),
                  "failed": len({f.rule_id for f in result.rule_failures})},
        "input_failures": len(result.input_failures),
        "waivers": {state: states.count(state) for state in ("active", "expiring", "expired", "stale")},
    }


def predicate(result: ScanResult, reports: dict[str, str], timestamps: bool = False) -> dict[str, Any]:
    """The in-toto predicate: the scan's summary, what it was judged with, and the reports' digests."""
    ev = result.evidence
    out = {
        "estate": result.estate_name,
        "judged_on": result.today,
        "warn_expiry_days": result.warn_expiry_days,
        "summary": summary(result),
        "tool": ev.get("tool") or {"name": "PolicyKit", "version": __version__},
        "command_line": ev.get("command_line"),
        "policy": {"files": ev.get("policy_files") or [], "default": ev.get("default_policy"),
                   "overrides": (result.configuration or {}).get("rules") or []},
        "rule_set": {"packs": ev.get("packs") or [], "catalogs": ev.get("catalogs") or []},
        "waivers": result.waivers,
        "version_control": ev.get("version_control"),
        "collections": ev.get("collections") or [],
        "reports": [{"name": name, "digest": {"sha256": digest}} for name, digest in sorted(reports.items())],
    }
    if timestamps and result.started_at:
        out["started_at"], out["ended_at"] = result.started_at, result.ended_at
    return out


def statement(result: ScanResult, predicate_value: dict[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1: every file the scan read is a subject (name and SHA-256)."""
    subjects = [{"name": name, "digest": {"sha256": digest}} for name, digest in sorted(result.files_read.items())]
    return {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": PREDICATE_TYPE,
            "predicate": predicate_value}


def bundle(result: ScanResult, sarif_text: str, html_text: str, timestamps: bool = False) -> dict[str, bytes]:
    """The files of an evidence bundle, name → bytes, the manifest last."""
    files = {SARIF_NAME: sarif_text.encode("utf-8"), HTML_NAME: html_text.encode("utf-8")}
    pred = predicate(result, {name: sha256(data) for name, data in files.items()}, timestamps)
    files[PREDICATE_NAME] = _json(pred).encode("utf-8")
    files[STATEMENT_NAME] = _json(statement(result, pred)).encode("utf-8")
    files[MANIFEST_NAME] = manifest(files).encode("utf-8")
    return files


def manifest(files: dict[str, bytes]) -> str:
    """``<sha256>  <name>`` per file, sorted by name: the format ``sha256sum -c`` checks."""
    return "".join(f"{sha256(data)}  {name}\n" for name, data in sorted(files.items()))


def verify(folder: Path) -> list[str]:
    """What does not match the manifest of the bundle in ``folder`` (empty: every hash matches)."""
    problems = []
    lines = (folder / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    listed = set()
    for line in lines:
        digest, _, name = line.partition("  ")
        listed.add(name)
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256(path.read_bytes()) != digest:
            problems.append(f"{name}: SHA-256 differs")
    extra = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in listed | {MANIFEST_NAME})
    problems += [f"{name}: not in {MANIFEST_NAME}" for name in extra]
    return problems
