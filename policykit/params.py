"""Rule parameters: the contract each rule declares in ``rule.yaml`` and the checks it allows.

A rule declares every parameter it reads with ``param('name')``::

    parameters:
      logical_name_pattern:
        type: regex
        default: ''
        doc: Your own convention, if any: names must match ('' accepts every name).

A type is a scalar (``string``, ``regex``, ``integer``, ``number``, ``boolean``), ``list[T]``,
``mapping[T]`` (keys are strings), or a bare ``list`` / ``mapping`` holding any values. A ``regex``
is a pattern for :mod:`policykit.patterns` (RE2): one that cannot run is refused where it is set.
The policy may set only declared parameters, with values of the declared type; both the defaults
and the policy's values are checked when the rules are loaded, never when they run.
"""

from __future__ import annotations

from typing import Any

from . import patterns
from .schema import Spec

__all__ = ["SCALARS", "parse_type", "spec_for", "type_problem"]

#: The scalar types and the schema spec (see :mod:`policykit.schema`) each one checks with.
SCALARS: dict[str, Spec] = {
    "string": str,
    "regex": lambda v: patterns.pattern_problem(v),
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def _any(_: Any) -> None:
    return None


def parse_type(text: object) -> Spec | None:
    """The schema spec for a parameter type, or None when ``text`` is not a type."""
    if not isinstance(text, str):
        return None
    text = text.replace(" ", "")
    if text in SCALARS:
        return SCALARS[text]
    if text == "list":
        return [_any]
    if text == "mapping":
        return ("map", _any)
    for outer in ("list", "mapping"):
        if text.startswith(outer + "[") and text.endswith("]"):
            inner = parse_type(text[len(outer) + 1:-1])
            if inner is None:
                return None
            return [inner] if outer == "list" else ("map", inner)
    return None


def type_problem(text: object) -> str | None:
    """Why ``text`` is not a parameter type (for the rule.yaml check), or None."""
    if parse_type(text) is None:
        return (f"is not a parameter type (got {text!r}): use one of {', '.join(SCALARS)}, "
                "list[T], mapping[T], list or mapping")
    return None


def spec_for(declared: dict[str, Any] | None) -> Spec:
    """The schema spec a value of the declared parameter must fit (any value when undeclared
    types: a Python rule built without ``parameter_specs``)."""
    if not declared or "type" not in declared:
        return _any
    spec = parse_type(declared["type"])
    return _any if spec is None else spec
