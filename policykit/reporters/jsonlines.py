"""JSON Lines reporter: one JSON object per active finding, for scripts, log pipelines and diffs.

Each line is an object with exactly these keys, sorted::

    entry, environment, file, fingerprint, key, level, line, message, rule_id, rule_name

``file``, ``entry``, ``line``, ``environment`` and ``rule_name`` are ``null`` when unknown.
``fingerprint`` is the SARIF log's ``partialFingerprints["policykit/v1"]`` (rule id and
logical key, never a line), so a line can be matched with its SARIF result and with a baseline.

Choices a reader of the output should know:

- Waived findings are left out, as in the SARIF log: the lines are what is open.
- There is no summary line, so every line has the same shape and ``wc -l`` counts findings;
  rule failures, input failures and skipped rules are not findings and appear only in the
  other formats (and the exit code, 2, says the scan was incomplete).
- No findings gives the empty string (an empty file), not ``[]`` or a blank line.
- ASCII only: non-ASCII characters are ``\\u`` escapes, so U+2028 and friends inside a message
  can never split a record for a reader that treats them as line breaks (Python's
  ``str.splitlines`` does).
- No lone surrogate: a name from JSON may hold one (``"cr_x\\ud800"``), which ``json.dumps``
  would write as a ``\\ud800`` escape that strict JSON parsers reject; it becomes U+FFFD (the
  ``fingerprint`` is computed from the original key, so it still matches the SARIF log's).
- Deterministic: lines follow the scan result's order (sorted by rule, file, entry, line, key).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import no_surrogates
from ..models import Finding, ScanResult
from .sarif import fingerprint


def to_json_lines(result: ScanResult) -> str:
    """Render ``result``'s active findings as JSON Lines, each line ending with a newline."""
    names = {rule.id: rule.name for rule in result.rules}
    return "".join(_line(finding, names) + "\n" for finding in result.active)


def record(finding: Finding, names: dict[str, str]) -> dict[str, Any]:
    """One finding as a flat JSON object; ``names`` maps rule ids to rule names."""
    source = finding.source
    return {
        "rule_id": finding.rule_id,
        "rule_name": names.get(finding.rule_id),
        "level": finding.level,
        "message": finding.message,
        "file": source.file if source else None,
        "entry": source.entry if source else None,
        "line": source.line if source else None,
        "environment": finding.environment,
        "key": finding.key,
        "fingerprint": fingerprint(finding.rule_id, finding.key),
    }


def _line(finding: Finding, names: dict[str, str]) -> str:
    # Compact separators: one record per line is the point of the format.
    fields = {k: no_surrogates(v) if isinstance(v, str) else v for k, v in record(finding, names).items()}
    return json.dumps(fields, sort_keys=True, ensure_ascii=True, separators=(",", ":"))

