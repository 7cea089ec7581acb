"""HTML reporter: the one self-contained page a security reviewer reads and prints to PDF.

The page has, top to bottom (each a ``<section>`` with a stable id):

- ``summary``: the status (complete or not), the counts, what produced the report;
- ``scope``: the estate, its policy files and inputs with their SHA-256, the environments and the
  data each holds, and every file read with its SHA-256; with evidence (``--evidence``,
  ``--evidence-bundle``) also the command line, the git commit, the rule packs, the built-in
  default policy and the catalogs with their SHA-256, and when each collected environment was
  collected and by whom;
- ``completeness``: rules that failed, inputs that could not be read, rules skipped for an
  environment and the scan's notes;
- ``rules``: every rule's state per environment — pass, fail, waived, not evaluated (and why:
  disabled, rule failed, out of the policy's scope, data not collected) — and at estate level for
  the rules that judge the estate as a whole (see :func:`rule_scope`);
- ``findings``: grouped by rule and environment, with the location and the rule's *How to fix*;
- ``waivers``: each waived finding with its reason (and owner, ticket, approver, expiry when
  the waiver carries them), and the waivers the policy declares with their state on the day of
  the scan (in force, expiring, expired, stale); a finding whose waiver expired is open, and says
  "waiver expired on <date> (owner, ticket)";
- ``configuration``: what the policy changes against the rules' defaults;
- ``inventory``: per environment, each account that signs a connection, owns a flow, is an
  application user or holds a role: kind, roles, licenses, solutions served;
- ``graph``: per environment, solution → connection reference → connection → account, as inline
  SVG laid out in columns (:func:`policykit.inventory.graph_layers`), and the same as a table.

Choices a reader of the output should know:

- A pure function of the :class:`~policykit.models.ScanResult`: everything is sorted, ids are
  counters, and no clock is read (the scan's start and end times are shown only when asked and
  present), so the same result gives the same bytes.
- Self-contained: inline CSS and SVG, no script, no font, no image, no link out of the page. A
  ``Content-Security-Policy`` meta tag allows nothing but the page's own style block (by its
  SHA-256): even markup that slipped through escaping could neither run nor load anything.
- Every piece of text from the inputs (names, messages, paths, keys, reasons) is HTML-escaped,
  attributes included, after control and bidi characters are written as escapes
  (:func:`policykit.errors.escape_controls`).
- Printable: a print style sheet drops the navigation, keeps table rows and colours whole, and
  no content depends on script; folded parts are ``<details open>``, open when printed.
- Bounded: at most ``max_findings`` findings listed (the rest counted, all of them are in the
  SARIF report) and at most :data:`MAX_GRAPH_BINDINGS` bindings drawn per environment.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from ..errors import escape_controls
from ..inventory import GRAPH_COLUMNS, graph_layers
from ..models import LEVELS, Finding, Rule, ScanResult, Source
from ..waivers import attention, expired_text, state_text
from .markdown_syntax import FENCE, HEADING
from .text import where

#: The most findings listed (waived ones included); the rest are counted.
MAX_FINDINGS = 10000
#: The most bindings drawn in one environment's graph; the table below it lists them all.
MAX_GRAPH_BINDINGS = 400
#: Keys of a waiver shown beside its reason, in this order, when the waiver carries them.
WAIVER_DETAILS = (("owner", "owner"), ("ticket", "ticket"), ("approved_by", "approved by"),
                  ("expires", "expires"))

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


# --------------------------------------------------------------------------- escaping


def esc(text: object) -> str:
    """Text from the inputs as HTML text or attribute value: nothing in it is markup."""
    return html.escape(escape_controls(str(text)), quote=True)


def esc_lines(text: str) -> str:
    """Like :func:`esc`, line breaks kept as ``<br>``."""
    return "<br>".join(esc(line) for line in _LINE_BREAK.split(text.strip()))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _join(items: Iterable[str], empty: str = "—") -> str:
    items = list(items)
    return ", ".join(esc(i) for i in items) if items else f'<span class="muted">{empty}</span>'


# --------------------------------------------------------------------------- rule states


@dataclass
class Cell:
    """One rule's state in one column: ``pass``, ``fail``, ``waived``, ``ne`` (not evaluated) or
    ``na`` (not applicable: the rule does not judge this column)."""

    state: str
    detail: str = ""
    active: int = 0
    waived: int = 0
    anchor: str | None = None

    @property
    def label(self) -> str:
        return {"pass": "pass", "fail": "fail", "waived": "waived", "ne": "not evaluated", "na": "—"}[self.state]


@dataclass
class RuleRow:
    """A rule with its state per environment (``cells``) and at estate level (``estate``)."""

    id: str
    name: str
    title: str
    severity: str
    enabled: bool
    rule: Rule | None
    cells: list[Cell] = field(default_factory=list)
    estate: Cell = field(default_factory=lambda: Cell("na"))


def rule_scope(rule: Rule) -> tuple[bool, bool]:
    """Whether the rule judges each environment, and whether it judges the estate as a whole.

    Read from the query's syntax tree (not its text): a query that starts from ``environments``
    judges environments; one that starts from anything else (``solutions``, ``accounts``,
    ``custom_roles``, ``settings``…) judges the estate.
    """
    try:
        roots = _root_fields(jmespath.compile(rule.query).parsed)
    except (JMESPathError, RecursionError, ValueError):
        return True, True
    return "environments" in roots, bool(roots - {"environments"})


_LEFT_ONLY = {"subexpression", "pipe", "projection", "value_projection", "filter_projection",
              "index_expression", "flatten"}
_ALL_CHILDREN = {"function_expression", "multi_select_list", "multi_select_dict", "key_val_pair",
                 "or_expression", "and_expression", "not_expression", "comparator"}


def _root_fields(node: dict[str, Any]) -> set[str]:
    """The document's top-level keys an expression reads (``@`` counts as every key)."""
    kind = node.get("type")
    children = node.get("children") or []
    if kind == "field":
        return {node["value"]}
    if kind in ("current", "identity"):
        return {"@"}
    if kind in _LEFT_ONLY and children:
        return _root_fields(children[0])
    if kind in _ALL_CHILDREN:
        return set().union(*(_root_fields(c) for c in children if isinstance(c, dict)))
    return set()  # literals, indexes, slices, expression references


def rule_rows(result: ScanResult) -> tuple[list[str], list[RuleRow]]:
    """The environments (columns) and every rule (rows), enabled ones and disabled ones."""
    envs = _environments(result)
    counts: dict[tuple[str, str | None], list[Finding]] = {}
    for f in result.findings:
        counts.setdefault((f.rule_id, f.environment), []).append(f)
    failed = {f.rule_id: f.reason for f in result.rule_failures}
    overrides = {o["rule"]: o for o in result.configuration.get("rules") or []}
    rows = []
    for rule in result.rules:
        row = RuleRow(rule.id, rule.name, rule.title, _severity(rule, overrides), True, rule)
        _fill(row, envs, counts, failed.get(rule.id), overrides.get(rule.id, {}).get("in_scope"))
        rows.append(row)
    for o in overrides.values():
        if not o.get("enabled", True):
            row = RuleRow(o["rule"], o.get("name") or "", o.get("title") or "", o.get("default_severity") or "",
                          False, None)
            off = Cell("ne", "disabled by the policy")
            row.cells, row.estate = [off for _ in envs], off
            rows.append(row)
    rows.sort(key=lambda r: r.id)
    return [e["name"] for e in envs], rows


def _severity(rule: Rule, overrides: dict[str, dict]) -> str:
    return (overrides.get(rule.id) or {}).get("severity") or rule.severity


def _environments(result: ScanResult) -> list[dict[str, Any]]:
    """The scanned environments as the inventory records them, plus any a finding names."""
    envs = [dict(e) for e in result.inventory.get("environments") or []]
    known = {e["name"] for e in envs}
    extra = sorted({f.environment for f in result.findings if f.environment and f.environment not in known})
    return envs + [{"name": name, "available": None} for name in extra]


def _fill(row: RuleRow, envs: list[dict[str, Any]], counts: dict, failure: str | None,
          in_scope: list[str] | None) -> None:
    rule = row.rule
    assert rule is not None
    per_env, estate = rule_scope(rule)
    per_env = per_env or any(env for (rid, env) in counts if rid == rule.id)
    estate = estate or (rule.id, None) in counts
    if failure is not None:
        broken = Cell("ne", f"rule failed: {failure}")
        row.cells = [broken if per_env else Cell("na") for _ in envs]
        row.estate = broken if estate else Cell("na")
        return
    row.cells = [_env_cell(rule, env, counts.get((rule.id, env["name"]), []), in_scope, per_env) for env in envs]
    row.estate = _counted(counts.get((rule.id, None), [])) if estate else Cell("na")


def _env_cell(rule: Rule, env: dict[str, Any], findings: list[Finding], in_scope: list[str] | None,
              per_env: bool) -> Cell:
    """The rule's state in one environment. A rule judging the estate as a whole still reads the
    environments' data: a cell says when it could not (out of scope, data not collected)."""
    if in_scope is not None and env["name"] not in in_scope:
        return Cell("ne", "out of the policy's scope for this rule")
    available = env.get("available")
    missing = [r for r in rule.requires if available is not None and r not in available]
    if missing and not findings:
        reasons = env.get("not_collected") or {}
        why = "; ".join(f"{m} ({reasons[m]})" if m in reasons else m for m in missing)
        return Cell("ne", f"data not collected: {why}")
    cell = _counted(findings) if per_env else Cell("na")
    unjudged = sum(n for what, n in (env.get("unresolved") or {}).items() if what in rule.judges)
    if unjudged:
        cell.detail = f"{_plural(unjudged, 'object')} not judged (unresolved)"
    return cell


def _counted(findings: list[Finding]) -> Cell:
    active = sum(1 for f in findings if not f.waived)
    waived = len(findings) - active
    state = "fail" if active else "waived" if waived else "pass"
    return Cell(state, active=active, waived=waived)


def group_rows(rows: list[RuleRow], key: Callable[[RuleRow], Iterable[str]] | None = None,
               order: Callable[[dict[str, list[RuleRow]]], list[str]] | None = None) -> list[tuple[str, list[RuleRow]]]:
    """Rows grouped under headings: one unnamed group by default; with ``key`` (a rule's groups,
    e.g. the controls it maps to) a group per heading, sorted (or in the ``order`` it gives the
    headings), a rule under each of its headings and ``(none)`` for a rule in none."""
    if key is None:
        return [("", rows)]
    groups: dict[str, list[RuleRow]] = {}
    for row in rows:
        for heading in sorted(set(key(row))) or ["(none)"]:
            groups.setdefault(heading, []).append(row)
    return [(h, groups[h]) for h in order(groups)] if order else sorted(groups.items())


# --------------------------------------------------------------------------- how to fix


_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)(?:\s+&quot;[^&]*&quot;)?\)")
_STRONG = re.compile(r"\*\*(.+?)\*\*")


def how_to_fix(rule: Rule | None) -> str:
    """The *How to fix* section of the rule's documentation as HTML (a safe subset of markdown:
    paragraphs, lists, code; links as text), or an empty string when it has none."""
    if rule is None:
        return ""
    lines: list[str] = []
    level = 0
    for line in rule.help_markdown.splitlines():
        heading = HEADING.match(line)
        if heading and level and len(heading.group(1)) <= level:
            break
        if level:
            lines.append(line)
        elif heading and heading.group(2).strip().lower().rstrip(":") == "how to fix":
            level = len(heading.group(1))
    return _markdown_blocks(lines)


def _markdown_blocks(lines: list[str]) -> str:
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    code: list[str] | None = None

    def flush() -> None:
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in lines:
        if FENCE.match(line):
            if code is None:
                flush()
                code = []
            else:
                out.append(f"<pre><code>{esc(chr(10).join(code))}</code></pre>")
                code = None
        elif code is not None:
            code.append(line)
        elif not line.strip():
            flush()
        elif _ITEM.match(line):
            if para:
                flush()
            items.append(_ITEM.match(line).group(1))
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
        else:
            para.append(line.strip())
    if code is not None:
        out.append(f"<pre><code>{esc(chr(10).join(code))}</code></pre>")
    flush()
    return "\n".join(out)


def _inline(text: str) -> str:
    parts = []
    last = 0
    for m in _CODE_SPAN.finditer(text):
        parts.append(_prose(text[last:m.start()]))
        parts.append(f"<code>{esc(m.group(2).strip())}</code>")
        last = m.end()
    parts.append(_prose(text[last:]))
    return "".join(parts)


def _prose(text: str) -> str:
    escaped = esc(text)
    escaped = _LINK.sub(lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} ({m.group(2)})", escaped)
    return _STRONG.sub(r"<strong>\1</strong>", escaped)


# --------------------------------------------------------------------------- the page


def to_html(result: ScanResult, *, tool_version: str = "", timestamps: bool = False,
            max_findings: int = MAX_FINDINGS, group: Callable[[RuleRow], Iterable[str]] | None = None,
            order: Callable[[dict[str, list[RuleRow]]], list[str]] | None = None) -> str:
    """Render ``result`` as one self-contained HTML page; ends with a newline.

    ``timestamps`` shows the scan's start and end time when the result has them; ``group`` groups
    the rule matrix (by default one table, rules by id), ``order`` orders its headings (see
    :func:`group_rows`; ``policykit scan --by control`` groups by :func:`policykit.controls.headings`).
    """
    env_names, rows = rule_rows(result)
    anchors = _anchors(result)
    for row in rows:
        for name, cell in zip(env_names, row.cells):
            cell.anchor = anchors.get((row.id, name))
        row.estate.anchor = anchors.get((row.id, None))
    sections = [
        _summary(result, tool_version, timestamps),
        _scope(result),
        _completeness(result),
        _matrix(env_names, group_rows(rows, group, order)),
        _findings(result, rows, anchors, max_findings),
        _waivers(result, max_findings),
        _configuration(result),
        _inventory(result),
        _graphs(result),
        _files(result),
    ]
    title = f"PolicyKit report: {result.estate_name}"
    css = _CSS
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; script-src 'none'; "
           "base-uri 'none'; form-action 'none'")
    head = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<meta name=\"generator\" content=\"PolicyKit {esc(tool_version)}\">\n"
        f"<title>{esc(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
    )
    body = f"<header><h1>{esc(title)}</h1></header>\n{_nav()}\n<main>\n" + "\n".join(sections) + "\n</main>\n"
    return head + body + "</body>\n</html>\n"


_SECTIONS = (("summary", "Summary"), ("scope", "Scope and inputs"), ("completeness", "Completeness"),
             ("rules", "Rules per environment"), ("findings", "Findings"), ("waivers", "Waivers"),
             ("configuration", "Configuration overrides"), ("inventory", "Identity inventory"),
             ("graph", "Identity graph"), ("files", "Files read"))


def _nav() -> str:
    links = "".join(f'<li><a href="#{ident}">{title}</a></li>' for ident, title in _SECTIONS)
    return f'<nav aria-label="Contents"><ol>{links}</ol></nav>'


def _section(ident: str, body: str) -> str:
    title = dict(_SECTIONS)[ident]
    return f'<section id="{ident}">\n<h2>{title}</h2>\n{body}\n</section>'


def _table(headings: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table; ``headings`` and cells are HTML already."""
    head = "".join(f"<th scope=\"col\">{h}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>\n" for row in rows)
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def _location(source: Source | None) -> str:
    return f"<code>{esc(where(source))}</code>" if source else '<span class="muted">no location</span>'


def _anchors(result: ScanResult) -> dict[tuple[str, str | None], str]:
    """An id per (rule, environment) that has findings: counters, never text from the inputs."""
    keys = sorted({(f.rule_id, f.environment) for f in result.findings}, key=lambda k: (k[0], k[1] or ""))
    return {key: f"f{i + 1}" for i, key in enumerate(keys)}


# --------------------------------------------------------------------------- summary, scope


def _summary(result: ScanResult, tool_version: str, timestamps: bool) -> str:
    active = result.active
    counts = [sum(f.level == level for f in active) for level in LEVELS]
    waived = len(result.findings) - len(active)
    if not result.complete:
        status = ('<p class="banner bad"><strong>Incomplete scan</strong>: a rule could not run or an input '
                  'could not be read (see <a href="#completeness">Completeness</a>); findings may be missing.</p>')
    elif active:
        status = f'<p class="banner bad"><strong>{_plural(len(active), "open finding")}</strong>.</p>'
    else:
        status = '<p class="banner good"><strong>No open findings.</strong></p>'
    table = _table(["Errors", "Warnings", "Notes", "Waived", "Rules run", "Rule failures", "Input failures"],
                   [[str(n) for n in (*counts, waived, len(result.rules), len(result.rule_failures),
                                      len(result.input_failures))]], cls="counts")
    facts = [f"<dt>Estate</dt><dd>{esc(result.estate_name)}</dd>"]
    if tool_version:
        facts.append(f"<dt>Produced by</dt><dd>PolicyKit {esc(tool_version)}</dd>")
    due = attention(result.waivers)
    if due:
        counts_by_state = [f"{sum(w['state'] == s for w in due)} {s}" for s in ("expired", "stale", "expiring")
                           if any(w["state"] == s for w in due)]
        facts.append(f'<dt>Waivers to review</dt><dd><a href="#waivers">{esc(", ".join(counts_by_state))}</a></dd>')
    if timestamps and result.started_at:
        facts.append(f"<dt>Scan started</dt><dd>{esc(result.started_at)}</dd>")
    if timestamps and result.ended_at:
        facts.append(f"<dt>Scan ended</dt><dd>{esc(result.ended_at)}</dd>")
    return _section("summary", f"{status}\n{table}\n<dl>{''.join(facts)}</dl>")


def _file_role(path: str, result: ScanResult) -> str:
    if path == result.estate_file:
        return "estate"
    if path in result.policy_files:
        return "policy"
    if any(path == i or path.startswith(i.rstrip("/") + "/") for i in result.inputs):
        return "input"
    return "other"


def _sha(path: str, result: ScanResult) -> str:
    digest = result.files_read.get(path)
    return f'<code class="hash">{esc(digest)}</code>' if digest else ""


def _scope(result: ScanResult) -> str:
    parts = []
    facts = [f"<dt>Estate</dt><dd>{esc(result.estate_name)}</dd>"]
    if result.estate_file:
        facts.append(f"<dt>Estate file</dt><dd><code>{esc(result.estate_file)}</code> {_sha(result.estate_file, result)}</dd>")
    parts.append(f"<dl>{''.join(facts)}</dl>")
    parts.append("<h3>Policy files</h3>\n<p>The policy chain, the built-in default first.</p>")
    parts.append(_table(["Policy file", "SHA-256"],
                        [[f"<code>{esc(p)}</code>", _sha(p, result) or _unhashed(i)]
                         for i, p in enumerate(result.policy_files)]))
    parts.append("<h3>Inputs</h3>")
    parts.append(_table(["Input", "SHA-256 or files read"], [[f"<code>{esc(i)}</code>", _input_hash(i, result)]
                                                             for i in result.inputs]))
    parts.append("<h3>Environments</h3>")
    parts.append(_environments_table(result))
    parts.append(f'<p>Every file the scan read, with its SHA-256: <a href="#files">{_plural(len(result.files_read), "file")}'
                 "</a>, listed at the end.</p>")
    if result.evidence:
        parts.append(_provenance(result))
    return _section("scope", "\n".join(parts))


def _provenance(result: ScanResult) -> str:
    """How the result was reached: command line, version control, the rule set's hashes, collections."""
    ev = result.evidence
    facts = []
    if ev.get("command_line"):
        facts.append(f"<dt>Command line</dt><dd><code>{esc(' '.join(ev['command_line']))}</code></dd>")
    if result.today:
        facts.append(f"<dt>Waivers judged on</dt><dd>{esc(result.today)} (expiring: within "
                     f"{esc(result.warn_expiry_days)} days)</dd>")
    vc = ev.get("version_control")
    if vc:
        shown = " ".join(filter(None, [vc.get("repositoryUri"), vc.get("branch")]))
        dirty = " <strong>with uncommitted changes</strong>" if vc.get("modified") else ""
        facts.append(f"<dt>Version control</dt><dd>{esc(shown)} commit <code>{esc(vc.get('revisionId'))}</code>{dirty}</dd>")
    else:
        facts.append('<dt>Version control</dt><dd class="muted">not in a git checkout (or git not installed)</dd>')
    parts = ["<h3>Provenance</h3>", f"<dl>{''.join(facts)}</dl>"]
    rows = [[f"<code>{esc(p['name'])}</code>", esc(p.get("version") or ""), esc(p.get("origin") or ""),
             str(len(p.get("rules") or {})), f'<code class="hash">{esc(p["sha256"])}</code>'] for p in ev.get("packs") or []]
    parts.append(_table(["Rule pack", "Version", "Origin", "Rules", "SHA-256 (of its rules)"], rows))
    shipped = [ev["default_policy"]] if ev.get("default_policy") else []
    shipped += ev.get("catalogs") or []
    parts.append(_table(["Shipped with PolicyKit", "SHA-256"],
                        [[f"<code>{esc(c['name'])}</code>", f'<code class="hash">{esc(c["sha256"])}</code>'] for c in shipped]))
    collected = ev.get("collections") or []
    if collected:
        parts.append(_table(["Environment", "Collected at", "Identity", "Tool"],
                            [[esc(c["environment"]), esc(c.get("collected_at") or "—"),
                              esc(", ".join(f"{k}: {v}" for k, v in (c.get("identity") or {}).items()) or "—"),
                              esc(" ".join(str(v) for v in (c.get("tool") or {}).values()) or "—")] for c in collected]))
    return "\n".join(parts)


def _files(result: ScanResult) -> str:
    files = sorted(result.files_read.items())
    rule_files = {r.file for r in result.rules if r.file}
    table = _table(["File", "Role", "SHA-256"],
                   [[f"<code>{esc(p)}</code>", "rule" if p in rule_files else _file_role(p, result),
                     f'<code class="hash">{esc(h)}</code>'] for p, h in files], cls="files")
    return _section("files", f"<p>{_plural(len(files), 'file')} read by the scan (estate, policy, inputs, rules)."
                             f"</p>\n<details open><summary>Files and their SHA-256</summary>\n{table}\n</details>")


def _unhashed(index: int) -> str:
    """The default policy ships inside PolicyKit (its version says which); another unhashed file
    is one the result recorded no hash for."""
    return '<span class="muted">' + ("built into PolicyKit" if index == 0 else "not recorded") + "</span>"


def _input_hash(path: str, result: ScanResult) -> str:
    if path in result.files_read:
        return _sha(path, result)
    inside = sum(1 for p in result.files_read if p.startswith(path.rstrip("/") + "/"))
    return f'<span class="muted">folder: {_plural(inside, "file")} read, listed below</span>'


def _environments_table(result: ScanResult) -> str:
    envs = result.inventory.get("environments") or []
    if not envs:
        return '<p class="muted">No environment in this scan (or none recorded).</p>'
    rows = []
    for env in envs:
        missing = env.get("not_collected") or {}
        rows.append([
            f"<strong>{esc(env['name'])}</strong>", esc(env.get("type") or ""),
            _join(env.get("solutions") or []), _join(env.get("available") or [], "none"),
            _join((f"{k} ({v})" for k, v in missing.items()), "none"),
            _join((f"{k}: {n}" for k, n in (env.get("unresolved") or {}).items()), "none"),
        ])
    return _table(["Environment", "Type", "Solutions deployed", "Data available", "Not collected",
                   "Unresolved objects"], rows)


def _completeness(result: ScanResult) -> str:
    parts = []
    if result.complete:
        parts.append("<p>Every rule ran and every input was read.</p>")
    for f in sorted(result.rule_failures, key=lambda f: (f.rule_id, f.reason)):
        parts.append(f'<p class="banner bad"><strong>Rule failed</strong> <code>{esc(f.rule_id)}</code>: '
                     f"{esc_lines(f.reason)}</p>")
    for f in sorted(result.input_failures, key=lambda f: (f.file or "", f.entry or "", f.line or 0, f.message)):
        place = where(Source(f.file, f.line, f.entry)) if f.file else "<input>"
        parts.append(f'<p class="banner bad"><strong>Input failed</strong> <code>{esc(place)}</code>: '
                     f"{esc_lines(f.message)}</p>")
    if result.skipped:
        parts.append("<h3>Skipped</h3>\n<p>Rules skipped for an environment: the data they need is missing, "
                     "or objects they judge could not be resolved.</p>")
        parts.append(_table(["Rule", "Reason"], [[f"<code>{esc(r)}</code>", esc_lines(why)]
                                                 for r, why in sorted(result.skipped)]))
    if result.notices:
        parts.append(f"<h3>Notes ({len(result.notices)})</h3>")
        parts.append(_table(["Where", "Note"], [[_location(n.source), esc_lines(n.message)] for n in result.notices]))
    return _section("completeness", "\n".join(parts))


# --------------------------------------------------------------------------- the rule matrix


def _matrix(env_names: list[str], groups: list[tuple[str, list[RuleRow]]]) -> str:
    legend = ('<p class="legend"><span class="st st-pass">pass</span> no finding · '
              '<span class="st st-fail">fail</span> open findings · '
              '<span class="st st-waived">waived</span> every finding waived · '
              '<span class="st st-ne">not evaluated</span> with the reason · '
              '<span class="st st-na">—</span> the rule does not judge this column</p>')
    headings = ["Rule", "Level", *(esc(n) for n in env_names), "Estate"]
    body = []
    for heading, rows in groups:
        if heading:
            body.append(f'<tr class="group"><th colspan="{len(headings)}" scope="rowgroup">{esc(heading)}</th></tr>')
        body += [_matrix_row(row) for row in rows]
    head = "".join(f'<th scope="col">{h}</th>' for h in headings)
    table = f'<table class="matrix">\n<thead><tr>{head}</tr></thead>\n<tbody>\n' + "\n".join(body) + "\n</tbody>\n</table>"
    return _section("rules", f"{legend}\n{table}")


def _matrix_row(row: RuleRow) -> str:
    name = f'<th scope="row"><code>{esc(row.id)}</code> {esc(row.name)}<br><span class="muted">{esc(row.title)}</span></th>'
    cells = "".join(_cell(c) for c in [*row.cells, row.estate])
    return f"<tr>{name}<td>{esc(row.severity)}</td>{cells}</tr>"


def _cell(cell: Cell) -> str:
    label = esc(cell.label)
    if cell.anchor:
        label = f'<a href="#{cell.anchor}">{label}</a>'
    counts = []
    if cell.active:
        counts.append(_plural(cell.active, "finding"))
    if cell.waived:
        counts.append(f"{cell.waived} waived")
    detail = "; ".join([*counts, *([cell.detail] if cell.detail else [])])
    small = f"<br><small>{esc(detail)}</small>" if detail else ""
    return f'<td class="st st-{cell.state}">{label}{small}</td>'


# --------------------------------------------------------------------------- findings, waivers


def _findings(result: ScanResult, rows: list[RuleRow], anchors: dict, max_findings: int) -> str:
    if not result.findings:
        return _section("findings", "<p>No findings.</p>")
    rules = {r.id: r for r in result.rules}
    titles = {r.id: r for r in rows}
    by_rule: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    parts = []
    budget = max_findings
    for rule_id in sorted(by_rule):
        row = titles.get(rule_id)
        heading = f"<code>{esc(rule_id)}</code>" + (f" {esc(row.name)}: {esc(row.title)}" if row else "")
        parts.append(f'<article class="rule">\n<h3>{heading}</h3>')
        fix = how_to_fix(rules.get(rule_id))
        if fix:
            parts.append(f'<div class="fix"><h4>How to fix</h4>\n{fix}</div>')
        envs: dict[str | None, list[Finding]] = {}
        for f in by_rule[rule_id]:
            envs.setdefault(f.environment, []).append(f)
        for env in sorted(envs, key=lambda e: (e is None, e or "")):
            items = sorted(envs[env], key=Finding.sort_key)
            shown, budget = items[:max(budget, 0)], budget - len(items)
            parts.append(_finding_group(env, items, shown, anchors.get((rule_id, env))))
        parts.append("</article>")
    if budget < 0:
        parts.append(f'<p class="banner bad">{_plural(-budget, "more finding")} not listed here; '
                     "the SARIF report (<code>--evidence</code>) has every one.</p>")
    return _section("findings", "\n".join(parts))


def _finding_group(env: str | None, items: list[Finding], shown: list[Finding], anchor: str | None) -> str:
    title = f"Environment {esc(env)}" if env else "Estate (no environment)"
    active = sum(1 for f in items if not f.waived)
    counts = ", ".join([_plural(active, "open finding")] + ([f"{len(items) - active} waived"]
                                                           if len(items) > active else []))
    lis = "\n".join(_finding_item(f) for f in shown)
    more = f'<p class="muted">{len(items) - len(shown)} more not listed.</p>' if len(items) > len(shown) else ""
    ident = f' id="{anchor}"' if anchor else ""
    return f'<div class="env"{ident}><h4>{title} <span class="muted">({counts})</span></h4>\n<ol class="findings">\n{lis}\n</ol>{more}</div>'


def _finding_item(f: Finding) -> str:
    level = f'<span class="lvl lvl-{esc(f.level) if f.level in LEVELS else "other"}">{esc(f.level)}</span>'
    waived = (f' <span class="st st-waived">waived</span> <span class="reason">{esc_lines(f.waived)}</span>'
              if f.waived else "")
    if not f.waived and (f.waiver or {}).get("status") == "expired":
        waived = f' <span class="st st-expired">{esc(expired_text(f.waiver or {}))}</span>'
    return (f'<li class="finding{" is-waived" if f.waived else ""}">{level} {_location(f.source)}{waived}'
            f'<p class="message">{esc_lines(f.message)}</p><p class="key muted">key <code>{esc(f.key)}</code></p></li>')


def waiver_details(finding: Finding) -> list[tuple[str, str]]:
    """(label, value) for the waiver data a finding carries beyond its reason (owner, ticket,
    approver, expiry), in a fixed order; nothing for a key the waiver does not have."""
    data = getattr(finding, "waiver", None)
    if data is None:
        return []
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = dataclasses.asdict(data)
    elif not isinstance(data, dict):
        data = {k: getattr(data, k, None) for k, _ in WAIVER_DETAILS}
    return [(label, str(data[key])) for key, label in WAIVER_DETAILS if data.get(key) not in (None, "", [])]


def _waivers(result: ScanResult, max_findings: int) -> str:
    waived = sorted((f for f in result.findings if f.waived), key=Finding.sort_key)
    parts = []
    if waived:
        rows = [[f"<code>{esc(f.rule_id)}</code>", esc(f.environment or "estate"), _location(f.source),
                 f"<code>{esc(f.key)}</code>", esc_lines(f.waived or ""), _details_html(waiver_details(f))]
                for f in waived[:max_findings]]
        parts.append(_table(["Rule", "Environment", "Location", "Finding key", "Reason", "Owner, ticket, expiry"],
                            rows))
        if len(waived) > max_findings:
            parts.append(f'<p class="muted">{len(waived) - max_findings} more waived findings not listed.</p>')
    else:
        parts.append("<p>No finding is waived.</p>")
    due = attention(result.waivers)
    if due:
        items = "".join(f'<li><span class="st st-{esc(w["state"])}">{esc(w["state"])}</span> {esc(state_text(w))}</li>'
                        for w in due)
        parts.insert(0, f'<div class="banner attention"><strong>Waivers to review</strong><ul>{items}</ul></div>')
    parts.append(_declared_waivers(result))
    return _section("waivers", "\n".join(parts))


def _details_html(details: list[tuple[str, str]]) -> str:
    if not details:
        return '<span class="muted">—</span>'
    return "<br>".join(f"{esc(label)}: {esc(value)}" for label, value in details)


def _declared_waivers(result: ScanResult) -> str:
    config = result.configuration
    if not config.get("recorded"):
        return "<h3>Waivers in the policy</h3>\n<p class=\"muted\">Not recorded in this result.</p>"
    declared = result.waivers or config.get("waivers") or []
    if not declared:
        return "<h3>Waivers in the policy</h3>\n<p>The policy declares no waiver.</p>"
    keys = [("rule", "Rule"), ("key", "Key pattern"), ("environment", "Environment"), ("reason", "Reason")]
    keys += [(k, label.capitalize()) for k, label in WAIVER_DETAILS if any(k in w for w in declared)]
    rows = []
    for w in declared:
        cells = [esc_lines(str(w[k])) if k in w else "" for k, _ in keys]
        if result.waivers:
            cells.append(_waiver_state(w))
        source = w.get("source") or {}
        cells.append(_location(Source(source["file"], source.get("line"))) if source.get("file") else "")
        rows.append(cells)
    state = ["State"] if result.waivers else []
    judged = f" on {esc(result.today)}" if result.today and result.waivers else ""
    return ("<h3>Waivers in the policy</h3>\n<p>Every waiver the policy declares, whether or not a finding "
            f"matched it, and its state{judged}: an expired waiver waives nothing (the findings it names are "
            "open again); a stale one matched no finding.</p>\n"
            + _table([label for _, label in keys] + state + ["Declared at"], rows))


def _waiver_state(w: dict[str, Any]) -> str:
    state = w.get("state") or "active"
    label = {"active": "in force"}.get(state, state)
    matched = w.get("matched") or 0
    return (f'<span class="st st-{esc(state)}">{esc(label)}</span><br>'
            f'<small>{matched} finding{"" if matched == 1 else "s"} named</small>')


# --------------------------------------------------------------------------- configuration


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return f"<code>{esc(text)}</code>"


def _changes(o: dict[str, Any]) -> list[str]:
    out = []
    if not o.get("enabled", True):
        out.append("<strong>disabled</strong>")
    if o.get("severity"):
        out.append(f"severity {esc(o.get('default_severity') or '')} → <strong>{esc(o['severity'])}</strong>")
    for p in o.get("parameters") or []:
        default = _value(p.get("default")) if p.get("declared", True) else '<span class="muted">undeclared</span>'
        out.append(f"parameter <code>{esc(p['name'])}</code>: {default} → {_value(p.get('value'))}")
    if o.get("environments") is not None:
        scope = _join(o.get("in_scope") or [], "no scanned environment")
        out.append(f"environments {_value(o['environments'])} (in scope here: {scope})")
    return out


def _configuration(result: ScanResult) -> str:
    config = result.configuration
    if not config.get("recorded"):
        return _section("configuration", '<p class="muted">Not recorded: this result carries no record of the '
                                         "policy's settings.</p>")
    overrides = config.get("rules") or []
    intro = ("<p>What the policy changes against the rules' own defaults (each rule's <code>rule.yaml</code>): "
             "rules disabled, severities, parameters and environment scopes. Policy files: "
             + _join(result.policy_files) + ".</p>")
    if not overrides:
        return _section("configuration", intro + "\n<p>The policy changes no rule's defaults.</p>")
    rows = []
    for o in overrides:
        set_in = o.get("set_in") or {}
        place = _location(Source(set_in["file"], set_in.get("line"))) if set_in.get("file") else ""
        rows.append([f"<code>{esc(o['rule'])}</code> {esc(o.get('name') or '')}", "<br>".join(_changes(o)), place])
    return _section("configuration", intro + "\n" + _table(["Rule", "Change", "Set in"], rows))


# --------------------------------------------------------------------------- identities


def _roles(roles: list[dict[str, str]]) -> str:
    if not roles:
        return '<span class="muted">none</span>'
    return "<br>".join(esc(r["name"]) + ("" if r["via"] == "direct" else f' <span class="muted">({esc(r["via"])})</span>')
                       for r in roles)


def _licenses(account: dict[str, Any]) -> str:
    if account["licenses"]:
        text = _join(account["licenses"])
        return text if account["licenses_known"] else f'{text} <span class="muted">(incomplete)</span>'
    return "none" if account["licenses_known"] else '<span class="muted">unknown</span>'


def _per_environment(result: ScanResult, section: str, intro: str, key: str, noun: str, empty: str,
                     body: Callable[[dict, list], list[str]]) -> list[str] | str:
    """The parts of a per-environment section of the inventory: the intro, then for each environment
    a heading counting its ``key`` items and ``body(env, items)`` — or ``empty`` when it has none.
    The finished section when the result recorded no inventory."""
    envs = result.inventory.get("environments")
    if envs is None:
        return _section(section, '<p class="muted">Not recorded in this result.</p>')
    parts = [intro]
    for env in envs:
        items = env.get(key) or []
        parts.append(f'<h3>{esc(env["name"])} <span class="muted">({_plural(len(items), noun)})</span></h3>')
        parts.extend(body(env, items) if items else [f'<p class="muted">{empty}</p>'])
    return parts


def _accounts_table(env: dict, accounts: list) -> list[str]:
    rows = [[f'<strong>{esc(a["name"])}</strong>' + (f'<br><code>{esc(a["account"])}</code>'
                                                     if a["account"] != a["name"] else ""),
             f'<span class="kind k-{esc(a["kind"])}">{esc(a["kind"])}</span>'
             + (f'<br><span class="bad-text">{_join(a["status"])}</span>' if a["status"] else ""),
             _join(a["why"]), _roles(a["roles"]), _licenses(a), _join(a["solutions"]),
             _join(a["connections"]) + ("<br>flows: " + _join(a["owned_flows"]) if a["owned_flows"] else "")]
            for a in accounts]
    parts = [_table(["Account", "Kind", "Listed as", "Roles", "Licenses", "Solutions served", "Connections"],
                    rows, cls="inventory")]
    if env.get("omitted_role_holders"):
        parts.append(f'<p class="muted">{_plural(env["omitted_role_holders"], "more role holder")} not listed '
                     "(<code>policykit doc</code> has every user).</p>")
    return parts


def _inventory(result: ScanResult) -> str:
    parts = _per_environment(
        result, "inventory",
        "<p>Per environment, every account that signs a connection, owns a cloud flow, is an application "
        "user or holds a security role. Licenses are tenant-wide.</p>",
        "accounts", "account", "No account recorded for this environment.", _accounts_table)
    if isinstance(parts, str):
        return parts
    shared = [a for a in result.inventory.get("accounts") or [] if len(a["environments"]) > 1]
    parts.append("<h3>Identities used in several environments</h3>")
    if shared:
        parts.append(_table(["Identity", "Kind", "Environments", "Solutions"],
                            [[f"{esc(a['name'])}<br><code>{esc(a['key'])}</code>", esc(a["kind"]),
                              _join(a["environments"]), _join(a["solutions"])] for a in shared]))
    else:
        parts.append("<p>None: each identity is used in one environment.</p>")
    return _section("inventory", "\n".join(parts))


# --------------------------------------------------------------------------- the graph (SVG)

_COL_W, _GAP_X, _NODE_W, _NODE_H, _GAP_Y, _TOP, _MARGIN = 250, 60, 232, 36, 10, 30, 8


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def svg_graph(bindings: list[dict[str, Any]], label: str) -> str:
    """The identity graph of one environment as inline SVG: four columns, nodes in
    :func:`~policykit.inventory.graph_layers` order, shorter columns centred, edges as curves."""
    columns, edges = graph_layers(bindings)
    tallest = max((len(c) for c in columns), default=0)
    step = _NODE_H + _GAP_Y
    height = _TOP + tallest * step + _MARGIN
    width = _MARGIN * 2 + len(columns) * _COL_W + (len(columns) - 1) * _GAP_X
    place: dict[str, tuple[int, int]] = {}
    nodes = []
    heads = []
    for i, column in enumerate(columns):
        x = _MARGIN + i * (_COL_W + _GAP_X)
        heads.append(f'<text class="col" x="{x}" y="18">{esc(_column_title(GRAPH_COLUMNS[i]))}</text>')
        offset = _TOP + (tallest - len(column)) * step // 2
        for j, node in enumerate(column):
            y = offset + j * step
            place[node["id"]] = (x, y)
            nodes.append(_svg_node(node, x, y))
    paths = [_svg_edge(place[a], place[b]) for a, b in edges if a in place and b in place]
    return (f'<svg class="graph" role="img" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" aria-label="{esc(label)}">\n<title>{esc(label)}</title>\n'
            + "\n".join(heads + paths + nodes) + "\n</svg>")


def _column_title(column: str) -> str:
    return {"solution": "Solution", "reference": "Connection reference", "connection": "Connection",
            "account": "Account"}[column]


def _svg_node(node: dict[str, Any], x: int, y: int) -> str:
    kind = re.sub(r"[^a-z]", "", str(node["kind"]).lower()) or "unknown"
    full = node["label"] + (f" — {node['detail']}" if node["detail"] else "")
    detail = (f'<text class="detail" x="{x + 8}" y="{y + 29}">{esc(_cut(node["detail"], 40))}</text>'
              if node["detail"] else "")
    if kind == "unbound":
        detail = f'<text class="detail" x="{x + 8}" y="{y + 29}">no connection</text>'
    return (f'<g class="node n-{kind}"><title>{esc(full)}</title>'
            f'<rect x="{x}" y="{y}" width="{_NODE_W}" height="{_NODE_H}" rx="5"></rect>'
            f'<text class="label" x="{x + 8}" y="{y + 15}">{esc(_cut(node["label"], 32))}</text>{detail}</g>')


def _svg_edge(a: tuple[int, int], b: tuple[int, int]) -> str:
    x1, y1 = a[0] + _NODE_W, a[1] + _NODE_H // 2
    x2, y2 = b[0], b[1] + _NODE_H // 2
    bend = (x2 - x1) // 2
    return f'<path class="edge" d="M{x1} {y1} C{x1 + bend} {y1} {x2 - bend} {y2} {x2} {y2}"></path>'


def _bindings_graph(env: dict, bindings: list) -> list[str]:
    drawn = bindings[:MAX_GRAPH_BINDINGS]
    parts = [f'<figure class="graph">{svg_graph(drawn, "Identity graph of " + env["name"])}</figure>']
    if len(bindings) > len(drawn):
        parts.append(f'<p class="muted">{len(bindings) - len(drawn)} more bindings not drawn; the table lists all.</p>')
    parts.append("<details open><summary>Bindings as a table</summary>\n" + _table(
        ["Solution", "Connection reference", "Connection", "Account"],
        [[esc(b["solution"]), esc(b["reference"]),
          (f"{esc(b['connector'])}<br><code>{esc(b['connection'])}</code>" if b["connection"]
           else '<span class="bad-text">no connection</span>'),
          (f"{esc(b['account_name'] or '')} <span class=\"kind k-{esc(b['account_kind'] or 'unknown')}\">"
           f"{esc(b['account_kind'] or 'unknown')}</span>" if b["account"] else '<span class="muted">—</span>')]
         for b in bindings]) + "\n</details>")
    return parts


def _graphs(result: ScanResult) -> str:
    parts = _per_environment(
        result, "graph",
        '<p class="legend">Solution → connection reference → connection → the account it signs in as. '
        'Accounts by kind: <span class="kind k-application">application</span> '
        '<span class="kind k-technical">technical</span> <span class="kind k-person">person</span> '
        '<span class="kind k-platform">platform</span> <span class="kind k-unknown">unknown</span>.</p>',
        "bindings", "binding", "No connection reference is bound or listed in this environment.", _bindings_graph)
    return parts if isinstance(parts, str) else _section("graph", "\n".join(parts))


# --------------------------------------------------------------------------- style

_CSS = """
:root { --fg: #1b1f24; --muted: #59636e; --line: #d1d9e0; --bg-soft: #f6f8fa;
  --pass: #dafbe1; --pass-fg: #116329; --fail: #ffebe9; --fail-fg: #a40e26; --waived: #fff8c5; --waived-fg: #7d4e00;
  --ne: #eaeef2; --ne-fg: #424a53; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
  Arial, sans-serif; }
header { padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--bg-soft); }
h1 { margin: 0; font-size: 24px; }
h2 { margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); font-size: 20px; }
h3 { margin: 20px 0 8px; font-size: 16px; }
h4 { margin: 12px 0 6px; font-size: 14px; }
nav { padding: 8px 24px; border-bottom: 1px solid var(--line); }
nav ol { margin: 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; }
main { padding: 0 24px 48px; max-width: 1400px; }
a { color: #0969da; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: break-word; }
pre { background: var(--bg-soft); padding: 8px; overflow-x: auto; white-space: pre-wrap; }
table { border-collapse: collapse; margin: 8px 0; width: 100%; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top;
  overflow-wrap: break-word; }
thead th { background: var(--bg-soft); }
table.counts { width: auto; } table.counts td { text-align: right; min-width: 80px; }
table.matrix th[scope=row] { font-weight: normal; min-width: 280px; }
table.matrix tr.group th { background: var(--bg-soft); font-weight: bold; }
.hash { font-size: 11px; white-space: nowrap; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dt { font-weight: bold; } dd { margin: 0; }
.muted { color: var(--muted); }
.bad-text { color: var(--fail-fg); }
.banner { padding: 8px 12px; border-radius: 6px; border: 1px solid var(--line); }
.banner.bad { background: var(--fail); border-color: #ffcecb; }
.banner.good { background: var(--pass); border-color: #aceebb; }
.st { white-space: nowrap; }
span.st { padding: 0 6px; border-radius: 10px; }
.st-pass { background: var(--pass); color: var(--pass-fg); }
.st-fail { background: var(--fail); color: var(--fail-fg); font-weight: bold; }
.st-waived { background: var(--waived); color: var(--waived-fg); }
.st-expired { background: var(--fail); color: var(--fail-fg); font-weight: bold; }
.st-expiring { background: var(--waived); color: var(--waived-fg); font-weight: bold; }
.st-stale { background: var(--ne); color: var(--ne-fg); }
.st-active { background: var(--pass); color: var(--pass-fg); }
.banner.attention { background: var(--waived); border-color: #d4a72c; }
.banner.attention ul { margin: 4px 0 0; padding-left: 20px; }
.st-ne { background: var(--ne); color: var(--ne-fg); font-style: italic; }
.st-na { color: var(--muted); }
td.st small { white-space: normal; font-weight: normal; font-style: normal; }
td.st a { color: inherit; }
.legend span { display: inline-block; margin: 0 2px; }
article.rule { border: 1px solid var(--line); border-radius: 6px; padding: 0 12px 8px; margin: 12px 0; }
.fix { background: var(--bg-soft); border-left: 4px solid #0969da; padding: 4px 12px; margin: 8px 0; }
ol.findings { padding-left: 24px; }
li.finding { margin: 6px 0; }
li.finding p { margin: 2px 0; }
li.is-waived .message { color: var(--muted); }
.lvl { font-weight: bold; text-transform: uppercase; font-size: 11px; padding: 0 4px; border-radius: 4px; }
.lvl-error { background: var(--fail); color: var(--fail-fg); }
.lvl-warning { background: var(--waived); color: var(--waived-fg); }
.lvl-note, .lvl-other { background: var(--ne); color: var(--ne-fg); }
.kind { white-space: nowrap; padding: 0 6px; border-radius: 10px; font-size: 12px; background: var(--ne); }
.k-application { background: #ddf4ff; } .k-technical { background: #fbefff; } .k-person { background: #ffebe9; }
.k-platform { background: #eaeef2; }
figure.graph { margin: 8px 0; overflow-x: auto; }
svg.graph { max-width: 100%; height: auto; font-family: system-ui, sans-serif; }
svg .col { font-size: 13px; font-weight: bold; fill: var(--muted); }
svg .node rect { fill: #ffffff; stroke: #8c959f; stroke-width: 1; }
svg .n-solution rect { fill: #ddf4ff; stroke: #54aeff; }
svg .n-reference rect { fill: #f6f8fa; }
svg .n-unbound rect { fill: #ffebe9; stroke: #cf222e; stroke-dasharray: 4 3; }
svg .n-connection rect { fill: #fff8c5; stroke: #d4a72c; }
svg .n-application rect { fill: #ddf4ff; stroke: #0969da; }
svg .n-technical rect { fill: #fbefff; stroke: #8250df; }
svg .n-person rect { fill: #ffebe9; stroke: #cf222e; }
svg .n-platform rect { fill: #eaeef2; }
svg .label { font-size: 12px; fill: var(--fg); }
svg .detail { font-size: 10px; fill: var(--muted); }
svg .edge { fill: none; stroke: #8c959f; stroke-width: 1.2; }
details > summary { cursor: pointer; color: var(--muted); }
@media print {
  nav { display: none; }
  header { background: none; }
  main { padding: 0; max-width: none; }
  body { font-size: 11px; }
  a { color: inherit; text-decoration: none; }
  tr, li.finding, .fix, figure.graph { break-inside: avoid; }
  h2, h3, h4 { break-after: avoid; }
  section { break-before: auto; }
  details > summary { list-style: none; }
  figure.graph { overflow: visible; }
}
@page { size: A4 landscape; margin: 12mm; }
"""
