"""``policykit new-rule`` and ``policykit new-pack``: a rule or a pack that passes
``policykit test`` and ``policykit validate`` as created, to edit from there."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import UsageError

__all__ = ["new_pack", "new_rule"]

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")
_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_PACK = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

_RULE_YAML = """\
# {rule_id}: edit the query, the message and the parameters; `policykit doc -q EXPR` tries a query
# on an estate, `policykit test` runs the fixtures, `policykit validate` checks this file.
id: {rule_id}
name: {name}
title: Connection to a connector the organization does not allow
severity: warning
precision: very-high
tags: [connectors]
parameters:
  connectors:
    type: list[string]
    default: [shared_twitter]
    doc: Api names of the connectors no connection may use.
query: environments[].connections[?contains(param('connectors'), connector)][]
message: >-
  Connection {{id}} in {{environment}} uses {{connector}}, which the organization does not allow, signed
  in as {{account}}. Delete the connection.
"""

_README = """\
# {rule_id} {name}

## What it does

Fires for each connection, in any scanned environment, to one of the connectors listed in the
parameter `connectors` (default: `shared_twitter`).

## Why is this bad?

Say why the organization forbids it: what can go wrong, for whom.

## Example

A connection `conn-tw` to Twitter in PRD.

## How to fix

Delete the connection, or ask for an exception (a waiver in the policy, with a reason).
"""

_ESTATE = "environments:\n  PRD: {metadata: prd.yaml}\n"
_SNAPSHOT = """\
environment: {{type: Production}}
users:
  - {{upn: anna.meier@contoso.com, name: Anna Meier}}
connections:
{connections}"""
_FIRES = ("  - {id: conn-tw, connector: shared_twitter, account: anna.meier@contoso.com}\n"
          "  - {id: conn-sp, connector: shared_sharepointonline, account: anna.meier@contoso.com}\n")
_SILENT = "  - {id: conn-sp, connector: shared_sharepointonline, account: anna.meier@contoso.com}\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def new_rule(rule_id: str, pack: Path, name: str = "forbidden-connector") -> Path:
    """Create ``<pack>/<id>-<name>/`` with rule.yaml, README.md and a firing and a silent fixture."""
    if not _ID.fullmatch(rule_id):
        raise UsageError(f"rule id must be a letter then letters, digits, '_' or '-' (got {rule_id!r})")
    if not _NAME.fullmatch(name):
        raise UsageError(f"rule name must be kebab-case (got {name!r})")
    folder = pack / f"{rule_id}-{name}"
    existing = [d.name for d in pack.glob(f"{rule_id}-*")] if pack.is_dir() else []
    if existing:
        raise UsageError(f"{pack / existing[0]} already exists")
    _write(folder / "rule.yaml", _RULE_YAML.format(rule_id=rule_id, name=name))
    _write(folder / "README.md", _README.format(rule_id=rule_id, name=name))
    for fixture, connections, keys in (("fires", _FIRES, "keys:\n  - PRD/conn-tw\n"), ("silent", _SILENT, "keys: []\n")):
        _write(folder / "fixtures" / fixture / "policykit.yaml", _ESTATE)
        _write(folder / "fixtures" / fixture / "prd.yaml", _SNAPSHOT.format(connections=connections))
        _write(folder / "fixtures" / fixture / "expect.yaml",
               "# The finding keys this estate must produce: no more, no fewer.\n" + keys)
    return folder


_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "policykit-{name}"
version = "0.1.0"
description = "PolicyKit rule pack {name}."
requires-python = ">=3.10"
dependencies = ["power-policykit"]

[project.optional-dependencies]
test = ["pytest>=7"]

# PolicyKit loads every installed module declared in the entry-point group "policykit".
[project.entry-points.policykit]
{name} = "{module}"

[tool.hatch.build.targets.wheel]
packages = ["{module}"]
"""

_INIT = '''\
"""PolicyKit rule pack {name}: the YAML rules in rules/ (add JMESPath functions and document
enrichments here: see PolicyKit's docs/writing-rules.md)."""

from __future__ import annotations

from pathlib import Path

from policykit import hookimpl, load_rule_dir

__version__ = "0.1.0"


@hookimpl
def policykit_rules():
    return load_rule_dir(Path(__file__).parent / "rules", origin="policykit-{name}", display="{module}/rules")
'''

_TEST = '''\
"""The pack's rules prove themselves on their fixtures (`policykit test`) and validate."""

from pathlib import Path

from policykit.cli import main

PACK = Path(__file__).resolve().parent.parent


def test_rule_fixtures():
    assert main(["test", str(PACK)]) == 0


def test_rules_validate():
    assert main(["validate", str(PACK)]) == 0
'''

_PACK_README = """\
# policykit-{name}

A PolicyKit rule pack.

```sh
policykit test .                                      # run every rule's fixtures
policykit validate .                                  # check the rules
policykit new-rule {prefix}002 --pack {module}/rules --name my-rule   # add a rule
pip install -e . && policykit rules                   # installed, the pack loads by its entry point
pytest                                                # tests/ runs test and validate
```
"""


def new_pack(name: str, parent: Path, rule_id: str | None = None) -> Path:
    """Create ``<parent>/<name>/``: a pip-installable pack with one rule and its tests."""
    if not _PACK.fullmatch(name):
        raise UsageError(f"pack name must be lower-case words joined by '-' (got {name!r})")
    root = parent / name
    if root.exists():
        raise UsageError(f"{root} already exists")
    module = "policykit_" + name.replace("-", "_")
    prefix = re.sub(r"[^A-Z]", "", name.upper())[:3] or "RUL"
    _write(root / "pyproject.toml", _PYPROJECT.format(name=name, module=module))
    _write(root / module / "__init__.py", _INIT.format(name=name, module=module))
    _write(root / "tests" / "test_pack.py", _TEST)
    _write(root / "README.md", _PACK_README.format(name=name, module=module, prefix=prefix))
    new_rule(rule_id or f"{prefix}001", root / module / "rules")
    return root
