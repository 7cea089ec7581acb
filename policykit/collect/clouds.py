"""Where each Microsoft cloud serves the APIs ``policykit collect`` calls, and the token scope of each.

Plain data. Every value carries its source; docs/collect.md ("Sovereign clouds") shows the same
table to people. Sources, cited below by their letter:

[TF]  microsoft/terraform-provider-power-platform, ``internal/constants/constants.go`` (hosts and
      scopes per cloud) and ``internal/api/client.go`` (``tryGetScopeFromURL``: a request to the BAP
      host *or* the Power Apps host gets the Power Apps scope).
[PS]  Microsoft.PowerApps.Administration.PowerShell (PowerShell Gallery),
      ``Microsoft.PowerApps.AuthModule.psm1``: ``Get-DefaultAudienceForEndPoint`` (audience per
      endpoint), the ``bapEndpoint`` / ``powerAppsEndpoint`` / ``msGraphEndpoint`` switches, and the
      authority per endpoint (``usgov`` → AzurePublic, ``usgovhigh`` / ``dod`` → AzureUsGovernment,
      ``china`` → AzureChina).
[GR]  Microsoft Learn, "Microsoft Graph national cloud deployments" (learn.microsoft.com/graph/deployments)
      and "Access national cloud deployments with the Microsoft Graph SDKs" (a ``.default`` scope must
      use the Graph root of the national cloud).
[LA]  Microsoft Learn, "Programmability and extensibility - Authentication"
      (learn.microsoft.com/power-platform/admin/programmability-authentication): the admin API is
      the "PowerApps Service" resource (app id 475226c6-020e-4fb2-8a90-7a972cbfc1d4).

Where [TF] and [PS] disagree, [PS] is used: GCC, where [TF] has ``https://service.powerapps.us/.default``,
and GCC High, where [TF] has ``https://high.service.apps.appsplatform.us/.default``. [PS] is the
module Microsoft ships for these admin APIs, and Microsoft's SharePoint Migration Tool endpoint list
names the same hosts (``gov.service.powerapps.us``, ``high.service.powerapps.us``). Not verified
against a live sovereign tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Cloud:
    """One cloud: its sign-in authority, API base URLs and the ``.default`` scope for each API."""

    name: str                # public, gcc, gcchigh, dod, china
    authority: str           # Microsoft Entra authority host (azure-identity ``authority``)
    bap: str                 # Power Platform admin API (BAP): environments
    powerapps: str           # PowerApps admin API: connections
    graph: str               # Microsoft Graph root
    bap_audience: str        # token scope for ``bap``
    powerapps_audience: str  # token scope for ``powerapps``
    graph_audience: str      # token scope for ``graph``

    def base(self, host: str) -> str:
        """The base URL of a host kind other than ``dataverse`` (whose base is the instance URL)."""
        if host not in _HOST_FIELDS:
            raise ValueError(f"unknown host {host!r}: expected one of {', '.join(_HOST_FIELDS)}")
        return getattr(self, host)

    def scope(self, host: str, instance_url: str | None = None) -> str:
        """The token scope for a host kind; ``dataverse`` needs the environment's instance URL."""
        if host == "dataverse":
            if not instance_url:
                raise ValueError("a Dataverse scope needs the environment's instance URL")
            return dataverse_scope(instance_url)
        self.base(host)  # validates the host kind
        return getattr(self, f"{host}_audience")


_HOST_FIELDS = ("bap", "powerapps", "graph")

CLOUDS: dict[str, Cloud] = {
    "public": Cloud(
        name="public",
        authority="https://login.microsoftonline.com",        # [TF] PUBLIC_OAUTH_AUTHORITY_URL; [GR]
        bap="https://api.bap.microsoft.com",                  # [TF] PUBLIC_BAPI_DOMAIN; [PS] prod
        powerapps="https://api.powerapps.com",                # [TF] PUBLIC_POWERAPPS_API_DOMAIN; [PS] prod
        graph="https://graph.microsoft.com",                  # [GR]; [PS] msGraphEndpoint prod
        bap_audience="https://service.powerapps.com/.default",        # [TF] client.go; [PS] prod; [LA]
        powerapps_audience="https://service.powerapps.com/.default",  # [TF] PUBLIC_POWERAPPS_SCOPE; [PS] prod
        graph_audience="https://graph.microsoft.com/.default",        # [GR]
    ),
    # GCC (moderate) signs in at the commercial authority and uses the global Microsoft Graph.
    "gcc": Cloud(
        name="gcc",
        authority="https://login.microsoftonline.com",        # [TF] USGOV_OAUTH_AUTHORITY_URL; [PS] usgov → AzurePublic
        bap="https://gov.api.bap.microsoft.us",               # [TF] USGOV_BAPI_DOMAIN; [PS] usgov
        powerapps="https://gov.api.powerapps.us",             # [TF] USGOV_POWERAPPS_API_DOMAIN; [PS] usgov
        graph="https://graph.microsoft.com",                  # [PS] msGraphEndpoint usgov = graph.microsoft.com
        bap_audience="https://gov.service.powerapps.us/.default",       # [PS] usgov; [TF] differs, see above
        powerapps_audience="https://gov.service.powerapps.us/.default",  # [PS] usgov; [TF] differs
        graph_audience="https://graph.microsoft.com/.default",          # [GR]
    ),
    "gcchigh": Cloud(
        name="gcchigh",
        authority="https://login.microsoftonline.us",         # [TF] USGOVHIGH_OAUTH_AUTHORITY_URL; [PS] usgovhigh; [GR]
        bap="https://high.api.bap.microsoft.us",              # [TF] USGOVHIGH_BAPI_DOMAIN; [PS] usgovhigh
        powerapps="https://high.api.powerapps.us",            # [TF] USGOVHIGH_POWERAPPS_API_DOMAIN; [PS] usgovhigh
        graph="https://graph.microsoft.us",                   # [GR] US Government L4; [PS] msGraphEndpoint usgovhigh
        bap_audience="https://high.service.powerapps.us/.default",       # [PS] usgovhigh; [TF] differs
        powerapps_audience="https://high.service.powerapps.us/.default",  # [PS] usgovhigh; [TF] differs
        graph_audience="https://graph.microsoft.us/.default",            # [GR]
    ),
    "dod": Cloud(
        name="dod",
        authority="https://login.microsoftonline.us",         # [TF] USDOD_OAUTH_AUTHORITY_URL; [PS] dod; [GR]
        bap="https://api.bap.appsplatform.us",                # [TF] USDOD_BAPI_DOMAIN; [PS] dod
        powerapps="https://api.apps.appsplatform.us",         # [TF] USDOD_POWERAPPS_API_DOMAIN; [PS] dod
        graph="https://dod-graph.microsoft.us",               # [GR] US Government L5 (DOD); [PS] msGraphEndpoint dod
        bap_audience="https://service.apps.appsplatform.us/.default",        # [TF] USDOD_POWERAPPS_SCOPE; [PS] dod
        powerapps_audience="https://service.apps.appsplatform.us/.default",  # [TF]; [PS]
        graph_audience="https://dod-graph.microsoft.us/.default",            # [GR]
    ),
    "china": Cloud(
        name="china",
        authority="https://login.chinacloudapi.cn",           # [TF] CHINA_OAUTH_AUTHORITY_URL; [PS] china; [GR]
        bap="https://api.bap.partner.microsoftonline.cn",     # [TF] CHINA_BAPI_DOMAIN; [PS] china
        powerapps="https://api.powerapps.cn",                 # [TF] CHINA_POWERAPPS_API_DOMAIN; [PS] china
        graph="https://microsoftgraph.chinacloudapi.cn",      # [GR]; [PS] msGraphEndpoint china
        bap_audience="https://service.powerapps.cn/.default",        # [TF] CHINA_POWERAPPS_SCOPE; [PS] china
        powerapps_audience="https://service.powerapps.cn/.default",  # [TF]; [PS]
        graph_audience="https://microsoftgraph.chinacloudapi.cn/.default",  # [GR]
    ),
}

DEFAULT_CLOUD = "public"


def dataverse_scope(instance_url: str) -> str:
    """The token scope of a Dataverse environment: ``<scheme>://<host>/.default``.

    Dataverse's resource is the environment URL itself ([TF] ``tryGetScopeFromURL`` falls back to
    ``scheme://host/.default`` for every other URL). ``http`` is accepted for local mirrors.
    """
    parts = urlsplit(instance_url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"not an environment URL: {instance_url!r} (expected https://<org>.crm.dynamics.com/)")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/.default"
