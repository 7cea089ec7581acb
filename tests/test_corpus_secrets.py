"""The secret rules on the public corpus: they find exactly its two real leaked secrets, and no
report ever contains a secret value.

The corpus (see its SOURCES.md, "Sensitive-looking values") holds two live-looking credentials:
the current value of the String environment variable ``kch_demokey`` (term-buddy) and the
``kch_SharePointAssistantKey`` flow parameter default (sharepoint-site-assistant). PPK501 and
PPK502 must find those and nothing else; PPK503 finds nothing in the corpus's settings files.

The values are read from the corpus files at test time and held in :class:`Hidden`, whose repr
shows only their length: this file never prints, stores or compares them in a way that pytest
could show. Corpus location: $POLICYKIT_CORPUS, default ../shared/corpus.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_estate, needs_corpus

from policykit import __version__
from policykit.models import Finding
from policykit.reporters.sarif import to_sarif
from policykit.reporters.text import to_text
from policykit.scanner import scan

pytestmark = needs_corpus

TERM_BUDDY = "pnp__powerplatform-samples/samples/term-buddy"
SITE_ASSISTANT = "pnp__powerplatform-samples/samples/sharepoint-site-assistant"
DEMOKEY_FILE = "environmentvariabledefinitions/kch_demokey/environmentvariablevalues.json"
ASSISTANT_FLOW_FILE = "workflows/sharepointassistant-sitecreation-2ce870d2-ab19-ee11-8f6d-6045bdf5263a.json"

EXPECTED = {
    "PPK501": {"termbuddy/kch_demokey/current_value"},
    "PPK502": {"SharePointSiteassistant/SharePoint Assistant - Site creation/parameters/"
               "SharePointAssistantKey (kch_SharePointAssistantKey)"},
    "PPK503": set(),
}


class Hidden:
    """A secret read from the corpus. Its repr never shows it; it only answers questions."""

    #: Fragments this long or longer must not appear anywhere (a redaction shows 2 characters).
    FRAGMENT = 12

    def __init__(self, value: object) -> None:
        if not isinstance(value, str) or len(value) < self.FRAGMENT:
            raise AssertionError("the corpus secret was not found where SOURCES.md says it is")
        self._value = value

    def __repr__(self) -> str:
        return f"<hidden secret, {len(self._value)} chars>"

    def found_in(self, text: str) -> bool:
        """Whether the value, a JSON-escaped form of it, or any long fragment of it is in ``text``."""
        forms = {self._value, json.dumps(self._value)[1:-1], json.dumps(self._value, ensure_ascii=False)[1:-1]}
        if any(form in text for form in forms):
            return True
        n = self.FRAGMENT
        return any(self._value[i:i + n] in text for i in range(len(self._value) - n + 1))


def _corpus_path(path: str | Path) -> str:
    """A location relative to the corpus root, whatever the working directory."""
    return Path(path).resolve().relative_to(CORPUS.resolve()).as_posix()


def _where(finding: Finding) -> str:
    assert finding.source is not None and finding.source.line, finding.key
    where = _corpus_path(finding.source.file)
    return f"{where}!{finding.source.entry}" if finding.source.entry else where


def _read(sample: str, suffix: str, extract: Callable[[object], object]) -> dict[str, Hidden]:
    """Every copy (loose file or zip entry) under ``sample`` whose path ends with ``suffix``
    (case-insensitive), by location, holding the value ``extract`` takes out of its JSON."""
    found: dict[str, Hidden] = {}
    for path in sorted((CORPUS / sample).rglob("*")):
        if not path.is_file():
            continue
        if path.as_posix().lower().endswith(suffix):
            found[_corpus_path(path)] = Hidden(extract(json.loads(path.read_bytes().decode("utf-8-sig"))))
        elif path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    if name.replace("\\", "/").lower().endswith(suffix):
                        found[f"{_corpus_path(path)}!{name}"] = Hidden(
                            extract(json.loads(zf.read(name).decode("utf-8-sig"))))
    assert found, f"no {suffix} under {sample}"
    return found


def _demokey(doc: dict) -> object:
    value = doc["environmentvariablevalues"]["environmentvariablevalue"]
    return (value[0] if isinstance(value, list) else value)["value"]


def _assistant_key(doc: dict) -> object:
    params = doc["properties"]["definition"]["parameters"]
    names = [n for n in params if "kch_SharePointAssistantKey" in n]
    assert len(names) == 1, names
    return params[names[0]].get("defaultValue")


@pytest.fixture(scope="module")
def secrets() -> dict[str, dict[str, Hidden]]:
    return {"PPK501": _read(TERM_BUDDY, DEMOKEY_FILE, _demokey),
            "PPK502": _read(SITE_ASSISTANT, ASSISTANT_FLOW_FILE, _assistant_key)}


@pytest.fixture(scope="module")
def result():
    estate = corpus_estate(legacy_packages=True)
    scanned = scan(estate, entry_points=False)
    assert not scanned.input_failures, [(f.file, f.entry, f.message) for f in scanned.input_failures]
    assert not scanned.rule_failures, scanned.rule_failures
    return scanned


@pytest.mark.parametrize("rule_id", sorted(EXPECTED))
def test_secret_rules_find_exactly_the_known_leaks(result, rule_id):
    keys = {f.key for f in result.findings if f.rule_id == rule_id}
    assert keys == EXPECTED[rule_id]


@pytest.mark.parametrize("rule_id", ["PPK501", "PPK502"])
def test_each_copy_of_a_leak_is_reported_at_its_value_or_named_a_copy(result, secrets, rule_id):
    """The zip and the unpacked copy of each sample both leak. The scan reports one copy of each
    solution version and a note names every other copy: each finding points at the file (and zip
    entry) that holds the value, on a line, and each copy not reported is inside a solution that
    a note names as a copy of the reported one. Nothing is dropped in silence."""
    where = {_where(f) for f in result.findings if f.rule_id == rule_id}
    assert where and where <= set(secrets[rule_id])
    copies = [re.search(r"is scanned once: (.+) is a copy of ", n.message) for n in result.notices]
    left_out = {_corpus_path(m.group(1)) for m in copies if m}
    for location in set(secrets[rule_id]) - where:
        container = location.split("!")[0]
        assert any(container == c or container.startswith(c + "/") for c in left_out), location


def test_messages_show_only_the_redacted_form(result, secrets):
    from policykit.functions import redact
    for rule_id, copies in secrets.items():
        for finding in (f for f in result.findings if f.rule_id == rule_id):
            shown = any(redact(h._value) in finding.message for h in copies.values())
            assert shown, f"{rule_id} {finding.key}: the message does not show the redacted value"


def test_no_report_contains_a_secret(result, secrets):
    sarif = to_sarif(result, tool_version=__version__, information_uri="https://example.invalid/policykit",
                     help_uri_base="https://example.invalid/policykit/rules/")
    reports = {
        "SARIF": sarif,
        "text": to_text(result),
        "finding messages and keys": "\n".join(f"{f.key}\n{f.message}" for f in result.findings),
    }
    for name, text in reports.items():
        for rule_id, copies in secrets.items():
            leaked = any(h.found_in(text) for h in copies.values())
            assert not leaked, f"the {name} report contains the secret that {rule_id} reports"


def test_anonymous_http_trigger_in_the_corpus(result):
    keys = {f.key for f in result.findings if f.rule_id == "PPK504"}
    # One finding per anonymous trigger: <flow key>/triggers/<trigger name>.
    assert keys == {"AlwaysReplyToHTTPRequest/Pattern: Always reply to HTTP request/triggers/manual"}
