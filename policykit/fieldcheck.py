"""Check the fields a JMESPath query reads against the document's JSON Schema.

JMESPath reads a misspelled field as null, so ``bindngs`` makes a rule silently find nothing.
:func:`unknown_fields` walks the query's syntax tree alongside ``docs/document.schema.json``
(plus the fields plugins declare through ``policykit_document_fields``) and reports every field
read on an object whose fields the schema lists, that the schema does not list, and every field
read on a list (always null: a projection ``[]`` is missing). Where the shape is unknown (a
function result, a literal, an object the schema leaves open) nothing more is checked: the check
never rejects a query for what it cannot know.
"""

from __future__ import annotations

import copy
import difflib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jmespath.parser

__all__ = ["document_schema", "unknown_fields"]

Schema = dict[str, Any] | None   # None: unknown shape
_ARRAY_KEEPING = {"sort_by", "reverse", "sort", "unique", "difference"}
_ELEMENT_OF_FIRST = {"max_by", "min_by"}


def document_schema(extra: list[dict[str, dict[str, Any]] | None] = ()) -> dict[str, Any]:
    """``docs/document.schema.json`` (packaged as ``policykit/document.schema.json``), with the
    fields plugins add: ``{definition: {field: schema}}``, definition a ``$defs`` name or
    ``document`` for the top level."""
    packaged = resources.files("policykit").joinpath("document.schema.json")
    if packaged.is_file():
        schema = json.loads(packaged.read_text(encoding="utf-8"))
    else:
        source = Path(__file__).resolve().parent.parent / "docs" / "document.schema.json"
        schema = json.loads(source.read_text(encoding="utf-8"))
    schema = copy.deepcopy(schema)
    for added in extra:
        for definition, fields in (added or {}).items():
            target = schema if definition == "document" else schema["$defs"].setdefault(definition, {"type": "object"})
            target.setdefault("properties", {}).update(fields)
    return schema


class _Walker:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.problems: list[str] = []

    # ------------------------------------------------------------------ schema helpers

    def resolve(self, schema: Schema) -> Schema:
        for _ in range(20):
            if not schema:
                return None
            if "$ref" in schema:
                schema = self.root["$defs"].get(schema["$ref"].rsplit("/", 1)[1])
                continue
            options = schema.get("anyOf") or schema.get("oneOf")
            if options:
                real = [o for o in options if self.resolve(o) and self.resolve(o).get("type") != "null"]
                schema = real[0] if len(real) == 1 else None
                continue
            return schema
        return None

    def kind(self, schema: Schema) -> str | None:
        schema = self.resolve(schema)
        if schema is None:
            return None
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        if "array" in types or "items" in schema:
            return "array" if "object" not in types else None
        if "object" in types or "properties" in schema or "required" in schema:
            return "object"
        return None

    def fields(self, schema: Schema) -> dict[str, Schema] | None:
        """The fields an object schema lists (None: open or unknown)."""
        schema = self.resolve(schema)
        if self.kind(schema) != "object" or schema.get("additionalProperties") not in (None, False):
            return None
        listed = {name: None for name in schema.get("required", [])}
        listed.update(schema.get("properties", {}))
        return listed or None

    def items(self, schema: Schema) -> Schema:
        schema = self.resolve(schema)
        return schema.get("items") if schema and self.kind(schema) == "array" else None

    # ------------------------------------------------------------------ the walk

    def field(self, name: str, current: Schema, where: str) -> Schema:
        shown = f"{where}.{name}" if where else name
        if self.kind(current) == "array":
            self.problems.append(f"'{shown}' reads a field of a list, which is always null "
                                 f"(project it: '{where}[].{name}')")
            return None
        known = self.fields(current)
        if known is None:
            return None
        if name not in known:
            close = difflib.get_close_matches(name, list(known), 1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.problems.append(f"'{shown}': the document has no field '{name}' here{hint}")
            return None
        return known[name] or None

    def walk(self, node: dict, current: Schema, where: str) -> Schema:
        kind = node["type"]
        handler = getattr(self, f"_{kind}", None)
        if handler is not None:
            return handler(node, current, where)
        for child in node.get("children", []):
            self.walk(child, current, where)
        return None

    def _field(self, node: dict, current: Schema, where: str) -> Schema:
        return self.field(node["value"], current, where)

    def _current(self, node: dict, current: Schema, where: str) -> Schema:
        return current

    _identity = _current

    def _subexpression(self, node: dict, current: Schema, where: str) -> Schema:
        left, right = node["children"]
        return self.walk(right, self.walk(left, current, where), _path(where, left))

    def _pipe(self, node: dict, current: Schema, where: str) -> Schema:
        left, right = node["children"]
        return self.walk(right, self.walk(left, current, where), _path(where, left))

    def _index_expression(self, node: dict, current: Schema, where: str) -> Schema:
        left, right = node["children"]
        value = self.walk(left, current, where)
        return self.items(value) if right["type"] == "index" else value

    def _flatten(self, node: dict, current: Schema, where: str) -> Schema:
        value = self.walk(node["children"][0], current, where)
        inner = self.items(value)
        if self.kind(inner) == "array":
            return inner
        return value if self.kind(value) == "array" else None

    def _projection(self, node: dict, current: Schema, where: str) -> Schema:
        left, right = node["children"]
        element = self.items(self.walk(left, current, where))
        return _array_of(self.walk(right, element, _projected(_path(where, left))))

    def _filter_projection(self, node: dict, current: Schema, where: str) -> Schema:
        left, right, condition = node["children"]
        element = self.items(self.walk(left, current, where))
        inside = _projected(_path(where, left))
        self.walk(condition, element, inside)
        return _array_of(self.walk(right, element, inside))

    def _value_projection(self, node: dict, current: Schema, where: str) -> Schema:
        left, right = node["children"]
        self.walk(left, current, where)
        self.walk(right, None, where)
        return None

    def _multi_select_dict(self, node: dict, current: Schema, where: str) -> Schema:
        props = {pair["value"]: self.walk(pair["children"][0], current, where) for pair in node["children"]}
        return {"type": "object", "properties": props}

    def _function_expression(self, node: dict, current: Schema, where: str) -> Schema:
        name, args = node["value"], node["children"]
        if name in ("sort_by", "max_by", "min_by") and len(args) == 2:
            array = self.walk(args[0], current, where)
            self.walk(args[1]["children"][0], self.items(array), where + "[]")
            return array if name == "sort_by" else self.items(array)
        if name == "map" and len(args) == 2:
            array = self.walk(args[1], current, where)
            return _array_of(self.walk(args[0]["children"][0], self.items(array), where + "[]"))
        values = [self.walk(a["children"][0], None, where) if a["type"] == "expref" else self.walk(a, current, where)
                  for a in args]
        return self._function_result(name, values)

    def _function_result(self, name: str, values: list[Schema]) -> Schema:
        if name in _ARRAY_KEEPING and values:
            return values[0]
        if name in _ELEMENT_OF_FIRST and values:
            return self.items(values[0])
        if name == "merge":
            return self._merged(values)
        if name == "merge_each" and len(values) == 2:
            return _array_of(self._merged([self.items(values[0]), values[1]]))
        return None

    def _merged(self, values: list[Schema]) -> Schema:
        props: dict[str, Schema] = {}
        for value in values:
            known = self.fields(value)
            if known is None:
                return None
            props.update(known)
        return {"type": "object", "properties": props}


def _array_of(schema: Schema) -> dict[str, Any]:
    return {"type": "array", "items": schema} if schema is not None else {"type": "array"}


def _projected(path: str) -> str:
    return path if path.endswith("[]") else path + "[]"


def _path(where: str, node: dict) -> str:
    """A readable path for messages: the fields read so far."""
    if node["type"] == "field":
        return f"{where}.{node['value']}" if where else node["value"]
    if node["type"] in ("subexpression", "index_expression", "projection", "filter_projection", "flatten"):
        inner = _path(where, node["children"][0])
        return inner if node["type"] == "subexpression" else _projected(inner)
    return where


def unknown_fields(query: str, schema: dict[str, Any], start: str | None = None) -> list[str]:
    """Problems with the fields ``query`` reads, run on the document (or on ``start``, a ``$defs``
    name: a rule's ``key`` and ``location`` run on each object). Invalid JMESPath raises."""
    walker = _Walker(schema)
    root = {"$ref": f"#/$defs/{start}"} if start else schema
    walker.walk(jmespath.parser.Parser().parse(query).parsed, root, start or "")
    return sorted(dict.fromkeys(walker.problems))
