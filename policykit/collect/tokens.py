"""Access tokens for ``policykit collect``: one per audience (scope), never written anywhere.

``POLICYKIT_ACCESS_TOKEN`` (one bearer token for every host) serves replays, tests and
air-gapped mirrors; otherwise an azure-identity credential (``--auth``) gets a token per scope
and renews it before it expires. Only the token's identity claims (tenant, object id, app id)
are kept, for the provenance in ``collection.json``.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from typing import Any, Protocol

from ..errors import UsageError

#: ``--auth`` choices → the azure-identity credential class that implements them.
AUTH_METHODS = {
    "default": "DefaultAzureCredential",                  # environment, workload identity, managed identity, CLI...
    "environment": "EnvironmentCredential",               # AZURE_CLIENT_ID + AZURE_TENANT_ID + secret or certificate
    "workload-identity": "WorkloadIdentityCredential",    # federated OIDC (GitHub Actions, Azure Pipelines, AKS)
    "managed-identity": "ManagedIdentityCredential",
    "azure-cli": "AzureCliCredential",
    "device-code": "DeviceCodeCredential",
}
_RENEW_BEFORE = 300  # seconds before expiry


class TokenProvider(Protocol):
    def token(self, scope: str) -> str: ...
    def identity(self) -> dict[str, Any]: ...


def claims(token: str) -> dict[str, Any]:
    """The identity claims of a JWT access token (not verified: only recorded, never trusted)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: data[k] for k in ("tid", "oid", "appid", "azp", "upn") if isinstance(data.get(k), str)}


class StaticToken:
    """One bearer token for every host (``POLICYKIT_ACCESS_TOKEN``)."""

    def __init__(self, token: str) -> None:
        self._token = token.strip()

    def token(self, scope: str) -> str:
        return self._token

    def identity(self) -> dict[str, Any]:
        return {"method": "POLICYKIT_ACCESS_TOKEN", **claims(self._token)}


class AzureTokens:
    """Tokens from an azure-identity credential, cached per scope until shortly before expiry."""

    def __init__(self, method: str, credential: Any) -> None:
        self.method = method
        self._credential = credential
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._claims: dict[str, Any] = {}

    def token(self, scope: str) -> str:
        with self._lock:
            cached = self._cache.get(scope)
            if cached and cached[1] - _RENEW_BEFORE > time.time():
                return cached[0]
            got = self._credential.get_token(scope)
            self._cache[scope] = (got.token, float(got.expires_on))
            self._claims = self._claims or claims(got.token)
            return got.token

    def identity(self) -> dict[str, Any]:
        return {"method": self.method, **self._claims}


def token_provider(method: str | None, environ: dict[str, str] | None = None,
                   authority: str | None = None) -> TokenProvider:
    """``POLICYKIT_ACCESS_TOKEN`` when set (and no ``--auth``), else the azure-identity credential,
    signing in at the cloud's authority (``--cloud``; AZURE_AUTHORITY_HOST still wins)."""
    environ = os.environ if environ is None else environ
    if method is None and environ.get("POLICYKIT_ACCESS_TOKEN", "").strip():
        return StaticToken(environ["POLICYKIT_ACCESS_TOKEN"])
    method = method or "default"
    if method not in AUTH_METHODS:
        raise UsageError(f"--auth must be one of {', '.join(AUTH_METHODS)}, not {method!r}")
    try:
        from azure import identity
    except ImportError:
        raise UsageError("policykit collect needs azure-identity: pip install 'power-policykit[collect]' "
                         "(or set POLICYKIT_ACCESS_TOKEN)") from None
    kwargs = {}
    if authority and method not in ("azure-cli", "managed-identity") and not environ.get("AZURE_AUTHORITY_HOST"):
        kwargs["authority"] = authority.replace("https://", "")
    return AzureTokens(method, getattr(identity, AUTH_METHODS[method])(**kwargs))
