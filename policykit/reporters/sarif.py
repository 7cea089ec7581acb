"""SARIF 2.1.0 reporter: the log GitHub code scanning and Azure DevOps ingest.

The log is built as plain JSON data, each object with SARIF's own property names, every value
given kept (an explicit ``level: "warning"`` stays, so GitHub never shows the rule's default level
instead) and ``None`` meaning "not given" (:func:`_obj`). Microsoft's validator reads the output
in the tests (``tests/sarif_validator.py``). A log holds thousands of results: they are built
once, as data, and nothing walks them again but the JSON writer.

Choices a reader of the output should know:

- Only active findings become results: GitHub ignores ``suppressions``, so waived findings
  would show as open alerts.
- Every result has exactly one location, because GitHub neither shows a result without a
  physical location nor accepts one without an artifact location.  A finding inside a zip
  points at the zip (line 1), names the entry in a logical location and in its message, and
  carries the line inside the entry as the location property ``entryLine``.  A finding with
  no source points at the first input file, line 1; when there is no input at all it is left
  out and a warning notification says so.
- ``partialFingerprints["policykit/v1"]`` hashes the rule id and the finding's logical key
  (not its line), so baselines survive reformatting.
- ``automationDetails.id`` is the GitHub category (``<category>/``) unless an
  :class:`AzurePipeline` is given: GitHub Advanced Security for Azure DevOps (GHAzDO) then needs
  ``azuredevops/pipeline/build/<org>/<project>/<defId>/<phaseId>/<branch>/<buildId>`` and four
  ``azuredevops/pipeline/build/*`` properties, or it drops the run.
- No timestamps, sorted keys and sorted rules/results: one input gives one byte sequence.
- With ``source_root`` each result on a text file also gets GitHub's
  ``primaryLocationLineHash`` (see :mod:`.linehash`), so uploads through the API match alerts
  like uploads through the action.
- At most ``max_results`` results (GitHub keeps 25,000 per run): the most severe are kept, and
  a warning notification says how many were left out.
- No lone surrogate anywhere: a name read from JSON may hold one (``"cr_x\\ud800"``), and
  ``json.dumps`` would write it as a ``\\ud800`` escape that strict JSON parsers (and so some
  SARIF consumers) reject; every string becomes valid Unicode, the surrogate U+FFFD.  A file
  name with non-UTF-8 bytes keeps them in its URI, percent-encoded (see :func:`artifact_uri`).
- Notification messages (failures, skips, notes) are one line each, control characters
  escaped (:func:`policykit.errors.one_line`); result messages are kept whole.
- The *evidence* profile (``evidence=True``, for audits, not for code scanning) keeps waived
  findings with ``suppressions`` (kind ``external``, status ``accepted``, the reason as
  justification, the policy line as location, the waiver's owner, ticket, expiry and approver as
  properties; a finding whose waiver expired is open and carries its waiver as a ``rejected``
  suppression), lists every file read with its SHA-256 in ``artifacts`` (the policy files with
  role ``policy``), records the effective policy against the rules' defaults as the invocation's
  ``ruleConfigurationOverrides``, the command line, the hashes of the rule set and the
  collections as invocation properties (``policykit/evidence``), the git checkout as
  ``versionControlProvenance``, and — unless ``timestamps=False`` — the start and end time.
- Waivers that need attention (expired, expiring, stale) are notifications in both profiles,
  located at the waiver's line in the policy.
- With ``root`` (the repository root; ``policykit scan --root``, by default the git top level)
  every URI is made relative to it, wherever the scan ran, with ``uriBaseId: "%SRCROOT%"`` and a
  ``%SRCROOT%`` entry in ``run.originalUriBaseIds`` that describes it without an absolute URI:
  the log stays the same on every machine and does not show the runner's layout.
- With a ``baseline`` (a previous PolicyKit SARIF log, :mod:`policykit.baseline`) every result
  gets a ``baselineState`` (``new``, ``unchanged``, ``updated``) by rule and PolicyKit
  fingerprint, and the baseline's results that are gone are copied in as ``absent``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from .. import baseline as baselines
from ..errors import LINE_LIMIT, no_surrogates, one_line
from ..models import (
    LEVELS,
    Finding,
    InputFailure,
    Notice,
    Rule,
    RuleFailure,
    ScanResult,
    Source,
)
from ..waivers import attention, expired_text, state_text
from . import jsontext
from .linehash import files_line_hashes
from .markdown_syntax import FENCE, HEADING

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "PolicyKit"
FINGERPRINT_KEY = "policykit/v1"
#: The ``uriBaseId`` of every URI of a rooted log (``to_sarif(root=...)``): the repository root.
SRCROOT = "%SRCROOT%"

#: GitHub keeps at most 20 tags per rule; ``fullDescription.text`` at most 1024 characters;
#: at most 25,000 results per run.
MAX_TAGS = 20
MAX_RESULTS = 25_000
LINE_HASH_KEY = "primaryLocationLineHash"
MAX_DESCRIPTION = 1024
#: Notes and unlocated findings carry a finding's or a notice's whole message: a longer line.
NOTE_LIMIT = 1000

#: GitHub's ``problem.severity`` vocabulary for each SARIF level.
_PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}

# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class AzurePipeline:
    """The Azure DevOps build that produced the log, as GHAzDO ingestion wants to see it."""

    organization: str
    project: str
    definition_id: int
    definition_name: str
    phase_id: str  # a GUID
    phase_name: str
    branch: str
    build_id: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AzurePipeline | None:
        """Read Azure Pipelines' predefined variables; ``None`` outside a pipeline or when any
        value is missing or malformed (GHAzDO would reject the run anyway)."""
        if env.get("TF_BUILD", "").lower() != "true":
            return None
        try:
            return cls(
                organization=_organization(env["SYSTEM_COLLECTIONURI"]),
                project=env["SYSTEM_TEAMPROJECT"],
                definition_id=int(env["SYSTEM_DEFINITIONID"]),
                definition_name=env["BUILD_DEFINITIONNAME"],
                phase_id=str(uuid.UUID(env["SYSTEM_PHASEID"])),
                phase_name=env["SYSTEM_PHASENAME"],
                branch=env["BUILD_SOURCEBRANCH"],
                build_id=int(env["BUILD_BUILDID"]),
            )
        except (KeyError, ValueError):
            return None

    @property
    def automation_id(self) -> str:
        # Each segment is percent-encoded so a branch like refs/heads/main stays one segment.
        parts = (self.organization, self.project, self.definition_id, self.phase_id, self.branch, self.build_id)
        return "azuredevops/pipeline/build/" + "/".join(quote(str(p), safe="") for p in parts)

    @property
    def properties(self) -> dict[str, Any]:
        prefix = "azuredevops/pipeline/build/"
        return {
            # A string: the validator (Sarif.Multitool 5.7.0) crashes on a JSON number here.
            f"{prefix}buildDefinitionId": str(self.definition_id),
            f"{prefix}buildDefinitionName": self.definition_name,
            f"{prefix}phaseId": self.phase_id,
            f"{prefix}phaseName": self.phase_name,
        }


def _organization(collection_uri: str) -> str:
    """``https://dev.azure.com/contoso/`` or ``https://contoso.visualstudio.com/`` -> contoso."""
    url = urlparse(collection_uri)
    host = (url.hostname or "").lower()
    path = [p for p in url.path.split("/") if p]
    if host.endswith(".visualstudio.com"):
        return host.split(".")[0]
    if path:
        return path[0]
    if not host:
        raise ValueError(f"not a collection URI: {collection_uri!r}")
    return host


def to_sarif(
    result: ScanResult,
    *,
    tool_version: str,
    information_uri: str,
    help_uri_base: str,
    category: str | None = None,
    azure_pipeline: AzurePipeline | None = None,
    source_root: Path | None = None,
    evidence: bool = False,
    timestamps: bool = True,
    max_results: int = MAX_RESULTS,
    root: Path | None = None,
    baseline: baselines.Log | None = None,
) -> str:
    """Render ``result`` as a SARIF 2.1.0 log: JSON, 2-space indent, trailing newline.

    ``category`` is GitHub's analysis category (default ``policykit/<estate>``); with
    ``azure_pipeline`` the run is labelled for GHAzDO instead and ``category`` is ignored.
    ``source_root`` (where result paths resolve) enables GitHub's line hashes; ``evidence``
    selects the audit profile (``timestamps`` only matters there). ``root`` makes every URI
    relative to it (the paths in ``result`` are relative to ``source_root``, by default the working
    directory); ``baseline`` gives each result its ``baselineState``.
    """
    rules = sorted(result.rules, key=lambda r: r.id)
    index = {rule.id: i for i, rule in enumerate(rules)}
    results, unlocated = _results(result, index, evidence, source_root)
    results, dropped = _cap(results, max_results)
    if baseline is not None:
        _baseline_states(results, baseline)
    times = (result.started_at, result.ended_at) if evidence and timestamps else (None, None)
    invocation = _invocation(result, index, unlocated, dropped, max_results, times)
    if evidence:
        _evidence_invocation(invocation, result, index)
    run = _obj({
        "tool": _obj({"driver": _driver(rules, tool_version, information_uri, help_uri_base),
                      "extensions": _extensions(rules, help_uri_base) or None}),
        "automationDetails": _automation_details(result, category, azure_pipeline),
        "invocations": [invocation],
        "artifacts": _artifacts(result) if evidence else None,
        "versionControlProvenance": _provenance(result) if evidence else None,
    })
    data = _clean({"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]})
    data["runs"][0]["results"] = results  # clean already: built that way, and the most of the log
    if root is not None:
        _rooted(data["runs"][0], source_root or Path.cwd(), root)
        for details in data["runs"][0].get("versionControlProvenance") or []:
            details["mappedTo"] = {"uriBaseId": SRCROOT}  # the repository's root is %SRCROOT%
    if baseline is not None:
        seen = {(r["ruleId"], r["partialFingerprints"][FINGERPRINT_KEY]) for r in results}
        data["runs"][0]["results"] += _clean(baselines.absent(baseline, seen, index))
    return jsontext.dumps(data) + "\n"


def _baseline_states(results: list[dict[str, Any]], baseline: baselines.Log) -> None:
    """Each result's ``baselineState`` against the baseline, by rule and PolicyKit fingerprint."""
    for r in results:
        uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] if r["locations"] else ""
        waived = any(s.get("status") in (None, "accepted") for s in r.get("suppressions") or [])
        r["baselineState"] = baselines.state(baseline, r["ruleId"], r["partialFingerprints"][FINGERPRINT_KEY],
                                             r["level"], r["message"]["text"], waived, (unquote(uri),))


def _rooted(run: dict[str, Any], source_root: Path, root: Path) -> None:
    """Make every URI of the run (JSON) relative to ``root`` with ``uriBaseId`` ``%SRCROOT%``; the
    URIs were relative to ``source_root``. ``originalUriBaseIds`` describes the base without giving
    its absolute URI, which would differ on every machine (SARIF lets it be left out)."""
    base, top = source_root.resolve(), root.resolve()
    rebased: dict[str, str] = {}  # a file is named by many results: rebase each URI once

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            for name, value in node.items():
                if name in ("artifactLocation", "location") and isinstance(value, dict) and "uri" in value \
                        and "uriBaseId" not in value:
                    uri = value["uri"]
                    value["uri"] = rebased.get(uri) or rebased.setdefault(uri, _rebase(uri, base, top))
                    value["uriBaseId"] = SRCROOT
                else:
                    visit(value)

    visit(run.get("results"))
    visit(run.get("invocations"))
    visit(run.get("artifacts"))
    run["originalUriBaseIds"] = {SRCROOT: {"description": {
        "text": "The root of the repository (policykit scan --root): every URI is relative to it."}}}


def _rebase(uri: str, base: Path, root: Path) -> str:
    """A URI relative to ``base`` as one relative to ``root`` (``../`` when outside it)."""
    path = unquote(uri, errors="surrogateescape")
    try:
        moved = os.path.relpath(base / path, root)
    except ValueError:  # another drive on Windows
        return uri
    return artifact_uri(Path(moved).as_posix())


def fingerprint(rule_id: str, key: str) -> str:
    """The stable identity of a finding: rule and logical key, never a line number.

    ``surrogatepass``: a key may hold a lone surrogate (a name from JSON, a non-UTF-8 file name);
    it hashes as its own bytes, and any other key as plain UTF-8, the same as ever.
    """
    return hashlib.sha256(f"{rule_id}\0{key}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


# --------------------------------------------------------------------------- serialization


def _obj(fields: dict[str, Any]) -> dict[str, Any]:
    """A SARIF object: the fields given, by their SARIF names; ``None`` means not given, so
    callers can pass optional values unconditionally."""
    return {name: value for name, value in fields.items() if value is not None}


def _bag(extra: dict[str, Any], tags: list[str] | None = None) -> dict[str, Any]:
    """A property bag: ``tags`` (SARIF's one named property) when given, and the other keys."""
    if tags and "tags" in extra:
        raise ValueError("property 'tags' given twice")
    return {**({"tags": tags} if tags else {}), **extra}


def _text(value: str) -> str:
    return value if value.isascii() else no_surrogates(value)  # a surrogate is never ASCII


def _clean(value: Any) -> Any:
    """``value`` (plain JSON data) with every string and key free of lone surrogates, which
    strict JSON parsers refuse: names from a non-UTF-8 file system, keys and messages from
    inputs."""
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is list or kind is tuple:
        return [_clean(v) for v in value]
    if kind is dict:
        return {_text(str(k)): _clean(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- tool and rules


def _driver(rules: list[Rule], version: str, information_uri: str, help_uri_base: str) -> dict[str, Any]:
    return {
        "name": TOOL_NAME,
        "fullName": f"{TOOL_NAME} {version}",  # GHAzDO requires fullName
        "semanticVersion": version,
        "informationUri": information_uri,
        # Every rule that ran, not only those that fired, so that GitHub closes fixed alerts.
        "rules": [_descriptor(rule, help_uri_base) for rule in rules],
    }


def _extensions(rules: list[Rule], help_uri_base: str) -> list[dict[str, Any]]:
    """One tool component per rule pack other than the built-in one (name, version, its rules), so
    code scanning shows which pack a rule came from. Results still point at the driver's rules; a
    pack's rules carry their own help (GitHub requires it) but no help URI into PolicyKit's docs."""
    packs: dict[tuple[str, str], list[Rule]] = {}
    for rule in rules:
        if rule.pack and rule.pack != TOOL_NAME.lower():
            packs.setdefault((rule.pack, rule.pack_version), []).append(rule)
    components = []
    for (name, version), members in sorted(packs.items()):
        descriptors = [_descriptor(r, help_uri_base) for r in sorted(members, key=lambda r: r.id)]
        for descriptor in descriptors:
            del descriptor["helpUri"]
        components.append(_obj({"name": name, "version": version or None, "rules": descriptors}))
    return components


def _descriptor(rule: Rule, help_uri_base: str) -> dict[str, Any]:
    markdown = rule.help_markdown.strip() or f"# {rule.id} {rule.name}\n\n{rule.title}."
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": full_description(rule)},
        "help": {"text": markdown_to_text(markdown), "markdown": markdown},
        "helpUri": help_uri(rule, help_uri_base),
        "defaultConfiguration": {"level": rule.severity},
        "properties": _rule_properties(rule),
    }


def help_uri(rule: Rule, help_uri_base: str) -> str:
    """The rule's documentation page: ``<base>/<id>-<name>/README.md``."""
    return f"{help_uri_base.rstrip('/')}/{rule.id}-{rule.name}/README.md"


def _rule_properties(rule: Rule) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "precision": rule.precision,
        "problem.severity": _PROBLEM_SEVERITY.get(rule.severity, "warning"),
    }
    if rule.security_severity is not None:
        extra["security-severity"] = security_severity(rule.security_severity)
    if rule.controls:
        # The compliance controls the rule checks (rule.yaml's controls:), for whoever reads the log
        # as audit evidence: which finding bears on which control.
        extra["policykit/controls"] = [{"framework": c["framework"], "id": c["id"]} for c in rule.controls]
    return _bag(extra, tags=_tags(rule))


def security_severity(value: float) -> str:
    """GitHub wants a string number in 0.1–10.0; clamp rather than emit a rejected value."""
    return f"{min(max(float(value), 0.1), 10.0):.1f}"


def _tags(rule: Rule) -> list[str]:
    """At most 20 tags; when cutting, keep ``security`` and the CWE tags GitHub relies on."""
    tags = rule.all_tags
    if len(tags) <= MAX_TAGS:
        return tags
    first = [t for t in tags if t == "security" or t.startswith("external/cwe/")]
    kept = set((first + [t for t in tags if t not in first])[:MAX_TAGS])
    return [t for t in tags if t in kept]


# --------------------------------------------------------------------------- markdown


_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_CODE_SPAN = re.compile(r"`+([^`]+?)`+")
_EMPHASIS = [
    re.compile(r"\*\*(.+?)\*\*"),
    re.compile(r"(?<!\w)__(.+?)__(?!\w)"),
    re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"),
    re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"),
]


def _link(match: re.Match[str]) -> str:
    text, url = match.group(1), match.group(2)
    return url if text == url else f"{text} ({url})"


def _inline_to_text(line: str) -> str:
    """Strip inline markdown from one line; code spans are protected from emphasis rules."""
    spans: list[str] = []

    def stash(match: re.Match[str]) -> str:
        spans.append(match.group(1))
        return f"\0{len(spans) - 1}\0"

    # Each pattern only where its first character occurs: most lines of a README are plain prose.
    if "`" in line:
        line = _CODE_SPAN.sub(stash, line)
    if "[" in line:
        line = _LINK.sub(_link, _IMAGE.sub(r"\1", line))
    if "<" in line:
        line = _AUTOLINK.sub(r"\1", line)
    if "*" in line or "_" in line:
        for pattern in _EMPHASIS:
            line = pattern.sub(r"\1", line)
    return re.sub(r"\0(\d+)\0", lambda m: spans[int(m.group(1))], line) if spans else line


def markdown_to_text(markdown: str) -> str:
    """A reasonable plain-text rendering: headings, emphasis, links and fences unwrapped.

    Code blocks stay, indented by four spaces, so examples remain readable in ``help.text``.
    """
    out: list[str] = []
    in_code = False
    for line in markdown.strip().splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            out.append(f"    {line}" if line.strip() else "")
            continue
        heading = HEADING.match(line)
        line = heading.group(2) if heading else line.rstrip()
        line = re.sub(r"^\s{0,3}>\s?", "", line)  # block quotes
        out.append(_inline_to_text(line))
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def first_paragraph(markdown: str) -> str:
    """The first prose paragraph of the help, skipping headings and code blocks."""
    paragraph: list[str] = []
    in_code = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            if paragraph:
                break
            in_code = not in_code
            continue
        if in_code:
            continue
        if not line.strip() or HEADING.match(line):
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    return _inline_to_text(" ".join(paragraph)).strip()


def full_description(rule: Rule) -> str:
    """The help's first paragraph, cut to GitHub's 1024 characters; the title if none."""
    text = first_paragraph(rule.help_markdown) or rule.title
    if len(text) <= MAX_DESCRIPTION:
        return text
    cut = text[: MAX_DESCRIPTION - 3]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "..."


# --------------------------------------------------------------------------- results


def _results(result: ScanResult, index: dict[str, int], evidence: bool = False,
             source_root: Path | None = None) -> tuple[list[dict[str, Any]], list[Finding]]:
    """The findings as results (waived ones only for evidence), and those with nowhere to point."""
    fallback = result.inputs[0] if result.inputs else None
    located: list[tuple[Finding, Source]] = []
    unlocated: list[Finding] = []
    for finding in sorted(result.findings if evidence else result.active, key=Finding.sort_key):
        source = finding.source or (Source(file=fallback, line=1) if fallback else None)
        if source is None:
            unlocated.append(finding)
        else:
            located.append((finding, source))
    hashes = _line_hashes(located, source_root)
    results = [_result(finding, source, index, (hashes.get(source.file) or {}).get(source.line or 1), evidence)
               for finding, source in located]
    return results, unlocated


def _line_hashes(located: list[tuple[Finding, Source]], source_root: Path | None) -> dict[str, dict[int, str] | None]:
    """GitHub's line hashes of the lines results point at, each file read once. A zip is not
    text: GitHub's action would hash its bytes; that is left to the action."""
    if source_root is None:
        return {}
    wanted: dict[str, set[int]] = {}
    for _, source in located:
        if not source.entry:
            wanted.setdefault(source.file, set()).add(source.line or 1)
    return files_line_hashes(source_root, wanted)


def _cap(results: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], int]:
    """Keep the ``limit`` most severe results (GitHub drops the rest anyway), in their order."""
    if len(results) <= limit:
        return results, 0
    ranked = sorted(range(len(results)), key=lambda i: (LEVELS.index(results[i]["level"]), i))
    keep = set(ranked[:limit])
    return [r for i, r in enumerate(results) if i in keep], len(results) - limit


def _artifacts(result: ScanResult) -> list[dict[str, Any]]:
    """Every file read, with its SHA-256: what the findings were computed from."""
    policies = set(result.policy_files)
    artifacts = []
    for path, digest in sorted(result.files_read.items()):
        role = "policy" if path in policies else (
            "userSpecifiedConfiguration" if path == result.estate_file else "analysisTarget")
        artifacts.append({"location": {"uri": artifact_uri(path)}, "hashes": {"sha-256": digest}, "roles": [role]})
    return artifacts


def _result(finding: Finding, source: Source, index: dict[str, int], line_hash: str | None = None,
            evidence: bool = False) -> dict[str, Any]:
    """One result, as SARIF JSON (clean of lone surrogates already: a log holds thousands, and
    they are not walked again)."""
    message = finding.message.strip()
    if source.entry:
        message = f"{message.rstrip('.')} (in {source.entry})"
    out: dict[str, Any] = {
        "ruleId": _text(finding.rule_id),
        "level": finding.level,  # explicit: a policy may override the rule's default level
        "message": {"text": _text(sentence(message))},
        "locations": [_location(source)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding.rule_id, finding.key),
                                **({LINE_HASH_KEY: line_hash} if line_hash else {})},
    }
    rule_index = index.get(finding.rule_id)
    if rule_index is not None:  # omitted for a rule the log does not list
        out["ruleIndex"] = rule_index
    suppressions = _suppressions(finding, evidence)
    if suppressions is not None:
        out["suppressions"] = suppressions
    if finding.environment:
        out["properties"] = {"environment": _text(finding.environment)}
    return out


#: A waiver's fields as suppression properties (SARIF's camelCase), in this order.
_WAIVER_PROPERTIES = (("owner", "owner"), ("ticket", "ticket"), ("expires", "expires"), ("approved_by", "approvedBy"),
                      ("rule", "rule"), ("key", "keyPattern"), ("environment", "environment"))


def _suppressions(finding: Finding, evidence: bool) -> list[dict[str, Any]] | None:
    """A waived finding's suppression (``accepted``); in the evidence profile, an open finding whose
    waiver expired keeps that waiver as a ``rejected`` one. Located at the waiver in the policy.
    (SARIF 2.1.0's ``status``; a pre-release schema, which some SARIF libraries follow, said ``state``.)"""
    waiver = finding.waiver or {}
    if finding.waived:
        status, justification = "accepted", finding.waived
    elif evidence and waiver.get("status") == "expired":
        status, justification = "rejected", f"{expired_text(waiver)}: {waiver.get('reason') or ''}".rstrip(": ")
    else:
        return None
    suppression: dict[str, Any] = {"kind": "external", "status": status, "justification": _text(justification)}
    where = waiver.get("source") or {}
    if where.get("file"):
        suppression["location"] = _location(Source(where["file"], where.get("line")))
    props = {name: _clean(waiver[key]) for key, name in _WAIVER_PROPERTIES if waiver.get(key) not in (None, "")}
    if props:
        suppression["properties"] = props
    return [suppression]


def _location(source: Source) -> dict[str, Any]:
    """One location, as SARIF JSON: the file, and for a zip the entry as a logical location.

    Lines inside a zip entry mean nothing to a viewer opening the zip, so the region is line 1
    and the entry's line travels as the ``entryLine`` property.
    """
    location: dict[str, Any] = {"physicalLocation": {
        "artifactLocation": {"uri": artifact_uri(source.file)},
        "region": {"startLine": 1 if source.entry else (source.line or 1)},
    }}
    if source.entry:
        location["logicalLocations"] = [{"name": _text(source.entry), "kind": "resource"}]
        if source.line:
            location["properties"] = {"entryLine": source.line}
    return location


def artifact_uri(path: str) -> str:
    """A relative URI reference: forward slashes, no leading ``./``, unsafe chars encoded.

    Paths are used as the scanner gives them; they should be relative to the repository root
    (GitHub resolves them against the checkout).  A file name that is not UTF-8 (Python holds its
    bytes as surrogate escapes) is percent-encoded byte for byte, so the URI names the very file;
    a lone surrogate no file system can hold becomes U+FFFD.
    """
    posix = path.replace("\\", "/")
    while posix.startswith("./"):
        posix = posix[2:]
    try:
        raw = os.fsencode(posix)
    except UnicodeEncodeError:
        raw = no_surrogates(posix).encode("utf-8")
    return quote(raw, safe="/")


def sentence(text: str) -> str:
    """SARIF2001 (and GitHub's titles) want messages that end with a period."""
    text = text.strip()
    return text if text.endswith(".") else f"{text}."


# --------------------------------------------------------------------------- run metadata


def _automation_details(
    result: ScanResult, category: str | None, pipeline: AzurePipeline | None
) -> dict[str, Any]:
    if pipeline is not None:
        return {"id": pipeline.automation_id, "properties": pipeline.properties}
    return {"id": _category_id(result, category)}


def _category_id(result: ScanResult, category: str | None) -> str:
    """``<category>/``: a trailing slash so GitHub reads all of it as the category (no run id)."""
    if category is None:
        category = f"policykit/{result.estate_name.replace('/', '-')}"
    return category if category.endswith("/") else f"{category}/"


def _invocation(result: ScanResult, index: dict[str, int], unlocated: list[Finding], dropped: int = 0,
                limit: int = MAX_RESULTS, times: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    notes = [_rule_failure(f, index) for f in sorted(result.rule_failures, key=lambda f: (f.rule_id, f.reason))]
    if dropped:
        text = (f"{dropped} results were left out: code scanning accepts at most {limit} per run; "
                "the most severe are kept")
        notes.append({"level": "warning", "message": {"text": sentence(text)}})
    notes += [_input_failure(f) for f in sorted(result.input_failures, key=input_failure_key)]
    notes += [_skipped(rule_id, reason, index) for rule_id, reason in sorted(result.skipped)]
    notes += [_notice(n) for n in result.notices]
    notes += [_waiver_note(w) for w in attention(result.waivers)]
    notes += [_unlocated(f, index) for f in unlocated]
    return _obj({
        "executionSuccessful": result.complete,
        "toolExecutionNotifications": notes or None,
        "startTimeUtc": times[0],
        "endTimeUtc": times[1],
    })


def input_failure_key(failure: InputFailure) -> tuple[str, str, int, str]:
    """Sort input failures by place, so the report does not depend on the reading order."""
    return (failure.file or "", failure.entry or "", failure.line or 0, failure.message)


def _rule_ref(rule_id: str, index: dict[str, int]) -> dict[str, Any]:
    return _obj({"id": rule_id, "index": index.get(rule_id)})


def _rule_failure(failure: RuleFailure, index: dict[str, int]) -> dict[str, Any]:
    return {"level": "error", "message": _message(f"rule {failure.rule_id} failed: {failure.reason}"),
            "associatedRule": _rule_ref(failure.rule_id, index)}


def _input_failure(failure: InputFailure) -> dict[str, Any]:
    where = ":".join(str(p) for p in (failure.file, failure.entry, failure.line) if p)
    text = f"could not read {where}: {failure.message}" if where else failure.message
    locations = None
    if failure.file:
        source = Source(file=failure.file, line=failure.line, entry=failure.entry)
        locations = [_location(source)]
    return _obj({"level": "error", "message": _message(text), "locations": locations})


def _skipped(rule_id: str, reason: str, index: dict[str, int]) -> dict[str, Any]:
    return {"level": "note", "message": _message(f"rule {rule_id} skipped: {reason}"),
            "associatedRule": _rule_ref(rule_id, index)}


def _notice(notice: Notice) -> dict[str, Any]:
    return _obj({"level": "note", "message": _message(notice.message, NOTE_LIMIT),
                 "locations": [_location(notice.source)] if notice.source else None})


def _waiver_note(waiver: dict[str, Any]) -> dict[str, Any]:
    """A waiver that needs attention, at its line in the policy: expired and expiring ones are
    warnings, a stale one is a note."""
    where = waiver.get("source") or {}
    level = "note" if waiver.get("state") == "stale" else "warning"
    return _obj({"level": level, "message": _message(state_text(waiver), NOTE_LIMIT),
                 "locations": [_location(Source(where["file"], where.get("line")))] if where.get("file") else None})


# --------------------------------------------------------------------------- evidence


def _evidence_invocation(invocation: dict[str, Any], result: ScanResult, index: dict[str, int]) -> None:
    """What the evidence profile adds to the invocation: the effective policy against the rules'
    defaults, the command line, and the facts of :func:`policykit.evidence.facts`."""
    overrides = [_override(o, index) for o in (result.configuration or {}).get("rules") or []]
    ev = dict(result.evidence)
    command = ev.pop("command_line", None)
    extra = {"policykit/evidence": {**ev, "judged_on": result.today, "warn_expiry_days": result.warn_expiry_days}}
    invocation.update(_obj({"ruleConfigurationOverrides": overrides or None,
                            "commandLine": shlex.join(command) if command else None,
                            "arguments": list(command[1:]) if command else None,
                            "properties": extra}))


def _override(o: dict[str, Any], index: dict[str, int]) -> dict[str, Any]:
    """One rule the policy changes: disabled, another level, other parameters, an environment scope."""
    params = {p["name"]: p.get("value") for p in o.get("parameters") or []}
    scope = {"environments": o["environments"], "inScope": o.get("in_scope") or []} \
        if o.get("environments") is not None else {}
    configuration = _obj({"enabled": False if not o.get("enabled", True) else None,
                          "level": o.get("severity") or None,
                          "parameters": params or None,
                          "properties": scope or None})
    where = o.get("set_in") or {}
    extra: dict[str, Any] = {"defaultLevel": o.get("default_severity")}
    if params:
        extra["defaultParameters"] = {p["name"]: p.get("default") for p in o.get("parameters") or []}
    if where.get("file"):
        extra["setIn"] = f"{where['file']}:{where.get('line') or 1}"
    return {"descriptor": _rule_ref(o["rule"], index), "configuration": configuration, "properties": extra}


def _provenance(result: ScanResult) -> list[dict[str, Any]] | None:
    """The git checkout the estate lies in, when its repository URL is known (SARIF requires one)."""
    vc = result.evidence.get("version_control") or {}
    if not vc.get("repositoryUri"):
        return None
    return [_obj({"repositoryUri": vc["repositoryUri"], "revisionId": vc.get("revisionId"), "branch": vc.get("branch"),
                  "properties": {"modified": bool(vc.get("modified"))}})]


def _unlocated(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    text = f"finding of rule {finding.rule_id} ({finding.key}) has no location and is not reported: {finding.message}"
    return {"level": "warning", "message": _message(text, NOTE_LIMIT), "associatedRule": _rule_ref(finding.rule_id, index)}


def _message(text: str, limit: int = LINE_LIMIT) -> dict[str, Any]:
    """A notification's message: one line, controls escaped, cut to ``limit``, a sentence."""
    return {"text": sentence(one_line(text, limit))}
