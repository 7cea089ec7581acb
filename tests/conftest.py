"""Shared test helpers: run the CLI in-process, locate the repository's folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from policykit.cli import main

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules"
EXAMPLE = REPO / "examples" / "lunch-order"
ORDERS = RULES / "_fixtures" / "solutions" / "Orders"
PPK101_FIRES = RULES / "PPK101-connection-reference-personal-account" / "fixtures" / "fires"
#: The public corpus: $POLICYKIT_CORPUS, default ../shared/corpus beside the repository.
CORPUS = Path(os.environ.get("POLICYKIT_CORPUS") or REPO.parent / "shared" / "corpus")
MANIFEST = CORPUS / "MANIFEST.json"
needs_corpus = pytest.mark.skipif(not MANIFEST.is_file(), reason=f"corpus not found at {CORPUS} (set POLICYKIT_CORPUS)")


def corpus_estate(legacy_packages: bool = False):
    """Every solution and settings file of the corpus in one estate, one environment per settings file."""
    import json

    from policykit.scanner import EnvironmentSpec, Estate
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    entries = manifest["solutions"] + manifest["extracted_solutions"]
    if legacy_packages:
        entries += [e for e in manifest["non_solution_packages"] if "legacy" in e["kind"]]
    return Estate(
        name="corpus",
        solutions=[CORPUS / e["path"] for e in entries],
        environments=[EnvironmentSpec(name=f"S{i}", settings=[CORPUS / s["path"]])
                      for i, s in enumerate(manifest["deployment_settings"])],
    )


def require_validator() -> None:
    """Microsoft's SARIF validator must be installed (`make test` does); skipping needs a choice."""
    import sarif_validator
    try:
        sarif_validator.find_binary()
    except sarif_validator.ValidatorMissing as exc:
        if os.environ.get("POLICYKIT_SKIP_SARIF_VALIDATOR") == "1":
            pytest.skip(str(exc))
        pytest.fail(f"{exc} (set POLICYKIT_SKIP_SARIF_VALIDATOR=1 to skip)")


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


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """A writable copy of a small estate: one solution, one snapshot environment, and a single
    PPK101 finding at prd.yaml:16."""
    import shutil
    shutil.copytree(ORDERS, tmp_path / "Orders")
    shutil.copy(PPK101_FIRES / "prd.yaml", tmp_path / "prd.yaml")
    (tmp_path / "policykit.yaml").write_text("name: orders\nsolutions: [Orders]\nenvironments:\n  PRD: {metadata: prd.yaml}\n")
    return tmp_path


#: The day every test judges waivers on, so that a dated waiver (the example's expires on
#: 2027-03-31) does not change what the tests see as the calendar moves on. Tests of expiry set
#: their own day (``--today`` or ``POLICYKIT_TODAY``).
TEST_TODAY = "2026-12-05"


@pytest.fixture(autouse=True)
def _no_source_date_epoch(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setenv("POLICYKIT_TODAY", TEST_TODAY)
    yield
