"""Rule queries run as compiled closures (policykit/query.py): every result and every error is the
one JMESPath's own interpreter gives — on the rules' real queries over real documents, and on
generated queries over values chosen for JMESPath's quirks (0 and 1 against booleans, empty
strings, lists and objects, null, nested lists, numbers against strings)."""

from __future__ import annotations

import re

import jmespath
import pytest
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from jmespath.exceptions import JMESPathError

from policykit.engine import effective_parameters, options_for
from policykit.query import compile_query
from policykit.scanner import build, load_estate


def both(query: str, data, options=None):
    """(ours, JMESPath's): each a result, or the error's type and text."""
    out = []
    for search in (compile_query(query).search, jmespath.compile(query).search):
        try:
            out.append(("ok", search(data, options=options)))
        except Exception as exc:  # noqa: BLE001 -- JMESPath's own TypeErrors (merge of a list) too
            out.append((type(exc).__name__, re.sub(r" at 0x[0-9a-f]+", "", str(exc))))
    return out


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    import os
    here = os.getcwd()
    os.chdir(REPO)
    try:
        return build(load_estate(REPO / "examples/lunch-order/policykit.yaml"), entry_points=False)
    finally:
        os.chdir(here)


def test_every_rule_query_finds_what_jmespath_finds(example):
    """Each built-in rule's query, key and location, over the example's document, with its parameters."""
    compared = 0
    for rule in example.rules:
        options = options_for(example.functions, effective_parameters(rule, example.policy))
        ours, theirs = both(rule.query, example.document, options)
        assert ours == theirs, rule.id
        for obj in theirs[1] if theirs[0] == "ok" and isinstance(theirs[1], list) else []:
            assert both(rule.key, obj, options)[0] == both(rule.key, obj, options)[1], rule.id
            assert both(rule.location, obj, options)[0] == both(rule.location, obj, options)[1], rule.id
            compared += 1
    assert compared >= 9  # the example's findings


DATA = {
    "a": [0, 1, True, False, None, "", "x", [], {}, [1, [2, [3]]], {"k": 0}, 2.5, -1],
    "b": {"x": {"y": [{"n": 1, "s": "a"}, {"n": 0, "s": ""}, {"n": None}, {"s": "b", "t": [1, 2]}]},
          "z": [[1, 2], [3], 4, [], None], "e": "", "t": True, "f": False, "zero": 0, "one": 1},
    "c": [{"v": True}, {"v": 1}, {"v": 0}, {"v": False}, {"v": "1"}, {"v": []}, {}],
}

_FIELD = st.sampled_from(["a", "b", "c", "x", "y", "n", "s", "t", "z", "e", "f", "zero", "one", "k", "v", "missing"])
_LITERAL = st.sampled_from(["`0`", "`1`", "`true`", "`false`", "`null`", "`\"\"`", "`[]`", "`{}`", "'x'",
                            "`2`", "`[1, 2]`", "'a'", "`-1`"])


def _expressions():
    leaf = st.one_of(_FIELD, _LITERAL, st.just("@"))

    def extend(inner):
        return st.one_of(
            st.tuples(inner, _FIELD).map(lambda t: f"{t[0]}.{t[1]}"),
            st.tuples(inner, inner, st.sampled_from(["==", "!=", "<", ">", "<=", ">="])).map(
                lambda t: f"({t[0]} {t[2]} {t[1]})"),
            st.tuples(inner, inner, st.sampled_from(["||", "&&"])).map(lambda t: f"({t[0]} {t[2]} {t[1]})"),
            inner.map(lambda e: f"!({e})"),
            inner.map(lambda e: f"({e})[]"),
            inner.map(lambda e: f"({e})[*]"),
            inner.map(lambda e: f"({e}).*"),
            st.tuples(inner, st.integers(-3, 3)).map(lambda t: f"({t[0]})[{t[1]}]"),
            inner.map(lambda e: f"({e})[1:]"),
            inner.map(lambda e: f"({e})[::-1]"),
            st.tuples(inner, inner).map(lambda t: f"({t[0]})[?{t[1]}]"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]} | {t[1]}"),
            st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}]"),
            st.tuples(inner, inner).map(lambda t: f"{{p: {t[0]}, q: {t[1]}}}"),
            st.tuples(st.sampled_from(["length", "type", "not_null", "to_string", "keys", "values",
                                       "sort", "reverse", "max", "sum", "to_array", "lower",
                                       "contains_ci", "unique"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"contains({t[0]}, {t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"merge({t[0]}, {t[1]})"),
            inner.map(lambda e: f"sort_by(c, &to_string({e}))"),
            inner.map(lambda e: f"map(&{e}, c)"),
        )
    return st.recursive(leaf, extend, max_leaves=6)


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # the nested strategy's own repr
@settings(max_examples=1500, deadline=None)
@given(query=_expressions())
def test_generated_queries_give_jmespath_results_and_errors(query):
    from policykit.functions import BaseFunctions
    try:
        jmespath.compile(query)
    except JMESPathError:
        return
    functions = BaseFunctions()
    ours, theirs = both(query, DATA, jmespath.Options(custom_functions=functions))
    if ours[0] == "ok" and theirs[0] == "ok":
        assert ours[1] == theirs[1] and repr(ours[1]) == repr(theirs[1]), query
    else:
        assert ours == theirs, query


def test_expref_is_typed_as_jmespath_types_it():
    """``&expr`` is an ``expref`` to the functions' type checks: sort_by takes it, length refuses it."""
    assert compile_query("sort_by(c, &to_string(v))[].v").search(DATA) == \
        jmespath.search("sort_by(c, &to_string(v))[].v", DATA)
    ours, theirs = both("length(&a)", DATA)
    assert ours == theirs and ours[0] == "JMESPathTypeError"
