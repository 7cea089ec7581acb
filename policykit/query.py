"""Rule queries compiled to Python closures: the same results as JMESPath's tree interpreter.

``jmespath.compile`` parses a query into a tree; ``ParsedResult.search`` then walks that tree
for every value it meets, dispatching each node through a dictionary lookup and a method call.
A rule runs over every connection reference, role and user of a tenant, so on a large estate that
dispatch was most of the rules' time. Here each node is turned once into a closure that calls
its children's closures directly.

Each closure mirrors one ``TreeInterpreter.visit_*`` method of jmespath 1.x, line for line
(JMESPath's truth rules, its number and boolean quirks in comparisons, projections dropping
``None``); functions are called through ``Functions.call_function``, or PolicyKit's
:meth:`~policykit.functions.BaseFunctions.caller` with the same checks bound once, so their type
checks and errors are JMESPath's. A node type this module does not know is handed to JMESPath's
interpreter, so a newer jmespath cannot make a query mean something else.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import jmespath
from jmespath import functions as jfunctions
from jmespath.visitor import (
    Options,
    TreeInterpreter,
    _equals,
    _is_actual_number,
    _is_comparable,
)
from jmespath.visitor import _Expression as _JMESPathExpression

__all__ = ["Query", "compile_query"]

#: A compiled node: (the current value, the functions object) -> the result.
Node = Callable[[Any, jfunctions.Functions], Any]

_ORDERING = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge}


def _is_false(value: Any) -> bool:
    # JMESPath's falsiness: "", [], {}, null and false; unlike Python's, 0 and 0.0 are true. (The
    # interpreter compares with each; for JSON values this is the same, in one truth test.)
    return not value and type(value) is not int and type(value) is not float


class _Expression(_JMESPathExpression):
    """An ``&expr`` argument: functions (``sort_by``, ``max_by``, ``map``) call ``visit(node,
    value)`` on it; here that runs the compiled closure. The class keeps JMESPath's name, which
    is what its type checks read (``expref``)."""

    def __init__(self, node: dict, compiled: Node, functions: jfunctions.Functions) -> None:
        super().__init__(node, None)
        self._compiled, self._functions = compiled, functions

    def visit(self, node: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        return self._compiled(value, self._functions)


_Expression.__module__ = _JMESPathExpression.__module__  # its repr in a type error reads as JMESPath's



def _chain(children: list[Node]) -> Node:
    if len(children) == 2:
        first, second = children

        def two(value: Any, fn: Any) -> Any:
            return second(first(value, fn), fn)
        return two

    def chain(value: Any, fn: Any) -> Any:
        for child in children:
            value = child(value, fn)
        return value
    return chain


def _field(node: dict, _children: list[Node]) -> Node:
    name = node["value"]

    def field(value: Any, fn: Any) -> Any:
        if type(value) is dict:
            return value.get(name)
        try:
            return value.get(name)
        except AttributeError:
            return None
    return field


def _plain_literal(node: dict) -> bool:
    """A literal no value equals by JMESPath's number rules (``false`` is not ``0``): a string,
    null, or an array or object. Equality with it is Python's."""
    return node["type"] == "literal" and (node["value"] is None or type(node["value"]) in (str, list, dict))


def _comparator(node: dict, children: list[Node]) -> Node:
    left, right = children
    op = node["value"]
    if op in ("eq", "ne") and any(_plain_literal(child) for child in node["children"]):
        # `kind == 'application'`: most comparisons of a rule, on every value it meets.
        if op == "eq":
            return lambda value, fn: left(value, fn) == right(value, fn)
        return lambda value, fn: left(value, fn) != right(value, fn)
    if op == "eq":
        return lambda value, fn: _equals(left(value, fn), right(value, fn))
    if op == "ne":
        return lambda value, fn: not _equals(left(value, fn), right(value, fn))
    compare = _ORDERING[op]

    def ordering(value: Any, fn: Any) -> Any:
        a, b = left(value, fn), right(value, fn)
        if not (_is_comparable(a) and _is_comparable(b)):
            return None
        return compare(a, b)
    return ordering


def _current(_node: dict, _children: list[Node]) -> Node:
    return lambda value, fn: value


def _expref(node: dict, children: list[Node]) -> Node:
    inner, expression = children[0], node["children"][0]
    return lambda value, fn: _Expression(expression, inner, fn)


def _caller(fn: jfunctions.Functions, name: str, count: int) -> Callable[..., Any]:
    """``fn``'s call of ``name`` with ``count`` arguments: PolicyKit's functions give one with
    the lookup and the argument check compiled (:meth:`policykit.functions.BaseFunctions.caller`);
    any other functions object is called the way the interpreter calls it."""
    caller = getattr(fn, "caller", None)
    if caller is not None:
        return caller(name, count)
    return lambda *args: fn.call_function(name, list(args))


def _function(node: dict, children: list[Node]) -> Node:
    name, count = node["value"], len(children)
    bound: list[Any] = [None, None]  # the functions object last called with, and its call of name

    def call(fn: Any) -> Callable[..., Any]:
        if bound[0] is not fn:
            bound[0], bound[1] = fn, _caller(fn, name, count)
        return bound[1]
    if count == 1:
        (only,) = children
        return lambda value, fn: call(fn)(only(value, fn))
    if count == 2:
        first, second = children
        return lambda value, fn: call(fn)(first(value, fn), second(value, fn))
    return lambda value, fn: call(fn)(*[child(value, fn) for child in children])


def _project(elements: Any, right: Node, fn: Any) -> list:
    """``right`` of each element, leaving out ``None``: what every projection collects."""
    collected = []
    for element in elements:
        current = right(element, fn)
        if current is not None:
            collected.append(current)
    return collected


def _filter_projection(_node: dict, children: list[Node]) -> Node:
    left, right, condition = children

    def filter_projection(value: Any, fn: Any) -> Any:
        base = left(value, fn)
        if not isinstance(base, list):
            return None
        return _project((e for e in base if not _is_false(condition(e, fn))), right, fn)
    return filter_projection


def _flatten(_node: dict, children: list[Node]) -> Node:
    (inner,) = children

    def flatten(value: Any, fn: Any) -> Any:
        base = inner(value, fn)
        if not isinstance(base, list):
            return None
        merged: list = []
        for element in base:
            if isinstance(element, list):
                merged.extend(element)
            else:
                merged.append(element)
        return merged
    return flatten


def _index(node: dict, _children: list[Node]) -> Node:
    at = node["value"]

    def index(value: Any, fn: Any) -> Any:
        if not isinstance(value, list):
            return None
        try:
            return value[at]
        except IndexError:
            return None
    return index


def _slice(node: dict, _children: list[Node]) -> Node:
    part = slice(*node["children"])
    return lambda value, fn: value[part] if isinstance(value, list) else None


def _literal(node: dict, _children: list[Node]) -> Node:
    constant = node["value"]
    return lambda value, fn: constant


def _multi_select_dict(node: dict, children: list[Node]) -> Node:
    pairs = [(child["value"], compiled) for child, compiled in zip(node["children"], children)]

    def multi_select_dict(value: Any, fn: Any) -> Any:
        if value is None:
            return None
        return {name: compiled(value, fn) for name, compiled in pairs}
    return multi_select_dict


def _multi_select_list(_node: dict, children: list[Node]) -> Node:
    def multi_select_list(value: Any, fn: Any) -> Any:
        if value is None:
            return None
        return [child(value, fn) for child in children]
    return multi_select_list


def _or(_node: dict, children: list[Node]) -> Node:
    left, right = children

    def or_expression(value: Any, fn: Any) -> Any:
        matched = left(value, fn)
        return right(value, fn) if _is_false(matched) else matched
    return or_expression


def _and(_node: dict, children: list[Node]) -> Node:
    left, right = children

    def and_expression(value: Any, fn: Any) -> Any:
        matched = left(value, fn)
        return matched if _is_false(matched) else right(value, fn)
    return and_expression


def _not(_node: dict, children: list[Node]) -> Node:
    (inner,) = children

    def not_expression(value: Any, fn: Any) -> Any:
        original = inner(value, fn)
        if _is_actual_number(original) and original == 0:
            return False  # !0 is false: 0 is not falsy in JMESPath
        return not original
    return not_expression


def _projection(_node: dict, children: list[Node]) -> Node:
    left, right = children

    def projection(value: Any, fn: Any) -> Any:
        base = left(value, fn)
        return _project(base, right, fn) if isinstance(base, list) else None
    return projection


def _value_projection(_node: dict, children: list[Node]) -> Node:
    left, right = children

    def value_projection(value: Any, fn: Any) -> Any:
        base = left(value, fn)
        try:
            base = base.values()
        except AttributeError:
            return None
        return _project(base, right, fn)
    return value_projection


_BUILDERS: dict[str, Callable[[dict, list[Node]], Node]] = {
    "subexpression": lambda node, children: _chain(children),
    "index_expression": lambda node, children: _chain(children),
    "pipe": lambda node, children: _chain(children),
    "field": _field,
    "comparator": _comparator,
    "current": _current,
    "identity": _current,
    "expref": _expref,
    "function_expression": _function,
    "filter_projection": _filter_projection,
    "flatten": _flatten,
    "index": _index,
    "slice": _slice,
    "key_val_pair": lambda node, children: children[0],
    "literal": _literal,
    "multi_select_dict": _multi_select_dict,
    "multi_select_list": _multi_select_list,
    "or_expression": _or,
    "and_expression": _and,
    "not_expression": _not,
    "projection": _projection,
    "value_projection": _value_projection,
}

#: Node types whose ``children`` are not nodes.
_LEAVES = frozenset({"field", "index", "slice", "literal", "current", "identity"})


def _interpreted(node: dict) -> Node:
    """A node type this module does not know: JMESPath's own interpreter evaluates it."""
    def interpreted(value: Any, fn: Any) -> Any:
        return TreeInterpreter(Options(custom_functions=fn)).visit(node, value)
    return interpreted


def _compile(node: dict) -> Node:
    builder = _BUILDERS.get(node["type"])
    if builder is None:
        return _interpreted(node)
    children = [] if node["type"] in _LEAVES else [_compile(child) for child in node.get("children", [])]
    return builder(node, children)


class Query:
    """A compiled query: ``search(data, options)`` as ``jmespath.compile(text).search`` gives it."""

    def __init__(self, text: str) -> None:
        self.expression = text
        self.parsed = jmespath.compile(text).parsed  # raises JMESPath's ParseError
        self._run = _compile(self.parsed)

    def search(self, value: Any, options: Options | None = None) -> Any:
        if options is not None and options.dict_cls is not None:
            return jmespath.compile(self.expression).search(value, options=options)
        functions = options.custom_functions if options is not None and options.custom_functions else None
        return self._run(value, functions or _DEFAULT_FUNCTIONS)


_DEFAULT_FUNCTIONS = jfunctions.Functions()


def compile_query(text: str) -> Query:
    """``text`` compiled once; an invalid query raises JMESPath's ``ParseError``."""
    return Query(text)
