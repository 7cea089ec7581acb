"""GUID normalization shared by the environment loaders.

Microsoft APIs return the same GUID upper or lower case, with or without braces
(``{9A9D35EF-...}`` in solution XML, ``9a9d35ef-...`` from the Web API): every loader stores
the normalized form so later joins are plain string equality.
"""

from __future__ import annotations

import re

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def norm_guid(value: str | None) -> str | None:
    """Lower case, surrounding whitespace and braces stripped; ``None`` for ``None`` or empty."""
    if value is None:
        return None
    text = value.strip().strip("{}").strip().lower()
    return text or None


def is_guid(value: object) -> bool:
    """True for a string that is a GUID once normalized (``{ABC...}`` counts)."""
    return isinstance(value, str) and _GUID.fullmatch(norm_guid(value) or "") is not None


def norm_ref(value: str) -> str:
    """A reference that may be a GUID or a name: GUIDs normalized, names kept as written."""
    if is_guid(value):
        return norm_guid(value) or ""
    return value.strip()
