"""The commands for rule authors: ``test``, ``validate``, ``new-rule``, ``new-pack``, and the pack
view of ``rules`` and ``explain``. Exit codes: 0 all good, 1 a test or check failed, 2 an error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import UsageError
from .models import Rule
from .packs import Selection, select_packs
from .rulepack import RulePack, rule_folders

__all__ = ["add_parsers", "cmd_explain", "cmd_new_pack", "cmd_new_rule", "cmd_test", "cmd_validate",
           "rule_table", "selection_from_args"]


def _plugin_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="load a plugin module")
    p.add_argument("--no-plugins", action="store_true", help="do not load plugins from entry points")


def _local_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", metavar="FILE", help="also the local rule packs this policy names (rule_packs:)")
    p.add_argument("-c", "--config", metavar="FILE", help="also the local rule packs this estate file names")


def add_parsers(sub) -> None:
    """Add ``test``, ``validate``, ``new-rule`` and ``new-pack`` to the ``policykit`` parser."""
    t = sub.add_parser("test", help="run every rule's fires*/silent* fixtures (default: every loaded pack)")
    t.add_argument("packs", nargs="*", metavar="PACK_DIR", help="a pack folder: rule folders, or a Python pack")
    t.add_argument("--format", choices=("text", "json"), default="text")
    t.add_argument("-k", "--rule", action="append", default=[], metavar="RULE_ID", help="only these rules")
    _plugin_flags(t)
    _local_flags(t)
    v = sub.add_parser("validate", help="check rules: schema, queries, document fields, placeholders, README")
    v.add_argument("packs", nargs="*", metavar="PACK_DIR")
    v.add_argument("--format", choices=("text", "json"), default="text")
    _plugin_flags(v)
    _local_flags(v)
    n = sub.add_parser("new-rule", help="scaffold a rule: rule.yaml, README.md, a firing and a silent fixture")
    n.add_argument("rule_id", metavar="ID")
    n.add_argument("--pack", required=True, metavar="DIR", help="the pack folder to create the rule in")
    n.add_argument("--name", default="forbidden-connector", help="kebab-case name (default %(default)s)")
    k = sub.add_parser("new-pack", help="scaffold a pip-installable rule pack with its tests")
    k.add_argument("name", metavar="NAME", help="lower-case words joined by '-' (the package is policykit-NAME)")
    k.add_argument("--dir", default=".", metavar="DIR", help="where to create it (default: here)")
    k.add_argument("--rule-id", metavar="ID", help="the id of its first rule")


def _local_from(args: argparse.Namespace) -> list[tuple[Path, str, dict | None]]:
    from .policy import load_policy
    from .scanner import load_estate
    local: list[tuple[Path, str, dict | None]] = []
    config = getattr(args, "config", None)
    policy = getattr(args, "policy", None)
    if config:
        if not Path(config).is_file():
            raise UsageError(f"estate file not found: {config}")
        estate = load_estate(Path(config))
        local += estate.rule_packs
        policy = policy or (str(estate.policy) if estate.policy else None)
    if policy:
        if not Path(policy).is_file():
            raise UsageError(f"policy file not found: {policy}")
        local += load_policy(Path(policy), policy).rule_packs
    return local


def selection_from_args(args: argparse.Namespace) -> Selection:
    return select_packs(list(getattr(args, "packs", []) or []), args.plugin, not args.no_plugins, _local_from(args))


def _write(text: str) -> None:
    from .cli import write_atomic
    write_atomic(None, text)


def cmd_test(args: argparse.Namespace) -> int:
    from .testing import report_json, report_text, run_rule
    selection = selection_from_args(args)
    wanted = {r.upper() for r in args.rule}
    rules = sorted((r for p in selection.packs for r in p.rules if not wanted or r.id.upper() in wanted),
                   key=lambda r: r.id)
    if not rules:
        raise UsageError("no rule to test" + (f" matches {', '.join(sorted(wanted))}" if wanted else ""))
    results = [run_rule(r, selection.plugins, not args.no_plugins, selection.local) for r in rules]
    _write(report_json(results) if args.format == "json" else report_text(results))
    return 0 if all(r.passed for r in results) else 1


def _validation_context(args: argparse.Namespace, selection: Selection):
    from .fieldcheck import document_schema
    from .plugins import get_plugin_manager
    from .validate import Context
    pm = get_plugin_manager(selection.plugins, not args.no_plugins)
    schema = document_schema(pm.hook.policykit_document_fields())
    return Context(schema, selection.plugins, not args.no_plugins, selection.local)


def cmd_validate(args: argparse.Namespace) -> int:
    from .packs import _classify
    from .validate import report_json, validate_rule, validate_rule_folder
    _, named_local, _ = _classify(list(args.packs))
    local_dirs = {p.resolve() for p, _, _ in named_local}
    problems, checked = [], 0
    for folder, display, _ in named_local:   # rule by rule: a broken rule.yaml does not hide the others
        ctx = _validation_context(args, Selection([], args.plugin, _local_from(args)))
        problems += validate_rule_folder(folder, display, ctx)
        checked += len(rule_folders(folder))
    others = [a for a in args.packs if Path(a).resolve() not in local_dirs]
    if others or not args.packs:
        args.packs = others
        selection = selection_from_args(args)
        ctx = _validation_context(args, selection)
        for rule in sorted((r for p in selection.packs for r in p.rules), key=lambda r: r.id):
            checked += 1
            problems += validate_rule(rule, ctx)
    if args.format == "json":
        _write(report_json(problems, checked))
    else:
        lines = [p.line() for p in problems]
        _write("".join(f"{line}\n" for line in lines) + f"==== {checked} rules checked, {len(problems)} problems ====\n")
    return 1 if problems else 0


def cmd_new_rule(args: argparse.Namespace) -> int:
    from .scaffold import new_rule
    folder = new_rule(args.rule_id, Path(args.pack), args.name)
    _write(f"created {folder.as_posix()}/ (rule.yaml, README.md, fixtures/fires, fixtures/silent)\n"
           f"next: policykit test {Path(args.pack).as_posix()}\n")
    return 0


def cmd_new_pack(args: argparse.Namespace) -> int:
    from .scaffold import new_pack
    root = new_pack(args.name, Path(args.dir), args.rule_id)
    _write(f"created {root.as_posix()}/ (pyproject.toml, a rule, tests/test_pack.py)\n"
           f"next: cd {root.as_posix()} && policykit test .\n")
    return 0


def rule_table(packs: list[RulePack], policy=None) -> str:
    """``policykit rules``: each rule with its level, name, title and pack."""
    rules = sorted((r for p in packs for r in p.rules), key=lambda r: r.id)
    width = max((len(r.name) for r in rules), default=10)
    out = []
    for r in rules:
        settings = policy.settings_for(r.id, r.name) if policy else None
        level = settings.severity if settings and settings.severity else r.severity
        state = "" if not settings or settings.enabled else "  (disabled)"
        out.append(f"{r.id}  {level:<7}  {r.name:<{width}}  {r.title}  [{r.pack} {r.pack_version}]{state}\n")
    return "".join(out)


def _parameters_text(rule: Rule) -> str:
    if not rule.parameters:
        return ""
    import json
    lines = ["\nParameters (set them in a policy: rules: {" + rule.id + ": {parameters: {...}}}):\n"]
    for name in sorted(rule.parameters):
        spec = rule.parameter_specs.get(name, {})
        default = json.dumps(rule.parameters[name], ensure_ascii=False)
        default = default if len(default) <= 120 else default[:117] + "..."
        lines.append(f"  {name} ({spec.get('type', 'any')}, default {default})\n")
        if spec.get("doc"):
            lines.append(f"      {spec['doc']}\n")
    return "".join(lines)


def cmd_explain(args: argparse.Namespace) -> int:
    """A rule's documentation, by id or name in any case."""
    wanted = args.rule.casefold()
    selection = selection_from_args(args)
    for r in sorted((r for p in selection.packs for r in p.rules), key=lambda r: r.id):
        if wanted in (r.id.casefold(), r.name.casefold()):
            head = f"{r.id} {r.name} — {r.title}\npack: {r.pack} {r.pack_version}\ndefault level: {r.severity}"
            if r.security_severity is not None:
                head += f"; security-severity: {r.security_severity}"
            head += f"; tags: {', '.join(r.all_tags)}\n\n"
            _write(head + r.help_markdown.rstrip() + "\n" + _parameters_text(r)
                   + "\nQuery:\n  " + r.query.strip() + "\n")
            return 0
    raise UsageError(f"unknown rule {args.rule!r} (see 'policykit rules')")


def print_rules(args: argparse.Namespace) -> int:
    """``policykit rules``: every loaded rule, with the local packs of ``--policy``/``--config``."""
    from .policy import load_policy
    selection = selection_from_args(args)
    policy = load_policy(Path(args.policy), args.policy) if getattr(args, "policy", None) else None
    sys.stdout.flush()
    _write(rule_table(selection.packs, policy))
    return 0
