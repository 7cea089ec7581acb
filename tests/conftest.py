"""Shared test helpers: run the CLI in-process, locate the repository's folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from policykit.cli import main

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules"
EXAMPLE = REPO / "examples" / "lunch-order"


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``policykit ARGS`` in a working directory; return exit code, stdout, stderr."""

    def run(*args: str, cwd: Path | None = None) -> Run:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture(autouse=True)
def _no_source_date_epoch(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    yield
