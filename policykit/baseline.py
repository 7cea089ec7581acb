"""Baselines: a previous PolicyKit SARIF log, and how each result of a new scan relates to it.

A result is matched by its rule id and its PolicyKit fingerprint (``partialFingerprints
["policykit/v1"]``, a hash of the rule id and the finding's logical key), never by its file or
line: a moved or reformatted file keeps its findings ``unchanged``. Matching never crosses a rule
or a key (two keys of one rule are two findings, whatever their messages or lines), unlike tools
that fall back on similar messages or nearby lines.

SARIF's ``baselineState`` of a result of the new log:

- ``new``: no result of the baseline has its rule and fingerprint;
- ``unchanged``: one has, with the same level, message (file paths left out, so that moving a
  file is no change) and suppression state (waived or not);
- ``updated``: one has, but the level, the message or the suppression state differs;
- ``absent``: a result of the baseline that the new scan no longer finds, copied into the new log.

A baseline is read as PolicyKit writes it: one SARIF 2.1.0 run whose driver is PolicyKit, each
result with a rule id and a PolicyKit fingerprint. Anything else (another tool's log, a log
without fingerprints, not JSON at all) is refused with the file and the line.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .errors import InputError
from .parsing import Parsed, parse_json
from .reading import read_file

FINGERPRINT_KEY = "policykit/v1"
TOOL_NAME = "PolicyKit"
STATES = ("new", "unchanged", "updated", "absent")


@dataclass(frozen=True)
class Previous:
    """One result of a PolicyKit SARIF log, as a baseline or a diff needs it."""

    rule_id: str
    fingerprint: str
    level: str
    message: str
    uri: str
    waived: bool = False            # suppressed (accepted) in that log: a waived finding
    justification: str = ""
    expires: str | None = None      # the waiver's expiry (YYYY-MM-DD) when the log records it
    key: str | None = None          # the finding's logical key when the log records it
    environment: str | None = None
    line: int | None = None         # the result's line in the log file, for messages
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ident(self) -> tuple[str, str]:
        return (self.rule_id, self.fingerprint)


@dataclass
class Log:
    """A PolicyKit SARIF log: its results (``absent`` ones left out: they were already gone)."""

    file: str
    results: dict[tuple[str, str], Previous]
    order: list[tuple[str, str]]  # the results' identities in the log's order

    def get(self, rule_id: str, fingerprint: str) -> Previous | None:
        return self.results.get((rule_id, fingerprint))

    def active(self, rule_id: str, fingerprint: str) -> bool:
        """Whether the log holds this finding unwaived."""
        previous = self.get(rule_id, fingerprint)
        return previous is not None and not previous.waived


# --------------------------------------------------------------------------- reading


def read_log(path: Path, display: str | None = None) -> Log:
    """Read a PolicyKit SARIF log; any other file is an :class:`InputError` naming file and line."""
    display = display or str(path)
    if not path.is_file():
        raise InputError("SARIF log not found", file=display)
    parsed = parse_json(read_file(path, display), file=display)
    run = _the_run(parsed, display)
    results = run.get("results")
    if not isinstance(results, list):
        raise InputError("not a SARIF log: runs[0].results is not a list", file=display, line=parsed.line_of(run))
    log = Log(file=display, results={}, order=[])
    for index, raw in enumerate(results):
        previous = _previous(parsed, raw, index, display)
        if raw.get("baselineState") == "absent" or previous.ident in log.results:
            continue
        log.results[previous.ident] = previous
        log.order.append(previous.ident)
    return log


def _the_run(parsed: Parsed, display: str) -> dict[str, Any]:
    """The log's one run, written by PolicyKit."""
    log = parsed.value
    if not isinstance(log, dict) or not isinstance(log.get("runs"), list):
        raise InputError("not a SARIF log: no \"runs\" list", file=display, line=parsed.line_of(log, 1))
    if log.get("version") != "2.1.0":
        raise InputError(f"not a SARIF 2.1.0 log (version {log.get('version')!r})", file=display,
                         line=parsed.key_line(log, "version") or 1)
    runs = log["runs"]
    if len(runs) != 1 or not isinstance(runs[0], dict):
        raise InputError(f"a PolicyKit SARIF log holds one run, this one {len(runs)}", file=display,
                         line=parsed.line_of(runs, 1))
    run = runs[0]
    driver = (run.get("tool") or {}).get("driver") if isinstance(run.get("tool"), dict) else None
    name = driver.get("name") if isinstance(driver, dict) else None
    if name != TOOL_NAME:
        where = parsed.line_of(driver) if isinstance(driver, dict) else parsed.line_of(run)
        raise InputError(f"this SARIF log was written by {name or 'an unnamed tool'}, not PolicyKit: "
                         "a baseline must be a PolicyKit SARIF log (policykit scan --format sarif)",
                         file=display, line=where)
    return run


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _previous(parsed: Parsed, raw: Any, index: int, display: str) -> Previous:
    line = parsed.line_of(raw) if isinstance(raw, (dict, list)) else None
    if not isinstance(raw, dict):
        raise InputError(f"results[{index}] is not an object", file=display, line=line)
    rule_id = raw.get("ruleId")
    fingerprint = (raw.get("partialFingerprints") or {}).get(FINGERPRINT_KEY) \
        if isinstance(raw.get("partialFingerprints"), dict) else None
    if not isinstance(rule_id, str) or not rule_id:
        raise InputError(f"results[{index}] has no ruleId", file=display, line=line)
    if not isinstance(fingerprint, str) or not fingerprint:
        raise InputError(f"results[{index}] has no PolicyKit fingerprint (partialFingerprints.{FINGERPRINT_KEY})",
                         file=display, line=line)
    suppression = _accepted_suppression(raw.get("suppressions"))
    properties = raw.get("properties") if isinstance(raw.get("properties"), dict) else {}
    return Previous(
        rule_id=rule_id, fingerprint=fingerprint, level=_text(raw.get("level")) or "warning",
        message=_text((raw.get("message") or {}).get("text") if isinstance(raw.get("message"), dict) else None),
        uri=_first_uri(raw), waived=suppression is not None,
        justification=_text((suppression or {}).get("justification")),
        expires=_expiry(suppression), key=properties.get("key") if isinstance(properties.get("key"), str) else None,
        environment=properties.get("environment") if isinstance(properties.get("environment"), str) else None,
        line=line, raw=raw,
    )


def _accepted_suppression(suppressions: Any) -> dict[str, Any] | None:
    """The first suppression in force (status absent or ``accepted``), if any."""
    if not isinstance(suppressions, list):
        return None
    for suppression in suppressions:
        if isinstance(suppression, dict) and suppression.get("status", "accepted") == "accepted":
            return suppression
    return None


def _expiry(suppression: dict[str, Any] | None) -> str | None:
    """The waiver's expiry date, from the suppression's properties (``expires``)."""
    properties = (suppression or {}).get("properties")
    if not isinstance(properties, dict):
        return None
    value = properties.get("expires") or properties.get("policykit/expires")
    return value[:10] if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value) else None


def _first_uri(raw: dict[str, Any]) -> str:
    try:
        return _text(raw["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
    except (KeyError, IndexError, TypeError):
        return ""


# --------------------------------------------------------------------------- comparing


def comparable(message: str, *paths: str) -> str:
    """A message with the file it names left out, so that moving or renaming a file is no change:
    each given path (as displayed, or as a URI), then any word ending in the file's name."""
    text = message.strip().rstrip(".")
    names = set()
    for path in sorted({unquote(p) for p in paths if p}, key=len, reverse=True):
        text = text.replace(path, "<file>")
        names.add(path.rsplit("/", 1)[-1])
    for name in sorted(names, key=len, reverse=True):
        if name:
            text = re.sub(r"\S*" + re.escape(name), "<file>", text)
    return text


def state(log: Log, rule_id: str, fingerprint: str, level: str, message: str, waived: bool,
          paths: tuple[str, ...]) -> str:
    """The ``baselineState`` of a result of the new log against ``log``."""
    previous = log.get(rule_id, fingerprint)
    if previous is None:
        return "new"
    same = (previous.level == level and previous.waived == waived
            and comparable(previous.message, previous.uri) == comparable(message, *paths))
    return "unchanged" if same else "updated"


def absent(log: Log, seen: set[tuple[str, str]], rule_index: dict[str, int]) -> list[dict[str, Any]]:
    """The baseline's results the new scan no longer has, as results of the new log (``absent``):
    copied, with ``ruleIndex`` pointing into the new log's rules (or left out)."""
    out = []
    for ident in log.order:
        if ident in seen:
            continue
        result = copy.deepcopy(log.results[ident].raw)
        result["baselineState"] = "absent"
        result.pop("ruleIndex", None)
        result.pop("rule", None)
        if ident[0] in rule_index:
            result["ruleIndex"] = rule_index[ident[0]]
        out.append(result)
    return out
