"""PolicyKit: policy-as-code for Microsoft Power Platform estates.

The public API is small: :func:`scan` runs a scan and returns a :class:`ScanResult`;
:data:`hookimpl` marks plugin hook implementations (see :mod:`policykit.hookspecs`);
the exceptions live in :mod:`policykit.errors`.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Marks a function as a PolicyKit hook implementation in a plugin.
hookimpl = pluggy.HookimplMarker("policykit")

from .errors import InputError, PolicyError, PolicyKitError, RuleError, UsageError
from .models import Finding, Rule, ScanResult, Source
from .scanner import Estate, build, scan

__all__ = [
    "Estate",
    "Finding",
    "InputError",
    "PolicyError",
    "PolicyKitError",
    "Rule",
    "RuleError",
    "ScanResult",
    "Source",
    "UsageError",
    "__version__",
    "build",
    "hookimpl",
    "scan",
]
