"""PolicyKit's hook specifications (pluggy, project name ``policykit``).

A plugin is any module or object with functions decorated by :data:`policykit.hookimpl` and
named after these specifications. Plugins come from the built-in plugin
(:mod:`policykit.builtin`), from entry points in the group ``policykit`` and from
``--plugin module.path``; all three register through :func:`policykit.plugins.get_plugin_manager`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .models import Rule
    from .policy import Policy

_hookspec = pluggy.HookspecMarker("policykit")


@_hookspec
def policykit_rules() -> list[Rule]:
    """Contribute rules.

    :return: a list of :class:`policykit.models.Rule`; rule ids must be unique across plugins.
       Use :func:`policykit.rulepack.load_rule_dir` to load a folder of declarative rules.
    """


@_hookspec
def policykit_jmespath_functions() -> type | None:
    """Contribute JMESPath functions usable in every rule's query.

    :return: a subclass of ``jmespath.functions.Functions`` whose ``_func_<name>`` methods are
       decorated with ``jmespath.functions.signature``; the classes of all plugins are combined.
       Inside a method, ``self.parameters`` holds the running rule's parameters.
    """


@_hookspec(firstresult=True)
def policykit_load_input(path: Path, display: str, kind: str) -> dict | None:
    """Load one input file or folder into plain data.

    Stops at the first non-None result, so a plugin can read a format the built-in loaders do
    not know, or replace one of them (the built-in loaders run last).

    The loader contract:

    - Return None, quickly and without reading much, for an input this plugin does not handle
      (decide by suffix, a marker file or the first bytes), so the next loader gets it.
    - Return plain JSON values only (dict, list, str, int, float, bool, None): the shapes of
      ``docs/document.md`` for a solution, a raw environment (what
      :mod:`policykit.loaders.snapshot` returns: ``format``, ``id``, ``display_name``, ``type``,
      ``url``, ``source``, ``available`` and the data sets it lists) or a settings file.
    - Give every object a ``source: {file, line}`` with ``file`` = ``display`` (plus ``entry``
      inside an archive), so findings point at the input.
    - Read files with :func:`policykit.reading.read_file` (size limits, the evidence hash) and
      parse with :mod:`policykit.parsing` (no YAML tags, no XML entities, duplicate keys refused).
    - For bad input raise :class:`policykit.InputError` with the file, entry and line: the scan
      records it, goes on with the other inputs and exits 2. Any other exception is reported as an
      internal error of the loader, in one line.

    :param path: the file or folder on disk.
    :param display: the path to show the user and to put in ``source.file``.
    :param kind: ``"solution"``, ``"environment"`` or ``"settings"``.
    :return: a solution dict, a raw environment dict or a settings dict (see docs/document.md),
       or None when this plugin does not handle the input.
    """


@_hookspec
def policykit_document_fields() -> dict[str, dict[str, Any]] | None:
    """Declare the fields :func:`policykit_enrich_document` adds, so ``policykit validate`` knows
    them (it reports a field no schema lists as a typo).

    :return: ``{definition: {field: JSON Schema}}``: ``definition`` is a name under ``$defs`` of
       ``docs/document.schema.json`` (``environment``, ``binding``, ``user``, ...) or ``document``
       for the top level, e.g. ``{"environment": {"is_production": {"type": "boolean"}}}``.
    """


@_hookspec
def policykit_enrich_document(document: dict[str, Any], policy: Policy) -> None:
    """Add facts to the normalized document after the joins and before the rules run.

    :param document: the normalized document; change it in place, keeping plain JSON values.
    :param policy: the effective policy.
    """
