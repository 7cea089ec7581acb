"""The plugin manager: built-in plugin, entry points (group ``policykit``), ``--plugin``."""

from __future__ import annotations

import importlib

import pluggy

from . import hookspecs
from .errors import UsageError

ENTRY_POINT_GROUP = "policykit"


def get_plugin_manager(extra: list[str] | tuple[str, ...] = (), entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-in plugin, installed plugins and ``extra`` modules.

    The built-in plugin is declared as the entry point ``builtin`` and registered first under
    that name, so loading the entry points does not register it twice and ``--no-plugins``
    (``entry_points=False``) keeps it.
    """
    pm = pluggy.PluginManager("policykit")
    pm.add_hookspecs(hookspecs)
    from . import builtin
    pm.register(builtin, name="builtin")
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for name in extra:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise UsageError(f"cannot import plugin {name!r}: {exc}") from None
        if pm.get_plugin(name) is None:
            pm.register(module, name=name)
    return pm
