"""The code stays simple enough to read: no function above cyclomatic complexity 20 (ruff's
mccabe check, C901), and no unused import or undefined name (F)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


def _ruff() -> list[str]:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed (make test installs it with the test extras)")
    return [found]


def test_no_function_above_complexity_20():
    run = subprocess.run(
        [*_ruff(), "check", "--no-cache", "--isolated", "--select", "C901,F,E9",
         "--config", "lint.mccabe.max-complexity=20", "policykit", "tools", "tests"],
        cwd=REPO, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
