"""``policykit collect`` against a real HTTP server on 127.0.0.1 serving Microsoft's response shapes
(tests/fakes/power_platform.py): paging at odd sizes, 429 + Retry-After, 503, 403 on one dataset,
a slow endpoint, a malformed body. What collect writes, scan reads to the same findings as the
original export folders. No request ever leaves the machine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLE, REPO

from policykit.scanner import EnvironmentSpec, Estate, discover_solutions, scan

pytest.importorskip("httpx")
from fakes.power_platform import FakeTenant  # noqa: E402

DEV = EXAMPLE / "environments" / "dev"
CONTOSO = REPO / "tests" / "data" / "environments" / "contoso-dev"
TOKEN = "test-token"
SECRET_TOKEN = "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ0IiwiYXBwaWQiOiJhIiwib2lkIjoibyJ9.c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ"


@pytest.fixture
def tenant(request):
    """One tenant: the example's DEV export, plus contoso-dev for tests that need two environments
    (Graph is tenant-wide, so the fake then serves both folders' users as one directory)."""
    folders = {"dev": DEV, "contoso": CONTOSO} if request.node.get_closest_marker("two_environments") else {"dev": DEV}
    with FakeTenant(folders, page_size=2, token=TOKEN) as fake:
        yield fake


@pytest.fixture
def collect(cli, tenant, monkeypatch):
    monkeypatch.setenv("POLICYKIT_ACCESS_TOKEN", TOKEN)

    def run(*args: str):
        hosts = [f"--endpoint=bap={tenant.bap}", f"--endpoint=powerapps={tenant.powerapps}",
                 f"--endpoint=graph={tenant.graph}"]
        return cli("collect", *hosts, "--retries", "2", *args)

    return run


def _display(folder: Path) -> str:
    return json.loads((folder / "environment.json").read_text(encoding="utf-8"))["properties"]["displayName"]


def _rows(path: Path):
    body = json.loads(path.read_text(encoding="utf-8"))
    return body["value"] if isinstance(body, dict) and "value" in body else body


def _findings(env_folder: Path):
    estate = Estate(name="t", solutions=discover_solutions(EXAMPLE / "solutions"),
                    environments=[EnvironmentSpec(name="DEV", metadata=env_folder)])
    result = scan(estate, entry_points=False)
    assert not result.input_failures, result.input_failures
    return sorted((f.rule_id, f.key, f.message) for f in result.findings), result


def test_collect_writes_the_export_folder_and_scan_reads_it_the_same(collect, tenant, tmp_path):
    out = tmp_path / "exports"
    run = collect("--all", "--out", out)
    assert run.code == 0, run.err
    folder = out / _display(DEV)
    for original in sorted(DEV.rglob("*.json")):
        name = original.relative_to(DEV).as_posix()
        if name in ("processlicenses.json", "environment.json"):
            continue
        assert _rows(folder / name) == _rows(original), name  # pages merged, content unchanged
    assert not (folder / "processlicenses.json").exists()  # no API: the administrator's file
    # The administrator's file survives the next collect, and then the scan is the original's.
    shutil.copyfile(DEV / "processlicenses.json", folder / "processlicenses.json")
    assert collect("--all", "--out", out).code == 0
    assert (folder / "processlicenses.json").is_file()
    assert _findings(folder)[0] == _findings(DEV)[0]
    # Paging was real: Dataverse and Graph lists came in pages of two.
    assert any("$skiptoken" in r["path"] + json.dumps(r["query"]) for r in tenant.requests)


def test_provenance_never_holds_a_token(cli, tmp_path, monkeypatch):
    with FakeTenant({"dev": DEV}, page_size=1, token=SECRET_TOKEN) as fake:
        monkeypatch.setenv("POLICYKIT_ACCESS_TOKEN", SECRET_TOKEN)
        run = cli("collect", "--all", "--out", tmp_path, f"--endpoint=bap={fake.bap}",
                  f"--endpoint=powerapps={fake.powerapps}", f"--endpoint=graph={fake.graph}")
    assert run.code == 0, run.err
    provenance = (tmp_path / _display(DEV) / "collection.json").read_text(encoding="utf-8")
    signature = SECRET_TOKEN.rsplit(".", 1)[1]
    for text in (provenance, run.out, run.err):
        assert SECRET_TOKEN not in text and signature not in text
    record = json.loads(provenance)
    assert record["identity"] == {"method": "POLICYKIT_ACCESS_TOKEN", "tid": "t", "oid": "o", "appid": "a"}
    request = next(r for r in record["requests"] if r["file"] == "systemusers.json")
    assert request["status"] == 200 and request["pages"] >= 2 and request["records"] == len(_rows(DEV / "systemusers.json"))
    assert request["url"].startswith(fake.base) and "api-version" not in request["url"]
    assert record["files"]["systemusers.json"] == {"status": "collected", "records": request["records"]}


def test_throttling_is_waited_out(collect, tenant, tmp_path):
    tenant.fail("systemusers", 429, headers={"Retry-After": "1"})
    tenant.fail("connections", 503)
    run = collect("--all", "--out", tmp_path)
    assert run.code == 0, run.err
    record = json.loads((tmp_path / _display(DEV) / "collection.json").read_text(encoding="utf-8"))
    users = next(r for r in record["requests"] if r["file"] == "systemusers.json")
    assert users["attempts"] >= 2 and users["waited_s"] >= 1.0


@pytest.mark.two_environments
def test_a_forbidden_dataset_is_not_collected_and_the_scan_says_why(collect, tenant, tmp_path):
    dev_id = json.loads((DEV / "environment.json").read_text(encoding="utf-8"))["name"].lower()
    tenant.fail(f"/dv/{dev_id}/api/data/v9.2/workflows", 403, times=10, body=json.dumps(
        {"error": {"code": "0x80040220", "message": "Principal user is missing prvReadWorkflow privilege"}}).encode())
    run = collect("--all", "--out", tmp_path)
    assert run.code == 2  # collected what it could; says what it could not
    assert "workflows.json" in run.err and "prvReadWorkflow" in run.err
    folder = tmp_path / _display(DEV)
    assert not (folder / "workflows.json").exists()  # never written empty
    record = json.loads((folder / "collection.json").read_text(encoding="utf-8"))
    assert record["files"]["workflows.json"]["status"] == "not_collected"
    assert (tmp_path / _display(CONTOSO) / "workflows.json").is_file()  # the other environment is complete
    _, result = _findings(folder)
    reasons = [reason for rule_id, reason in result.skipped if rule_id == "PPK205"]
    assert reasons and "workflows not collected" in reasons[0] and "403" in reasons[0]


def test_data_policies_are_listed_then_each_read_whole(cli, tmp_path, monkeypatch):
    """The list (paged with nextLink, one policy a page here) only names the policies; each is then
    read whole, since the list leaves out the action and endpoint rules PPK603/PPK604 judge."""
    with FakeTenant({"dev": DEV}, page_size=1, token=TOKEN) as fake:
        monkeypatch.setenv("POLICYKIT_ACCESS_TOKEN", TOKEN)
        run = cli("collect", "--all", "--out", tmp_path, f"--endpoint=bap={fake.bap}",
                  f"--endpoint=powerapps={fake.powerapps}", f"--endpoint=graph={fake.graph}")
        paths = [r["path"] for r in fake.requests if "governance" in r["path"].lower()]
    assert run.code == 0, run.err
    folder = tmp_path / _display(DEV)
    written = _rows(folder / "dlppolicies.json")
    assert written == _rows(DEV / "dlppolicies.json")  # whole bodies, connector configurations included
    assert any(p["connectorConfigurationsDefinition"] for p in written)
    names = sorted(p["policyDefinition"]["name"] for p in written)
    assert sorted(p.rsplit("/", 1)[1] for p in paths if not p.endswith("/policies")) == names
    assert sum(p.endswith("/policies") for p in paths) == len(names)  # one list page per policy
    record = json.loads((folder / "collection.json").read_text(encoding="utf-8"))
    assert record["files"]["dlppolicies.json"] == {"status": "collected", "records": len(names)}
    assert len([r for r in record["requests"] if r["file"] == ""]) == len(names)  # one per policy, recorded


def test_data_policies_are_all_or_none(collect, tenant, tmp_path):
    """One policy that cannot be read leaves no dlppolicies.json: the DLP rules then say they could
    not judge the environment, never that no policy covers it."""
    name = _rows(DEV / "dlppolicies.json")[1]["policyDefinition"]["name"]
    tenant.fail(f"v2/policies/{name}", 403, times=10)
    run = collect("--all", "--out", tmp_path)
    assert run.code == 2 and "dlppolicies.json" in run.err
    folder = tmp_path / _display(DEV)
    assert not (folder / "dlppolicies.json").exists()
    record = json.loads((folder / "collection.json").read_text(encoding="utf-8"))
    assert record["files"]["dlppolicies.json"]["status"] == "not_collected"
    assert name in record["files"]["dlppolicies.json"]["reason"]
    _, result = _findings(folder)
    reasons = [reason for rule_id, reason in result.skipped if rule_id == "PPK606"]
    assert reasons and "not collected" in reasons[0] and "403" in reasons[0]


@pytest.mark.parametrize("fault", ["malformed", "slow"])
def test_a_broken_endpoint_is_recorded_not_taken_as_empty(collect, tenant, tmp_path, fault):
    if fault == "malformed":
        tenant.fail("connections", 200, times=10, body=b'{"value": [')
    else:
        tenant.fail("connections", 200, times=10, delay=3.0)
    run = collect("--all", "--out", tmp_path, "--timeout", "0.5", "--retries", "1")
    assert run.code == 2
    record = json.loads((tmp_path / _display(DEV) / "collection.json").read_text(encoding="utf-8"))
    assert record["files"]["connections.json"]["status"] == "not_collected"
    assert not (tmp_path / _display(DEV) / "connections.json").exists()


def test_an_environment_that_cannot_be_read_leaves_no_half_folder(collect, tenant, tmp_path):
    dev_id = json.loads((DEV / "environment.json").read_text(encoding="utf-8"))["name"].lower()
    previous = tmp_path / _display(DEV)
    previous.mkdir(parents=True)
    (previous / "marker").write_text("the last complete collect", encoding="utf-8")
    tenant.fail(f"environments/{dev_id}?", 403, times=10)
    run = collect("--all", "--out", tmp_path)
    assert run.code == 2 and _display(DEV) in run.err
    assert (previous / "marker").is_file() and not (previous / "systemusers.json").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


@pytest.mark.two_environments
@pytest.mark.parametrize("how", ["name", "id", "url"])
def test_environment_by_name_id_or_url(collect, tenant, tmp_path, how):
    env = json.loads((CONTOSO / "environment.json").read_text(encoding="utf-8"))
    wanted = {"name": env["properties"]["displayName"].upper(), "id": env["name"].lower(),
              "url": tenant.dataverse(env["name"].lower()) + "/"}[how]
    run = collect("--environment", wanted, "--out", tmp_path)
    assert run.code == 0, run.err
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [env["properties"]["displayName"]]


def test_unknown_environment_is_a_usage_error(collect, tmp_path):
    run = collect("--environment", "Contoso QA", "--out", tmp_path)
    assert run.code == 2 and "matches no environment" in run.err and "Traceback" not in run.err


def test_dry_run_sends_nothing_and_names_permissions(collect, tenant, tmp_path):
    run = collect("--all", "--out", tmp_path, "--dry-run")
    assert run.code == 0 and tenant.requests == []
    assert "User.Read.All" in run.out and "RetrieveRolePrivilegesRole" in run.out and "prvReadRole" in run.out
    assert not any(tmp_path.iterdir())


def test_check_says_what_is_missing(collect, tenant, tmp_path):
    tenant.fail("applicationusers", 403, times=10)
    run = collect("--all", "--out", tmp_path, "--check")
    assert run.code == 2
    assert "MISSING  applicationusers.json" in run.out and "prvReadApplicationUser" in run.out
    assert not any(tmp_path.iterdir())


@pytest.mark.two_environments
def test_collect_into_the_estate_folders(collect, tenant, tmp_path):
    shutil.copytree(CONTOSO, tmp_path / "exports" / "dev")
    for f in (tmp_path / "exports" / "dev").glob("*.json"):
        if f.name != "environment.json":
            f.unlink()
    (tmp_path / "policykit.yaml").write_text("environments:\n  DEV:\n    metadata: exports/dev\n", encoding="utf-8")
    run = collect("--config", tmp_path / "policykit.yaml")
    assert run.code == 0, run.err
    assert _rows(tmp_path / "exports" / "dev" / "systemusers.json") == _rows(CONTOSO / "systemusers.json")


def test_retry_after_forms():
    from policykit.collect.http import retry_after
    assert retry_after("7") == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_tokens_one_per_scope_renewed_before_expiry():
    """A credential is asked once per scope until its token nears expiry; POLICYKIT_ACCESS_TOKEN
    serves every host; an unknown --auth is a usage error, not a traceback."""
    import time

    from policykit.collect.tokens import AzureTokens, StaticToken, token_provider
    from policykit.errors import UsageError

    class Credential:
        def __init__(self):
            self.asked = []

        def get_token(self, scope):
            self.asked.append(scope)
            lifetime = 3600 if scope.startswith("https://graph") else 60  # the Dataverse one expires soon
            return type("AccessToken", (), {"token": f"t-{len(self.asked)}", "expires_on": int(time.time()) + lifetime})()

    credential = Credential()
    tokens = AzureTokens("default", credential)
    graph, dataverse = "https://graph.microsoft.com/.default", "https://contoso.crm4.dynamics.com/.default"
    assert tokens.token(graph) == tokens.token(graph) == "t-1"
    tokens.token(dataverse)
    tokens.token(dataverse)  # 60 s left is under the renewal margin: asked again
    assert credential.asked == [graph, dataverse, dataverse]
    assert isinstance(token_provider(None, {"POLICYKIT_ACCESS_TOKEN": " abc "}), StaticToken)
    with pytest.raises(UsageError, match="--auth must be one of"):
        token_provider("password", {})


def test_a_malformed_collection_json_is_refused_with_its_line(tmp_path):
    from policykit.errors import InputError
    from policykit.loaders.environment_export import load_export
    folder = tmp_path / "dev"
    shutil.copytree(DEV, folder)
    (folder / "collection.json").write_text('{\n "files": {\n  "users.json": {"status": "maybe"}\n }\n}\n',
                                            encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_export(folder, "dev")
    assert caught.value.file == "dev/collection.json" and caught.value.line == 3
    assert "status must be one of collected, not_collected, partial" in caught.value.message
