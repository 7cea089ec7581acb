"""The secret heuristics (policykit.secrets) class by class, and the flow loader's record of the
literal credentials HTTP actions carry. Every value here is a fixture value, not a real secret."""

from __future__ import annotations

import json

import pytest

from policykit import functions, platform, secrets
from policykit.loaders.flows import analyse_flow
from policykit.parsing import parse_json
from policykit.secrets import (
    is_identifier,
    is_literal,
    name_words,
    query_secrets,
    redact,
    secret_name,
    secret_reason,
)

# Fixture values shaped like the real thing.
SAS_BASE64URL = "q5p4Ux8-Hp1hZZbDk1p0Ry_xhTL_wqB2mD1Pq2Ayb6A"          # flow trigger URLs: - and _
SAS_URLENCODED = "Xk3%2Bq9Zr%2FtW7mP1vN4sL8cE2hJ6yA0bD5fG3iK9oQ%3D"  # storage: %2B %2F %3D
FLOW_URL = ("https://prod-27.westeurope.logic.azure.com:443/workflows/3f1e5a7c9b2d4e6f8a0c1d3e5f7a9b2c/"
            "triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig="
            + SAS_BASE64URL)
FUNCTION_KEY = "aZ3kP9qL2mX7vB4nC8wE1rT6yU0iO5pA-sD3fG7hJ2kL9zX4cV1bN=="
CLIENT_SECRET = "Qx58Q~fXt2.nVb7kLr0zP-3mWc9yHs4aUd6eGj1o"
BASIC = "c3ZjLW9yZGVyczpBdXR1bW4jMjAyNC1maXh0dXJl"
APIM_KEY = "4f9d2c7a1b6e48d3a0c5f7e2b9d1a6c3"


# --------------------------------------------------------------------------- the module boundary

def test_functions_wrap_the_secrets_module():
    assert functions.secret_reason is secrets.secret_reason
    assert functions.redact is secrets.redact
    assert secrets.is_placeholder is platform.is_placeholder  # one placeholder regex, in platform.py
    for name in ("_SECRET_NAME", "_JWT", "_SAS", "_CONN", "_NOT_SECRET", "entropy"):
        assert not hasattr(functions, name), name


# --------------------------------------------------------------------------- names: words, not substrings

@pytest.mark.parametrize("name,words", [
    ("KeyVaultName", [["key", "vault", "name"]]),
    ("cr123_ApiKey", [["cr", "123", "api", "key"]]),
    ("SASToken", [["sas", "token"]]),
    ("x-api-key", [["x", "api", "key"]]),
    ("db_pwd", [["db", "pwd"]]),
    ("Client Secret (fxr_ClientSecret)", [["client", "secret"], ["fxr", "client", "secret"]]),
    ("partner.api.key", [["partner", "api", "key"]]),
])
def test_names_split_into_words(name, words):
    assert name_words(name) == words


@pytest.mark.parametrize("name", [
    "KeyVaultName", "ArkansasOffice", "TurkeyRegion", "ApiKeyHeader", "SubscriptionKeyHeaderName",
    "TokenEndpoint", "PasswordResetUrl", "PasswordHint", "KeyContact", "cr123_KeyVaultSecretName",
    "PartitionKey", "NextPageToken", "EmailSignature", "SecretaryEmail", "MonkeyBusiness",
    "Token lifetime minutes (fxc_TokenLifetimeMinutes)", "ClientSecretId", "", None,
])
def test_not_secret_names(name):
    assert not secret_name(name)


@pytest.mark.parametrize("name", [
    "ClientSecret", "cr123_ApiKey", "StorageAccountKey", "SasToken", "AdminPassword", "db_pwd",
    "ConnectionString", "Connection string", "SharedAccessSignature", "x-api-key", "apikey",
    "clientsecret", "ApiKeyValue", "ApiKey2", "PartnerApiKeys", "SftpPasswordPrd", "PasswordForSftp", "Credentials",
    "Partner client secret (fxh_PartnerClientSecret)", "Ocp-Apim-Subscription-Key",
])
def test_secret_names(name):
    assert secret_name(name)


def test_a_name_is_judged_on_words_not_substrings():
    value = "kv-orders-prd-01"
    assert secret_reason("fxi_KeyVaultName", value) is None
    assert secret_reason("fxi_ArkansasOffice", "LittleRock-HQ-02") is None
    assert secret_reason("fxi_TurkeyRegion", "TR-Istanbul-1") is None
    assert secret_reason("fxi_ApiKeyHeader", "Ocp-Apim-Subscription-Key") is None
    assert secret_reason("fxi_SubscriptionKeyHeaderName", "Ocp-Apim-Subscription-Key") is None
    assert secret_reason("fxi_ClientSecret", value) == "a literal value in 'fxi_ClientSecret'"
    assert secret_reason("fxi_db_pwd", "Autumn#2024") == "a literal value in 'fxi_db_pwd'"


# --------------------------------------------------------------------------- SAS signatures are base64url

@pytest.mark.parametrize("value", [
    FLOW_URL,
    "https://contosoorders.blob.core.windows.net/archive?sv=2022-11-02&ss=b&srt=co&sp=rwl"
    "&se=2030-01-01T00:00:00Z&spr=https&sig=" + SAS_URLENCODED,
    "sv=2022-11-02&ss=b&srt=co&sp=rwl&se=2030-01-01T00:00:00Z&spr=https&sig=n_Rk2-Lq8ZxW4vT9yB1cM6pH3sJ0dF7gA5eU2iO8kQ",
    "SharedAccessSignature sr=https%3A%2F%2Ffixture.servicebus.windows.net%2Freceipts&sig=" + SAS_BASE64URL
    + "&se=1900000000&skn=send",
    "BlobEndpoint=https://contosoorders.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sig=" + SAS_BASE64URL,
])
def test_sas_signatures_in_every_alphabet(value):
    assert secret_reason("fxs_ArchiveUrl", value) == "a SAS signature (sig=)"


@pytest.mark.parametrize("value", [
    "https://contosoorders.blob.core.windows.net/archive?sv=2022-11-02&sig=@{parameters('Archive SAS')}",
    "https://contosoorders.blob.core.windows.net/archive?sv=2022-11-02&sig=#{ArchiveSig}#",
    "https://contosoorders.blob.core.windows.net/archive?sv=2022-11-02&sig=short",
    "https://contosoorders.blob.core.windows.net/archive/orders.json",
])
def test_no_sas_without_a_literal_signature(value):
    assert secret_reason("fxs_ArchiveUrl", value) is None


def test_credentials_in_urls():
    assert secret_reason("Notify", f"https://fn-orders.azurewebsites.net/api/notify?code={FUNCTION_KEY}") \
        == "an Azure Functions key (code=)"
    assert secret_reason("Partner", "https://api.partner.example/v2?api_key=pk7Hq2Lm9Xz4") \
        == "an API key in the URL (api_key=)"
    assert secret_reason("Countries", "https://api.partner.example/countries?code=BE") is None
    assert secret_reason("Drop", "ftp://svc-orders:Autumn%232024@ftp.partner.example/in") \
        == "a password in the URL (user:password@)"
    assert secret_reason("Drop", "ftp://svc-orders:@{parameters('pw')}@ftp.partner.example/in") is None
    assert query_secrets("grant_type=client_credentials&client_secret=" + CLIENT_SECRET) \
        == [("client_secret", CLIENT_SECRET)]
    assert query_secrets("https://x.example/a?code=@{parameters('FunctionKey')}") == []


# --------------------------------------------------------------------------- identifiers are not tokens

@pytest.mark.parametrize("value", [
    "contoso.sharepoint.com,2c7a2d4e-9b1f-4c3d-8e6a-5f0b1c2d3e4f,8f1b6c2a-7d3e-4a5b-9c0d-1e2f3a4b5c6d",
    "b!4JYKcAxS2EW65T2DQwmtjA0tBYQhCQVBpQzW5Rb24NNrFhp_9Cs6TokRPBMyQyfp",
    "b!4JYKcAxS2EW65T2DQwmtjA0tBYQhCQVBpQzW5Rb24NNrFhp_9Cs6TokRPBMyQyfp.01VTD6ZWSKVHRPTSBCT5H3WWO5DCJ7MQJN",
    "01VTD6ZWSKVHRPTSBCT5H3WWO5DCJ7MQJN",
    "19:ir26kOGJLhrqSFSs-plWd7cgZTIKPRXJSqraj3Aa8lY1@thread.tacv2",
    "68d11425-6da0-4311-9d2b-68e8ea4f936f",
    "{68D11425-6DA0-4311-9D2B-68E8EA4F936F}",
    "68d114256da043119d2b68e8ea4f936f",
    ("/subscriptions/3c2e1f0a-9b8d-4c7e-a6f5-0e1d2c3b4a59/resourceGroups/rg-orders/providers/"
     "Microsoft.Storage/storageAccounts/contosoorders"),
    "/providers/Microsoft.PowerApps/apis/shared_fxi-5forders-5f8c1d2e3f4a5b6c7d",
    "shared-approvals-3712d327-12b5-4505-b975-591e9f827ca5",
    "AAMkADk0MGFkODE3LWE4MmYtNDRhOS1hYzM0LTMzOWI1ZWNkZmIyMwBGAAAAAAC",
    "unq8ddc397efe90414fbe68334c572a0.crm",
])
def test_identifiers_are_not_secrets(value):
    assert is_identifier(value)
    assert secret_reason("fxi_OrdersLocation", value) is None


def test_a_name_declaring_an_id_keeps_a_random_looking_id_from_the_entropy_check():
    plan = "xqQg5FS2LkCp935s-FIFm2QAFkHM"  # a Planner plan id
    assert secret_reason("fxi_PlannerPlanId", plan) is None
    assert secret_reason("fxi_PartnerToken", plan) == "a high-entropy token"


def test_high_entropy_tokens_and_names_made_of_words():
    assert secret_reason("fxr_Partner", CLIENT_SECRET) == "a high-entropy token"
    assert secret_reason("Action", "Get_Planner_Tasks_from_Plan_Orders2") is None
    assert secret_reason("Type", "application/json;odata=verbose;charset=utf-8") is None


@pytest.mark.parametrize("value,reason", [
    ("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJmaXh0dXJlLW9ubHkifQ.ZmFrZS1zaWduYXR1cmUtZm9yLXRlc3Rz",
     "a JSON Web Token"),
    ("DefaultEndpointsProtocol=https;AccountName=fixture;AccountKey=RkFLRS1maXh0dXJl;EndpointSuffix=core.windows.net",
     "a connection string with a key or password"),
    (f"Basic {BASIC}", "an HTTP Basic credential"),
    ("-----BEGIN PRIVATE KEY-----\nMIIfixture\n-----END PRIVATE KEY-----", "a private key"),
])
def test_shapes_that_are_secrets_whatever_the_name(value, reason):
    assert secret_reason("fxr_Setting", value) == reason


@pytest.mark.parametrize("value", [
    "@parameters('Client Secret (fxr_ClientSecret)')", "Bearer @{body('Get_token')?['access_token']}",
    "#{PartnerSecret}#", "@@PartnerSecret@@", "$(PartnerSecret)", "{{PartnerSecret}}", "__PartnerSecret__",
    "<your client secret>", "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "********", "YOUR_CLIENT_SECRET", "",
])
def test_expressions_placeholders_and_dummies_are_not_literals(value):
    assert not is_literal(value)
    assert secret_reason("fxr_ClientSecret", value) is None


def test_redact_shows_two_characters_and_the_length():
    assert redact(CLIENT_SECRET) == "Qx…(40 chars)"
    assert CLIENT_SECRET[2:14] not in redact(CLIENT_SECRET)


# --------------------------------------------------------------------------- the flow loader's HTTP literals

def _flow(actions: dict, triggers: dict | None = None) -> dict:
    doc = {"properties": {"connectionReferences": {}, "definition": {
        "parameters": {"$connections": {"defaultValue": {}, "type": "Object"}},
        "triggers": triggers or {"Recurrence": {"type": "Recurrence", "recurrence": {"frequency": "Hour"}}},
        "actions": actions}}, "schemaVersion": "1.0.0.0"}
    text = json.dumps(doc, indent=2).encode()
    return analyse_flow(parse_json(text, file="flow.json"), {"file": "flow.json", "line": 1})


def _literals(flow: dict) -> dict[str, list[tuple[str, str]]]:
    ops = flow["triggers"] + flow["actions"]
    return {op["name"]: [(s["where"], s["value"]) for s in op["literal_secrets"]] for op in ops if op["literal_secrets"]}


def test_http_literals_in_headers_bodies_uris_and_authentication():
    flow = _flow({
        "Get_token": {"type": "Http", "inputs": {
            "method": "POST", "uri": "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            "body": f"grant_type=client_credentials&client_id=0b7e5c2a&client_secret={CLIENT_SECRET}&scope=x"}},
        "Call_API": {"type": "Http", "inputs": {
            "method": "GET", "uri": "https://api.partner.example/orders",
            "headers": {"authorization": f"Basic {BASIC}", "OCP-APIM-SUBSCRIPTION-KEY": APIM_KEY,
                        "Accept": "application/json"}}},
        "Scope": {"type": "Scope", "actions": {
            "Run_child": {"type": "Http", "inputs": {"method": "POST", "uri": FLOW_URL}},
            "Drop_file": {"type": "Http", "inputs": {"method": "PUT",
                                                      "uri": "https://svc:Autumn2024@files.partner.example/in"}},
            "Notify": {"type": "Http", "inputs": {"method": "POST", "uri": "https://fn.azurewebsites.net/api/n",
                                                   "queries": {"code": FUNCTION_KEY},
                                                   "headers": {"x-functions-key": FUNCTION_KEY}}}}},
        "Create_user": {"type": "Http", "inputs": {
            "method": "POST", "uri": "https://graph.microsoft.com/v1.0/users",
            "body": {"passwordProfile": {"password": "Tr0ub4dor&3-fixture"}, "displayName": "Svc"},
            "authentication": {"type": "Basic", "username": "svc", "password": "Winter2024!"}}},
        "Post_json_string": {"type": "Http", "inputs": {
            "method": "POST", "uri": "https://api.partner.example/login",
            "body": json.dumps({"user": "svc", "client_secret": CLIENT_SECRET})}},
        "Raw_auth": {"type": "Http", "inputs": {"method": "GET", "uri": "https://api.partner.example/x",
                                                "authentication": {"type": "Raw", "value": f"Bearer {BASIC}"}}},
        "Connector_with_headers": {"type": "ApiConnection", "inputs": {
            "host": {"connection": {"name": "@parameters('$connections')['shared_x']['connectionId']"}},
            "headers": {"x-api-key": "pk7Hq2Lm9Xz4Vb8Nc3"}}},
    })
    assert _literals(flow) == {
        "Get_token": [("body parameter client_secret", CLIENT_SECRET)],
        "Call_API": [("header authorization (Basic)", BASIC), ("header OCP-APIM-SUBSCRIPTION-KEY", APIM_KEY)],
        "Run_child": [("URI query parameter sig", SAS_BASE64URL)],
        "Drop_file": [("URI password (user:password@)", "Autumn2024")],
        "Notify": [("header x-functions-key", FUNCTION_KEY), ("URI query parameter code", FUNCTION_KEY)],
        "Create_user": [("body field passwordProfile.password", "Tr0ub4dor&3-fixture"),
                        ("authentication field password", "Winter2024!")],
        "Post_json_string": [("body field client_secret", CLIENT_SECRET)],
        "Raw_auth": [("authentication field value (Bearer)", BASIC)],
        "Connector_with_headers": [("header x-api-key", "pk7Hq2Lm9Xz4Vb8Nc3")],
    }


def test_a_credential_written_twice_in_a_json_body_is_reported_twice():
    """A JSON body keeps only the last value of a name written twice: the first secret must not
    disappear with it."""
    second = "Qm7Zt2Vx9Lp4Rk8Wn3Hy6Cs1Bd5Fg0Jq"
    body = '{"client_secret": "%s", "user": "svc", "client_secret": "%s"}' % (CLIENT_SECRET, second)
    assert secrets.body_literals(body) == [{"where": "body field client_secret", "value": CLIENT_SECRET},
                                           {"where": "body field client_secret", "value": second}]


def test_http_webhook_subscribe_and_unsubscribe_requests():
    flow = _flow({}, triggers={"When_approved": {"type": "HttpWebhook", "inputs": {
        "subscribe": {"method": "POST", "uri": "https://api.partner.example/hooks?api_key=pk7Hq2Lm9Xz4",
                      "body": {"callbackUrl": "@{listCallbackUrl()}"}},
        "unsubscribe": {"method": "DELETE", "uri": "https://api.partner.example/hooks",
                        "headers": {"Authorization": f"Basic {BASIC}"}}}}})
    assert _literals(flow) == {"When_approved": [("subscribe URI query parameter api_key", "pk7Hq2Lm9Xz4"),
                                                 ("unsubscribe header Authorization (Basic)", BASIC)]}


def test_expressions_and_placeholders_are_no_http_literals():
    flow = _flow({
        "Get_token": {"type": "Http", "inputs": {
            "method": "POST", "uri": "https://login.microsoftonline.com/x/oauth2/v2.0/token",
            "body": "grant_type=client_credentials&client_secret=@{encodeUriComponent(body('Get_secret')?['value'])}"}},
        "Call_API": {"type": "Http", "inputs": {
            "method": "GET", "uri": "@{parameters('Partner API URL (fxh_PartnerApiUrl)')}/orders?code=BE",
            "headers": {"Authorization": "Bearer @{body('Get_token')?['access_token']}",
                        "Ocp-Apim-Subscription-Key": "@parameters('APIM key (fxh_ApimKey)')",
                        "x-api-key": "#{PartnerApiKey}#", "api-key": "@@PartnerApiKey@@",
                        "x-functions-key": "<function key>",
                        "Authorization-Hint": "Basic"}}},
        "Upload": {"type": "Http", "inputs": {
            "method": "PUT", "uri": "https://s.blob.core.windows.net/a/b.json?sv=2022-11-02&sig=@{variables('sig')}",
            "queries": {"code": "@{body('Get_secret')?['value']}"}}},
        "Create_user": {"type": "Http", "inputs": {
            "method": "POST", "uri": "https://graph.microsoft.com/v1.0/users",
            "body": {"passwordProfile": {"password": "@{body('Get_secret')?['value']}",
                                         "passwordPolicies": "DisablePasswordExpiration"},
                     "fields": [{"key": "Title", "value": "Orders"}, {"nextPageToken": "c2tpcHRva2VuMTIz"}]},
            "authentication": {"type": "ActiveDirectoryOAuth", "clientId": "0b7e5c2a",
                               "secret": "@parameters('Client Secret (fxr_ClientSecret)')"}}},
        "Respond": {"type": "Response", "kind": "Http", "inputs": {
            "statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "@body('Call_API')"}},
        "Connector": {"type": "OpenApiConnection", "inputs": {
            "host": {"connectionName": "shared_keyvault", "operationId": "GetSecret",
                     "apiId": "/providers/Microsoft.PowerApps/apis/shared_keyvault"},
            "parameters": {"secretName": "partner-client-secret"},
            "authentication": "@parameters('$authentication')"}},
    })
    assert _literals(flow) == {}
    assert all(op["literal_secrets"] == [] for op in flow["actions"])
