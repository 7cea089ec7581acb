"""The few pieces of markdown syntax the reporters read in a rule's README (fences and ATX
headings): one definition for the SARIF help text and the HTML report's *How to fix*."""

from __future__ import annotations

import re

__all__ = ["FENCE", "HEADING"]

#: A line opening or closing a fenced code block.
FENCE = re.compile(r"^\s*(```|~~~)")
#: An ATX heading: group 1 the hashes (its level), group 2 its text without closing hashes.
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
