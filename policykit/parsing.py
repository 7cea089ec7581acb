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
from array import array
from itertools import compress, count, repeat
from operator import itemgetter
from dataclasses import dataclass, field
from json.decoder import scanstring as _scanstring
from typing import Any

import yaml
from lxml import etree

from .errors import InputError

#: Deepest nesting accepted in JSON and YAML (real exports stay well below 64).
MAX_DEPTH = 200

_DTD_MARKERS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class _JsonLines:
    """The lines of a parsed JSON tree: each object's and array's, and its keys' on request.

    ``spans`` holds, per container (by ``id``), its line and the range of the text's keys it
    holds, nested ones included: the keys of a JSON text, in order, are the keys of the tree in
    document order (a key, then every key inside its value, then the next key). So a key's line
    is found from its object's first key and the sizes of the values before it, when it is
    asked for: most keys never are, and a table of every key was most of the cost of parsing.
    """

    __slots__ = ("spans", "key_lines", "_tables")

    def __init__(self, spans: dict[int, tuple[int, int, int]], key_lines: array) -> None:
        self.spans = spans
        self.key_lines = key_lines
        self._tables: dict[int, dict[str, int] | None] = {}

    def key_line(self, mapping: dict, key: str) -> int | None:
        span = self.spans.get(id(mapping))
        if span is not None and span[2] - span[1] == len(mapping) and type(mapping) is dict:
            # No object or array among its values: its keys are the text's next ones, in order.
            return self.key_lines[span[1] + list(mapping).index(key)] if key in mapping else None
        table = self._tables.get(id(mapping), False)
        if table is False:
            table = self._tables[id(mapping)] = self._table(mapping)
        return table.get(key) if table is not None else None

    def _table(self, mapping: dict) -> dict[str, int] | None:
        """Each key's line; None when ``mapping`` no longer holds the keys it was parsed with (a
        caller changed it): no line then rather than a wrong one."""
        span = self.spans.get(id(mapping))
        if span is None or type(mapping) is not dict:
            return None
        _line, at, end = span
        table = {}
        for name, value in mapping.items():
            if at >= end:
                return None
            table[name] = self.key_lines[at]
            at += 1
            if type(value) in _CONTAINERS:
                inner = self.spans.get(id(value))
                if inner is None:
                    return None
                at += inner[2] - inner[1]
        return table if at == end else None


_CONTAINERS = frozenset({dict, list})


@dataclass
class Parsed:
    """A parsed document and the line where each of its dicts and lists starts."""

    value: Any
    lines: dict[int, int] = field(default_factory=dict)
    key_lines: dict[tuple[int, str], int] = field(default_factory=dict)
    item_lines: dict[tuple[int, int], int] = field(default_factory=dict)  # YAML only
    json_lines: _JsonLines | None = None  # JSON: lines kept apart, keys found when asked for

    def line_of(self, node: Any, default: int | None = None) -> int | None:
        if self.json_lines is not None:
            span = self.json_lines.spans.get(id(node))
            return span[0] if span is not None else default
        return self.lines.get(id(node), default)

    def key_line(self, mapping: dict, key: str) -> int | None:
        """Line of ``key`` in ``mapping``, else of its value, else of the mapping."""
        own = (self.json_lines.key_line(mapping, key) if self.json_lines is not None
               else self.key_lines.get((id(mapping), key)))
        return own or self.line_of(mapping.get(key)) or self.line_of(mapping)

    def item_line(self, sequence: list, index: int) -> int | None:
        """Line of item ``index`` of ``sequence`` (YAML), else of the item, else of the sequence."""
        return (self.item_lines.get((id(sequence), index)) or self.line_of(sequence[index])
                or self.line_of(sequence))


def decode_text(data: bytes, file: str | None = None, entry: str | None = None) -> str:
    """Decode UTF-8 text, with or without a BOM; refuse empty or non-UTF-8 input."""
    if not data or data.isspace():  # not data.strip(): no copy of a large file
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
    if not data or data.isspace():
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

# Where the position scan stops: a bracket, or the opening quote of a string (skipped whole).
_JSON_STOPS = re.compile(r'[{}\[\]"]')
# What makes a string a key: optional JSON whitespace, then a colon.
_JSON_COLON = re.compile(r"[ \t\r\n]*:")


def _scan_positions(text: str, file: str | None, entry: str | None,
                    names: bool = False) -> tuple[array, array | list]:
    """The line of every ``{``/``[`` and the line of every key, each in document order; with
    ``names``, (object number, line, key) for every key instead, to name a duplicate key.

    A linear pass that allocates nothing per character of the text and 8 bytes per object and
    per key: a regular expression finds the next bracket or quote, json's C string scanner skips
    each string to its closing quote, and ``str.count`` counts the newlines in between. (The
    former one-regex tokenizer kept a backtracking frame per character of a string: ~136 bytes a
    character, 8 GB for one 60 MB string.) Refuses nesting deeper than MAX_DEPTH.
    """
    lines = array("q")
    keys: array | list = [] if names else array("q")
    stack: list[int] = []
    line, counted, pos = 1, 0, 0
    stops, colon = _JSON_STOPS.search, _JSON_COLON.match
    while (match := stops(text, pos)) is not None:
        at = match.start()
        char = text[at]
        if char == '"':
            try:  # json's own C scanner: linear, and it allocates only the decoded string
                string, pos = _scanstring(text, at + 1)
            except ValueError:
                break  # not a valid string: json.loads names the error
            is_key = colon(text, pos) if stack else None
            if is_key is not None:
                line += text.count("\n", counted, at)
                counted = at
                keys.append((stack[-1], line, string) if names else line)
                pos = is_key.end()
            continue
        pos = at + 1
        if char in "{[":
            line += text.count("\n", counted, at)
            counted = at
            if len(stack) >= MAX_DEPTH:
                raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels", file=file, line=line, entry=entry)
            stack.append(len(lines))
            lines.append(line)
        elif stack:
            stack.pop()
    return lines, keys


# Each line of pretty-printed JSON, whole: an optional key (group 1: its colon), then the bracket
# opening its value (group 2) or a scalar, then closing brackets and a comma. A line that is
# anything else (compact JSON, two keys on a line) has no match, and the count of matches tells.
# A line cannot start inside a string (json.loads refuses a raw newline in one). Every repeat is
# possessive: no backtracking, so time is linear and memory flat on a line of any length.
_STRING = r'"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"'
_PRETTY_LINE = re.compile(r"(?m)^[ \t]*+(?:" + _STRING + r"[ \t]*+(:)[ \t]*+)?+"
                          r"(?:([{\[])|" + _STRING + r"|[-0-9.eE+]++|true|false|null)?+"
                          r"[ \t]*+(?:[\]}][ \t]*+)*+,?+[ \t\r]*+$")
_FIRST, _SECOND = itemgetter(0), itemgetter(1)


def _pretty_positions(text: str) -> tuple[array, array] | None:
    """The lines of every bracket that opens an object or array and of every key, when the text
    is pretty-printed JSON (every export and API response PolicyKit reads as a file is); None
    when a line holds more than one of them. Found by the regular expression engine alone, with
    no Python step per line: several times faster than :func:`_scan_positions`."""
    found = _PRETTY_LINE.findall(text)
    if len(found) != text.count("\n") + 1:
        return None
    return (array("q", compress(count(1), map(_SECOND, found))),
            array("q", compress(count(1), map(_FIRST, found))))


def _duplicate_key_error(text: str, file: str | None, entry: str | None) -> InputError | None:
    """The first key in the text that repeats a key of the same object, with both lines."""
    _lines, keys = _scan_positions(text, file, entry, names=True)
    seen: dict[tuple[int, str], int] = {}
    for owner, line, name in keys:
        if (owner, name) in seen:
            shown = name if len(name) <= 60 else name[:57] + "..."
            return InputError(f"duplicate key {shown!r} (first at line {seen[owner, name]}): "
                              "a repeated key would hide one of its values", file=file, line=line, entry=entry)
        seen[owner, name] = line
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_BAD_VALUES = re.compile(r"\b(?:NaN|Infinity)\b|[0-9]+")


def _bad_value_line(text: str) -> int | None:
    """Best guess at the line of a ``NaN``/``Infinity`` or a number of more than 4300 digits
    (Python's limit for converting one): only used to place that error."""
    for match in _BAD_VALUES.finditer(text):
        if match.group()[0] in "NI" or match.end() - match.start() > 4300:
            return text.count("\n", 0, match.start()) + 1
    return None


def _json_lines(root: Any, container_lines: array, key_lines: array) -> _JsonLines | None:
    """The line table of ``root`` from the scan: None if the tree and the text do not hold as
    many objects and keys, or if the tree is nested deeper than MAX_DEPTH (the token scan names
    that line).

    Walks the containers in document order, which is the order the scan met them, so the n-th
    container of the walk is the n-th of the text; keys are counted, not visited (a dict's size,
    and the keys inside the containers among its values, which are picked out in C). The counts
    differ only when ``json.loads`` dropped a repeated key (and what its first value held)."""
    if type(root) not in _CONTAINERS:
        return _JsonLines({}, key_lines) if not key_lines else None
    spans: dict[int, tuple[int, int, int]] = {}
    n_containers, n_keys = 0, 0

    is_container = _CONTAINERS.__contains__

    def walk(node: dict | list, depth: int) -> None:
        nonlocal n_containers, n_keys
        if depth > MAX_DEPTH:
            raise IndexError
        line = container_lines[n_containers]  # IndexError: the text has fewer
        n_containers += 1
        start = n_keys
        # The containers among the values, each with the index of the key after its own key
        # (None in an array): picked out in C, the scalars never come back to Python.
        if type(node) is dict:
            values = node.values()
            children = compress(enumerate(values, start + 1), map(is_container, map(type, values)))
        else:
            children = zip(repeat(None), compress(node, map(is_container, map(type, node))))
        nested = 0  # keys inside the values walked so far (an object's)
        for after_key, value in children:
            if after_key is not None:
                n_keys = after_key + nested
            inner = value.values() if type(value) is dict else value
            if depth < MAX_DEPTH and not any(map(is_container, map(type, inner))):
                # A flat object or array (a row of an export): its span without a call.
                size = len(value) if type(value) is dict else 0
                spans[id(value)] = (container_lines[n_containers], n_keys, n_keys + size)
                n_containers += 1
                n_keys += size
            else:
                walk(value, depth + 1)
            if after_key is not None:
                nested = n_keys - after_key
        if type(node) is dict:
            n_keys = start + len(node) + nested
        spans[id(node)] = (line, start, n_keys)

    try:
        walk(root, 1)
    except IndexError:
        return None
    finally:
        walk = None  # type: ignore[assignment]  # walk refers to itself: a cycle that would keep spans alive
    if n_containers != len(container_lines) or n_keys != len(key_lines):
        return None
    return _JsonLines(spans, key_lines)


def parse_json(data: bytes, file: str | None = None, entry: str | None = None) -> Parsed:
    """Parse JSON and record the line where each object and array starts, and of each key.

    A key given twice in one object is refused, in every JSON file PolicyKit reads: deployment
    settings and snapshots that people edit (a second ``"EnvironmentVariables"`` would hide the
    first list from PPK503), API responses and solution files (flow definitions, canvas app
    manifests). JSON leaves duplicate names undefined (RFC 8259 §4: "names SHOULD be unique"),
    ``json.loads`` keeps the last silently (fewer keys in the tree than in the text tell), and
    none of Microsoft's exporters writes them: the 1,536 JSON files of the public corpus (87
    solutions, their flows and msapp contents, settings files) hold none. ``NaN`` and ``Infinity`` (not JSON) are refused too.
    """
    text = decode_text(data, file, entry)
    # Most files are pretty-printed: their lines come from one regular expression. The others
    # (compact JSON, a line holding two keys) are scanned token by token before json.loads, which
    # then never meets nesting deeper than MAX_DEPTH.
    pretty = _pretty_positions(text) if text.count("\n", 0, 4096) > 1 else None
    scanned = _scan_positions(text, file, entry) if pretty is None else None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", file=file, line=exc.lineno, entry=entry) from None
    except RecursionError:
        _scan_positions(text, file, entry)  # names the line where nesting passes MAX_DEPTH
        raise InputError("JSON nested too deeply", file=file, entry=entry) from None
    except ValueError as exc:  # NaN, or a number of more than 4300 digits
        problem = "a number of more than 4300 digits" if "digits" in str(exc) else str(exc)
        raise InputError(f"malformed JSON: {problem}", file=file, line=_bad_value_line(text), entry=entry) from None
    parsed = Parsed(value)
    if pretty is not None:
        parsed.json_lines = _json_lines(value, *pretty)
        if parsed.json_lines is not None:
            return parsed
    container_lines, key_lines = scanned or _scan_positions(text, file, entry)
    parsed.json_lines = _json_lines(value, container_lines, key_lines)
    if parsed.json_lines is None:
        # Fewer keys in the tree than in the text: json.loads kept one copy of a repeated key.
        duplicate = _duplicate_key_error(text, file, entry)
        if duplicate is not None:
            raise duplicate
    return parsed


# --------------------------------------------------------------------------- YAML

_YAML_TAGS = "tag:yaml.org,2002:"


def _shown_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAGS):] if tag.startswith(_YAML_TAGS) else tag


class _LineRules:
    """What PolicyKit's YAML loaders do on top of PyYAML's safe loader: record lines and refuse
    whatever could change or hide a value.

    - **Tags**, every one (``!!int abc``, ``!!python/name:…``, ``!Ref x``, even ``!``): no
      PolicyKit file needs one, and PyYAML's safe constructors crash on a wrong value under a
      standard tag (``!!bool maybe`` is a KeyError).
    - **Aliases** (billion laughs) and **merge keys** (``<<``: a merged key silently loses to a
      key written in the mapping).
    - **Duplicate keys**: a second ``rules:`` in a policy or ``connection_references:`` in a
      snapshot would replace the first without a word. Every YAML file PolicyKit reads (policy,
      estate file, snapshot, ``rule.yaml``) is written by a person, so the second copy is an
      error at its line, never a choice between the two.

    Keys are the text as written (``1``, ``true``, ``2024-01-01`` and ``on`` stay strings, and
    ``1``/``1.0``/``true`` cannot collide as Python keys), and dates and times are not resolved
    (YAML 1.2 has no timestamp type): a value like ``2025-01-14T09:02:41.1187305Z`` stays the
    text written instead of a datetime rounded to microseconds, and ``2024-13-45`` stays text
    instead of crashing the date constructor. So the document holds JSON values only.
    """

    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's own class attribute, read as it does)
        first: [(tag, regexp) for tag, regexp in resolvers
                if tag not in (_YAML_TAGS + "timestamp", _YAML_TAGS + "value")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def _start(self) -> None:
        self.node_lines: dict[int, int] = {}
        self.key_lines: dict[tuple[int, str], int] = {}
        self.item_lines: dict[tuple[int, int], int] = {}
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise InputError("YAML aliases are not supported", line=line)
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise InputError(f"YAML tags are not supported ({_shown_tag(tag)[:60]}): write the plain value, "
                             "in quotes if it must stay text", line=line)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise InputError(f"YAML nested deeper than {MAX_DEPTH} levels", line=line)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):  # type: ignore[override]
        try:
            obj = super().construct_object(node, deep=deep)
        except ValueError as exc:  # an implicit int of more than 4300 digits
            problem = "a number of more than 4300 digits" if "digits" in str(exc) else str(exc)
            raise InputError(f"invalid value {str(node.value)[:40]!r}: {problem}",
                             line=node.start_mark.line + 1) from None
        if isinstance(obj, (dict, list)):
            self.node_lines[id(obj)] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                self.key_lines[(id(obj), str(key_node.value))] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item_node in enumerate(node.value):
                self.item_lines[(id(obj), index)] = item_node.start_mark.line + 1
        return obj

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep=deep)  # PyYAML's own error
        mapping: dict[str, Any] = {}
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _YAML_TAGS + "merge":
                raise InputError("YAML merge keys (<<) are not supported", line=line)
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError("a YAML key must be a plain value, not a list or a mapping", line=line)
            key = key_node.value
            if key in first:
                raise InputError(f"duplicate key {key!r} (first at line {first[key]}): "
                                 "a repeated key would hide one of its values", line=line)
            first[key] = line
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


class _LineLoader(_LineRules, yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's own reader, scanner and parser, in Python: every error says what it says."""

    def __init__(self, stream: str) -> None:
        yaml.SafeLoader.__init__(self, stream)
        self._start()


if yaml.__with_libyaml__:
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.cyaml import CParser
    from yaml.resolver import Resolver

    class _FastLineLoader(_LineRules, Composer, CParser, SafeConstructor, Resolver):  # type: ignore[misc]
        """The same loader over libyaml's parser (C): the events are the same, three times faster.
        The nodes are still composed and constructed above, in Python, with every check."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._start()
else:  # pragma: no cover -- PyYAML built without libyaml
    _FastLineLoader = None  # type: ignore[assignment,misc]

#: What PyYAML's reader refuses (control characters, ...): checked before libyaml, whose own
#: list differs, so that such text goes to the Python reader and its error.
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


def _fast_yaml(text: str) -> Parsed | None:
    """The document through libyaml's parser; None when it cannot be (no libyaml, a character the
    Python reader refuses) or finds anything wrong: the Python loader then says what, in its words."""
    if _FastLineLoader is None or _NON_PRINTABLE.search(text):
        return None
    loader = _FastLineLoader(text)
    try:
        value = loader.get_single_data()
    except (yaml.YAMLError, InputError, ValueError, RecursionError):
        return None
    finally:
        loader.dispose()
    return Parsed(value, loader.node_lines, loader.key_lines, loader.item_lines)


def parse_yaml(data: bytes, file: str | None = None, entry: str | None = None) -> Parsed:
    """Parse one YAML document safely, recording the line of each mapping and sequence."""
    text = decode_text(data, file, entry)
    fast = _fast_yaml(text)
    if fast is not None:
        return fast
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
    return Parsed(value, loader.node_lines, loader.key_lines, loader.item_lines)


def parse_by_suffix(data: bytes, name: str, file: str | None = None, entry: str | None = None) -> Parsed:
    """Parse JSON or YAML by the file name's suffix."""
    if name.lower().endswith((".yaml", ".yml")):
        return parse_yaml(data, file, entry)
    return parse_json(data, file, entry)
