"""Property: whatever a valid input is mutated into — truncated, bytes flipped, an element
removed — the outcome is a normal scan or a clean input error, never a crash."""

from __future__ import annotations

import json
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
            assert not failure.message.startswith(("cannot read ", "internal error")), failure.message  # a loader bug
            assert not any(name in failure.message for name in INTERNAL), failure.message


# --------------------------------------------------------------------------- loader safety (issue 10)
# Inputs that used to lose data in silence or crash a loader: duplicate and case-variant zip
# entries, flag bits a zip library trips over, links in solution folders, export files that hold
# one page of many or are named in other case, settings values of the wrong type. Each must end
# in a clean InputError or a normal scan, never another exception nor the loader catch-all.

_SAFETY_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                         max_size=3),
                            max_leaves=6)

_SAFETY_HAZARD = st.one_of(
    st.tuples(st.just("zip-duplicate"), st.integers(0, 99), st.sampled_from(["same", "upper", "lower", "swap",
                                                                             "backslash"])),
    st.tuples(st.just("zip-flags"), st.integers(0, 99), st.sampled_from([0x1, 0x800, 0x801, 0x8])),
    st.tuples(st.just("symlink"), st.sampled_from(["", "Other", "Workflows", "Roles"]),
              st.sampled_from(["file", "folder", "dangling", "loop"])),
    st.tuples(st.just("next-link"), st.sampled_from(["systemusers.json", "connections.json", "users.json",
                                                     "roles.json"]),
              st.sampled_from(["@odata.nextLink", "nextLink", "@odata.NEXTLINK"]), _SAFETY_JSON),
    st.tuples(st.just("export-case"), st.sampled_from(["systemusers.json", "connectionreferences.json",
                                                       "environment.json", "roleprivileges"]),
              st.booleans()),
    st.tuples(st.just("settings"), st.sampled_from(["ConnectionReferences", "EnvironmentVariables"]),
              st.sampled_from(["LogicalName", "ConnectionId", "ConnectorId", "SchemaName", "Value"]), _SAFETY_JSON),
)


def _safety_zip(root: Path, index: int, how: str, mask: int | None) -> Path:
    import warnings
    import zipfile
    entries = [("solution.xml", (ORDERS / "Other" / "Solution.xml").read_bytes()),
               ("customizations.xml", (ORDERS / "Other" / "Customizations.xml").read_bytes())]
    entries += [(f"Workflows/{p.name}", p.read_bytes()) for p in sorted((ORDERS / "Workflows").glob("*.json"))]
    name, data = entries[index % len(entries)]
    if how is not None:
        variant = {"same": name, "upper": name.upper(), "lower": name.lower(), "swap": name.swapcase(),
                   "backslash": name.replace("/", "\\")}[how]
        entries.append((variant, data))
    path = root / "Orders.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for entry, content in entries:
                zf.writestr(entry, content)
    if mask is not None:  # set flag bits in the local and central headers of the chosen entry
        raw = bytearray(path.read_bytes())
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = raw.find(signature)
            while at >= 0:
                size_at = 26 if offset == 6 else 28
                length = int.from_bytes(raw[at + size_at:at + size_at + 2], "little")
                start = at + (30 if offset == 6 else 46)
                if raw[start:start + length] == name.encode():
                    flags = int.from_bytes(raw[at + offset:at + offset + 2], "little") | mask
                    raw[at + offset:at + offset + 2] = flags.to_bytes(2, "little")
                at = raw.find(signature, at + 4)
        path.write_bytes(bytes(raw).replace(b"Orders-", b"\xffrders-") if mask & 0x800 else bytes(raw))
    return path


def _safety_apply(root: Path, hazard: tuple) -> list[Path]:
    """Build the hazard into the layout of :func:`_layout`; return extra solutions to scan."""
    import json
    kind = hazard[0]
    if kind in ("zip-duplicate", "zip-flags"):
        how, mask = (hazard[2], None) if kind == "zip-duplicate" else (None, hazard[2])
        return [_safety_zip(root, hazard[1], how, mask)]
    if kind == "symlink":
        where = root / "Orders" / hazard[1]
        where.mkdir(exist_ok=True)
        target = {"file": SETTINGS, "folder": root / "dev", "dangling": root / "nowhere",
                  "loop": where}[hazard[2]]
        (where / "link").symlink_to(target)
    elif kind == "next-link":
        path = root / "dev" / hazard[1]
        body = json.loads(path.read_text(encoding="utf-8-sig"))
        body[hazard[2]] = hazard[3]
        path.write_text(json.dumps(body, indent=1), encoding="utf-8")
    elif kind == "export-case":
        path = root / "dev" / hazard[1]
        variant = path.with_name(path.name.upper())
        if hazard[2]:
            shutil.copytree(path, variant) if path.is_dir() else shutil.copy(path, variant)
        else:
            path.rename(variant)
    elif kind == "settings":
        path = root / "settings.json"
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        items = doc.get(hazard[1]) or [{}]
        items[0][hazard[2]] = hazard[3]
        doc[hazard[1]] = items
        path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return []


@settings(max_examples=int(os.environ.get("POLICYKIT_FUZZ_EXAMPLES", "150")) // 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(hazard=_SAFETY_HAZARD)
def test_loader_hazards_scan_or_fail_cleanly(hazard):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _layout(root)
        extra = _safety_apply(root, hazard)
        estate = _estate(root)
        estate.solutions += extra
        try:
            result = scan(estate, entry_points=False)
        except PolicyKitError:
            return
        assert not result.rule_failures, result.rule_failures
        for failure in result.input_failures:
            assert failure.file, failure
            assert not failure.message.startswith("internal error"), failure.message  # the loader catch-all
            assert not any(name in failure.message for name in INTERNAL + ("RuntimeError", "ZipInfo")), failure


# --------------------------------------------------------------------------- parser and pattern safety (issue 10)
# YAML tags anywhere, keys given twice, very long strings, and policy patterns that backtrack
# for hours on Python's re: each ends in a clean InputError/PolicyError or a normal scan, in
# bounded time, never another exception.

_TAG = st.one_of(
    st.sampled_from(["!!int", "!!bool", "!!timestamp", "!!str", "!!float", "!!null", "!!binary", "!!set", "!!omap",
                     "!!map", "!!seq", "!!merge", "!!python/object/apply:os.system", "!!python/name:os.system",
                     "!Ref", "!", "!<tag:yaml.org,2002:str>", "!e!x"]),
    st.from_regex(r"!{1,2}[A-Za-z][A-Za-z0-9/:._-]{0,12}", fullmatch=True),
)
_BOMB = st.recursive(
    st.sampled_from(["a", "a?", ".", "\\w", "\\d", "[a-z]", "(?:a|a)", "x", "\\b"]),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map("".join),
        st.tuples(inner, st.sampled_from(["+", "*", "{1,30}", "+?", "{2}"])).map(lambda t: f"({t[0]}){t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"(?:{t[0]}|{t[1]})"),
    ),
    max_leaves=6,
)
_PATTERN = st.one_of(
    st.tuples(_BOMB, st.sampled_from(["", "$", "^", "!"])).map(lambda t: "^" + t[0] if t[1] == "^" else t[0] + t[1]),
    st.sampled_from(["(a+)+$", "(a|aa)+$", "(.*a){12}", "(?=a)a", "(\\w)\\1", "a{99999999999}", "(x{1000}){1000}",
                     "(?!)", "(?i)^a", "\\Z", "(?x) a", "(", "[", "*", "\\pL"]),
    st.text(alphabet="a()[]{}+*?|\\.$^-,0123456789!=<:#", max_size=16),
)
_PATTERN_SLOT = st.sampled_from(["technical", "platform", "PPK104", "PPK503"])
_LONG_BODY = st.sampled_from(["a", "\\", '"', "é", "\n", "\U0001F600", "{[", " ", "\\u00e9"])
_PARSER_HAZARD = st.one_of(
    st.tuples(st.just("tag"), st.sampled_from(["prd.yaml", "policy.yaml"]), st.floats(0, 1), _TAG),
    st.tuples(st.just("duplicate"), st.sampled_from(["prd.yaml", "policy.yaml", "settings.json",
                                                     "dev/systemusers.json", "dev/connections.json"]),
              st.floats(0, 1)),
    st.tuples(st.just("long"), st.sampled_from(["settings.json", "dev/systemusers.json", TARGETS["flow"]]),
              st.integers(0, 10_000), st.integers(1, 1_000_000), _LONG_BODY),
    st.tuples(st.just("pattern"), _PATTERN_SLOT, _PATTERN),
)
_VICTIM = "a" * 40 + "!"
_POLICY = "description: fuzz\nidentities:\n  technical_accounts:\n    patterns: ['(?i)^techuser_']\n"


def _keyed_lines(text: str, json_file: bool) -> list[int]:
    import re
    key = re.compile(r'^\s*"[^"]+"\s*:' if json_file else r"^\s*(- )?[A-Za-z_][\w.-]*:")
    return [i for i, line in enumerate(text.split("\n")) if key.match(line)]


def _string_leaves(node, out: list) -> list:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                out.append((node, key))
            else:
                _string_leaves(value, out)
    elif isinstance(node, list):
        for item in node:
            _string_leaves(item, out)
    return out


def _pattern_policy(root: Path, slot: str, pattern: str) -> None:
    import json
    quoted = json.dumps(pattern)
    policy = {
        "technical": f"identities:\n  technical_accounts:\n    patterns: [{quoted}]\n",
        "platform": f"identities:\n  platform_applications:\n    name_patterns: [{quoted}]\n",
        "PPK104": f"rules:\n  PPK104:\n    parameters: {{display_name_pattern: {quoted}, logical_name_pattern: {quoted}}}\n",
        "PPK503": f"rules:\n  PPK503:\n    parameters: {{ignore_value_patterns: [{quoted}]}}\n",
    }[slot]
    (root / "policy.yaml").write_text(policy, encoding="utf-8")
    # Names and values a backtracking engine chokes on, where each kind of pattern looks.
    snapshot = root / "prd.yaml"
    snapshot.write_text(snapshot.read_text(encoding="utf-8").replace(
        "users:\n", f"users:\n  - upn: {_VICTIM}@contoso.com\n    name: {_VICTIM}\n", 1), encoding="utf-8")
    customizations = root / "Orders" / "Other" / "Customizations.xml"
    text = customizations.read_text(encoding="utf-8")
    customizations.write_text(text.replace("Fixture Orders SharePoint", _VICTIM), encoding="utf-8")
    settings_file = root / "settings.json"
    doc = json.loads(settings_file.read_text(encoding="utf-8-sig"))
    doc["EnvironmentVariables"] = [{"SchemaName": "fxc_ClientSecret", "Value": "Zq8" + _VICTIM}]
    settings_file.write_text(json.dumps(doc), encoding="utf-8")


def _parser_apply(root: Path, hazard: tuple) -> None:
    import json
    kind, target = hazard[0], hazard[1]
    path = root / target if kind != "pattern" else None
    if kind == "tag":
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        candidates = _keyed_lines(text, False) or [0]
        at = candidates[min(int(hazard[2] * len(candidates)), len(candidates) - 1)]
        line = lines[at]
        cut = line.find(": ") + 2 if ": " in line else (line.find("- ") + 2 if "- " in line else 0)
        lines[at] = line[:cut] + hazard[3] + " " + line[cut:]
        path.write_text("\n".join(lines), encoding="utf-8")
    elif kind == "duplicate":
        text = path.read_text(encoding="utf-8-sig")
        lines = text.split("\n")
        candidates = _keyed_lines(text, target.endswith(".json")) or [0]
        at = candidates[min(int(hazard[2] * len(candidates)), len(candidates) - 1)]
        copy = lines[at].replace("- ", "  ", 1) if lines[at].lstrip().startswith("- ") else lines[at]
        lines.insert(at + 1, copy if copy.rstrip().endswith((",", "{", "[")) or not target.endswith(".json")
                     else copy + ",")
        path.write_text("\n".join(lines), encoding="utf-8")
    elif kind == "long":
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        leaves = _string_leaves(doc, [])
        if leaves:
            node, key = leaves[hazard[2] % len(leaves)]
            node[key] = hazard[4] * (hazard[3] // len(hazard[4].encode()) + 1)
        path.write_text(json.dumps(doc, ensure_ascii=hazard[3] % 2 == 0), encoding="utf-8")
    else:
        _pattern_policy(root, hazard[1], hazard[2])


@settings(max_examples=int(os.environ.get("POLICYKIT_FUZZ_EXAMPLES", "150")) // 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(hazard=_PARSER_HAZARD)
def test_parser_and_pattern_hazards_scan_or_fail_cleanly(hazard):
    import time
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _layout(root)
        (root / "policy.yaml").write_text(_POLICY, encoding="utf-8")
        _parser_apply(root, hazard)
        estate = _estate(root)
        estate.policy = root / "policy.yaml"
        start = time.perf_counter()
        try:
            result = scan(estate, entry_points=False)
        except PolicyKitError as exc:
            assert not any(name in str(exc) for name in INTERNAL), exc
            return
        finally:
            assert time.perf_counter() - start < 30, hazard
        for failure in result.rule_failures:  # a pattern a rule cannot use is reported, not run
            assert hazard[0] == "pattern" and "regular expression" in failure.reason, failure
        for failure in result.input_failures:
            assert failure.file, failure
            assert not failure.message.startswith(("cannot read ", "internal error")), failure.message
            assert not any(name in failure.message for name in INTERNAL), failure.message


# --------------------------------------------------------------------------- output safety (issue 10)
# Names from the inputs reach every report: control characters, escape sequences, bidi controls,
# line breaks and lone surrogates in them must never reach a terminal raw, forge a line, or make a
# report invalid (SARIF and JSON Lines are read by strict JSON parsers).

_HOSTILE_CHARS = st.sampled_from(["\x1b[31m", "\x1b]8;;http://x\x07", "\r", "\n", "\t", "\x00", "\x85",
                                  "\u202e", "\u2066", "\u2028", "\ud800", "\udfff", "é", "|", "`", "<b>", "@here"])
_HOSTILE_NAME = st.lists(st.one_of(_HOSTILE_CHARS, st.text(alphabet="abcXYZ_-. ", max_size=4)),
                         min_size=1, max_size=12).map("".join)
_RAW_CONTROL = [chr(c) for c in range(32) if c != 10] + [chr(c) for c in range(0x7f, 0xa0)] + \
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u2028", "\u2029"]


def _reports(name: str) -> dict[str, str]:
    import json as _json

    from policykit import __version__
    from policykit.reporters.jsonlines import to_json_lines
    from policykit.reporters.markdown import to_markdown
    from policykit.reporters.sarif import to_sarif
    from policykit.reporters.text import to_text
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _layout(root)
        settings = _json.loads((root / "settings.json").read_text(encoding="utf-8"))
        settings["ConnectionReferences"].append({"LogicalName": name, "ConnectionId": "",
                                                 "ConnectorId": "/providers/Microsoft.PowerApps/apis/shared_x"})
        (root / "settings.json").write_text(_json.dumps(settings), encoding="utf-8", errors="surrogatepass")
        result = scan(_estate(root), entry_points=False)
    return {"text": to_text(result), "markdown": to_markdown(result), "jsonl": to_json_lines(result),
            "sarif": to_sarif(result, tool_version=__version__, information_uri="https://example.invalid/p",
                              help_uri_base="https://example.invalid/p/rules/"), "count": str(len(result.active))}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_HOSTILE_NAME)
def test_hostile_names_never_reach_a_report_raw(name):
    import json as _json
    reports, baseline = _reports(name), _reports("cr123_Plain")
    for kind in ("text", "markdown"):
        assert not [c for c in _RAW_CONTROL if c in reports[kind]], kind
        assert len(reports[kind].splitlines()) == len(baseline[kind].splitlines()), kind  # no forged line
    lines = reports["jsonl"].splitlines()
    assert len(lines) == int(reports["count"]) and all(_json.loads(line) for line in lines)
    encoded = reports["sarif"].encode("utf-8")  # strict: a lone surrogate would raise here
    assert _json.loads(encoded.decode("utf-8", errors="strict"))["runs"]


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(value=_JSON_VALUES, indent=st.sampled_from([None, 1, 2, 4, "\t"]), ascii_only=st.booleans(),
       crlf=st.booleans())
def test_pretty_printed_lines_equal_the_token_scan(value, indent, ascii_only, crlf):
    """Whatever JSON the one-expression path accepts, it finds the lines of the token scan: any
    strings (brackets, quotes, escapes, colons inside), any indentation, CRLF line ends."""
    from policykit.parsing import _pretty_positions, _scan_positions
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    if crlf:
        text = text.replace("\n", "\r\n")
    pretty = _pretty_positions(text)
    if pretty is not None:
        assert pretty == _scan_positions(text, "f.json", None)
    if indent is not None and crlf is False:
        assert pretty is not None or "\n" not in text


_SARIF_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text()
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(value=_SARIF_LIKE)
def test_sarif_text_is_what_json_writes(value):
    """The SARIF log is written by orjson where it can, byte for byte what json.dumps(indent=2,
    sort_keys=True, ensure_ascii=True) writes: non-ASCII, DEL, astral characters, control
    characters, big integers, floats and empty containers included."""
    from policykit.reporters import jsontext
    assert jsontext.dumps(value) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=True)


def test_sarif_text_takes_the_fast_path_on_real_logs():
    from policykit.reporters import jsontext
    data = {"runs": [{"results": [{"message": {"text": "caf\u00e9 \U0001F600 \x7f \u2028 \"q\" \\"},
                                   "ruleIndex": 3, "locations": [], "properties": {}}]}], "version": "2.1.0"}
    assert jsontext.orjson is not None and not jsontext._has_float(data)
    assert jsontext.dumps(data) == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True)


_FAST_PATH = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",))),
                                                                 inner, max_size=4),
    max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(value=_FAST_PATH)
def test_sarif_text_fast_path_is_what_json_writes(value):
    """What orjson writes (no float, no lone surrogate, 64-bit integers) is escaped into json's bytes."""
    import orjson

    from policykit.reporters import jsontext
    orjson.dumps(value)  # the fast path is taken: orjson accepts it
    assert jsontext.dumps(value) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=True)
