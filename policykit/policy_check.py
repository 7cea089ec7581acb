"""The policy against the rules and the estate: every typo is an error naming the file and line.

:func:`check_policy_rules` runs when the rules are known (before any input is read): every rule a
policy file configures or waives exists, every parameter it sets is one the rule declares, of the
declared type (a ``regex`` one runs on RE2). :func:`check_policy_environments` runs when the
estate's environments are known: every name and ``type:`` in an ``environments:`` scope, and every
waiver's ``environment``, matches one of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .errors import PolicyError
from .models import Rule
from .params import spec_for
from .parsing import Parsed
from .policy import Policy
from .schema import check

__all__ = ["ENVIRONMENT_TYPES", "check_policy_environments", "check_policy_rules"]

#: Power Platform's environment types (``type:<name>`` in an ``environments:`` scope).
ENVIRONMENT_TYPES = ("Production", "Sandbox", "Trial", "Developer", "Default", "Teams")


_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1"})


def _hint(wrong: str, choices: Iterable[str]) -> str:
    """``; did you mean X?`` for the closest choice: same text in another case, a digit typed as a
    letter (``PPK1O1``), or a near spelling."""
    options = sorted(set(choices))
    folded = {c.casefold(): c for c in options}
    digits = {c.translate(_LOOKALIKES).casefold(): c for c in options}
    if wrong.casefold() in folded:
        close = [folded[wrong.casefold()]]
    elif wrong.translate(_LOOKALIKES).casefold() in digits:
        close = [digits[wrong.translate(_LOOKALIKES).casefold()]]
    else:
        starting = [c for c in options if c.casefold().startswith(wrong.casefold())]
        close = starting if len(starting) == 1 else difflib.get_close_matches(wrong, options, 1)
    return f"; did you mean {close[0]}?" if close else ""


def _rule_index(rules: list[Rule]) -> dict[str, Rule]:
    return {**{r.name: r for r in rules}, **{r.id: r for r in rules}}


def check_policy_rules(policy: Policy, rules: list[Rule]) -> None:
    """Unknown rules (configured or waived) and undeclared or mistyped parameters are errors."""
    index = _rule_index(rules)
    for parsed, display in policy.chain:
        configured = parsed.value.get("rules") or {}
        for key, settings in configured.items():
            line = parsed.key_line(configured, key) or 1
            if key not in index:
                raise PolicyError(f"unknown rule '{key}' in policy{_hint(key, [r.id for r in rules])}",
                                  file=display, line=line)
            _check_parameters(parsed, display, index[key], (settings or {}).get("parameters") or {}, line)
        waivers = parsed.value.get("waivers") or []
        for waiver in waivers:
            rule = waiver.get("rule")
            if isinstance(rule, str) and rule not in index:
                line = parsed.key_line(waiver, "rule") or parsed.line_of(waiver) or 1
                raise PolicyError(f"waiver for unknown rule '{rule}'{_hint(rule, [r.id for r in rules])}",
                                  file=display, line=line)


def _check_parameters(parsed: Parsed, display: str, rule: Rule, values: dict, line: int) -> None:
    declared = {**{n: {} for n in rule.parameters}, **rule.parameter_specs}
    for name, value in values.items():
        name_line = parsed.key_line(values, name) or line
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise PolicyError(f"rule {rule.id} has no parameter '{name}'{_hint(name, declared)} "
                              f"(its parameters: {known})", file=display, line=name_line)
        check(parsed, value, spec_for(declared[name]), display, f"rules.{rule.id}.parameters.{name}", name_line)


def check_policy_environments(policy: Policy, environments: list[dict]) -> None:
    """Every environment a scope or a waiver names is one of the estate's (when it has any)."""
    if not environments:
        return
    names = [e["name"] for e in environments]
    types = {e["type"].casefold(): e["type"] for e in environments if e.get("type")}
    untyped = any(not e.get("type") for e in environments)
    for parsed, display in policy.chain:
        configured = parsed.value.get("rules") or {}
        for key, settings in configured.items():
            scope = (settings or {}).get("environments") or []
            for i, selector in enumerate(scope):
                line = parsed.item_line(scope, i) or parsed.key_line(configured, key) or 1
                problem = _selector_problem(selector, names, types, untyped)
                if problem:
                    raise PolicyError(f"rules.{key}.environments[{i}]: {problem}", file=display, line=line)
        for waiver in parsed.value.get("waivers") or []:
            env = waiver.get("environment")
            if isinstance(env, str) and env not in names:
                line = parsed.key_line(waiver, "environment") or 1
                raise PolicyError(f"waiver environment '{env}' is no environment of the estate "
                                  f"({', '.join(names)}){_hint(env, names)}", file=display, line=line)


def _selector_problem(selector: str, names: list[str], types: dict[str, str], untyped: bool) -> str | None:
    if selector.lower().startswith("type:"):
        wanted = selector[5:].strip()
        if wanted.casefold() in types:
            return None
        if wanted.casefold() not in {t.casefold() for t in ENVIRONMENT_TYPES}:
            return (f"'{wanted}' is not an environment type ({', '.join(ENVIRONMENT_TYPES)})"
                    f"{_hint(wanted, ENVIRONMENT_TYPES)}")
        if untyped:
            return None  # an environment without metadata may be of this type
        shown = ", ".join(sorted(types.values())) or "none"
        return f"no environment of the estate is of type {wanted} (types: {shown})"
    if selector in names:
        return None
    return f"'{selector}' is no environment of the estate ({', '.join(names)}){_hint(selector, names)}"
