"""Markdown reporter: a summary for pull-request comments and GitHub's job summary.

The page reads top to bottom as a reviewer wants it: a title and a status line, the counts as
a one-row table, the scan's failures (a rule that could not run, an input that could not be
read) in plain sight, a table of the active findings (most severe first), the findings again
grouped by rule in collapsed ``<details>``, and the skipped rules, collapsed.

Choices a reader of the output should know:

- Waived findings are left out of the findings table (like the SARIF log, it shows what is
  open) and listed apart, collapsed, each with its waiver's reason (and owner, ticket, approver,
  expiry when the waiver carries them). A finding whose waiver expired is open: it is in the
  table and says "waiver expired on <date> (owner, ticket)". Waivers that need attention
  (expired, stale, expiring) are listed under *Waivers to review*, with their place in the policy.
- The identity graph (solution → connection reference → connection → account) of each
  environment is a mermaid ``flowchart LR``, which GitHub draws. Node ids are counters; labels
  are quoted with every character but letters, digits, space and ``_.,/-`` written as mermaid
  entity codes (``#35;``), so no name can close a label, a statement or the code fence. At most
  ``MAX_GRAPH_BINDINGS`` bindings are drawn; the rest are counted.
- Messages, names and paths come from the scanned files, which a pull request's author
  controls, so every piece of text is escaped to render literally: no markdown, no HTML, no
  math, no table cell broken by ``|``, line breaks as ``<br>``, and no ``@mention`` that would
  notify someone (a zero-width space follows an ``@`` that starts a word; e-mail addresses are
  left as they are).  Control characters, bidi controls and lone surrogates are written as
  escapes (``\\x1b``, ``\\u202e``; see :func:`policykit.errors.escape_controls`): a bidi override
  would reorder what the reviewer reads, and a lone surrogate cannot be written as UTF-8.
- Failures, skipped rules and notes are one line each, cut to a length
  (:func:`policykit.errors.one_line`).
- At most ``max_rows`` findings (default 1000) are shown, in the table and in the per-rule
  sections alike, followed by "N more findings in the SARIF report": a PR comment holds 65,536
  characters and a job summary 1 MiB, and nobody reads further anyway.
- Deterministic: everything is sorted; the same scan gives the same text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from ..errors import escape_controls, one_line
from ..inventory import graph_layers
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
from .html import waiver_details
from .sarif import NOTE_LIMIT, input_failure_key
from .text import where

#: The most findings listed; the rest are counted in a note pointing at the SARIF report.
MAX_ROWS = 1000
#: The most bindings drawn in the mermaid identity graph (all environments together).
MAX_GRAPH_BINDINGS = 300

_ICONS = {"error": ":x:", "warning": ":warning:", "note": ":information_source:"}
_COUNT_HEADINGS = ("Errors", "Warnings", "Notes", "Waived", "Rule failures", "Input failures")
_FINDING_HEADINGS = ("Level", "Rule", "Location", "Environment", "Message")

# ASCII punctuation that starts or ends inline markdown, HTML, GitHub math or a table cell
# anywhere in a line.  Characters meaningful only at the start of a line (#, -, +, 1.) need
# no escape: escaped text never starts a line here.
_SPECIAL = re.compile(r"([\\`*_~\[\]<>&|$])")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MENTION = re.compile(r"(?<![0-9A-Za-z_])@(?=[0-9A-Za-z])")
# Text a plain code span cannot hold inside a table cell: a backtick ends it, a pipe ends the
# cell even inside it (and an escaped pipe loses a preceding backslash), a line break ends the row.
# Nor a control or bidi character or a lone surrogate, which need escaping.
_NOT_CODE_SAFE = re.compile("[`|\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def to_markdown(result: ScanResult, *, max_rows: int = MAX_ROWS, by: str = "rule") -> str:
    """Render ``result`` as GitHub-flavoured markdown; ends with a newline. ``by="control"`` adds
    the compliance view: each control the rules that ran map to, with its rules and open findings."""
    rules = {rule.id: rule for rule in result.rules}
    ordered = sorted(result.active, key=_severity_order)
    shown = ordered[:max_rows]
    blocks = [
        _title(result),
        _counts_table(result),
        _failures(result, max_rows),
        _findings_table(shown, rules, hidden=len(ordered) - len(shown)),
        _by_rule(shown, ordered, rules),
        _by_control(result) if by == "control" else "",
        _waived(result, max_rows),
        _waivers_to_review(result, max_rows),
        _identity_graph(result),
        _skipped(result.skipped, max_rows),
        _notices(result.notices, max_rows),
    ]
    return "\n\n".join(block for block in blocks if block) + "\n"


# --------------------------------------------------------------------------- escaping


def escape(text: str) -> str:
    """Plain text as inline markdown that renders literally, safe inside a table cell."""
    return "<br>".join(_escape_line(line) for line in _LINE_BREAK.split(text))


def _escape_line(line: str) -> str:
    line = _SPECIAL.sub(r"\\\1", escape_controls(line))  # the escapes' backslashes are escaped too
    return _MENTION.sub("@\u200b", line)


def code(text: str) -> str:
    """A code span, or escaped text when the text cannot be one safely."""
    if not text or _NOT_CODE_SAFE.search(text) or text != text.strip():
        return escape(text)
    return f"`{text}`"


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(headings: Iterable[str], rows: Iterable[Iterable[str]], align: str = "---") -> list[str]:
    headings = list(headings)
    return [_row(headings), _row(align for _ in headings)] + [_row(r) for r in rows]


def _details(summary: str, body: list[str]) -> str:
    """A collapsed section: ``summary`` is HTML (an HTML block ignores markdown), ``body`` markdown.

    The blank lines matter: without them GitHub would not render the body as markdown.
    """
    return "\n".join([f"<details>\n<summary>{summary}</summary>", "", *body, "", "</details>"])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --------------------------------------------------------------------------- sections


def _severity_order(finding: Finding) -> tuple:
    """Most severe first (an unknown level last), then the reporters' usual order."""
    rank = LEVELS.index(finding.level) if finding.level in LEVELS else len(LEVELS)
    return (rank, *finding.sort_key())


def _title(result: ScanResult) -> str:
    active = result.active
    counts = ", ".join(_plural(sum(f.level == level for f in active), level) for level in LEVELS)
    ran = _plural(len(result.rules), "rule") + " run"
    if not result.complete:
        status = f":no_entry: **Incomplete scan**: {_plural(len(active), 'problem')} ({counts}) found"
    elif active:
        worst = min(active, key=_severity_order).level
        status = f"{_ICONS.get(worst, ':x:')} **{_plural(len(active), 'problem')}** ({counts})"
    else:
        status = ":white_check_mark: **No problems**"
    return f"## PolicyKit: {escape(result.estate_name)}\n\n{status}; {ran}."


def _counts_table(result: ScanResult) -> str:
    active = result.active
    counts = [sum(f.level == level for f in active) for level in LEVELS]
    counts += [len(result.findings) - len(active), len(result.rule_failures), len(result.input_failures)]
    return "\n".join(_table(_COUNT_HEADINGS, [[str(n) for n in counts]], align="---:"))


def _failures(result: ScanResult, max_rows: int) -> str:
    """Rule and input failures, in plain sight: the findings above may be missing some."""
    if result.complete:
        return ""
    items = [_rule_failure(f) for f in sorted(result.rule_failures, key=lambda f: (f.rule_id, f.reason))]
    items += [_input_failure(f) for f in sorted(result.input_failures, key=input_failure_key)]
    lines = [
        "### :no_entry: Scan failures",
        "",
        "The scan could not run every rule or read every input: findings may be missing.",
        "",
        *_capped(items, max_rows),
    ]
    return "\n".join(lines)


def _rule_failure(failure: RuleFailure) -> str:
    return f"- **Rule failed** {code(failure.rule_id)}: {escape(one_line(failure.reason))}"


def _input_failure(failure: InputFailure) -> str:
    place = where(Source(failure.file, failure.line, failure.entry)) if failure.file else "<input>"
    return f"- **Input failed** {code(one_line(place))}: {escape(one_line(failure.message))}"


def _capped(items: list[str], limit: int) -> list[str]:
    """At most ``limit`` list items, then one saying how many were left out."""
    extra = len(items) - limit
    return items[:limit] + ([f"- … and {extra} more"] if extra > 0 else [])


def _location(source: Source | None) -> str:
    return code(where(source)) if source else "_no location_"


def _rule_label(rule_id: str, rules: dict[str, Rule]) -> str:
    rule = rules.get(rule_id)
    return f"{code(rule_id)} {escape(rule.name)}" if rule else code(rule_id)


def _findings_table(shown: list[Finding], rules: dict[str, Rule], hidden: int) -> str:
    if not shown:
        return ""
    rows = [
        [
            f"{_ICONS.get(f.level, '')} {escape(f.level)}".strip(),
            _rule_label(f.rule_id, rules),
            _location(f.source),
            escape(f.environment or ""),
            escape(f.message.strip() + _expired(f)),
        ]
        for f in shown
    ]
    lines = ["### Findings", "", *_table(_FINDING_HEADINGS, rows)]
    if hidden:
        lines += ["", f"_{_plural(hidden, 'more finding')} in the SARIF report._"]
    return "\n".join(lines)


def _by_rule(shown: list[Finding], ordered: list[Finding], rules: dict[str, Rule]) -> str:
    """One collapsed section per rule that fired, listing the findings the table shows."""
    totals: dict[str, int] = {}
    for finding in ordered:
        totals[finding.rule_id] = totals.get(finding.rule_id, 0) + 1
    sections = ["### Findings by rule"] if totals else []
    for rule_id in sorted(totals):
        listed = sorted((f for f in shown if f.rule_id == rule_id), key=Finding.sort_key)
        sections.append(_rule_section(rule_id, rules.get(rule_id), listed, totals[rule_id]))
    return "\n\n".join(sections)


def _by_control(result: ScanResult) -> str:
    """One row per control of the rules that ran (``controls:`` in rule.yaml): the rules that
    check it and their open findings; a control whose rules found nothing passes."""
    from ..controls import headings, ordered
    counts: dict[str, int] = {}
    for finding in result.active:
        counts[finding.rule_id] = counts.get(finding.rule_id, 0) + 1
    groups: dict[str, list[str]] = {}
    for rule in sorted(result.rules, key=lambda r: r.id):
        for heading in headings(rule) or ["(none)"]:
            groups.setdefault(heading, []).append(rule.id)
    rows = []
    for heading in ordered(groups):
        found = sum(counts.get(rule_id, 0) for rule_id in groups[heading])
        state = f"{_ICONS['error']} {found}" if found else ":white_check_mark: 0"
        rows.append([escape(heading), ", ".join(code(r) for r in groups[heading]), state])
    if not rows:
        return ""
    return "\n".join(["### Findings by control", "", *_table(("Control", "Rules", "Open findings"), rows)])


def _rule_section(rule_id: str, rule: Rule | None, listed: list[Finding], total: int) -> str:
    title = f"<b>{_html(rule_id)}</b>"
    if rule is not None:
        title += f" {_html(rule.name)}: {_html(rule.title)}"
    title += f" ({_plural(total, 'finding')})"
    body = [_finding_item(f) for f in listed]
    if total > len(listed):
        body.append(f"- … {_plural(total - len(listed), 'more finding')} in the SARIF report")
    return _details(title, body)


def _html(text: str) -> str:
    return html.escape(escape_controls(text))


def _finding_item(finding: Finding) -> str:
    env = f" \\[{escape(finding.environment)}\\]" if finding.environment else ""
    return f"- {escape(finding.level)} {_location(finding.source)}{env}: {escape(finding.message.strip())}"


def _notices(notices: list[Notice], max_rows: int) -> str:
    if not notices:
        return ""
    items = [f"- {_location(n.source)}: {_note(n.message)}" if n.source else f"- {_note(n.message)}"
             for n in notices]
    return _details(f"Notes ({len(notices)})", _capped(items, max_rows))


def _note(message: str) -> str:
    return escape(one_line(message, NOTE_LIMIT))


def _skipped(skipped: list[tuple[str, str]], max_rows: int) -> str:
    if not skipped:
        return ""
    items = [f"- {code(rule_id)}: {escape(one_line(reason))}" for rule_id, reason in sorted(skipped)]
    rule_count = len({rule_id for rule_id, _ in skipped})
    return _details(f"Skipped rules ({rule_count})", _capped(items, max_rows))


# --------------------------------------------------------------------------- waivers, identity graph


def _expired(finding: Finding) -> str:
    waiver = finding.waiver or {}
    return f" ({expired_text(waiver)})" if waiver.get("status") == "expired" and not finding.waived else ""


def _waivers_to_review(result: ScanResult, max_rows: int) -> str:
    """Expired, stale and expiring waivers, each at its line in the policy."""
    due = attention(result.waivers)
    if not due:
        return ""
    items = []
    for w in due:
        src = w.get("source") or {}
        place = _location(Source(src["file"], src.get("line"))) + ": " if src.get("file") else ""
        items.append(f"- **{escape(w['state'])}** {place}{escape(one_line(state_text(w), NOTE_LIMIT))}")
    return "\n".join(["### Waivers to review", "", *_capped(items, max_rows)])


def _waived(result: ScanResult, max_rows: int) -> str:
    """The waived findings, collapsed, each with its waiver's reason and details."""
    waived = sorted((f for f in result.findings if f.waived), key=Finding.sort_key)
    if not waived:
        return ""
    items = []
    for f in waived:
        env = f" \\[{escape(f.environment)}\\]" if f.environment else ""
        extra = "".join(f"; {escape(label)}: {escape(value)}" for label, value in waiver_details(f))
        items.append(f"- {code(f.rule_id)} {_location(f.source)}{env}: **waived**: {escape((f.waived or '').strip())}"
                     f"{extra}")
    return _details(f"Waived findings ({len(waived)})", _capped(items, max_rows))


_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 _.,/-]")
_MERMAID_SHAPES = {"solution": ('["', '"]'), "reference": ('("', '")'), "connection": ('[["', '"]]'),
                   "account": ('(["', '"])')}
_MERMAID_CLASSES = ("classDef person fill:#ffebe9,stroke:#cf222e", "classDef technical fill:#fbefff,stroke:#8250df",
                    "classDef application fill:#ddf4ff,stroke:#0969da", "classDef unbound stroke:#cf222e,stroke-dasharray:4 3")


def mermaid_label(text: str) -> str:
    """``text`` as a quoted mermaid label: every character but letters, digits, space and ``_.,/-``
    as an entity code (``#34;``), control and bidi characters escaped first."""
    return '"' + "".join(c if _MERMAID_SAFE.fullmatch(c) else f"#{ord(c)};" for c in escape_controls(text)) + '"'


def _identity_graph(result: ScanResult) -> str:
    envs = [e for e in (result.inventory.get("environments") or []) if e.get("bindings")]
    if not envs:
        return ""
    lines = ["flowchart LR", *(f"  {c}" for c in _MERMAID_CLASSES)]
    classes: list[str] = []
    budget = MAX_GRAPH_BINDINGS
    for i, env in enumerate(envs, 1):
        bindings = env["bindings"][:max(budget, 0)]
        budget -= len(env["bindings"])
        if bindings:
            lines += _mermaid_environment(f"e{i}", env["name"], bindings, classes)
    lines += classes
    total = sum(len(e["bindings"]) for e in envs)
    note = f"\n\n_{_plural(-budget, 'more binding')} not drawn._" if budget < 0 else ""
    return ("### Identity graph\n\nSolution → connection reference → connection → the account it signs in as "
            f"({_plural(total, 'binding')}).\n\n```mermaid\n" + "\n".join(lines) + "\n```" + note)


def _mermaid_environment(prefix: str, name: str, bindings: list[dict], classes: list[str]) -> list[str]:
    """One environment's subgraph; its nodes' class statements go to ``classes``."""
    columns, edges = graph_layers(bindings)
    ids: dict[str, str] = {}
    lines = [f"  subgraph {prefix}[{mermaid_label(name)}]", "    direction LR"]
    for column in columns:
        for node in column:
            ident = ids[node["id"]] = f"{prefix}n{len(ids) + 1}"
            left, right = _MERMAID_SHAPES[node["column"]]
            label = node["label"] + (f" / {node['detail']}" if node["detail"] and node["column"] != "reference" else "")
            lines.append(f"    {ident}{left}{mermaid_label(label)[1:-1]}{right}")
            if node["kind"] in ("person", "technical", "application", "unbound"):
                classes.append(f"  class {ident} {node['kind']}")
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in edges]
    return [*lines, "  end"]
