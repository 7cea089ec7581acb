"""The pack's tests are its rules' fixtures: `policykit test` runs each fires*/silent* estate and
compares the finding keys with its expect.yaml. `policykit validate` checks the rules themselves."""

from pathlib import Path

from policykit.cli import main

PACK = Path(__file__).resolve().parent.parent


def test_rule_fixtures():
    assert main(["test", str(PACK)]) == 0


def test_rules_validate():
    assert main(["validate", str(PACK)]) == 0
