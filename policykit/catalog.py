"""The connector and license catalogs that ship with PolicyKit (see tools/gen_catalogs.py)."""

from __future__ import annotations

import copy
import json
from functools import cache, lru_cache
from importlib import resources
from typing import Any


@cache
def _load(name: str) -> Any:
    return json.loads(resources.files("policykit").joinpath("data").joinpath(name).read_text(encoding="utf-8"))


def connectors() -> dict[str, dict[str, Any]]:
    """Connector api name (``shared_sharepointonline``) → tier, custom, m365_service, ..."""
    return copy.deepcopy(_load("connectors.json"))


def licenses() -> dict[str, Any]:
    """``{"skus": {part_number: {sku_id, product, service_plans}}, "plan_rights": {plan: right}}``."""
    return copy.deepcopy(_load("licenses.json"))


def sku_by_part_number(part_number: str) -> dict[str, Any] | None:
    """The catalog entry of one SKU (``ENTERPRISEPACK``), case-insensitive, or None."""
    skus = _load("licenses.json")["skus"]
    for name, sku in skus.items():
        if name.lower() == part_number.lower():
            return {"sku_part_number": name, **copy.deepcopy(sku)}
    return None
