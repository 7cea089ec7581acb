"""Safe parsing of XML, JSON and YAML, keeping the line of every object.

Loaders call these and nothing else to turn bytes into data, so that every input gets the
same protections: no DTDs or entities (XXE, billion laughs), bounded nesting, strict UTF-8,
and one :class:`~policykit.errors.InputError` naming the file, zip entry and line.

Lines are kept in a side table (``Parsed.line_of``) keyed by the identity of each dict or
list, so the data itself stays plain JSON-like values that JMESPath accepts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from lxml import etree

from .errors import InputError

#: Deepest nesting accepted in JSON and YAML (real exports stay well below 64).
MAX_DEPTH = 200

_DTD_MARKERS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass
class Parsed:
    """A parsed document and the line where each of its dicts and lists starts."""

    value: Any
    lines: dict[int, int] = field(default_factory=dict)
    key_lines: dict[tuple[int, str], int] = field(default_factory=dict)  # YAML only

    def line_of(self, node: Any, default: int | None = None) -> int | None:
        return self.lines.get(id(node), default)

    def key_line(self, mapping: dict, key: str) -> int | None:
        """Line of ``key`` in ``mapping`` (YAML), else of its value, else of the mapping."""
        return (self.key_lines.get((id(mapping), key)) or self.line_of(mapping.get(key))
                or self.line_of(mapping))


def decode_text(data: bytes, file: str | None = None, entry: str | None = None) -> str:
    """Decode UTF-8 text, with or without a BOM; refuse empty or non-UTF-8 input."""
    if not data.strip():
        raise InputError("file is empty", file=file, entry=entry)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            file=file, line=line, entry=entry,
        ) from None


# --------------------------------------------------------------------------- XML

def _xml_parser() -> etree.XMLParser:
    # Entity resolution, DTD loading and network access off; huge_tree off keeps libxml2's
    # own limits on depth and text size.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_blank_text=False,
    )


def parse_xml(data: bytes, file: str | None = None, entry: str | None = None) -> etree._Element:
    """Parse XML bytes (so the declaration's encoding is honoured) and return the root."""
    if not data.strip():
        raise InputError("file is empty", file=file, entry=entry)
    match = _DTD_MARKERS.search(data[:65536]) or _DTD_MARKERS.search(data)
    if match:
        line = data[: match.start()].count(b"\n") + 1
        raise InputError(
            "XML with a DTD or entity declaration is refused (XXE / entity expansion)",
            file=file, line=line, entry=entry,
        )
    try:
        root = etree.fromstring(data, parser=_xml_parser())
    except etree.XMLSyntaxError as exc:
        msg = exc.msg if hasattr(exc, "msg") and exc.msg else str(exc)
        line = exc.lineno if exc.lineno else None
        raise InputError(f"malformed XML: {msg}", file=file, line=line, entry=entry) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"malformed XML: {exc}", file=file, entry=entry) from None
    return root


# --------------------------------------------------------------------------- JSON

# A string literal (with the colon that makes it a key), or a character that matters for positions.
_JSON_TOKENS = re.compile(r'"((?:[^"\\\n]|\\.)*)"(\s*:)?|[{}\[\]\n]')


def _scan_positions(text: str, file: str | None, entry: str | None) -> tuple[list[int], list[list[tuple[str, int]]]]:
    """Lines of every ``{``/``[`` in document order, and for each the (raw key, line) pairs it holds.

    One regular-expression pass: cheap enough for every file, so no second parse is needed to
    point a finding at the line of a key. Refuses nesting deeper than MAX_DEPTH.
    """
    lines: list[int] = []
    keys: list[list[tuple[str, int]]] = []
    stack: list[int] = []
    line = 1
    for match in _JSON_TOKENS.finditer(text):
        tok = match.group()
        if tok == "\n":
            line += 1
        elif tok in "{[":
            if len(stack) >= MAX_DEPTH:
                raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels", file=file, line=line, entry=entry)
            stack.append(len(lines))
            lines.append(line)
            keys.append([])
        elif tok in "}]":
            if stack:
                stack.pop()
        elif match.group(2) and stack:
            keys[stack[-1]].append((match.group(1), line))
    return lines, keys


def _preorder(value: Any, out: list[Any]) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            out.append(node)
            stack.extend(reversed([v for v in node.values() if isinstance(v, (dict, list))]))
        elif isinstance(node, list):
            out.append(node)
            stack.extend(reversed([v for v in node if isinstance(v, (dict, list))]))


def parse_json(data: bytes, file: str | None = None, entry: str | None = None) -> Parsed:
    """Parse JSON and record the line where each object and array starts."""
    text = decode_text(data, file, entry)
    lines, keys = _scan_positions(text, file, entry)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", file=file, line=exc.lineno, entry=entry) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", file=file, entry=entry) from None
    nodes: list[Any] = []
    _preorder(value, nodes)
    parsed = Parsed(value)
    # Duplicate keys make the parsed tree smaller than the text; then lines are unknown
    # rather than wrong.
    if len(nodes) == len(lines):
        parsed.lines = {id(node): ln for node, ln in zip(nodes, lines)}
        for node, pairs in zip(nodes, keys):
            if isinstance(node, dict) and len(pairs) == len(node):
                # Raw keys may hold escapes; json.loads decoded them in the same order.
                parsed.key_lines.update({(id(node), k): ln for k, (_raw, ln) in zip(node, pairs)})
    return parsed


# --------------------------------------------------------------------------- YAML

class _LineLoader(yaml.SafeLoader):
    """Safe loader (no Python object tags) that refuses aliases and records lines."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.node_lines: dict[int, int] = {}
        self.key_lines: dict[tuple[int, str], int] = {}
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise InputError("YAML aliases are not supported", line=event.start_mark.line + 1)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise InputError(f"YAML nested deeper than {MAX_DEPTH} levels", line=self.peek_event().start_mark.line + 1)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):  # type: ignore[override]
        obj = super().construct_object(node, deep=deep)
        if isinstance(obj, (dict, list)):
            self.node_lines[id(obj)] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                self.key_lines[(id(obj), str(key_node.value))] = key_node.start_mark.line + 1
        return obj


def _plain(value: Any) -> Any:
    """YAML timestamps and the like become strings: the document holds JSON values only."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    return str(value)


def parse_yaml(data: bytes, file: str | None = None, entry: str | None = None) -> Parsed:
    """Parse one YAML document safely, recording the line of each mapping and sequence."""
    text = decode_text(data, file, entry)
    loader = None
    try:
        loader = _LineLoader(text)  # the reader already rejects control characters here
        value = loader.get_single_data()
    except InputError as exc:
        raise exc.located(file, entry) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"malformed YAML: {problem}", file=file, line=line, entry=entry) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise InputError(f"malformed YAML: {exc.reason} (character #x{exc.character:04x})"
                         if isinstance(exc.character, int) else f"malformed YAML: {exc.reason}",
                         file=file, line=line, entry=entry) from None
    except yaml.YAMLError as exc:
        raise InputError(f"malformed YAML: {exc}", file=file, entry=entry) from None
    except RecursionError:
        raise InputError("YAML nested too deeply", file=file, entry=entry) from None
    finally:
        if loader is not None:
            loader.dispose()
    lines = loader.node_lines
    key_lines = loader.key_lines
    # Convert scalars that are not JSON values (dates) in place, keeping dict/list identity.
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k in list(node):
                v = node[k]
                if isinstance(v, (dict, list)):
                    stack.append(v)
                else:
                    node[k] = _plain(v)
                if not isinstance(k, str):
                    node[str(k)] = node.pop(k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    stack.append(v)
                else:
                    node[i] = _plain(v)
    return Parsed(value, lines, key_lines)


def parse_by_suffix(data: bytes, name: str, file: str | None = None, entry: str | None = None) -> Parsed:
    """Parse JSON or YAML by the file name's suffix."""
    if name.lower().endswith((".yaml", ".yml")):
        return parse_yaml(data, file, entry)
    return parse_json(data, file, entry)
