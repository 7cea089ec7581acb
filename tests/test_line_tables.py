"""Line tables of parsed files: what each finding's ``source`` line comes from.

JSON: objects' and arrays' lines are kept, keys' lines are found when asked for (from the object's
first key and the sizes of the values before it). Held here to the plain rule they replace: the
n-th object or array of a walk in document order is the n-th bracket of the text, the n-th key the
n-th key. YAML: libyaml's parser (C) and PyYAML's (Python) give the same values and lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import CORPUS, REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from policykit import parsing
from policykit.parsing import parse_json, parse_yaml

# --------------------------------------------------------------------------- JSON


def _reference(value, container_lines, key_lines) -> dict[tuple, int]:
    """Path → line, by the plain rule: every container and key, in document order."""
    out: dict[tuple, int] = {}
    containers, keys = iter(container_lines), iter(key_lines)

    def walk(node, path):
        out[path] = next(containers)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for name, child in items:
            if isinstance(node, dict):
                out[(*path, ("key", name))] = next(keys)
            if isinstance(child, (dict, list)):
                walk(child, (*path, name))
    if isinstance(value, (dict, list)):
        walk(value, ())
    return out


def _ours(parsed) -> dict[tuple, int]:
    out: dict[tuple, int] = {}

    def walk(node, path):
        out[path] = parsed.line_of(node)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for name, child in items:
            if isinstance(node, dict):
                out[(*path, ("key", name))] = parsed.json_lines.key_line(node, name)
            if isinstance(child, (dict, list)):
                walk(child, (*path, name))
    if isinstance(parsed.value, (dict, list)):
        walk(parsed.value, ())
    return out


_KEYS = st.sampled_from(["a", "b", "name", "value", "é", 'q"uote', "{[", "x y"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "s", "}", "[", "\\"]))
_TREES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5),
    st.dictionaries(_KEYS, inner, max_size=5),
    st.lists(st.dictionaries(_KEYS, _SCALARS, max_size=4), max_size=4),  # rows of an export
), max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(tree=_TREES, indent=st.sampled_from([None, 1, 2, 4]))
def test_json_lines_follow_document_order(tree, indent):
    text = json.dumps(tree, indent=indent, ensure_ascii=indent == 4)
    parsed = parse_json(text.encode())
    container_lines, key_lines = parsing._scan_positions(text, None, None)
    if isinstance(tree, (dict, list)):
        assert parsed.json_lines is not None
        assert _ours(parsed) == _reference(parsed.value, container_lines, key_lines)


def test_a_changed_object_has_no_key_lines_rather_than_wrong_ones():
    parsed = parse_json(b'{\n "a": 1,\n "b": {\n  "c": 2\n },\n "d": 3\n}\n')
    root = parsed.value
    assert [parsed.key_line(root, k) for k in "abd"] == [2, 3, 6]
    fresh = parse_json(b'{\n "a": 1,\n "b": {\n  "c": 2\n },\n "d": 3\n}\n')
    del fresh.value["a"]
    assert fresh.json_lines.key_line(fresh.value, "d") is None
    assert fresh.key_line(fresh.value, "d") == 1  # falls back to the object's own line


# --------------------------------------------------------------------------- YAML


def _yaml_files() -> list[Path]:
    roots = [REPO / "rules", REPO / "examples", REPO / "tests" / "data", REPO / "docs"]
    found = [p for root in roots if root.is_dir() for p in root.rglob("*") if p.suffix in (".yaml", ".yml")]
    if CORPUS.is_dir():
        found += [p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml")][:200]
    return sorted(found)


def _tables(parsed) -> tuple:
    """Values and every line, by path: comparable between two parses (ids differ)."""
    out = []

    def walk(node, path):
        out.append((path, parsed.line_of(node)))
        if isinstance(node, dict):
            for name, child in node.items():
                out.append(((*path, "key", name), parsed.key_line(node, name)))
                walk(child, (*path, name))
        elif isinstance(node, list):
            for i, child in enumerate(node):
                out.append(((*path, "item", i), parsed.item_line(node, i)))
                walk(child, (*path, i))
    walk(parsed.value, ())
    return parsed.value, out


def _python_parse(text: str):
    loader = parsing._LineLoader(text)
    try:
        value = loader.get_single_data()
    finally:
        loader.dispose()
    return parsing.Parsed(value, loader.node_lines, loader.key_lines, loader.item_lines)


@pytest.mark.skipif(parsing._FastLineLoader is None, reason="PyYAML without libyaml")
def test_libyaml_and_python_parse_every_yaml_file_alike():
    files = _yaml_files()
    assert len(files) >= 37  # every rule.yaml at least
    compared = 0
    for path in files:
        text = path.read_text(encoding="utf-8-sig")
        fast = parsing._fast_yaml(text)
        try:
            slow = _python_parse(text)
        except Exception:  # noqa: BLE001 -- a file the Python loader refuses: libyaml must too
            assert fast is None, path
            continue
        assert fast is not None, path
        assert _tables(fast) == _tables(slow), path
        compared += 1
    assert compared >= 37


@pytest.mark.skipif(parsing._FastLineLoader is None, reason="PyYAML without libyaml")
@settings(max_examples=300, deadline=None)
@given(tree=_TREES, flow=st.sampled_from([None, True, False]), edit=st.sampled_from(
    ["", "\n", "# note\n", "a: &x 1\nb: *x\n", "k: !!str 1\n", "k: 1\nk: 2\n", "<<: {a: 1}\n", "\t- x\n", "'a\n"]))
def test_libyaml_and_python_agree_on_values_lines_and_refusals(tree, flow, edit):
    text = yaml.safe_dump({"root": tree}, default_flow_style=flow, allow_unicode=True) + edit
    fast = parsing._fast_yaml(text)
    try:
        slow = _python_parse(text)
    except Exception:  # noqa: BLE001 -- refused by the Python loader: the fast path hands it over
        assert fast is None
        with pytest.raises(parsing.InputError):
            parse_yaml(text.encode())
        return
    assert fast is not None
    assert _tables(fast) == _tables(slow)
