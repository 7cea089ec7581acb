"""The JMESPath functions every rule can call, evaluated the way the engine evaluates a query."""

from __future__ import annotations

import jmespath

from policykit.functions import BaseFunctions


def search(query: str, data: dict, **parameters) -> object:
    functions = BaseFunctions()
    functions.parameters = parameters
    return jmespath.search(query, data, options=jmespath.Options(custom_functions=functions))


def test_contains_ci_ignores_case_like_the_lowered_projection_it_replaces() -> None:
    roles = {"privileges": [{"name": "prvWriteRole"}, {"name": "PRVREADACCOUNT"}, {"name": None},
                            {"name": "prvcreateuser"}]}
    wanted = ["prvWriteRole", "prvCreateUser", 7]
    fast = search("privileges[?contains_ci(param('p'), name)].name", roles, p=wanted)
    slow = search("privileges[?contains(param('p')[?type(@) == 'string'].lower(@), lower(name))].name",
                  roles, p=wanted)
    assert fast == slow == ["prvWriteRole", "prvcreateuser"]


def test_contains_ci_sees_each_list_as_it_is_now() -> None:
    """The lowered set is remembered per list object, never for a list that no longer holds it."""
    functions = BaseFunctions()
    first = ["A"]
    assert functions._func_contains_ci(first, "a") is True
    del first
    second = ["B"]  # possibly at the address of a freed list: the identity check tells them apart
    assert functions._func_contains_ci(second, "a") is False and functions._func_contains_ci(second, "b")
    assert functions._func_contains_ci([], None) is False


def test_unique_keeps_the_first_of_equal_values_in_order() -> None:
    owner = {"key": "PRD/svc@contoso.com", "roles": [{"name": "Basic User"}]}
    twin = {"key": "PRD/svc@contoso.com", "roles": [{"name": "Basic User"}]}  # equal, not the same object
    other = {"key": "PRD/svc@contoso.com", "roles": []}                       # same key, different value
    values = [owner, owner, 1, True, 1.0, "1", twin, other, [1], [1], None, None, owner]
    assert search("unique(@)", values) == [owner, 1, True, 1.0, "1", other, [1], None]
    assert search("unique(@)", values)[0] is owner


def test_compiled_argument_checks_keep_jmespath_errors_and_results() -> None:
    """The argument check is compiled once per function; what it does not accept goes through
    JMESPath's own check, so every error is the one plain JMESPath raises."""
    import pytest
    from jmespath import exceptions

    data = {"names": ["b", "a"], "nums": [3, 1], "mixed": [1, "a"], "flag": True, "obj": {"x": 1}}
    plain = jmespath.Options()
    same = ["sort(names)", "sort(nums)", "max(nums)", "length(obj)", "merge(obj, obj, `{\"y\": 2}`)",
            "not_null(missing, flag)", "contains(names, 'a')", "join('-', names)", "keys(obj)",
            "starts_with('abc', 'a')", "to_string(flag)", "type(flag)", "avg(nums)"]
    assert search("lower('AB')", data) == "ab"
    for query in same:
        assert search(query, data) == jmespath.search(query, data, options=plain), query
    wrong = {"sort(mixed)": exceptions.JMESPathTypeError, "length(flag)": exceptions.JMESPathTypeError,
             "abs('a')": exceptions.JMESPathTypeError, "join('-', mixed)": exceptions.JMESPathTypeError,
             "length(names, nums)": exceptions.ArityError, "merge()": exceptions.VariadictArityError,
             "lower(`1`)": exceptions.JMESPathTypeError, "nope(names)": exceptions.UnknownFunctionError}
    for query, error in wrong.items():
        with pytest.raises(error) as ours:
            search(query, data)
        if query != "lower(`1`)":  # lower is PolicyKit's own function
            with pytest.raises(error) as theirs:
                jmespath.search(query, data, options=plain)
            assert str(ours.value) == str(theirs.value), query
