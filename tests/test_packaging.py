"""What ships: the installed `policykit` works from any directory, with its rules and default policy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, RULES

import policykit
from policykit.builtin import builtin_rules_dir
from policykit.policy import default_policy_text

SCRIPT = Path(sys.executable).parent / "policykit"


def test_builtin_rules_and_default_policy_are_found():
    assert (builtin_rules_dir() / "PPK101-connection-reference-personal-account" / "rule.yaml").is_file()
    data, name = default_policy_text()
    assert b"technical_accounts" in data and name == "policies/default.yaml"


def test_installed_package_carries_rules_and_policy():
    installed = Path(policykit.__file__).resolve().parent
    if installed.parent == REPO:
        pytest.skip("running from the source tree; `make test` runs against the installed package")
    assert (installed / "rules" / "PPK101-connection-reference-personal-account" / "README.md").is_file()
    assert (installed / "policies" / "default.yaml").is_file()
    assert {p.name for p in (installed / "rules").iterdir()} >= {p.name for p in RULES.iterdir() if p.is_dir()}


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed in this interpreter's environment")
def test_console_script_runs_from_any_directory(tmp_path):
    fixture = RULES / "PPK101-connection-reference-personal-account" / "fixtures" / "fires"
    rules = subprocess.run([str(SCRIPT), "rules"], cwd=tmp_path, capture_output=True, text=True)
    assert rules.returncode == 0 and "PPK101" in rules.stdout
    scan = subprocess.run([str(SCRIPT), "scan", "--config", str(fixture / "policykit.yaml")],
                          cwd=tmp_path, capture_output=True, text=True)
    assert scan.returncode == 1 and "PPK101" in scan.stdout, scan.stderr
