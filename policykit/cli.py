"""The ``policykit`` command line: scan, rules, explain, doc, catalog, collect.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings; 2 usage, input, policy or rule errors
(including a scan that could not read every input or run every rule).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import jmespath
from jmespath.exceptions import JMESPathError

from . import __version__
from .errors import PolicyKitError, UsageError
from .reading import Limits
from .models import LEVELS, ScanResult
from .scanner import (
    EnvironmentSpec,
    Estate,
    build,
    discover_solutions,
    load_estate,
    scan,
)

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
INFORMATION_URI = "https://github.com/policykit/power-policykit"
DEFAULT_HELP_BASE = "https://github.com/policykit/power-policykit/blob/main/rules"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 with usage, which matches our code
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"policykit: error: {message}\n")


MB = 1024 * 1024


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
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


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="policykit", description="Policy-as-code scanner for Microsoft Power Platform.")
    parser.add_argument("--version", action="version", version=f"policykit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("scan", help="scan an estate and report findings")
    _inputs(s)
    s.add_argument("--format", choices=("text", "sarif", "markdown", "json"), default="text",
                   help="text (terminal), sarif (code scanning), markdown (PR comment / job summary), "
                        "json (one finding per line)")
    s.add_argument("--evidence", action="store_true",
                   help="SARIF for audits: keep waived findings as suppressions, hash every input, "
                        "record start and end time")
    s.add_argument("--reproducible", action="store_true",
                   help="no timestamps in --evidence output (also when SOURCE_DATE_EPOCH is set)")
    s.add_argument("-o", "--output", metavar="FILE", help="write the report here (default: stdout)")
    s.add_argument("--fail-on", choices=(*LEVELS, "never"), default="error",
                   help="exit 1 when a finding is at or above this level (default: error)")
    s.add_argument("--category", help="SARIF automationDetails.id (default: policykit/<estate>/)")
    s.add_argument("--help-uri-base", default=DEFAULT_HELP_BASE, help="base URL of the rule docs")
    r = sub.add_parser("rules", help="list the rules")
    r.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    r.add_argument("--no-plugins", action="store_true")
    r.add_argument("--policy", metavar="FILE")
    e = sub.add_parser("explain", help="print a rule's documentation")
    e.add_argument("rule", metavar="RULE_ID")
    e.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    e.add_argument("--no-plugins", action="store_true")
    d = sub.add_parser("doc", help="print the normalized document as JSON")
    _inputs(d)
    d.add_argument("-q", "--query", metavar="JMESPATH", help="filter the document with a JMESPath expression")
    d.add_argument("-o", "--output", metavar="FILE")
    _catalog_parser(sub)
    _collect_parser(sub)
    return parser


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
    from .collect.command import add_arguments
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
            raise UsageError(f"{flag} expects NAME=PATH, got {v!r}")
        out.append((name, Path(path)))
    return out


def estate_from_args(args: argparse.Namespace) -> Estate:
    if args.config or not args.paths:
        config = Path(args.config or "policykit.yaml")
        if not config.is_file():
            raise UsageError(f"estate file not found: {config} (give --config FILE or PATHs to scan)")
        estate = load_estate(config)
    else:
        estate = Estate(name=Path(args.paths[0]).resolve().name if len(args.paths) == 1 else "estate")
    for p in args.paths:
        path = Path(p)
        if not path.exists():
            raise UsageError(f"path not found: {p}")
        estate.solutions += discover_solutions(path)
    envs = {e.name: e for e in estate.environments}
    for name, path in _pairs(args.env, "--env"):
        if not path.exists():
            raise UsageError(f"--env {name}: path not found: {path}")
        envs.setdefault(name, EnvironmentSpec(name=name)).metadata = path
    for name, path in _pairs(args.settings, "--settings"):
        if not path.is_file():
            raise UsageError(f"--settings {name}: file not found: {path}")
        envs.setdefault(name, EnvironmentSpec(name=name)).settings.append(path)
    estate.environments = list(envs.values())
    estate.limits = Limits(max_file_bytes=args.max_file_mb * MB, max_zip_total_bytes=args.max_zip_mb * MB,
                           max_zip_ratio=args.max_zip_ratio)
    if args.policy:
        if not Path(args.policy).is_file():
            raise UsageError(f"policy file not found: {args.policy}")
        estate.policy = Path(args.policy)
    return estate


def write_atomic(path: str | None, text: str) -> None:
    """Write all or nothing: a temporary file beside the target, renamed over it."""
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def exit_code(result: ScanResult, fail_on: str) -> int:
    if not result.complete:
        return EXIT_ERROR
    if fail_on == "never":
        return EXIT_OK
    threshold = LEVELS.index(fail_on)
    return EXIT_FINDINGS if any(LEVELS.index(f.level) <= threshold for f in result.active) else EXIT_OK


def cmd_scan(args: argparse.Namespace) -> int:
    from .reporters.sarif import MAX_RESULTS, AzurePipeline, to_sarif
    from .reporters.text import summary, to_text
    if args.evidence and args.format != "sarif":
        raise UsageError("--evidence applies to --format sarif")
    result = scan(estate_from_args(args), plugins=args.plugin, entry_points=not args.no_plugins)
    if args.format == "sarif":
        if len(result.findings if args.evidence else result.active) > MAX_RESULTS:
            sys.stderr.write(f"policykit: warning: more than {MAX_RESULTS} findings; the SARIF keeps the "
                             f"{MAX_RESULTS} most severe (GitHub's limit per run)\n")
        text = to_sarif(result, tool_version=__version__, information_uri=INFORMATION_URI,
                        help_uri_base=args.help_uri_base, category=args.category,
                        azure_pipeline=AzurePipeline.from_env(os.environ), source_root=Path.cwd(),
                        evidence=args.evidence,
                        timestamps=not (args.reproducible or "SOURCE_DATE_EPOCH" in os.environ))
    elif args.format == "markdown":
        from .reporters.markdown import to_markdown
        text = to_markdown(result)
    elif args.format == "json":
        from .reporters.jsonlines import to_json_lines
        text = to_json_lines(result)
    else:
        text = to_text(result, color=args.output is None and sys.stdout.isatty())
    write_atomic(args.output, text)
    if args.output and args.format != "text":
        # The report went to a file: still tell the person at the terminal what happened.
        sys.stderr.write(summary(result).rstrip("\n") + "\n")
    for failure in result.input_failures:
        where = ":".join(str(x) for x in (failure.file, failure.entry, failure.line) if x)
        sys.stderr.write(f"policykit: error: {where}: {failure.message}\n")
    for failure in result.rule_failures:
        sys.stderr.write(f"policykit: error: rule {failure.rule_id} failed: {failure.reason}\n")
    return exit_code(result, args.fail_on)


def _rules(args: argparse.Namespace):
    from .plugins import get_plugin_manager
    pm = get_plugin_manager(args.plugin, entry_points=not args.no_plugins)
    return sorted((r for rs in pm.hook.policykit_rules() for r in (rs or [])), key=lambda r: r.id)


def cmd_rules(args: argparse.Namespace) -> int:
    rules = _rules(args)
    policy = None
    if args.policy:
        from .policy import load_policy
        policy = load_policy(Path(args.policy), args.policy)
    width = max((len(r.name) for r in rules), default=10)
    for r in rules:
        settings = policy.settings_for(r.id, r.name) if policy else None
        level = (settings.severity if settings and settings.severity else r.severity)
        state = "" if not settings or settings.enabled else "  (disabled)"
        sys.stdout.write(f"{r.id}  {level:<7}  {r.name:<{width}}  {r.title}{state}\n")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    for r in _rules(args):
        if args.rule in (r.id, r.name):
            sys.stdout.write(f"{r.id} {r.name} — {r.title}\n")
            sys.stdout.write(f"default level: {r.severity}")
            if r.security_severity is not None:
                sys.stdout.write(f"; security-severity: {r.security_severity}")
            sys.stdout.write(f"; tags: {', '.join(r.all_tags)}\n\n")
            sys.stdout.write(r.help_markdown.rstrip() + "\n\nQuery:\n  " + r.query.strip() + "\n")
            return EXIT_OK
    raise UsageError(f"unknown rule {args.rule!r} (see 'policykit rules')")


def cmd_doc(args: argparse.Namespace) -> int:
    built = build(estate_from_args(args), args.plugin, not args.no_plugins)
    document, functions, failures = built.document, built.functions, built.input_failures
    value = document
    if args.query:
        try:
            # The rules' functions too, so a query tried here works unchanged in a rule.
            value = jmespath.search(args.query, document, options=jmespath.Options(custom_functions=functions()))
        except JMESPathError as exc:
            raise UsageError(f"invalid JMESPath: {exc}") from None
        except PolicyKitError as exc:
            raise UsageError(f"query failed: {exc}") from None
    write_atomic(args.output, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    for failure in failures:
        where = ":".join(str(x) for x in (failure.file, failure.entry, failure.line) if x)
        sys.stderr.write(f"policykit: error: {where}: {failure.message}\n")
    return EXIT_ERROR if failures else EXIT_OK


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
            "collect": cmd_collect}


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PolicyKitError as exc:
        sys.stderr.write(f"policykit: error: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
