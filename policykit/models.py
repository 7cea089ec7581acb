"""The plain, typed values passed between PolicyKit's layers: rules, findings, scan results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Severity levels, most severe first (SARIF ``level`` values).
LEVELS = ("error", "warning", "note")


@dataclass(frozen=True)
class Source:
    """Where a normalized object came from."""

    file: str
    line: int | None = None
    entry: str | None = None  # the entry inside a zip, when ``file`` is a zip

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Source | None:
        if not isinstance(d, dict) or not d.get("file"):
            return None
        line = d.get("line")
        return cls(file=str(d["file"]), line=line if isinstance(line, int) and line > 0 else None,
                   entry=d.get("entry") or None)


@dataclass
class Rule:
    """A rule: metadata, a JMESPath query returning violating objects, a message template."""

    id: str                      # stable id, e.g. PPK101
    name: str                    # kebab-case, e.g. connection-reference-personal-account
    title: str                   # one sentence, no final period
    severity: str                # default level: error | warning | note
    query: str                   # JMESPath over the normalized document
    message: str                 # template filled from each violating object: {a.b}
    help_markdown: str = ""      # What it does / Why is this bad? / Example / How to fix
    security_severity: float | None = None
    precision: str = "high"      # very-high | high | medium | low
    tags: tuple[str, ...] = ()
    cwe: tuple[int, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)  # defaults; the policy overrides
    key: str = "key"             # JMESPath giving each object's logical identity
    location: str = "source"     # JMESPath giving each object's {file, line, entry}
    requires: tuple[str, ...] = ()  # environment data sets the rule needs ("connections", ...)
    # What the rule judges that the document may have left unresolved (``connection_accounts``,
    # ``flow_owners``): an environment with such objects gets a note that they were not judged.
    judges: tuple[str, ...] = ()
    origin: str = ""             # the plugin or file that contributed it
    fixtures: str | None = None  # folder holding fires*/silent* fixtures, for the test suite
    # The contract of each parameter: {name: {type, default, doc}} (see policykit.params).
    parameter_specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    file: str | None = None      # the rule.yaml as displayed, for errors
    folder: str | None = None    # the rule's folder on disk (README, fixtures)
    pack: str = ""               # the pack that contributed it (a distribution, a module, a folder)
    pack_version: str = ""
    # The compliance controls the rule checks: ({framework, id, reason}, ...) (policykit.controls).
    controls: tuple[dict[str, str], ...] = ()

    @property
    def all_tags(self) -> list[str]:
        tags = list(self.tags)
        if self.security_severity is not None and "security" not in tags:
            tags.insert(0, "security")
        tags += [f"external/cwe/cwe-{n}" for n in self.cwe]
        return sorted(dict.fromkeys(tags))


@dataclass
class Finding:
    """One violating object found by one rule."""

    rule_id: str
    level: str
    message: str
    key: str                      # logical identity: stable across reformatting
    source: Source | None
    environment: str | None = None
    waived: str | None = None     # the waiver's justification, when waived
    # The waiver that names it, as plain data (rule, key, reason, owner, ticket, expires, approved_by,
    # source, and ``status``: ``waived``, or ``expired`` — then the finding is open, not waived).
    waiver: dict[str, Any] | None = None

    def sort_key(self) -> tuple:
        s = self.source
        return (self.rule_id, s.file if s else "", s.entry or "" if s else "", s.line or 0 if s else 0, self.key)


@dataclass
class RuleFailure:
    """A rule that could not run: its id and why."""

    rule_id: str
    reason: str


@dataclass
class InputFailure:
    """An input that could not be read; the scan went on without it."""

    message: str
    file: str | None = None
    line: int | None = None
    entry: str | None = None


@dataclass
class Notice:
    """Something the scan could not join or judge, or a choice it made (not a finding)."""

    message: str
    source: Source | None = None

    def sort_key(self) -> tuple:
        s = self.source
        return (s.file if s else "", s.entry or "" if s else "", s.line or 0 if s else 0, self.message)


@dataclass
class ScanResult:
    """Everything a reporter needs."""

    rules: list[Rule]                      # every rule that ran, sorted by id
    findings: list[Finding]                # sorted, waived ones included (``waived`` set)
    rule_failures: list[RuleFailure] = field(default_factory=list)
    input_failures: list[InputFailure] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (rule id, reason)
    notices: list[Notice] = field(default_factory=list)           # sorted by place
    inputs: list[str] = field(default_factory=list)                # inputs named by the estate
    estate_name: str = "estate"
    files_read: dict[str, str] = field(default_factory=dict)       # every file read → SHA-256
    policy_files: list[str] = field(default_factory=list)          # the policy chain, outermost last
    estate_file: str | None = None
    started_at: str | None = None                                  # ISO 8601 UTC
    ended_at: str | None = None
    # Plain data for the reports (see policykit.inventory): the identity inventory and graph per
    # environment, and what the policy changed against the rules' defaults (overrides, waivers).
    inventory: dict[str, Any] = field(default_factory=dict)
    configuration: dict[str, Any] = field(default_factory=dict)
    # Every declared waiver with its state on ``today`` (see policykit.waivers: expired, stale,
    # expiring, active), the day the waivers were judged (ISO date) and the warning horizon.
    waivers: list[dict[str, Any]] = field(default_factory=list)
    today: str | None = None
    warn_expiry_days: int = 30
    # What the evidence records (policykit.evidence.facts): tool, command line, hashes of the rule
    # set, version control, collections. Empty unless asked for (--evidence, --evidence-bundle).
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.waived]

    @property
    def complete(self) -> bool:
        return not self.rule_failures and not self.input_failures
