"""Deployment settings files (``pac solution create-settings``) → plain dicts.

Real variants (power-platform.md §8): empty ``ConnectionId``, missing keys, extra keys such as
``ConnectionOwner``, placeholder tokens (``#{Name}#``, ``@@Name@@``), BOMs and odd spacing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..parsing import Parsed, parse_json
from ..platform import api_name, is_placeholder
from ..reading import Limits, read_file


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float, bool)):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


_KINDS = {list: "a list", dict: "an object"}


def _field(parsed: Parsed, item: dict, key: str, display: str) -> str | None:
    """A string field of an entry. Numbers and booleans are real (``"Value": 42``) and read as
    strings; a list or an object where a string belongs is refused, never read as empty."""
    value = item.get(key)
    if isinstance(value, (list, dict)):
        raise InputError(f"'{key}' must be a string, not {_KINDS[type(value)]}", file=display,
                         line=parsed.key_line(item, key) or parsed.line_of(item) or 1)
    return _str(value)


def load_settings(path: Path, display: str, limits: Limits | None = None) -> dict[str, Any]:
    """Read one deployment settings file."""
    parsed = parse_json(read_file(path, display, limits), file=display)
    doc = parsed.value
    if not isinstance(doc, dict) or not ({"EnvironmentVariables", "ConnectionReferences"} & set(doc)):
        raise InputError("not a deployment settings file: expected a JSON object with "
                         "'EnvironmentVariables' and/or 'ConnectionReferences'", file=display, line=1)
    refs, variables = [], []
    for key, out in (("ConnectionReferences", refs), ("EnvironmentVariables", variables)):
        items = doc.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise InputError(f"'{key}' must be a list", file=display, line=parsed.line_of(items) or 1)
        for item in items:
            if not isinstance(item, dict):
                raise InputError(f"each entry of '{key}' must be an object", file=display,
                                 line=parsed.line_of(items) or 1)
            # Point at the line naming the entry, the one a person searches for.
            name_key = "LogicalName" if key == "ConnectionReferences" else "SchemaName"
            src = {"file": display, "line": parsed.key_line(item, name_key) or 1}
            if key == "ConnectionReferences":
                cid = _field(parsed, item, "ConnectionId", display)
                connector_id = _field(parsed, item, "ConnectorId", display)
                out.append({
                    "logical_name": _field(parsed, item, "LogicalName", display) or "",
                    "connection_id": cid,
                    "is_placeholder": is_placeholder(cid),
                    "connector_id": connector_id,
                    "connector": api_name(connector_id),
                    "source": src,
                })
            else:
                value = _field(parsed, item, "Value", display)
                out.append({
                    "schema_name": _field(parsed, item, "SchemaName", display) or "",
                    "value": value,
                    "is_placeholder": is_placeholder(value),
                    "source": src,
                })
    return {"file": display, "connection_references": refs, "environment_variables": variables,
            "source": {"file": display, "line": parsed.line_of(doc, 1)}}
