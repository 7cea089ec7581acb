"""The local fake of Microsoft's APIs (tests/fakes/power_platform.py) answers like them: paging merges
back to exactly the export files, next links are absolute, faults and authentication behave as asked.
Every request goes to 127.0.0.1."""

from __future__ import annotations

import email.utils
import json
import math
import time

import pytest
from conftest import EXAMPLE, REPO

from fakes.power_platform import FakeTenant, http_date

httpx = pytest.importorskip("httpx")

DEV = EXAMPLE / "environments" / "dev"
CONTOSO = REPO / "tests" / "data" / "environments" / "contoso-dev"
AUTH = {"Authorization": "Bearer test-token"}
ENVIRONMENTS = "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments"
BAP_VERSION = "?api-version=2021-04-01"
DATAVERSE_SETS = ("systemusers", "applicationusers", "teams", "roles", "connectionreferences", "workflows")


def _file(folder, name):
    return json.loads((folder / name).read_text(encoding="utf-8"))


def _client(**kwargs) -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=5, **kwargs)   # never a proxy: only 127.0.0.1


def _all_pages(client, url, next_key, headers=None):
    """The first page's body with every page's rows, the number of pages and the next links seen."""
    response = client.get(url, headers={**AUTH, **(headers or {})})
    assert response.status_code == 200, response.text
    body, links = response.json(), []
    link = body.pop(next_key, None)
    while link:
        links.append(link)
        page = client.get(link, headers={**AUTH, **(headers or {})})
        assert page.status_code == 200, page.text
        body["value"] += page.json()["value"]
        link = page.json().get(next_key)
    return body, len(links) + 1, links


def _pages(rows: int, size: int) -> int:
    return max(1, math.ceil(rows / size))


@pytest.fixture(scope="module", params=[1, 2, 7], ids=lambda n: f"page{n}")
def paged(request):
    with FakeTenant({"dev": DEV}, page_size=request.param) as tenant, _client() as client:
        yield tenant, client, request.param


@pytest.fixture
def tenant():
    with FakeTenant({"dev": DEV, "contoso": CONTOSO}, page_size=2) as fake:
        yield fake


@pytest.fixture
def client():
    with _client() as c:
        yield c


def _expected_environment(tenant, folder):
    env = _file(folder, "environment.json")
    env_id = env["name"].lower()
    env["properties"]["linkedEnvironmentMetadata"]["instanceUrl"] = tenant.dataverse(env_id) + "/"
    env["properties"]["linkedEnvironmentMetadata"]["instanceApiUrl"] = tenant.dataverse(env_id)
    return env


# -- paging merges back to the files --------------------------------------------------------------

def test_environments_merge_to_the_folders_environment_objects(paged):
    tenant, client, size = paged
    body, pages, links = _all_pages(client, tenant.bap + ENVIRONMENTS + BAP_VERSION, "nextLink")
    assert body == {"value": [_expected_environment(tenant, DEV)]} and pages == 1 and links == []
    env_id = tenant.environment_ids["dev"]
    one = client.get(f"{tenant.bap}{ENVIRONMENTS}/{env_id}{BAP_VERSION}&$expand=permissions", headers=AUTH)
    assert one.status_code == 200 and one.json() == _expected_environment(tenant, DEV)


def test_connections_merge_to_the_file(paged):
    tenant, client, size = paged
    env_id = tenant.environment_ids["dev"]
    url = f"{tenant.powerapps}/providers/Microsoft.PowerApps/scopes/admin/environments/{env_id}/connections" \
          "?api-version=2016-11-01"
    body, pages, links = _all_pages(client, url, "nextLink")
    expected = _file(DEV, "connections.json")
    assert body == expected and pages == _pages(len(expected["value"]), size)
    assert all(link.startswith(url + "&$skiptoken=") for link in links)


@pytest.mark.parametrize("entity_set", DATAVERSE_SETS)
def test_dataverse_sets_merge_to_the_file(paged, entity_set):
    tenant, client, size = paged
    base = tenant.dataverse(tenant.environment_ids["dev"])
    url = f"{base}/api/data/v9.2/{entity_set}?$select=name&$filter=category eq 5"
    body, pages, links = _all_pages(client, url, "@odata.nextLink", {"Prefer": "odata.maxpagesize=5000"})
    expected = _file(DEV, f"{entity_set}.json")
    assert body == expected and pages == _pages(len(expected["value"]), size)
    for link in links:   # absolute, the query kept, Dataverse's paging cookie added
        assert link.startswith(f"{base}/api/data/v9.2/{entity_set}?") and "$skiptoken=%3Ccookie%20pagenumber=" in link
        assert "select=name" in link


def test_role_privileges_are_the_files(paged):
    tenant, client, _ = paged
    base = tenant.dataverse(tenant.environment_ids["dev"])
    for path in (DEV / "roleprivileges").glob("*.json"):
        url = f"{base}/api/data/v9.2/roles({path.stem})/Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRole()"
        response = client.get(url, headers=AUTH)
        assert response.status_code == 200 and response.json() == _file(DEV / "roleprivileges", path.name)


def test_graph_users_and_skus_merge_to_the_files(paged):
    tenant, client, size = paged
    body, pages, links = _all_pages(client, tenant.graph + "/v1.0/users?$select=id,userPrincipalName&$top=999",
                                    "@odata.nextLink")
    expected = _file(DEV, "users.json")
    assert body == expected and pages == _pages(len(expected["value"]), size)
    assert all(link.startswith(tenant.graph + "/v1.0/users?$select=id,userPrincipalName&$top=999&$skiptoken=")
               for link in links)
    skus = client.get(tenant.graph + "/v1.0/subscribedSkus", headers=AUTH)
    assert skus.status_code == 200 and skus.json() == _file(DEV, "subscribedSkus.json")


# -- page sizes -----------------------------------------------------------------------------------

def test_environments_page_with_nextlink_not_odata_nextlink(tenant, client):
    first = client.get(tenant.bap + ENVIRONMENTS + BAP_VERSION + "&$top=1", headers=AUTH).json()
    assert len(first["value"]) == 1 and "@odata.nextLink" not in first
    assert first["nextLink"].startswith(tenant.bap + ENVIRONMENTS + BAP_VERSION + "&$top=1&$skiptoken=")
    second = client.get(first["nextLink"], headers=AUTH).json()
    assert [e["name"] for e in first["value"] + second["value"]] == [
        "20c61783-ffc1-440b-9d05-0e01e40d20e5", "CFB4E0F2-411B-4AA6-9671-80205EB9F229"]
    assert "nextLink" not in second


def test_dataverse_page_size_is_the_smaller_of_prefer_and_page_size(client):
    with FakeTenant({"dev": DEV}, page_size=7) as tenant:
        url = tenant.dataverse(tenant.environment_ids["dev"]) + "/api/data/v9.2/roles"
        small = client.get(url, headers={**AUTH, "Prefer": 'odata.maxpagesize=2,odata.include-annotations="*"'})
        assert len(small.json()["value"]) == 2 and small.headers["OData-Version"] == "4.0"
        assert small.headers["Preference-Applied"] == 'odata.maxpagesize=2,odata.include-annotations="*"'
        unasked = client.get(url, headers=AUTH)
        assert len(unasked.json()["value"]) == 5 and "Preference-Applied" not in unasked.headers
        too_big = client.get(url, headers={**AUTH, "Prefer": "odata.maxpagesize=6000"})   # ignored, as Dataverse
        assert len(too_big.json()["value"]) == 5 and "Preference-Applied" not in too_big.headers
        body, pages, _ = _all_pages(client, url, "@odata.nextLink", {"Prefer": "odata.maxpagesize=1"})
        assert pages == 5 and body == _file(DEV, "roles.json")


def test_dataverse_top_limits_the_rows(tenant, client):
    url = tenant.dataverse(tenant.environment_ids["dev"]) + "/api/data/v9.2/roles?$top=3"
    body, pages, links = _all_pages(client, url, "@odata.nextLink")
    assert body["value"] == _file(DEV, "roles.json")["value"][:3] and pages == 2
    assert "$top=3" in links[0]


def test_graph_top_sets_the_page_size(client):
    with FakeTenant({"dev": DEV, "contoso": CONTOSO}, page_size=7) as tenant:
        first = client.get(tenant.graph + "/v1.0/users?$top=1", headers=AUTH)
        assert len(first.json()["value"]) == 1
        assert list(first.json())[:2] == ["@odata.context", "@odata.nextLink"]   # Graph's order
        body, pages, _ = _all_pages(client, tenant.graph + "/v1.0/users?$top=2", "@odata.nextLink")
        union = _file(DEV, "users.json")["value"] + _file(CONTOSO, "users.json")["value"]
        ids = list(dict.fromkeys(u["id"] for u in union))
        assert [u["id"] for u in body["value"]] == ids and pages == _pages(len(ids), 2)
        bad = client.get(tenant.graph + "/v1.0/users?$top=1000", headers=AUTH)
        assert bad.status_code == 400 and "between 1 and 999" in bad.json()["error"]["message"]


def test_bad_skiptoken_is_a_400(tenant, client):
    url = tenant.dataverse(tenant.environment_ids["dev"]) + "/api/data/v9.2/roles?$skiptoken=nonsense"
    assert client.get(url, headers=AUTH).status_code == 400
    assert client.get(tenant.graph + "/v1.0/users?$skiptoken=nonsense", headers=AUTH).status_code == 400


# -- faults ---------------------------------------------------------------------------------------

def test_429_with_retry_after_seconds_then_success(tenant, client):
    tenant.fail("/systemusers", 429, headers={"Retry-After": "1"})
    url = tenant.dataverse(tenant.environment_ids["dev"]) + "/api/data/v9.2/systemusers"
    throttled = client.get(url, headers=AUTH)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert throttled.json()["error"]["code"] == "0x80072322"
    assert client.get(url, headers=AUTH).status_code == 200


def test_429_with_retry_after_http_date(tenant, client):
    tenant.fail("/v1.0/users", 429, headers={"Retry-After": http_date(2)})
    throttled = client.get(tenant.graph + "/v1.0/users", headers=AUTH)
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "TooManyRequests"
    when = email.utils.parsedate_to_datetime(throttled.headers["Retry-After"]).timestamp()
    assert 0 < when - time.time() <= 3


def test_503_twice_then_success(tenant, client):
    tenant.fail("/connections", 503, times=2)
    env_id = tenant.environment_ids["dev"]
    url = f"{tenant.powerapps}/providers/Microsoft.PowerApps/scopes/admin/environments/{env_id}/connections" \
          "?api-version=2016-11-01"
    assert [client.get(url, headers=AUTH).status_code for _ in range(3)] == [503, 503, 200]


def test_403_bodies(tenant, client):
    base = tenant.dataverse(tenant.environment_ids["dev"])
    tenant.fail("/teams", 403)
    denied = client.get(base + "/api/data/v9.2/teams", headers=AUTH)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "0x80040220"
    assert "prvReadSystemUser" in denied.json()["error"]["message"]
    tenant.fail("subscribedSkus", 403)
    graph = client.get(tenant.graph + "/v1.0/subscribedSkus", headers=AUTH).json()["error"]
    assert graph["code"] == "Authorization_RequestDenied" and "request-id" in graph["innerError"]
    custom = b'{"error":{"code":"0x80040220","message":"custom"}}'
    tenant.fail("/workflows", 403, body=custom)
    assert client.get(base + "/api/data/v9.2/workflows", headers=AUTH).content == custom


def test_malformed_body_with_status_200(tenant, client):
    tenant.fail("/roles", 200, body=b'{"value": [')
    response = client.get(tenant.dataverse(tenant.environment_ids["dev"]) + "/api/data/v9.2/roles", headers=AUTH)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_delay_makes_a_client_time_out_once(tenant):
    tenant.fail("/v1.0/users", 200, delay=0.5)
    with httpx.Client(trust_env=False, timeout=0.1) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.get(tenant.graph + "/v1.0/users", headers=AUTH)
        assert impatient.get(tenant.graph + "/v1.0/users", headers=AUTH).status_code == 200


def test_unauthenticated_requests_do_not_use_up_faults(tenant, client):
    tenant.fail("/v1.0/users", 503)
    assert client.get(tenant.graph + "/v1.0/users").status_code == 401
    assert client.get(tenant.graph + "/v1.0/users", headers=AUTH).status_code == 503


# -- authentication, missing files, routes --------------------------------------------------------

def test_401_without_or_with_a_wrong_token(tenant, client):
    env_id = tenant.environment_ids["dev"]
    dataverse = client.get(tenant.dataverse(env_id) + "/api/data/v9.2/systemusers")
    assert dataverse.status_code == 401 and dataverse.content == b""
    assert dataverse.headers["WWW-Authenticate"].startswith(
        "Bearer authorization_uri=https://login.microsoftonline.com/79e52435-ab0e-4046-8f6e-48654e63bae4/")
    graph = client.get(tenant.graph + "/v1.0/users", headers={"Authorization": "Bearer wrong"})
    assert graph.status_code == 401 and graph.json()["error"]["code"] == "InvalidAuthenticationToken"
    bap = client.get(tenant.bap + ENVIRONMENTS + BAP_VERSION, headers={"Authorization": "Basic dGVzdA=="})
    assert bap.status_code == 401 and "code" in bap.json()["error"]
    assert [r["status"] for r in tenant.requests] == [401, 401, 401]


def test_missing_files_are_404_with_the_apis_error_shape(client):
    env = _file(DEV, "environment.json")
    with FakeTenant({"bare": {"environment.json": env, "roles.json": _file(DEV, "roles.json")}}) as tenant:
        base = tenant.dataverse(env["name"]) + "/api/data/v9.2"
        teams = client.get(base + "/teams", headers=AUTH)
        assert teams.status_code == 404 and teams.json() == {
            "error": {"code": "0x80060888", "message": "Resource not found for the segment 'teams'."}}
        users = client.get(tenant.graph + "/v1.0/users", headers=AUTH)
        assert users.status_code == 404 and users.json()["error"]["code"] == "Request_ResourceNotFound"
        connections = client.get(f"{tenant.powerapps}/providers/Microsoft.PowerApps/scopes/admin/environments/"
                                 f"{env['name']}/connections?api-version=2016-11-01", headers=AUTH)
        assert connections.status_code == 404 and "error" in connections.json()
        # a role without a privileges file has none; a role that does not exist is a 404
        role = _file(DEV, "roles.json")["value"][0]["roleid"].upper()
        empty = client.get(f"{base}/roles({role})/Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRole()", headers=AUTH)
        assert empty.status_code == 200 and empty.json()["RolePrivileges"] == []
        unknown = client.get(f"{base}/roles(00000000-0000-0000-0000-000000000001)"
                             "/Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRole()", headers=AUTH)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "0x80040217"


def test_routes_match_like_microsofts(tenant, client):
    env_id = tenant.environment_ids["dev"]
    base = tenant.dataverse(env_id) + "/api/data/v9.2"
    lower = client.get(tenant.bap + ENVIRONMENTS.lower() + BAP_VERSION, headers=AUTH)
    assert lower.status_code == 200   # the admin APIs match paths case-insensitively
    upper_id = client.get(f"{tenant.bap}{ENVIRONMENTS}/{env_id.upper()}{BAP_VERSION}", headers=AUTH)
    assert upper_id.status_code == 200
    no_version = client.get(tenant.bap + ENVIRONMENTS, headers=AUTH)
    assert no_version.status_code == 400 and no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    assert client.get(base + "/SystemUsers", headers=AUTH).status_code == 404   # entity sets are case-sensitive
    assert client.get(base + "/processlicenses", headers=AUTH).status_code == 404   # not an API
    assert client.get(tenant.graph + "/V1.0/Users", headers=AUTH).status_code == 200
    contoso_role = "7f679e56-1695-4e62-aa28-6b1b78516687"   # its file is named in upper case
    contoso = tenant.dataverse(tenant.environment_ids["contoso"])
    privileges = client.get(f"{contoso}/api/data/v9.2/roles({{{contoso_role}}})"
                            "/Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRole()", headers=AUTH)
    assert privileges.status_code == 200 and privileges.json()["RolePrivileges"]
    assert client.post(base + "/systemusers", headers=AUTH, json={}).status_code == 405


def test_requests_are_recorded(tenant, client):
    url = tenant.graph + "/v1.0/users?$select=id&$top=1"
    client.get(url, headers={**AUTH, "ConsistencyLevel": "eventual"})
    assert tenant.requests == [{"method": "GET", "path": "/graph/v1.0/users", "query": {"$select": "id", "$top": "1"},
                                "headers": tenant.requests[0]["headers"], "status": 200}]
    headers = tenant.requests[0]["headers"]
    assert headers["authorization"] == "Bearer test-token" and headers["consistencylevel"] == "eventual"


def test_in_memory_environments_and_latency(client):
    env = _file(DEV, "environment.json")
    files = {"environment.json": env, "roles.json": {"value": [{"roleid": "A"}, {"roleid": "B"}, {"roleid": "C"}]},
             "roleprivileges/{1B2C0F55-0000-4000-8000-000000000001}.json": {"RolePrivileges": [{"Depth": 3}]}}
    with FakeTenant({"mem": files}, page_size=2, latency=0.05, token="other") as tenant:
        started = time.perf_counter()
        body, pages, _ = _all_pages(client, tenant.dataverse(env["name"]) + "/api/data/v9.2/roles", "@odata.nextLink",
                                    {"Authorization": "Bearer other"})
        assert body == files["roles.json"] and pages == 2 and time.perf_counter() - started >= 0.1
        role = tenant.dataverse(env["name"]) + "/api/data/v9.2/roles(1b2c0f55-0000-4000-8000-000000000001)" \
                                               "/Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRole()"
        assert client.get(role, headers={"Authorization": "Bearer other"}).json() == {"RolePrivileges": [{"Depth": 3}]}
