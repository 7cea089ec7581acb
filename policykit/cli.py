"""The ``policykit`` command line: scan, rules, explain, doc, catalog, collect.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings; 2 usage, input, policy or rule errors
(including a scan that could not read every input or run every rule), and any internal failure:
one line on stderr, never a traceback unless ``--debug`` asks for it; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

import jmespath
from jmespath.exceptions import JMESPathError

from . import __version__, clock
from .errors import (
    OutputError,
    PolicyKitError,
    UsageError,
    jmespath_error_line,
    no_surrogates,
    one_line,
)
from .heap import collector_paused
from .models import LEVELS, ScanResult
from .reading import Limits
from .scanner import (
    EnvironmentSpec,
    Estate,
    build,
    discover_solutions,
    load_estate,
    scan,
)
from .waivers import WARN_EXPIRY_DAYS

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
INFORMATION_URI = "https://github.com/policykit/power-policykit"
DEFAULT_HELP_BASE = "https://github.com/policykit/power-policykit/blob/main/rules"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 with usage, which matches our code
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"policykit: error: {one_line(message)}\n")


def error_line(text: object) -> None:
    """Report one error on stderr: ``policykit: error: <one safe line>``."""
    sys.stderr.write(f"policykit: error: {one_line(text)}\n")


MB = 1024 * 1024


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: '{text}'")
    return value


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: '{text}'")
    return value


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="solutions (zip or folder) or folders to search for solutions")
    p.add_argument("-c", "--config", metavar="FILE", help="estate file (default: ./policykit.yaml when no PATH)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=PATH",
                   help="environment metadata: an export folder or a snapshot .yaml/.json")
    p.add_argument("--settings", action="append", default=[], metavar="NAME=PATH",
                   help="deployment settings file for an environment")
    p.add_argument("--policy", metavar="FILE", help="policy file (extends the built-in default)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="load a plugin module")
    p.add_argument("--no-plugins", action="store_true", help="do not load plugins from entry points")
    limits = Limits()
    p.add_argument("--max-file-mb", type=_positive, default=limits.max_file_bytes // MB, metavar="N",
                   help="refuse any file or zip entry larger than N MiB (default %(default)s)")
    p.add_argument("--max-zip-mb", type=_positive, default=limits.max_zip_total_bytes // MB, metavar="N",
                   help="refuse a zip that expands to more than N MiB (default %(default)s)")
    p.add_argument("--max-zip-ratio", type=_positive, default=limits.max_zip_ratio, metavar="N",
                   help="refuse a zip entry compressed more than N:1 (default %(default)s)")
    p.add_argument("--max-zip-entries", type=_positive, default=limits.max_zip_entries, metavar="N",
                   help="refuse a zip with more than N entries (default %(default)s)")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="policykit", description="Policy-as-code scanner for Microsoft Power Platform.")
    parser.add_argument("--version", action="version", version=f"policykit {__version__}")
    parser.add_argument("--debug", action="store_true", help="on an internal error, print the Python traceback")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("scan", help="scan an estate and report findings")
    _inputs(s)
    s.add_argument("--format", choices=("text", "sarif", "markdown", "json", "html"), default="text",
                   help="text (terminal), sarif (code scanning), markdown (PR comment / job summary), "
                        "json (one finding per line), html (one self-contained page for reviewers, printable)")
    s.add_argument("--evidence", action="store_true",
                   help="for audits (sarif, html): keep waived findings as suppressions, hash every input and "
                        "the rule set, record the policy's overrides, the command line, the git commit, the "
                        "collections, start and end time (docs/evidence.md)")
    s.add_argument("--evidence-bundle", metavar="DIR",
                   help="also write DIR/: the evidence SARIF, the HTML report, an in-toto statement and its "
                        "predicate, and SHA256SUMS over them (docs/evidence.md)")
    s.add_argument("--warn-expiry-days", type=_days, default=WARN_EXPIRY_DAYS, metavar="N",
                   help="report waivers that expire within N days (default %(default)s)")
    s.add_argument("--today", metavar="YYYY-MM-DD",
                   help="the day waivers are judged on: expired, expiring (default: $POLICYKIT_TODAY, else "
                        "today in UTC)")
    s.add_argument("--reproducible", action="store_true",
                   help="no timestamps in --evidence or html output (also when SOURCE_DATE_EPOCH is set)")
    s.add_argument("-o", "--output", metavar="FILE", help="write the report here (default: stdout)")
    s.add_argument("--fail-on", choices=(*LEVELS, "never"), default="error",
                   help="exit 1 when a finding is at or above this level (default: error)")
    s.add_argument("--category", help="SARIF automationDetails.id (default: policykit/<estate>/)")
    s.add_argument("--help-uri-base", default=DEFAULT_HELP_BASE, help="base URL of the rule docs")
    _baseline_options(s)
    r = sub.add_parser("rules", help="list the rules with their packs")
    r.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    r.add_argument("--no-plugins", action="store_true")
    r.add_argument("--policy", metavar="FILE")
    r.add_argument("-c", "--config", metavar="FILE", help="also the local rule packs this estate file names")
    e = sub.add_parser("explain", help="print a rule's documentation and parameters (id or name, any case)")
    e.add_argument("rule", metavar="RULE_ID")
    e.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    e.add_argument("--no-plugins", action="store_true")
    e.add_argument("--policy", metavar="FILE", help="also the local rule packs this policy names")
    e.add_argument("-c", "--config", metavar="FILE", help="also the local rule packs this estate file names")
    d = sub.add_parser("doc", help="print the normalized document as JSON")
    _inputs(d)
    d.add_argument("-q", "--query", metavar="JMESPATH", help="filter the document with a JMESPath expression")
    d.add_argument("-o", "--output", metavar="FILE")
    d.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a value for param('NAME') in the query (YAML: 3, true, [a, b])")
    from .pack_commands import add_parsers
    add_parsers(sub)
    _catalog_parser(sub)
    _diff_parser(sub)
    _collect_parser(sub)
    for command in sub.choices.values():  # also after the command: policykit scan ... --debug
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="on an internal error, print the Python traceback")
    return parser


def _baseline_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--root", metavar="DIR",
                   help="SARIF URIs are relative to this folder (default: the top of the git work tree, "
                        "else the working directory)")
    s.add_argument("--baseline", metavar="SARIF",
                   help="a previous PolicyKit SARIF log: each SARIF result gets its baselineState "
                        "(new, unchanged, updated, absent) by rule and fingerprint")
    s.add_argument("--fail-on-new", action="store_true",
                   help="with --baseline: exit 1 only for findings at or above --fail-on that the baseline "
                        "does not hold open (new ones, and ones whose waiver ended)")
    s.add_argument("--by", choices=("rule", "control"), default="rule",
                   help="html, markdown: also group the rules by the compliance controls they map to "
                        "(docs/controls.md)")


def _diff_parser(sub) -> None:
    d = sub.add_parser("diff", help="compare two PolicyKit SARIF logs: new, resolved, regressed, updated, newly waived, "
                                    "waivers about to expire")
    d.add_argument("old", metavar="OLD.sarif")
    d.add_argument("new", metavar="NEW.sarif")
    d.add_argument("--format", choices=("text", "markdown"), default="text")
    d.add_argument("-o", "--output", metavar="FILE", help="write the report here (default: stdout)")
    d.add_argument("--fail-on", choices=(*LEVELS, "never"), default="never",
                   help="exit 1 when a new or regressed finding is at or above this level (default: never)")
    d.add_argument("--expiring-days", type=_positive, default=30, metavar="N",
                   help="list the waivers of NEW that expire within N days (default %(default)s)")
    d.add_argument("--today", metavar="YYYY-MM-DD",
                   help="the day expiry is judged on (default: $POLICYKIT_TODAY, else today in UTC)")


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import run
    return run(args)


def _catalog_parser(sub) -> None:
    c = sub.add_parser("catalog", help="look up the license (SKU) or connector catalog")
    c.add_argument("kind", choices=("skus", "connectors"))
    c.add_argument("pattern", nargs="?", metavar="PATTERN",
                   help="case-insensitive text (not a regex) in the part number, product, SKU id or a plan "
                        "name (skus), or in the api or display name (connectors)")
    c.add_argument("--plans", action="store_true", help="skus: also list each SKU's service plans and rights")
    c.add_argument("--policy", metavar="FILE", help="apply this policy's catalog: overrides")
    c.add_argument("--format", choices=("text", "json"), default="text",
                   help="text, or json (a sorted list of objects)")


def _collect_parser(sub) -> None:
    from .collect.arguments import add_arguments
    add_arguments(sub.add_parser("collect", help="fetch environments from Microsoft's APIs into export folders "
                                                 "(docs/collect.md)"))


def cmd_collect(args: argparse.Namespace) -> int:
    from .collect.command import run
    return run(args)


def _pairs(values: list[str], flag: str) -> list[tuple[str, Path]]:
    out = []
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"{flag} expects NAME=PATH, got '{v}'")
        out.append((name, Path(path)))
    return out


def _exists(path: Path, is_file: bool = False) -> bool:
    """Whether a path named on the command line is there; a name the system refuses (too long, a
    NUL byte) is a usage error, not a crash."""
    try:
        return path.is_file() if is_file else path.exists()
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot use path {str(path)[:80]}: {getattr(exc, 'strerror', None) or exc}") from None


def estate_from_args(args: argparse.Namespace) -> Estate:
    if args.config or not args.paths:
        config = Path(args.config or "policykit.yaml")
        if not _exists(config, is_file=True):
            raise UsageError(f"estate file not found: {config} (give --config FILE or PATHs to scan)")
        estate = load_estate(config)
    else:
        estate = Estate(name=Path(args.paths[0]).resolve().name if len(args.paths) == 1 else "estate")
    for p in args.paths:
        path = Path(p)
        if not _exists(path):
            raise UsageError(f"path not found: {p}")
        estate.solutions += discover_solutions(path)
    envs = {e.name: e for e in estate.environments}
    for name, path in _pairs(args.env, "--env"):
        if not _exists(path):
            raise UsageError(f"--env {name}: path not found: {path}")
        envs.setdefault(name, EnvironmentSpec(name=name)).metadata = path
    for name, path in _pairs(args.settings, "--settings"):
        if not _exists(path, is_file=True):
            raise UsageError(f"--settings {name}: file not found: {path}")
        envs.setdefault(name, EnvironmentSpec(name=name)).settings.append(path)
    estate.environments = list(envs.values())
    estate.limits = Limits(max_file_bytes=args.max_file_mb * MB, max_zip_total_bytes=args.max_zip_mb * MB,
                           max_zip_ratio=args.max_zip_ratio, max_zip_entries=args.max_zip_entries)
    if args.policy:
        if not _exists(Path(args.policy), is_file=True):
            raise UsageError(f"policy file not found: {args.policy}")
        estate.policy = Path(args.policy)
    return estate


def write_atomic(path: str | None, text: str) -> None:
    """Write all or nothing, as UTF-8: a temporary file beside the target, renamed over it.

    The reporters never leave a lone surrogate (a name from JSON like ``"cr_x\\ud800"``); one
    that slips through anyway becomes U+FFFD here rather than failing the whole report.
    ``path`` may hold non-UTF-8 bytes (surrogate-escaped, as Python decodes ``argv``).
    """
    data = no_surrogates(text).encode("utf-8")
    if path is None or path == "-":
        _write_stdout(data)
        return
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            _chmod_like_open(fh.fileno(), target)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _chmod_like_open(fd: int, target: Path) -> None:
    """Give the temporary file (``mkstemp`` makes it ``0600``) the mode ``open()`` would have given
    the report: the replaced file's own mode, or ``0666`` less the user's umask for a new one."""
    if not hasattr(os, "fchmod"):  # Windows: no modes to speak of
        return
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0o022)  # the only way to read the umask: set it and put it back
        os.umask(mask)
        mode = 0o666 & ~mask
    os.fchmod(fd, mode)


def _write_stdout(data: bytes) -> None:
    """UTF-8 bytes to stdout whatever its text encoding (a cp1252 or ASCII locale would fail)."""
    buffer = getattr(sys.stdout, "buffer", None)
    sys.stdout.flush()
    if buffer is None:  # a replaced stdout (io.StringIO)
        sys.stdout.write(data.decode("utf-8"))
    else:
        buffer.write(data)
        buffer.flush()
    sys.stdout.flush()


def exit_code(result: ScanResult, fail_on: str, baseline=None) -> int:
    """0, 1 or 2 (see the module); with a ``baseline`` (``--fail-on-new``) only the findings it does
    not hold open count: new ones, and ones it held waived whose waiver has ended."""
    if not result.complete:
        return EXIT_ERROR
    if fail_on == "never":
        return EXIT_OK
    threshold = LEVELS.index(fail_on)
    findings = result.active
    if baseline is not None:
        from .reporters.sarif import fingerprint
        findings = [f for f in findings if not baseline.active(f.rule_id, fingerprint(f.rule_id, f.key))]
    return EXIT_FINDINGS if any(LEVELS.index(f.level) <= threshold for f in findings) else EXIT_OK


def scan_root(args: argparse.Namespace) -> Path:
    """``--root``, else the top of the git work tree holding the working directory, else the latter."""
    from .reading import git_top_level
    if getattr(args, "root", None):
        root = Path(args.root)
        if not _exists(root) or not root.is_dir():
            raise UsageError(f"--root: folder not found: {args.root}")
        return root.resolve()
    here = Path.cwd().resolve()
    return git_top_level(here) or here


def _baseline_log(args: argparse.Namespace):
    """``--baseline``: the previous log, read before the scan so that a wrong file fails fast."""
    if getattr(args, "fail_on_new", False) and not getattr(args, "baseline", None):
        raise UsageError("--fail-on-new needs --baseline PREVIOUS.sarif")
    if getattr(args, "by", "rule") != "rule" and args.format not in ("html", "markdown"):
        raise UsageError("--by control applies to --format html or markdown")
    if not getattr(args, "baseline", None):
        return None
    from .baseline import read_log
    return read_log(Path(args.baseline), args.baseline)


def _timestamps(args: argparse.Namespace) -> bool:
    return not (args.reproducible or "SOURCE_DATE_EPOCH" in os.environ)


def _sarif_text(args: argparse.Namespace, result: ScanResult, evidence: bool) -> str:
    from .reporters.sarif import MAX_RESULTS, AzurePipeline, to_sarif
    if len(result.findings if evidence else result.active) > MAX_RESULTS:
        sys.stderr.write(f"policykit: warning: more than {MAX_RESULTS} findings; the SARIF keeps the "
                         f"{MAX_RESULTS} most severe (GitHub's limit per run)\n")
    return to_sarif(result, tool_version=__version__, information_uri=INFORMATION_URI,
                    help_uri_base=args.help_uri_base, category=args.category,
                    azure_pipeline=AzurePipeline.from_env(os.environ), source_root=Path.cwd(),
                    evidence=evidence, timestamps=_timestamps(args), root=scan_root(args),
                    baseline=getattr(args, "baseline_log", None))


def _html_text(args: argparse.Namespace, result: ScanResult) -> str:
    from .reporters.html import to_html
    if getattr(args, "by", "rule") == "control":
        from .controls import headings, ordered
        return to_html(result, tool_version=__version__, timestamps=_timestamps(args),
                       group=lambda row: headings(row.rule), order=ordered)
    return to_html(result, tool_version=__version__, timestamps=_timestamps(args))


def write_bundle(args: argparse.Namespace, result: ScanResult) -> None:
    """``--evidence-bundle DIR``: the evidence SARIF, the HTML report, the in-toto statement and
    its predicate, and SHA256SUMS over them (policykit.evidence.bundle)."""
    from .evidence import bundle
    folder = Path(args.evidence_bundle)
    files = bundle(result, _sarif_text(args, result, True), _html_text(args, result), _timestamps(args))
    for name, data in files.items():
        write_atomic(str(folder / name), data.decode("utf-8"))


def _report_text(args: argparse.Namespace, result: ScanResult) -> str:
    """The report ``--format`` asks for."""
    if args.format == "sarif":
        return _sarif_text(args, result, args.evidence)
    if args.format == "markdown":
        from .reporters.markdown import to_markdown
        return to_markdown(result, by=args.by)
    if args.format == "json":
        from .reporters.jsonlines import to_json_lines
        return to_json_lines(result)
    if args.format == "html":
        return _html_text(args, result)
    from .reporters.text import to_text
    return to_text(result, color=args.output is None and sys.stdout.isatty())


def cmd_scan(args: argparse.Namespace) -> int:
    from .reporters.text import summary
    if args.evidence and args.format not in ("sarif", "html"):
        raise UsageError("--evidence applies to --format sarif or html")
    args.baseline_log = _baseline_log(args)
    evidence = args.evidence or bool(args.evidence_bundle)
    result = scan(estate_from_args(args), plugins=args.plugin, entry_points=not args.no_plugins,
                  inventory=args.format in ("html", "markdown") or evidence, warn_expiry_days=args.warn_expiry_days,
                  evidence=evidence, today=clock.today(args.today))
    if evidence:
        result.evidence["command_line"] = ["policykit", *getattr(args, "argv", [])]
    with collector_paused():  # a report of a large scan allocates as much as the scan
        if args.evidence_bundle:
            write_bundle(args, result)
        text = _report_text(args, result)
    write_atomic(args.output, text)
    if args.output and args.format != "text":
        # The report went to a file: still tell the person at the terminal what happened.
        sys.stderr.write(summary(result).rstrip("\n") + "\n")
    _input_failures(result.input_failures)
    for failure in result.rule_failures:
        error_line(f"rule {failure.rule_id} failed: {failure.reason}")
    return exit_code(result, args.fail_on, args.baseline_log if args.fail_on_new else None)


def _input_failures(failures) -> None:
    for failure in failures:
        where = ":".join(str(x) for x in (failure.file, failure.entry, failure.line) if x)
        error_line(f"{where}: {failure.message}" if where else failure.message)


def cmd_rules(args: argparse.Namespace) -> int:
    """Every rule with its level and pack (``--policy``: the levels it sets, its local packs)."""
    from .pack_commands import print_rules
    return print_rules(args)


def cmd_explain(args: argparse.Namespace) -> int:
    from .pack_commands import cmd_explain as explain
    return explain(args)


def cmd_doc(args: argparse.Namespace) -> int:
    built = build(estate_from_args(args), args.plugin, not args.no_plugins)
    document, functions, failures = built.document, built.functions, built.input_failures
    value = _query(args.query, document, functions, _params(args.param)) if args.query else document
    write_atomic(args.output, json_text(value))
    _input_failures(failures)
    return EXIT_ERROR if failures else EXIT_OK


def _params(values: list[str]) -> dict:
    """``--param NAME=VALUE`` (VALUE read as YAML) → {NAME: value}, for param() in ``doc -q``."""
    from .parsing import parse_yaml
    out = {}
    for item in values:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param wants NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = parse_yaml(text.encode("utf-8"), file="--param").value
        except PolicyKitError as exc:
            raise UsageError(f"--param {name.strip()}: {exc}") from None
    return out


def _query(query: str, document: dict, functions, params: dict | None = None) -> object:
    try:
        # The rules' functions too, so a query tried here works unchanged in a rule.
        fn = functions()
        fn.parameters = params or {}
        return jmespath.search(query, document, options=jmespath.Options(custom_functions=fn))
    except RecursionError:
        # jmespath parses and evaluates recursively: 5,000 nested parentheses exhaust the stack.
        raise UsageError(f"JMESPath expression nested too deeply ({len(query)} characters)") from None
    except JMESPathError as exc:
        raise UsageError(f"invalid JMESPath: {jmespath_error_line(exc)}") from None
    except PolicyKitError as exc:
        raise UsageError(f"query failed: {exc}") from None


#: Characters JSON allows raw inside a string that a terminal or an editor would act on.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def json_text(value: object) -> str:
    """Indented JSON that keeps non-ASCII text readable, but writes C1 controls, bidi controls and
    line separators as ``\\u`` escapes (they only occur inside strings, so the value is unchanged)
    and lone surrogates as U+FFFD (strict JSON parsers reject them)."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return no_surrogates(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def _sku_matches(sku: dict, needle: str) -> bool:
    texts = [sku["sku_part_number"], sku["product"], sku["sku_id"], *(p["name"] for p in sku["service_plans"])]
    return any(needle in t.casefold() for t in texts)


def _sku_row(sku: dict, rights: dict[str, str], with_plans: bool) -> dict:
    plans = sorted(sku["service_plans"], key=lambda p: (p["name"].casefold(), p["name"], p["id"] or ""))
    row = {"sku_part_number": sku["sku_part_number"], "sku_id": sku["sku_id"], "product": sku["product"],
           "rights": sorted({rights[p["name"]] for p in plans if p["name"] in rights})}
    if with_plans:
        row["service_plans"] = [{"id": p["id"], "name": p["name"], "right": rights.get(p["name"])} for p in plans]
    return row


def _sku_rows(cats, needle: str, with_plans: bool) -> list[dict]:
    rows = [_sku_row(s, cats.plan_rights, with_plans) for s in cats.skus.values() if _sku_matches(s, needle)]
    return sorted(rows, key=lambda r: (r["sku_part_number"].casefold(), r["sku_part_number"]))


def _connector_rows(cats, needle: str) -> list[dict]:
    rows = [{"api": api, "display_name": c.get("display_name"), "tier": c.get("tier"),
             "custom": bool(c.get("custom")), "service_principal": bool(c.get("service_principal")),
             "m365_service": c.get("m365_service")}
            for api, c in cats.connectors.items()
            if needle in api.casefold() or needle in (c.get("display_name") or "").casefold()]
    return sorted(rows, key=lambda r: r["api"])


def _columns(cells: list[tuple[str, ...]], indent: str = "") -> str:
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))] if cells else []
    return "".join(indent + "  ".join(c.ljust(w) for c, w in zip(cell, widths)).rstrip() + "\n" for cell in cells)


def _sku_text(rows: list[dict]) -> str:
    out = []
    for r in rows:
        out.append(f"{r['sku_part_number']}  {r['sku_id'] or '-'}  {r['product']}\n"
                   f"  rights: {', '.join(r['rights']) or 'none'}\n")
        if "service_plans" in r:
            out.append(_columns([(p["name"], p["id"] or "-", p["right"] or "") for p in r["service_plans"]], "    "))
    return "".join(out)


def _connector_text(rows: list[dict]) -> str:
    if not rows:
        return ""
    yes = {True: "yes", False: "no"}
    return _columns([("API", "DISPLAY NAME", "TIER", "CUSTOM", "SERVICE PRINCIPAL", "M365 SERVICE")] + [
        (r["api"], r["display_name"] or "-", r["tier"] or "-", yes[r["custom"]], yes[r["service_principal"]],
         r["m365_service"] or "-") for r in rows])


def cmd_catalog(args: argparse.Namespace) -> int:
    """Look up the catalogs. No match is not an error (exit 0, a note on stderr, ``[]`` in json):
    1 means findings and 2 errors in every other command."""
    from .catalog import Catalogs
    from .policy import load_policy
    if args.plans and args.kind != "skus":
        raise UsageError("--plans applies to 'policykit catalog skus'")
    if args.policy and not Path(args.policy).is_file():
        raise UsageError(f"policy file not found: {args.policy}")
    cats = Catalogs(load_policy(Path(args.policy), args.policy) if args.policy else load_policy())
    needle = (args.pattern or "").casefold()
    skus = args.kind == "skus"
    rows = _sku_rows(cats, needle, args.plans) if skus else _connector_rows(cats, needle)
    if not rows:
        what = "SKU" if skus else "connector"
        sys.stderr.write(f"policykit: no {what} matches {args.pattern!r}\n" if args.pattern
                         else f"policykit: the {what} catalog is empty\n")
    if args.format == "json":
        text = json.dumps(rows, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    else:
        text = _sku_text(rows) if skus else _connector_text(rows)
    write_atomic(None, text)
    return EXIT_OK


COMMANDS = {"scan": cmd_scan, "rules": cmd_rules, "explain": cmd_explain, "doc": cmd_doc, "catalog": cmd_catalog,
            "collect": cmd_collect, "diff": cmd_diff}
# Rule authors' commands (policykit/pack_commands.py): packs, fixtures, checks, scaffolding.
COMMANDS.update({"test": lambda a: _pack_command("cmd_test", a), "validate": lambda a: _pack_command("cmd_validate", a),
                 "new-rule": lambda a: _pack_command("cmd_new_rule", a),
                 "new-pack": lambda a: _pack_command("cmd_new_pack", a)})


def _pack_command(name: str, args: argparse.Namespace) -> int:
    from . import pack_commands
    return getattr(pack_commands, name)(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure ends as one line on stderr and exit code 2."""
    debug = False
    try:
        args = make_parser().parse_args(argv)
        args.argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]  # the evidence records it
        debug = args.debug
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return 130
    except PolicyKitError as exc:
        if debug:
            traceback.print_exc()
        error_line(exc)
        return EXIT_ERROR
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (policykit doc | head): nothing left to say there
        error_line("output closed before the report was written")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 -- SystemExit (argparse, --help) passes: not an Exception
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (run with --debug for the trace)"
        sys.stderr.write(f"policykit: error: internal error: {one_line(describe(exc), 200)}{hint}\n")
        return EXIT_ERROR


def describe(exc: BaseException) -> str:
    """``RecursionError: maximum recursion depth exceeded``; a KeyError's key without its quotes."""
    name = type(exc).__name__
    text = str(exc.args[0]) if isinstance(exc, KeyError) and len(exc.args) == 1 else str(exc)
    return f"{name}: {text}" if text else name


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not report the broken pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
