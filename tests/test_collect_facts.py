"""The facts ``policykit collect`` relies on agree with each other and with docs/environment-export.md:
one request per export file, queries copied verbatim, a reader role holding exactly the Read
privileges the requests need, and well-formed hosts and token scopes for every cloud."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from conftest import REPO

from policykit.collect.clouds import CLOUDS, DEFAULT_CLOUD, dataverse_scope
from policykit.collect.permissions import (
    HOSTS,
    LIST_ENVIRONMENTS,
    NOT_COLLECTED,
    REQUESTS,
    reader_privileges,
    request_for,
)
from policykit.loaders.environment_export import _FILES

EXPORT_DOC = REPO / "docs" / "environment-export.md"
READER_ROLE = REPO / "policykit" / "data" / "collect-reader-role.json"


def _doc_rows() -> dict[str, str]:
    """File name (``<roleid>`` kept) → the request column of docs/environment-export.md's table."""
    rows = {}
    for line in EXPORT_DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`([^`]+\.json)`", cells[0]) if len(cells) >= 3 else None
        if name:
            rows[name.group(1)] = cells[1]
    return rows


def _doc_name(file: str) -> str:
    return file.replace("{role_id}", "<roleid>")


def _doc_get(cell: str) -> str | None:
    """The ``GET ...`` text of a request cell (without ``GET``), or None for a file no API serves."""
    found = re.search(r"`GET ([^`]+)`", cell)
    return found.group(1) if found else None


def test_the_doc_table_is_parsed():
    assert {"environment.json", "systemusers.json", "roleprivileges/<roleid>.json", "processlicenses.json"} <= set(_doc_rows())


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: r.dataset)
def test_every_request_writes_a_file_of_the_export_doc(request_):
    assert _doc_name(request_.file) in _doc_rows(), f"{request_.file} is not in docs/environment-export.md"
    assert request_.host in HOSTS
    assert request_.file.removesuffix(".json").split("/")[0] == request_.dataset.split("/")[0]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: r.dataset)
def test_queries_are_copied_verbatim_from_the_doc(request_):
    documented = _doc_get(_doc_rows()[_doc_name(request_.file)])
    assert documented, f"docs/environment-export.md gives no GET for {request_.file}"
    doc_path, _, doc_query = documented.partition("?")
    path, _, query = request_.path.partition("?")
    if doc_query:
        assert query == doc_query
    tail = re.sub(r"\{[a-z_]+\}|<[a-z]+>", "{}", doc_path.split("/api/data/v9.2/")[-1])
    assert re.sub(r"\{[a-z_]+\}", "{}", path).endswith(tail.replace("/{id}", "/{}"))


def test_every_dataset_the_loader_reads_has_a_request_or_a_reason():
    files = {r.file for r in REQUESTS}
    for name in _FILES:
        assert name in files or name in NOT_COLLECTED, f"{name}: no request and no reason"
    assert "roleprivileges/{role_id}.json" in files
    assert "environment.json" in files
    assert not files & set(NOT_COLLECTED)


def test_requests_are_unique_and_in_a_workable_order():
    order = [r.dataset for r in REQUESTS]
    assert len(order) == len(set(order))
    assert order[0] == "environment"  # holds the instance URL every Dataverse request needs
    assert order.index("roles") < order.index("roleprivileges")
    assert request_for("environments") is LIST_ENVIRONMENTS and LIST_ENVIRONMENTS.file == ""


@pytest.mark.parametrize("request_", (*REQUESTS, LIST_ENVIRONMENTS), ids=lambda r: r.dataset)
def test_paging_and_permission_are_stated(request_):
    if request_.paged:
        expected = "nextLink" if request_.host in ("bap", "powerapps") else "@odata.nextLink"
        assert request_.next_link_key == expected
    else:
        assert request_.next_link_key == ""
    assert request_.permission and "\n" not in request_.permission
    assert request_.api_version, f"{request_.dataset}: no api-version"
    assert bool(request_.privileges) == (request_.host == "dataverse")


def test_api_versions():
    assert request_for("environment").api_version == "2023-06-01"
    assert request_for("connections").api_version == "2016-11-01"
    assert request_for("systemusers").api_version == "v9.2"
    assert request_for("users").api_version == "v1.0"


def test_render_quotes_spaces_and_placeholder_values():
    workflows = request_for("workflows").render()
    assert "category%20eq%205" in workflows and " " not in workflows
    assert "$select=workflowid," in workflows and "$filter=" in workflows
    env = request_for("connections").render(environment_id="Default-1234/../x")
    assert "/environments/Default-1234%2F..%2Fx/connections?" in env
    privileges = request_for("roleprivileges").render(role_id="627090ff-40a3-4053-8790-584edc5be201")
    assert privileges == ("/api/data/v9.2/roles(627090ff-40a3-4053-8790-584edc5be201)"
                          "/Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRole()")


def test_reader_role_holds_exactly_the_read_privileges_needed_at_global_depth():
    role = json.loads(READER_ROLE.read_text(encoding="utf-8"))
    assert role["name"] == "PolicyKit Reader" and role["description"]
    names = [p["name"] for p in role["privileges"]]
    assert len(names) == len(set(names))
    for privilege in role["privileges"]:
        assert privilege["name"].startswith("prvRead"), privilege
        assert privilege["depth"] == "Global", privilege
        assert privilege["reason"], privilege
    assert set(names) == set(reader_privileges())
    assert "prvReadRole" in names  # RetrieveRolePrivilegesRole needs it


@pytest.mark.parametrize("cloud", CLOUDS.values(), ids=lambda c: c.name)
def test_every_cloud_has_https_urls_and_default_scopes(cloud):
    for url in (cloud.authority, cloud.bap, cloud.powerapps, cloud.graph):
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.hostname and parts.path == "", url
    for scope in (cloud.bap_audience, cloud.powerapps_audience, cloud.graph_audience):
        assert scope.startswith("https://") and scope.endswith("/.default") and "//.default" not in scope, scope
    assert cloud.graph_audience == cloud.graph + "/.default"
    assert cloud.scope("bap") == cloud.bap_audience and cloud.base("graph") == cloud.graph


def test_cloud_names():
    assert set(CLOUDS) == {"public", "gcc", "gcchigh", "dod", "china"}
    assert all(name == cloud.name for name, cloud in CLOUDS.items())
    assert DEFAULT_CLOUD in CLOUDS
    public = CLOUDS["public"]
    assert public.bap == "https://api.bap.microsoft.com"
    assert public.bap_audience == public.powerapps_audience == "https://service.powerapps.com/.default"


def test_dataverse_scope():
    assert dataverse_scope("https://contoso.crm4.dynamics.com/") == "https://contoso.crm4.dynamics.com/.default"
    assert dataverse_scope("https://contoso.crm.dynamics.com") == "https://contoso.crm.dynamics.com/.default"
    assert dataverse_scope("https://Contoso.crm9.dynamics.com/main.aspx?x=1") == "https://contoso.crm9.dynamics.com/.default"
    assert CLOUDS["gcc"].scope("dataverse", "https://org.crm9.dynamics.com/") == "https://org.crm9.dynamics.com/.default"
    for bad in ("contoso.crm.dynamics.com", "ftp://contoso/", ""):
        with pytest.raises(ValueError):
            dataverse_scope(bad)
    with pytest.raises(ValueError):
        CLOUDS["public"].scope("dataverse")
    with pytest.raises(ValueError):
        CLOUDS["public"].scope("sharepoint")
