"""JMESPath functions every rule can call, besides JMESPath's own.

``self.parameters`` holds the running rule's parameters (from the rule and the policy).
Plugins add functions through the ``policykit_jmespath_functions`` hook.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from jmespath import functions as jfunctions

from . import patterns
from .errors import RuleError
from .naming import suggest_name
from .platform import DEPTHS as DEPTH
from .secrets import redact, secret_reason

__all__ = ["BaseFunctions", "redact", "secret_reason"]


def _unique_bucket(value: Any) -> tuple:
    """What two equal values share, cheap to compute: their type, and a dict's ``key`` and size."""
    if isinstance(value, dict):
        key = value.get("key")
        return ("dict", key if isinstance(key, (str, int)) else None, len(value))
    if isinstance(value, list):
        return ("list", len(value))
    return (type(value).__name__, value)


def _compiled_signature(signature: list[dict]) -> tuple[int, bool, tuple]:
    """(arity, variadic, per argument: the Python type names it accepts, or None for any) of a
    JMESPath signature; an argument typed ``array-<x>`` is None here: its elements need JMESPath's
    own check."""
    checks = []
    for arg in signature:
        types = arg.get("types") or []
        if not types or any("-" in t for t in types):
            checks.append(None if not types else False)
            continue
        checks.append(frozenset(name for t in types for name in jfunctions.REVERSE_TYPES_MAP[t]))
    variadic = bool(signature) and bool(signature[-1].get("variadic"))
    return len(signature), variadic, tuple(checks)


class BaseFunctions(jfunctions.Functions):
    """The engine sets ``parameters`` on each instance before running a rule's query."""

    parameters: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self.parameters = {}
        self._lowered: dict[int, tuple[list, frozenset[str]]] = {}
        self._signatures: dict[str, tuple[Any, tuple[int, bool, tuple]]] = {}

    def _compiled(self, function_name: str) -> tuple[Any, tuple[int, bool, tuple]] | None:
        compiled = self._signatures.get(function_name)
        if compiled is None:
            spec = self.FUNCTION_TABLE.get(function_name)
            if spec is None:
                return None
            compiled = self._signatures[function_name] = (spec["function"], _compiled_signature(spec["signature"]))
        return compiled

    def caller(self, function_name: str, count: int) -> Callable[..., Any]:
        """A call of ``function_name`` with ``count`` arguments, bound to this object: what a
        compiled query (:mod:`policykit.query`) calls for each value. Rules call functions hundreds
        of thousands of times on a large estate, and JMESPath's ``call_function`` rebuilds each
        signature's type lists on every call: here the function and its argument check are looked
        up once. A call whose arguments the check does not accept, or a function whose check is
        JMESPath's own (``array-<type>``, a wrong number of arguments), goes through JMESPath's
        ``call_function`` and so raises its usual error. (Like JMESPath, only the declared
        arguments are checked: a variadic function's extra ones are not.)"""
        compiled = self._compiled(function_name)

        def checked(*args: Any) -> Any:
            return self.call_function(function_name, list(args))
        if compiled is None:
            return checked
        function, (arity, variadic, checks) = compiled
        if not (count == arity or (variadic and count > arity)) or False in checks:
            return checked
        if count == 1 and arity == 1:
            (only,) = checks
            if only is None:
                return partial(function, self)

            def call_one(arg: Any) -> Any:
                if type(arg).__name__ in only:
                    return function(self, arg)
                return checked(arg)
            return call_one
        pairs = tuple(enumerate(checks))

        def call(*args: Any) -> Any:
            for i, check in pairs:
                if check is not None and type(args[i]).__name__ not in check:
                    return checked(*args)
            return function(self, *args)
        return call

    @jfunctions.signature({"types": ["string"]})
    def _func_param(self, name: str) -> Any:
        if name not in self.parameters:
            raise RuleError("?", f"unknown parameter {name!r}")
        return self.parameters[name]

    @jfunctions.signature({"types": ["object", "null"]}, {"types": ["string", "null"]})
    def _func_get(self, obj: dict | None, key: str | None) -> Any:
        """``get(object, key)``: a key computed at run time (JMESPath only has literal keys)."""
        return obj.get(key) if obj is not None and key is not None else None

    @jfunctions.signature({"types": ["string", "null"]})
    def _func_lower(self, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @jfunctions.signature({"types": ["string"]}, {"types": ["string", "null"]})
    def _func_regex_match(self, pattern: str, value: str | None) -> bool:
        """Search with :mod:`policykit.patterns` (RE2: linear time, never hangs)."""
        try:
            return value is not None and patterns.search(pattern, value)
        except patterns.PatternError as exc:
            raise RuleError("?", f"regular expression {pattern!r} {exc.reason}") from None

    @jfunctions.signature({"types": ["string"]}, {"types": ["array"]})
    def _func_suggest_name(self, pattern: str, parts: list) -> str | None:
        """``suggest_name(pattern, [words])``: the words joined (by a space, `` | ``, ``-``, ``_``...)
        with the pattern's literal prefix and suffix into a name the pattern accepts, or null."""
        try:
            return suggest_name(pattern, [p for p in parts if isinstance(p, str)])
        except patterns.PatternError as exc:
            raise RuleError("?", f"regular expression {pattern!r} {exc.reason}") from None

    @jfunctions.signature({"types": ["array"]})
    def _func_unique(self, values: list) -> list:
        """The values without repeats, in order; equal means equal in value (``repr``). The same
        object repeated (one owner of many flows) is known without comparing, and a value's
        ``repr`` (dear for a big user record) is only taken once another value alike in type,
        ``key`` and size has come."""
        out: list = []
        known: set[int] = set()
        first: dict[tuple, Any] = {}      # bucket → its first value, repr not yet taken
        markers: dict[tuple, set[str]] = {}
        for v in values:
            if id(v) in known:
                continue
            known.add(id(v))
            bucket = _unique_bucket(v)
            if bucket not in first:
                first[bucket] = v
                out.append(v)
                continue
            seen = markers.get(bucket)
            if seen is None:
                seen = markers[bucket] = {repr(first[bucket])}
            marker = repr(v)
            if marker not in seen:
                seen.add(marker)
                out.append(v)
        return out

    @jfunctions.signature({"types": ["array"]}, {"types": ["string", "null"]})
    def _func_contains_ci(self, values: list, value: str | None) -> bool:
        """``contains_ci(list, value)``: whether ``value`` is one of the strings of ``list``, ignoring
        case — ``contains(list[].lower(@), lower(value))`` in one set lookup. The lowered set of a
        list is kept while the list lives (a parameter list is asked about once per privilege)."""
        if value is None:
            return False
        held = self._lowered.get(id(values))
        if held is None or held[0] is not values:
            held = (values, frozenset(v.lower() for v in values if isinstance(v, str)))
            self._lowered[id(values)] = held
        return value.lower() in held[1]

    @jfunctions.signature({"types": ["array"]}, {"types": ["array"]})
    def _func_intersects(self, a: list, b: list) -> bool:
        return any(x in b for x in a)

    @jfunctions.signature({"types": ["array"]}, {"types": ["array"]})
    def _func_difference(self, a: list, b: list) -> list:
        """Items of ``a`` not in ``b``, in ``a``'s order."""
        return [x for x in a if x not in b]

    @jfunctions.signature({"types": ["string", "null"]})
    def _func_depth(self, level: str | None) -> int:
        """``depth('Global')`` → 4; None/Basic/Local/Deep/Global → 0–4."""
        return DEPTH.get(level or "None", 0)

    @jfunctions.signature({"types": ["array"]}, {"types": ["object", "null"]})
    def _func_exceeds_baseline(self, privileges: list, baseline: dict | None) -> list:
        """Privileges absent from ``baseline`` ({name: max level}) or deeper than it allows."""
        if baseline is None:
            return []
        lowered = {k.lower(): v for k, v in baseline.items()}
        return [p for p in privileges if isinstance(p, dict)
                and DEPTH.get(p.get("level") or "None", 0) > DEPTH.get(lowered.get((p.get("name") or "").lower(), "None"), 0)]

    # ----------------------------------------------------------------------- secrets (policykit.secrets)

    @jfunctions.signature({"types": ["string", "null"]}, {"types": ["string", "number", "boolean", "null"]})
    def _func_secret_reason(self, name: str | None, value: Any) -> str | None:
        """Why a named value looks like a secret (see :func:`policykit.secrets.secret_reason`), or null."""
        return secret_reason(name, value)

    @jfunctions.signature({"types": ["string", "number", "boolean", "null"]})
    def _func_redact(self, value: Any) -> str:
        return redact(value)

    @jfunctions.signature({"types": ["array", "null"]}, {"types": ["object"]})
    def _func_merge_each(self, items: list | None, extra: dict) -> list:
        """``merge_each(parameters, {flow: name, flow_key: key})``: every object of ``items`` with
        ``extra``'s keys added, so that a rule can report each item on its own and still name its
        parent (JMESPath has no variables). Non-objects are left out."""
        return [{**item, **extra} for item in items or [] if isinstance(item, dict)]
