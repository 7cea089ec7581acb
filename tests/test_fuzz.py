"""Property: whatever a valid input is mutated into — truncated, bytes flipped, an element
removed — the outcome is a normal scan or a clean input error, never a crash."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from conftest import RULES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from policykit.errors import PolicyKitError
from policykit.scanner import EnvironmentSpec, Estate, scan

ORDERS = RULES / "_fixtures" / "solutions" / "Orders"
FLOW = next((ORDERS / "Workflows").glob("*.json"))
SNAPSHOT = RULES / "PPK101-connection-reference-personal-account" / "fixtures" / "fires" / "prd.yaml"
SETTINGS = RULES / "PPK102-connection-reference-unbound" / "fixtures" / "fires" / "deploymentSettings.json"
EXPORT = Path(__file__).parent / "data" / "environments" / "contoso-dev"

TARGETS = {
    "customizations": "Orders/Other/Customizations.xml",
    "solution": "Orders/Other/Solution.xml",
    "flow": f"Orders/Workflows/{FLOW.name}",
    "flow-metadata": f"Orders/Workflows/{FLOW.name}.data.xml",
    "snapshot": "prd.yaml",
    "settings": "settings.json",
    "systemusers": "dev/systemusers.json",
    "connections": "dev/connections.json",
}

INTERNAL = ("KeyError", "TypeError", "AttributeError", "IndexError", "ValueError", "RecursionError")


def _estate(root: Path) -> Estate:
    return Estate(name="fuzz", solutions=[root / "Orders"], environments=[
        EnvironmentSpec(name="PRD", metadata=root / "prd.yaml", settings=[root / "settings.json"]),
        EnvironmentSpec(name="DEV", metadata=root / "dev"),
    ])


def _layout(root: Path) -> None:
    shutil.copytree(ORDERS, root / "Orders")
    shutil.copy(SNAPSHOT, root / "prd.yaml")
    shutil.copy(SETTINGS, root / "settings.json")
    shutil.copytree(EXPORT, root / "dev")


def _drop_element(data: bytes, index: int) -> bytes:
    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError:
        return data
    elements = [e for e in root.iter() if e is not root and isinstance(e.tag, str)]
    if not elements:
        return data
    victim = elements[index % len(elements)]
    victim.getparent().remove(victim)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("drop"), st.integers(0, 10_000)),
)


def _mutate(data: bytes, how) -> bytes:
    kind, arg = how
    if kind == "truncate":
        return data[: int(len(data) * arg)]
    if kind == "flip":
        out = bytearray(data)
        for where, byte in arg:
            out[min(int(where * len(out)), len(out) - 1)] = byte
        return bytes(out)
    return _drop_element(data, arg)


@settings(max_examples=int(os.environ.get("POLICYKIT_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(sorted(TARGETS)), how=mutation)
def test_mutated_input_scans_or_fails_cleanly(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _layout(root)
        path = root / TARGETS[target]
        path.write_bytes(_mutate(path.read_bytes(), how))
        try:
            result = scan(_estate(root), entry_points=False)
        except PolicyKitError:
            return  # a clean, reported error
        assert not result.rule_failures, result.rule_failures
        for failure in result.input_failures:
            assert failure.file, failure
            assert not failure.message.startswith("cannot read "), failure.message  # a loader bug
            assert not any(name in failure.message for name in INTERNAL), failure.message
