"""Check hand-written YAML against a JSON Schema, naming the file, the key and its line.

PolicyKit ships JSON Schemas for the files people write (``policykit/rule_schema.json`` for
``rule.yaml``); editors use them for completion, and this module checks files against them with
the subset of JSON Schema 2020-12 they use: ``type``, ``properties``, ``required``,
``additionalProperties``, ``propertyNames``, ``items``, ``enum``, ``const``, ``pattern``,
``minLength``, ``maxLength``, ``minimum``, ``maximum`` and local ``$ref``. The patterns are the
schema's own (trusted), so Python's ``re`` runs them.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from .errors import PolicyError
from .parsing import Parsed

__all__ = ["check_schema", "load_schema"]

_TYPES = {"object": dict, "array": list, "string": str, "number": (int, float), "integer": int,
          "boolean": bool, "null": type(None)}


def load_schema(name: str) -> dict[str, Any]:
    """A schema shipped in the ``policykit`` package, by file name."""
    return json.loads(resources.files("policykit").joinpath(name).read_text(encoding="utf-8"))


class _Checker:
    def __init__(self, root: dict[str, Any], parsed: Parsed, file: str) -> None:
        self.root, self.parsed, self.file = root, parsed, file

    def fail(self, where: str, problem: str, line: int | None) -> None:
        raise PolicyError(f"{where} {problem}", file=self.file, line=line or 1)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            schema = self.root["$defs"][ref.rsplit("/", 1)[1]]
        return schema

    def check(self, value: Any, schema: dict[str, Any], where: str, line: int | None) -> None:
        schema = self.resolve(schema)
        line = self.parsed.line_of(value) or line
        self.check_type(value, schema, where, line)
        if "enum" in schema and value not in schema["enum"]:
            self.fail(where, f"must be one of {', '.join(map(str, schema['enum']))} (got {value!r})", line)
        if "const" in schema and value != schema["const"]:
            self.fail(where, f"must be {schema['const']!r}", line)
        if isinstance(value, str):
            self.check_string(value, schema, where, line)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.check_number(value, schema, where, line)
        elif isinstance(value, dict):
            self.check_object(value, schema, where, line)
        elif isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                self.check(item, schema["items"], f"{where}[{i}]", self.parsed.item_line(value, i) or line)

    def check_type(self, value: Any, schema: dict[str, Any], where: str, line: int | None) -> None:
        if "type" not in schema:
            return
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        for name in names:
            wanted = _TYPES[name]
            if isinstance(value, wanted) and (not isinstance(value, bool) or name == "boolean"):
                return
        shown = {"object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
                 "integer": "a whole number", "boolean": "true/false", "null": "null"}
        self.fail(where, f"must be {' or '.join(shown[n] for n in names)}", line)

    def check_string(self, value: str, schema: dict[str, Any], where: str, line: int | None) -> None:
        if len(value) < schema.get("minLength", 0):
            self.fail(where, "must not be empty", line)
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.fail(where, f"must be at most {schema['maxLength']} characters", line)
        if "pattern" in schema and not re.search(schema["pattern"], value):
            self.fail(where, f"must match {schema['pattern']} (got {value!r})", line)

    def check_number(self, value: float, schema: dict[str, Any], where: str, line: int | None) -> None:
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(where, f"must be from {low} to {high}", line)

    def check_object(self, value: dict, schema: dict[str, Any], where: str, line: int | None) -> None:
        missing = [k for k in schema.get("required", []) if k not in value]
        if missing:
            self.fail(where, f"lacks {', '.join(missing)}", line)
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            key_line = self.parsed.key_line(value, key) or line
            path = f"{where}.{key}" if where != "the document" else key
            if "propertyNames" in schema:
                self.check(key, schema["propertyNames"], f"the name {key!r} in {where}", key_line)
            if key in props:
                self.check(item, props[key], path, key_line)
            elif extra is False:
                known = ", ".join(sorted(props))
                self.fail(f"unknown key '{key}' in", f"{where} (known keys: {known})", key_line)
            elif isinstance(extra, dict):
                self.check(item, extra, path, key_line)


def check_schema(parsed: Parsed, schema: dict[str, Any], file: str) -> None:
    """Raise :class:`PolicyError` (file, line, key path) where ``parsed.value`` breaks ``schema``."""
    _Checker(schema, parsed, file).check(parsed.value, schema, "the document", 1)
