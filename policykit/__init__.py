"""PolicyKit: policy-as-code for Microsoft Power Platform estates.

The public API is small: :func:`load_estate` reads a ``policykit.yaml``, :func:`scan` runs a scan
and returns a :class:`ScanResult`; :data:`hookimpl` marks plugin hook implementations (see
:mod:`policykit.hookspecs`), :func:`load_rule_dir` loads a folder of YAML rules for the
``policykit_rules`` hook, :class:`BaseFunctions` is the base class of the JMESPath functions a
plugin contributes; the exceptions live in :mod:`policykit.errors`. Pack authors: see
``docs/writing-rules.md``.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Marks a function as a PolicyKit hook implementation in a plugin.
hookimpl = pluggy.HookimplMarker("policykit")

from .errors import InputError, PolicyError, PolicyKitError, RuleError, UsageError
from .functions import BaseFunctions
from .models import Finding, Rule, ScanResult, Source
from .rulepack import RulePack, load_pack_dir, load_rule_dir
from .scanner import Estate, build, load_estate, scan

__all__ = [
    "BaseFunctions",
    "Estate",
    "Finding",
    "InputError",
    "PolicyError",
    "PolicyKitError",
    "Rule",
    "RuleError",
    "RulePack",
    "ScanResult",
    "Source",
    "UsageError",
    "__version__",
    "build",
    "hookimpl",
    "load_estate",
    "load_pack_dir",
    "load_rule_dir",
    "scan",
]
