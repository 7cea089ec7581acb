"""The rule engine: compile each JMESPath query once, run it, turn objects into findings.

A rule that raises, or whose query or message is invalid, becomes a :class:`RuleFailure`; the
other rules still run, and the scan is reported incomplete (exit code 2).
"""

from __future__ import annotations

import datetime as _dt
import string
from collections.abc import Iterable
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from . import clock
from .errors import RuleError, jmespath_error_line, one_line
from .functions import BaseFunctions
from .models import Finding, Rule, RuleFailure, Source
from .policy import Policy
from .query import compile_query
from .waivers import Ledger


def functions_class(contributed: Iterable[type | None]) -> type:
    """Combine the built-in functions with the plugins' into one class."""
    bases = tuple(c for c in contributed if c is not None and c is not BaseFunctions)
    return type("PolicyKitFunctions", bases + (BaseFunctions,), {})


class _Formatter(string.Formatter):
    """``{a.b}`` reads nested dict keys; lists are joined; None reads as ``(none)``."""

    def get_field(self, field_name: str, args, kwargs):  # type: ignore[override]
        value: Any = kwargs
        for part in field_name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value, field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return "(none)"
        if isinstance(value, list):
            return ", ".join(self.format_field(v, "") for v in value) or "(none)"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return format(value, format_spec)


_FORMATTER = _Formatter()


def render(template: str, obj: Any) -> str:
    return _FORMATTER.format(template, **(obj if isinstance(obj, dict) else {"value": obj}))


class CompiledRule:
    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        try:
            self.query = compile_query(rule.query)
            self.key = compile_query(rule.key)
            self.location = compile_query(rule.location)
            list(_FORMATTER.parse(rule.message))
        except JMESPathError as exc:
            raise RuleError(rule.id, f"invalid JMESPath: {jmespath_error_line(exc)}") from None
        except ValueError as exc:
            raise RuleError(rule.id, f"invalid message template: {exc}") from None


def _environment_matches(env: dict, selectors: list[str]) -> bool:
    for sel in selectors:
        if sel.lower().startswith("type:"):
            if (env.get("type") or "").lower() == sel[5:].strip().lower():
                return True
        elif sel == env.get("name"):
            return True
    return False


def _scoped(document: dict, rule: Rule, environments: list[str] | None) -> tuple[dict, list[str]]:
    """The document as the rule sees it: environments filtered by scope and data needed."""
    if environments is None and not rule.requires and not rule.judges:
        return document, []
    kept, skipped = [], []
    for env in document["environments"]:
        if environments is not None and not _environment_matches(env, environments):
            continue
        missing = [r for r in rule.requires if r not in env.get("available", [])]
        if missing:
            skipped.append(f"environment {env['name']}: {_why_missing(env, missing)}")
            continue
        kept.append(env)
        skipped += _not_judged(env, rule.judges)
    return {**document, "environments": kept}, skipped


def _why_missing(env: dict, missing: list[str]) -> str:
    """``no workflows data``, or, for data ``policykit collect`` could not collect, why not."""
    reasons = env.get("not_collected") or {}
    absent = [m for m in missing if m not in reasons]
    parts = [f"no {', '.join(absent)} data"] if absent else []
    parts += [f"{m} {reasons[m]}" for m in missing if m in reasons]
    return "; ".join(parts)


def _not_judged(env: dict, judges: tuple[str, ...]) -> list[str]:
    """What the rule could not judge in ``env``: objects the document left unresolved."""
    items = [u for u in env.get("unresolved") or [] if u["what"] in judges]
    if not items:
        return []
    shown = "; ".join(u["detail"] for u in items[:5]) + (f"; and {len(items) - 5} more" if len(items) > 5 else "")
    return [f"environment {env['name']}: could not judge {len(items)} object(s): {shown}"]


def effective_parameters(rule: Rule, policy: Policy) -> dict[str, Any]:
    """The rule's declared defaults with the policy's values over them."""
    return {**rule.parameters, **policy.settings_for(rule.id, rule.name).parameters}


def query_objects(compiled: CompiledRule, data: dict, options: jmespath.Options) -> list[dict]:
    """The objects a rule's query returns: each one a finding."""
    rule = compiled.rule
    result = compiled.query.search(data, options=options)
    objects = [] if result is None else result if isinstance(result, list) else [result]
    wrong = next((o for o in objects if not isinstance(o, dict)), None)
    if wrong is not None:
        # Usually a projection not flattened: `environments[].bindings[?...]` needs `[]`.
        raise RuleError(rule.id, f"query must return objects, got a {type(wrong).__name__} "
                                 "(flatten nested lists with [] or a pipe)")
    return objects


def options_for(functions: type, params: dict[str, Any]) -> jmespath.Options:
    fn = functions()
    fn.parameters = params
    return jmespath.Options(custom_functions=fn)


def _failure(rule: Rule, reason: str) -> RuleFailure:
    """A rule failure naming the rule's file, when it has one."""
    return RuleFailure(rule.id, f"{rule.file}: {reason}" if rule.file else reason)


def run_rules(document: dict, rules: list[Rule], policy: Policy, functions: type,
              today: _dt.date | None = None, ledger: Ledger | None = None,
              ) -> tuple[list[Finding], list[RuleFailure], list[tuple[str, str]]]:
    """Run every enabled rule; return findings, rule failures and (rule id, reason) skips.

    Each finding is judged against the policy's waivers by ``ledger`` (one is made for ``today``,
    default the current date, when not given): the caller's ledger then knows what each waiver
    matched."""
    ledger = ledger or Ledger(policy.waivers, today or clock.today())
    findings: list[Finding] = []
    failures: list[RuleFailure] = []
    skipped: list[tuple[str, str]] = []
    for rule in rules:
        settings = policy.settings_for(rule.id, rule.name)
        if not settings.enabled:
            continue
        level = settings.severity or rule.severity
        try:
            compiled = CompiledRule(rule)
            data, skips = _scoped(document, rule, settings.environments)
            skipped += [(rule.id, s) for s in skips]
            options = options_for(functions, effective_parameters(rule, policy))
            for obj in query_objects(compiled, data, options):
                findings.append(_finding(compiled, obj, level, options, ledger))
        except RuleError as exc:
            failures.append(_failure(rule, exc.reason))
        except JMESPathError as exc:  # e.g. a function called with the wrong types at run time
            failures.append(_failure(rule, jmespath_error_line(exc)))
        except Exception as exc:  # noqa: BLE001 -- a broken plugin rule must not stop the others
            # The exception's type tells a plugin author where to look; one_line keeps it one line.
            failures.append(_failure(rule, one_line(f"{type(exc).__name__}: {exc}")))
    findings.sort(key=Finding.sort_key)
    return findings, failures, skipped


def _finding(compiled: CompiledRule, obj: Any, level: str, options, ledger: Ledger) -> Finding:
    rule = compiled.rule
    key = compiled.key.search(obj, options=options)
    if key is None:
        raise RuleError(rule.id, f"an object has no logical identity at '{rule.key}'")
    key = str(key)
    source = Source.from_dict(compiled.location.search(obj, options=options))
    env = obj.get("environment") if isinstance(obj.get("environment"), str) else None
    waiver = ledger.judge(rule.id, rule.name, key, env)
    waived = waiver["reason"] if waiver and waiver["status"] == "waived" else None
    return Finding(rule_id=rule.id, level=level, message=render(rule.message, obj), key=key, source=source,
                   environment=env, waived=waived, waiver=waiver)
