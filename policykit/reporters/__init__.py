"""Reporters: turn a :class:`~policykit.models.ScanResult` into SARIF 2.1.0 or human text."""

from .sarif import to_sarif
from .text import to_text

__all__ = ["to_sarif", "to_text"]
