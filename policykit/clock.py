"""The day a scan judges waivers on (expired, expiring). ``--today`` or ``POLICYKIT_TODAY`` (YYYY-MM-DD) fix it, to reproduce an earlier scan or to
keep a CI job's output stable; otherwise it is the current date in UTC."""

from __future__ import annotations

import datetime as _dt
import os

from .errors import UsageError

__all__ = ["ENV", "today"]

ENV = "POLICYKIT_TODAY"


def today(text: str | None = None) -> _dt.date:
    """``text`` (the ``--today`` option), else ``$POLICYKIT_TODAY``, else today in UTC."""
    given, where = (text, "--today") if text else (os.environ.get(ENV, "").strip(), ENV)
    if not given:
        return _dt.datetime.now(_dt.timezone.utc).date()
    try:
        return _dt.date.fromisoformat(given)
    except ValueError:
        shown = given.encode("unicode_escape").decode("ascii")[:40]
        raise UsageError(f"{where} wants a date YYYY-MM-DD, got {shown}") from None
