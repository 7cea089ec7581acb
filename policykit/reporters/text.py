"""Plain-text reporter: the human report printed on the terminal.

Findings are grouped by level (error, warning, note); each line reads
``file[:entry][:line]: LEVEL RULE message`` so editors and CI log viewers can link it.
A summary follows, then the rules and inputs that failed and the rules that were skipped, then
the waivers that need attention (expired, stale, expiring; see :mod:`policykit.waivers`). A finding
whose waiver expired is listed with the others and says so: ``[waiver expired on <date> (owner,
ticket)]``.
Output is deterministic: the same scan gives the same text.

Every name, path and message comes from the scanned files and is printed on a terminal, so
control characters (ESC, OSC 8 links, CR, a line feed that would forge a finding line), bidi
controls and lone surrogates are written as escapes (``\\x1b``, ``\\n``, ``\\u202e``, see
:func:`policykit.errors.escape_controls`); failures, skips and notes are one line each, cut to a
length (:func:`policykit.errors.one_line`).
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import escape_controls as esc
from ..errors import one_line
from ..models import LEVELS, Finding, InputFailure, ScanResult, Source
from ..waivers import attention, expired_text, state_text
from .sarif import NOTE_LIMIT, input_failure_key

# ANSI SGR codes, used only when ``color`` is asked for (the CLI decides: a TTY, no NO_COLOR).
_COLORS = {"error": "31;1", "warning": "33;1", "note": "36", "bold": "1", "dim": "2"}
_HEADINGS = {"error": "Errors", "warning": "Warnings", "note": "Notes"}

Paint = Callable[[str, str], str]


def to_text(result: ScanResult, color: bool = False) -> str:
    """Render ``result`` for a person; ends with a newline."""
    paint = _painter(color)
    active = sorted(result.active, key=Finding.sort_key)
    lines: list[str] = []
    for level in LEVELS:
        group = [f for f in active if f.level == level]
        if group:
            lines.append(paint("bold", f"{_HEADINGS[level]} ({len(group)}):"))
            lines += [_finding_line(f, paint) for f in group]
            lines.append("")
    others = [f for f in active if f.level not in LEVELS]  # a policy with an odd level
    if others:
        lines.append(paint("bold", f"Other ({len(others)}):"))
        lines += [_finding_line(f, paint) for f in others] + [""]
    lines.append(paint("bold", summary(result)))
    lines += _failures(result, paint)
    lines += waiver_lines(result, paint)
    return "\n".join(lines) + "\n"


def _painter(color: bool) -> Paint:
    def paint(style: str, text: str) -> str:
        return f"\033[{_COLORS[style]}m{text}\033[0m" if color else text

    return paint


def where(source: Source | None) -> str:
    """``file[:entry][:line]``, or ``<no location>``; raw (callers escape for their format)."""
    if source is None:
        return "<no location>"
    parts = [source.file] + ([source.entry] if source.entry else [])
    parts += [str(source.line)] if source.line else []
    return ":".join(parts)


def _finding_line(finding: Finding, paint: Paint) -> str:
    level = paint(finding.level if finding.level in _COLORS else "bold", esc(finding.level.upper()))
    env = f" [{esc(finding.environment)}]" if finding.environment else ""
    waiver = finding.waiver or {}
    expired = f" [{esc(expired_text(waiver))}]" if waiver.get("status") == "expired" and not finding.waived else ""
    return f"{esc(where(finding.source))}: {level} {esc(finding.rule_id)} {esc(finding.message)}{expired}{env}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary(result: ScanResult) -> str:
    active = result.active
    counts = ", ".join(_plural(sum(f.level == lvl for f in active), lvl) for lvl in LEVELS)
    waived = len(result.findings) - len(active)
    parts = [
        f"{_plural(len(active), 'problem')} ({counts})",
        f"{waived} waived",
        _plural(len(result.rules), "rule") + " run",
        _plural(len(result.rule_failures), "rule failure"),
        _plural(len(result.input_failures), "input failure"),
    ]
    status = "" if result.complete else " - INCOMPLETE scan"
    return "; ".join(parts) + "." + status


_WAIVER_LABELS = {"expired": ("error", "WAIVER EXPIRED"), "expiring": ("warning", "WAIVER EXPIRING"),
                  "stale": ("dim", "WAIVER STALE")}


def waiver_lines(result: ScanResult, paint: Paint | None = None) -> list[str]:
    """One line per declared waiver that needs attention: ``WAIVER EXPIRED policy.yaml:15: ...``."""
    paint = paint or _painter(False)
    lines = []
    for waiver in attention(result.waivers):
        style, label = _WAIVER_LABELS[waiver["state"]]
        src = waiver.get("source") or {}
        place = f"{src['file']}:{src.get('line') or 1}: " if src.get("file") else ""
        lines.append(f"{paint(style, label)} {one_line(place + state_text(waiver), NOTE_LIMIT)}")
    return lines


def _input_where(failure: InputFailure) -> str:
    return ":".join(str(p) for p in (failure.file, failure.entry, failure.line) if p) or "<input>"


def _failures(result: ScanResult, paint: Paint) -> list[str]:
    lines: list[str] = []
    for failure in sorted(result.rule_failures, key=lambda f: (f.rule_id, f.reason)):
        lines.append(f"{paint('error', 'RULE FAILED')} {one_line(f'{failure.rule_id}: {failure.reason}')}")
    for input_failure in sorted(result.input_failures, key=input_failure_key):
        text = f"{_input_where(input_failure)}: {input_failure.message}"
        lines.append(f"{paint('error', 'INPUT FAILED')} {one_line(text)}")
    for rule_id, reason in sorted(result.skipped):
        lines.append(f"{paint('dim', 'SKIPPED')} {one_line(f'{rule_id}: {reason}')}")
    for notice in result.notices:
        where = ":".join(str(p) for p in (notice.source.file, notice.source.entry, notice.source.line) if p) \
            if notice.source else ""
        text = f"{where}: {notice.message}" if where else notice.message
        lines.append(f"{paint('dim', 'NOTE')} {one_line(text, NOTE_LIMIT)}")
    return lines
