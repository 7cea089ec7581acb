"""The plugin manager (built-in plugin, entry points in the group ``policykit``, ``--plugin``) and
the rule packs: the rules each plugin contributes, and local folders of YAML rules."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

import pluggy

from . import __version__, hookspecs
from .errors import PolicyError, UsageError
from .models import Rule
from .rulepack import RulePack, load_pack_dir

__all__ = ["ENTRY_POINT_GROUP", "all_packs", "get_plugin_manager", "plugin_packs", "rules_of"]

ENTRY_POINT_GROUP = "policykit"


def get_plugin_manager(extra: list[str] | tuple[str, ...] = (), entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-in plugin, installed plugins and ``extra`` modules.

    The built-in plugin is declared as the entry point ``builtin`` and registered first under
    that name, so loading the entry points does not register it twice and ``--no-plugins``
    (``entry_points=False``) keeps it. A ``--plugin`` module that an entry point already loaded
    is registered once.
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
        if pm.get_plugin(name) is None and not pm.is_registered(module):
            pm.register(module, name=name)
    return pm


def _identity(pm: pluggy.PluginManager, plugin: object, plugin_name: str) -> tuple[str, str, str]:
    """(pack name, version, origin) of a plugin: the distribution that declares it, else its module."""
    if plugin_name == "builtin":
        return "policykit", __version__, "builtin"
    for registered, dist in pm.list_plugin_distinfo():
        if registered is plugin:
            return str(dist.project_name), str(dist.version), "entry point"
    name = getattr(plugin, "__name__", None) or plugin_name
    return str(name), str(getattr(plugin, "__version__", "") or "unknown"), "plugin"


def plugin_packs(pm: pluggy.PluginManager) -> list[RulePack]:
    """One pack per plugin that contributes rules, in registration order."""
    packs = []
    for impl in pm.hook.policykit_rules.get_hookimpls():   # in registration order: built-in first
        name, version, origin = _identity(pm, impl.plugin, impl.plugin_name)
        rules = list(impl.function() or [])
        for rule in rules:
            rule.pack, rule.pack_version = name, version
        module = getattr(impl.plugin, "__name__", None)
        packs.append(RulePack(name=name, version=version, origin=origin, rules=rules,
                              module=module if isinstance(module, str) else None))
    return packs


def all_packs(pm: pluggy.PluginManager, local: Iterable[tuple[Path, str, dict | None]] = ()) -> list[RulePack]:
    """The plugins' packs, then each local folder once (``(path, display, {file, line})``).

    A rule id defined by two packs is an error naming both (and the line naming the folder)."""
    packs = plugin_packs(pm)
    seen_dirs: set[Path] = set()
    for path, display, where in local:
        resolved = path.resolve()
        if resolved in seen_dirs:
            continue
        seen_dirs.add(resolved)
        try:
            packs.append(load_pack_dir(path, display))
        except PolicyError as exc:
            if where and exc.file is None:
                exc.located(where.get("file"))
                exc.line = exc.line or where.get("line")
            raise
    _check_unique(packs)
    return packs


def _check_unique(packs: list[RulePack]) -> None:
    owner: dict[str, tuple[RulePack, Rule]] = {}
    for pack in packs:
        for rule in pack.rules:
            if rule.id in owner:
                first_pack, first = owner[rule.id]
                raise PolicyError(f"rule id {rule.id} is defined twice: by pack {first_pack.name}{_file(first)} "
                                  f"and by pack {pack.name}{_file(rule)}")
            owner[rule.id] = (pack, rule)


def _file(rule: Rule) -> str:
    return f" ({rule.file})" if rule.file else ""


def rules_of(packs: Iterable[RulePack]) -> list[Rule]:
    """Every rule of the packs, sorted by id."""
    return sorted((r for p in packs for r in p.rules), key=lambda r: r.id)
