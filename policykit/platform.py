"""The Power Platform's vocabulary, in one place: how ids are written, what privilege depths,
role templates, connector api names and pipeline placeholders look like, and which identities
are Microsoft's own. Loaders, the document builder and rules all read it from here.

Facts and sources: ``shared/reference/power-platform.md`` (§4 roles, §7 identities).
"""

from __future__ import annotations

import re
from typing import Any

# --------------------------------------------------------------------------- ids

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def norm_guid(value: Any) -> str | None:
    """Lower case, surrounding whitespace and braces stripped; ``None`` for a non-string or empty.

    Microsoft APIs return the same GUID upper or lower case, with or without braces
    (``{9A9D35EF-...}`` in solution XML, ``9a9d35ef-...`` from the Web API): every loader stores
    the normalized form so that joins are plain string equality.
    """
    if not isinstance(value, str):
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


# --------------------------------------------------------------------------- connectors

def api_name(api_id: Any) -> str | None:
    """``/providers/Microsoft.PowerApps/apis/shared_sharepointonline`` → ``shared_sharepointonline``.

    Lower case: the platform treats connector names case-insensitively, and so do the joins.
    """
    if not isinstance(api_id, str) or not api_id.strip():
        return None
    return api_id.strip().rstrip("/").rsplit("/", 1)[-1].lower() or None


API_PREFIX = "/providers/Microsoft.PowerApps/apis/"

# --------------------------------------------------------------------------- privileges

#: Privilege depth by level name, in increasing reach (an absent privilege is "None").
DEPTHS = {"None": 0, "Basic": 1, "Local": 2, "Deep": 3, "Global": 4}
#: Level names by the Web API ``PrivilegeDepth`` number (4 RecordFilter is not a depth we judge).
DEPTH_BY_NUMBER = ("Basic", "Local", "Deep", "Global")
#: The accesses a table privilege grants: ``prv<Access><Table>``.
ACCESSES = ("Create", "Read", "Write", "Delete", "AppendTo", "Append", "Assign", "Share")
_PRV = re.compile(r"^prv(" + "|".join(ACCESSES) + r")(.+)$")


def privilege_depth(value: Any) -> str | None:
    """``"Global"`` or ``3`` → ``"Global"``; None for anything else (``"RecordFilter"``, 4, ...)."""
    if type(value) is int and 0 <= value < len(DEPTH_BY_NUMBER):
        return DEPTH_BY_NUMBER[value]
    if isinstance(value, str):
        for name in DEPTH_BY_NUMBER:
            if name.lower() == value.strip().lower():
                return name
    return None


def parse_privilege(name: str) -> tuple[str | None, str | None]:
    """``prvReadcr123_order`` → (``Read``, ``cr123_order``); miscellaneous ones → (None, None)."""
    m = _PRV.match(name)
    if not m:
        return None, None
    return m.group(1), m.group(2).lower()


# --------------------------------------------------------------------------- placeholders

#: Tokens a release pipeline replaces at deployment time: not values, not secrets.
PLACEHOLDER = re.compile(r"^\s*(#\{[^}]+\}#|@@[^@]+@@|\$\([^)]+\)|\{\{[^}]+\}\}|__[A-Za-z0-9_.]+__)\s*$")


def is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and bool(PLACEHOLDER.match(value))


# --------------------------------------------------------------------------- roles

#: Built-in role template ids (power-platform.md §4). Role ids differ per business unit and
#: environment; template ids do not.
ROLE_TEMPLATES = {
    "627090ff-40a3-4053-8790-584edc5be201": "System Administrator",
    "119f245c-3cc8-4b62-b31c-d1a046ced15d": "System Customizer",
    "236750cd-45ae-4939-ab12-b24b920ced93": "Basic User",
    "2d101bb3-5ced-4122-83f1-94d5efde4e3b": "Support User",
    "d892cc0b-28c7-4e88-bd92-72f2c366baed": "Delegate",
}
#: Environment Maker has no template; its root role id is the same in every environment.
ENVIRONMENT_MAKER_ROOT = "d58407f2-48d5-e711-a82c-000d3a37c848"
#: Built-in roles known by name only.
NAME_ONLY_BUILTINS = {"Service Reader", "Service Writer", "Environment Maker"}
