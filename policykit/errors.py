"""PolicyKit's exceptions, all in one place.

Every error the user can cause derives from :class:`PolicyKitError`; the CLI turns each into a
single line on stderr and exit code 2, never a traceback.

- :class:`InputError` — an input file is missing, malformed, hostile or of the wrong shape.
  Carries the file, the entry inside a zip and the line where known.
- :class:`PolicyError` — the policy (or the estate file) asks for something invalid:
  an unknown key, a wrong type, an unknown rule.
- :class:`RuleError` — a rule is broken (invalid JMESPath, unknown function, bad template).
  The engine records it and goes on with the other rules.
- :class:`UsageError` — the command line is wrong.
"""

from __future__ import annotations


class PolicyKitError(Exception):
    """Base class of every error PolicyKit reports to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(PolicyKitError):
    """An input cannot be read: ``file[:entry][:line]: message``."""

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        entry: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.entry = entry

    def located(self, file: str | None = None, entry: str | None = None) -> InputError:
        """Fill in the file (and zip entry) when the raiser did not know them."""
        if self.file is None and file is not None:
            self.file = file
        if self.entry is None and entry is not None:
            self.entry = entry
        return self

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.entry:
            parts.append(self.entry)
        if self.line:
            parts.append(str(self.line))
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class PolicyError(InputError):
    """The policy or estate file is invalid (unknown key, wrong type, unknown rule)."""


class RuleError(PolicyKitError):
    """A rule cannot be compiled or evaluated."""

    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id
        self.reason = message


class UsageError(PolicyKitError):
    """The command line is wrong."""
