"""``policykit diff OLD.sarif NEW.sarif``: what changed between two PolicyKit SARIF logs.

Results are matched as a baseline matches them (:mod:`policykit.baseline`): by rule id and
PolicyKit fingerprint, never by file or line, never across rules or keys. Each result of either log
falls in at most one of:

- **new**: open in NEW, not in OLD;
- **resolved**: in OLD (open or waived), gone from NEW;
- **regressed**: in both and open in NEW, but waived in OLD (its waiver ended) or at a more severe
  level than in OLD;
- **updated**: open in both, at a less severe level in NEW or with another message (SARIF's
  ``baselineState: updated``; the file it names left out, so a moved file is no change);
- **newly waived**: waived in NEW, open in OLD or not in it;

and, apart, the **waivers about to expire**: NEW's waived results whose waiver expires within
``--expiring-days`` (default 30) of ``--today``. Waived results and waiver expiry dates are in the
*evidence* profile (``policykit scan --format sarif --evidence``); a code-scanning log holds only
open findings, so compare two evidence logs to see waivers.
"""

from __future__ import annotations

import argparse
import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

from . import clock
from .baseline import Log, Previous, comparable, read_log
from .errors import one_line
from .models import LEVELS

CATEGORIES = (("new", "New"), ("resolved", "Resolved"), ("regressed", "Regressed"), ("updated", "Updated"),
              ("newly_waived", "Newly waived"), ("expiring", "Waivers about to expire"))


@dataclass
class Change:
    """One result that changed, with what to say about it."""

    result: Previous                  # as NEW has it (OLD's for a resolved one)
    note: str = ""                    # the level change, the waiver, the expiry


@dataclass
class Diff:
    old: str
    new: str
    days: int
    changes: dict[str, list[Change]] = field(default_factory=lambda: {name: [] for name, _ in CATEGORIES})
    unchanged: int = 0


def _severity(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def compare(old: Log, new: Log, today: _dt.date, days: int = 30) -> Diff:
    """Sort every result of the two logs into the categories above."""
    diff = Diff(old.file, new.file, days)
    for ident in new.order:
        now, before = new.results[ident], old.results.get(ident)
        category, note = _category(now, before)
        if category:
            diff.changes[category].append(Change(now, note))
        else:
            diff.unchanged += 1
        if now.waived and now.expires:
            _expiring(diff, now, today, days)
    diff.changes["resolved"] = [Change(old.results[i], "was waived: " + old.results[i].justification
                                       if old.results[i].waived else "")
                                for i in old.order if i not in new.results]
    for changes in diff.changes.values():
        changes.sort(key=lambda c: (_severity(c.result.level), c.result.rule_id, c.result.uri,
                                    c.result.line or 0, c.result.fingerprint))
    return diff


def _category(now: Previous, before: Previous | None) -> tuple[str | None, str]:
    if now.waived:
        if before is None or not before.waived:
            return "newly_waived", now.justification
        return None, ""
    if before is None:
        return "new", ""
    if before.waived:
        return "regressed", f"was waived: {before.justification}".rstrip(": ")
    if _severity(now.level) < _severity(before.level):
        return "regressed", f"{before.level} → {now.level}"
    if now.level != before.level:
        return "updated", f"{before.level} → {now.level}"
    if comparable(now.message, now.uri) != comparable(before.message, before.uri):
        return "updated", f"was: {before.message.strip()}"
    return None, ""


def _expiring(diff: Diff, now: Previous, today: _dt.date, days: int) -> None:
    try:
        expires = _dt.date.fromisoformat(now.expires or "")
    except ValueError:
        return
    if today <= expires <= today + _dt.timedelta(days=days):
        left = (expires - today).days
        diff.changes["expiring"].append(Change(now, f"expires {expires.isoformat()} (in {left} days): "
                                                    f"{now.justification}".rstrip(": ")))


# --------------------------------------------------------------------------- reports


def _where(result: Previous) -> str:
    line = _start_line(result)
    return f"{result.uri}:{line}" if result.uri and line else result.uri or "-"


def _start_line(result: Previous) -> int | None:
    try:
        line = result.raw["locations"][0]["physicalLocation"]["region"]["startLine"]
    except (KeyError, IndexError, TypeError):
        return None
    return line if isinstance(line, int) else None


def _counts(diff: Diff) -> str:
    parts = [f"{len(diff.changes[name])} {title.lower()}" for name, title in CATEGORIES]
    parts[-1] = f"{len(diff.changes['expiring'])} waivers expiring within {diff.days} days"
    return ", ".join(parts) + f" ({diff.unchanged} unchanged)"


def to_text(diff: Diff) -> str:
    """One summary line, then one line per change: ``CATEGORY LEVEL RULE file:line message [note]``."""
    lines = [one_line(f"policykit diff {diff.old} -> {diff.new}: {_counts(diff)}", 2000)]
    for name, title in CATEGORIES:
        for change in diff.changes[name]:
            r = change.result
            note = f" [{change.note}]" if change.note else ""
            lines.append(one_line(f"{title.upper()}: {r.level.upper()} {r.rule_id} {_where(r)}: "
                                  f"{r.message.strip()}{note}", 4000))
    return "\n".join(lines) + "\n"


def to_markdown(diff: Diff) -> str:
    """A counts table, then a table per category that has changes."""
    from .reporters.markdown import code, escape
    heads = [title for _, title in CATEGORIES]
    blocks = ["## PolicyKit diff", f"{code(diff.old)} → {code(diff.new)}",
              "| " + " | ".join(heads) + " | Unchanged |\n|" + "---|" * (len(heads) + 1) + "\n| "
              + " | ".join(str(len(diff.changes[n])) for n, _ in CATEGORIES) + f" | {diff.unchanged} |"]
    for name, title in CATEGORIES:
        changes = diff.changes[name]
        if not changes:
            continue
        rows = ["| Level | Rule | Location | Message | Note |", "|---|---|---|---|---|"]
        rows += [f"| {escape(c.result.level)} | {code(c.result.rule_id)} | {code(_where(c.result))} | "
                 f"{escape(c.result.message.strip())} | {escape(c.note)} |" for c in changes]
        suffix = f" (within {diff.days} days)" if name == "expiring" else ""
        blocks.append(f"### {title}{suffix}\n\n" + "\n".join(rows))
    return "\n\n".join(blocks) + "\n"


def run(args: argparse.Namespace) -> int:
    """The ``diff`` command: exit 1 when a new or regressed result is at or above ``--fail-on``."""
    from .cli import EXIT_FINDINGS, EXIT_OK, write_atomic
    today = clock.today(args.today)
    old, new = read_log(Path(args.old), args.old), read_log(Path(args.new), args.new)
    diff = compare(old, new, today, args.expiring_days)
    write_atomic(args.output, to_markdown(diff) if args.format == "markdown" else to_text(diff))
    if args.fail_on == "never":
        return EXIT_OK
    threshold = LEVELS.index(args.fail_on)
    worse = [c for n in ("new", "regressed") for c in diff.changes[n] if _severity(c.result.level) <= threshold]
    return EXIT_FINDINGS if worse else EXIT_OK
