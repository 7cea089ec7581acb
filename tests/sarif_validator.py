"""Run Microsoft's SARIF validator (``Sarif.Multitool validate``) and return its findings.

The binary comes from the npm package ``@microsoft/sarif-multitool`` (its ``-linux`` dependency
carries a self-contained executable); the Makefile installs it under ``.tools/``.  The
environment variable ``POLICYKIT_SARIF_MULTITOOL`` names another binary.

The tool exits 0 even when the file is invalid (even when it is not JSON), so its exit code
proves nothing: :func:`validate` reads the SARIF log it writes with ``-o`` and returns the
result objects, which callers count by ``level``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO / ".tools/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
ENV_BINARY = "POLICYKIT_SARIF_MULTITOOL"

#: Rule kinds the validator knows: schema + SARIF rules, GitHub, Azure DevOps Advanced Security.
KINDS = ("Sarif", "Ghas", "GHAzDO")


class ValidatorMissing(FileNotFoundError):
    """The Sarif.Multitool binary is not installed where we look."""


def find_binary() -> Path:
    """The validator binary: ``$POLICYKIT_SARIF_MULTITOOL`` or the Makefile's ``.tools`` copy."""
    path = Path(os.environ.get(ENV_BINARY) or DEFAULT_BINARY)
    if not path.is_file():
        raise ValidatorMissing(
            f"SARIF validator not found at {path}; run `make tools` (npm install --prefix .tools "
            f"@microsoft/sarif-multitool) or set {ENV_BINARY}"
        )
    if not os.access(path, os.X_OK):
        # npm may skip the package's postinstall `chmod u+x` (install scripts not allowed).
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # The self-contained .NET binary aborts without libicu unless told to use invariant mode.
    env.setdefault("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
    env.setdefault("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
    return env


#: SARIF2006 (a note) makes an HTTP GET for every URI in the log: tests must not reach the
#: network, so it is switched off.  Switching a rule off earns a configuration notification
#: WRN999.RuleExplicitlyDisabled, which :func:`validate` leaves out.
_CONFIG = """<?xml version="1.0" encoding="utf-8"?>
<Properties>
  <Properties Key="SARIF2006.UrisShouldBeReachable.Options">
    <Property Key="RuleEnabled" Value="Disabled" Type="Driver.RuleEnabledState" />
  </Properties>
</Properties>
"""
_EXPECTED_NOTIFICATIONS = {"WRN999.RuleExplicitlyDisabled"}


def validate(
    path: str | os.PathLike[str], kind: str = "Sarif", levels: str = "Error;Warning", timeout: float = 300
) -> list[dict[str, Any]]:
    """Validate ``path`` with one rule kind (or a ``;``-joined list); return the findings.

    Each is a validator result with ``ruleId`` (e.g. ``SARIF1001``, ``GH1003``), a resolved
    ``level`` (``error``, ``warning``, ``note``) and ``text``.  Notifications of the validator
    about its own run (it could not read the file, a rule crashed) come back as results too.
    """
    binary = find_binary()
    with tempfile.TemporaryDirectory(prefix="sarif-validate-") as tmp:
        out, config = Path(tmp) / "validation.sarif", Path(tmp) / "config.xml"
        config.write_text(_CONFIG, encoding="utf-8")
        command = [str(binary), "validate", str(path), "--rule-kind", kind, "--level", levels,
                   "-c", str(config), "-o", str(out), "--log", "ForceOverwrite"]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_environment())
        if not out.is_file():
            raise RuntimeError(f"validator wrote no output (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        log = json.loads(out.read_text(encoding="utf-8-sig"))
    findings: list[dict[str, Any]] = []
    for run in log.get("runs", []):
        findings += [_resolve(r, run) for r in run.get("results") or []]
        findings += _notifications(run)
    return findings


def _resolve(result: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """Fill in the level (the rule's default when absent) and format the message text."""
    rules = run.get("tool", {}).get("driver", {}).get("rules") or []
    rule = next((r for r in rules if r.get("id") == result.get("ruleId")), {})
    level = result.get("level") or rule.get("defaultConfiguration", {}).get("level", "warning")
    message = result.get("message", {})
    text = message.get("text")
    if text is None:
        template = rule.get("messageStrings", {}).get(message.get("id"), {}).get("text", "{0}")
        text = template
        for i, argument in enumerate(message.get("arguments", [])):
            text = text.replace("{%d}" % i, str(argument))
    return {**result, "level": level, "text": text}


def _notifications(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The validator's notifications about its own run, except the ones our config causes."""
    found = []
    for invocation in run.get("invocations") or []:
        notes = (invocation.get("toolExecutionNotifications") or []) + (
            invocation.get("toolConfigurationNotifications") or [])
        for note in notes:
            descriptor = note.get("descriptor", {}).get("id", "notification")
            if descriptor in _EXPECTED_NOTIFICATIONS:
                continue
            found.append({"ruleId": descriptor, "level": note.get("level", "warning"),
                          "text": note.get("message", {}).get("text", "")})
    return found


def describe(findings: list[dict[str, Any]]) -> str:
    """One line per validator finding, for assertion messages."""
    return "\n".join(f"{f['level']} {f.get('ruleId')}: {f['text']}" for f in findings)


def count(findings: list[dict[str, Any]], level: str) -> int:
    return sum(f["level"] == level for f in findings)


def failures(findings: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """What the project's bar rejects: every error, and for kind ``Sarif`` every warning too."""
    bad = {"error", "warning"} if kind == "Sarif" else {"error"}
    return [f for f in findings if f["level"] in bad]


def main(argv: list[str]) -> int:
    """``sarif_validator.py LOG [KIND ...]``: exit 1 when any kind finds what the bar rejects."""
    if not argv:
        print("usage: sarif_validator.py LOG [Sarif|Ghas|GHAzDO ...]", file=sys.stderr)
        return 2
    path, kinds = argv[0], argv[1:] or ["Sarif", "Ghas"]
    status = 0
    for kind in kinds:
        bad = failures(validate(path, kind), kind)
        print(f"{kind}: {len(bad)} problem(s)")
        if bad:
            print(describe(bad))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
