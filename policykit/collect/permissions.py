"""Every request ``policykit collect`` sends, and what a ``403`` on it means is missing.

One :class:`Request` per file of the environment export folder (docs/environment-export.md), in
the order collect fetches them. ``$select`` / ``$expand`` / ``$filter`` are copied verbatim from
that document's table; collect writes each response body unchanged, so the loader reads exactly
what the document describes. ``--dry-run`` prints these requests with their permission and the
preflight (``--check``) names the permission of each request that fails.

Sources (cited by letter in the comments):

[TF]  microsoft/terraform-provider-power-platform: ``internal/services/environment/api_environment.go``
      (``GetEnvironments`` / ``GetEnvironment``: ``scopes/admin/environments``, ``api-version=2023-06-01``).
[PS]  Microsoft.PowerApps.Administration.PowerShell, ``Microsoft.PowerApps.Administration.PowerShell.psm1``
      (``Get-AdminPowerAppConnection``: ``scopes/admin/environments/{environment}/connections``,
      ``api-version=2016-11-01``; ``Get-AdminPowerAppEnvironment`` lists with ``api-version=2016-11-01``).
[SP]  Microsoft Learn, "Creating a service principal application using API / PowerShell"
      (learn.microsoft.com/power-platform/admin/powerplatform-api-create-service-principal,
      .../powershell-create-service-principal): a service principal must be registered as an admin
      management application (``New-PowerAppManagementApp``, ``pac admin application register``) by
      an administrator; service principal authentication "works for environment management, tenant
      settings and Power Apps management".
[GU]  Microsoft Learn, Graph "List users": application permission ``User.Read.All`` (least privileged).
[GS]  Microsoft Learn, Graph "List subscribedSkus": application permission ``LicenseAssignment.Read.All``
      (least privileged); ``Organization.Read.All``, ``Directory.Read.All`` are higher privileged.
[RP]  Microsoft Learn (Dynamics CRM 2016 SDK), "RetrieveRolePrivilegesRole message privileges":
      ``prvReadRole`` on ``role``.
[DV]  Privilege names, with Dataverse's own casing: ``prvReadUser`` (systemuser; CRM 2016 SDK
      "RetrieveUserPrivileges message privileges"), ``prvReadRole`` ([RP]), ``prvReadTeam`` (CRM SDK
      "Team Privileges"); ``prvReadWorkflow``, ``prvReadTeam``, ``prvReadApplicationUser`` and
      ``prvReadconnectionreference`` as Microsoft's own exported roles write them
      (microsoft/powercat-automation-kit: ``AutomationCoEMain/SolutionPackage/src/Roles/Automation
      Project Contributor.xml``, ``AutomationKitControlCenter/SolutionPackage/src/Roles/Desktop Flows
      Support Analyst.xml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

#: Host kinds; ``dataverse`` is each environment's instance URL, the others come from the cloud.
HOSTS = ("bap", "powerapps", "dataverse", "graph")

#: Characters left as they are in a rendered path: everything OData needs except the space.
_SAFE = "/?&=$,()';:@!*+-._~"


@dataclass(frozen=True)
class Request:
    """One GET: where it goes, what it writes, how it pages and what it needs to succeed."""

    dataset: str          # the export file name without .json ("systemusers", "roleprivileges", "users", ...)
    file: str             # "systemusers.json", "roleprivileges/{role_id}.json"; "" when nothing is written
    host: str             # "bap" | "powerapps" | "dataverse" | "graph"
    path: str             # after the host base, {environment_id} / {role_id} placeholders, query included
    paged: bool           # follows next_link_key until it is absent
    next_link_key: str    # "@odata.nextLink" or "nextLink" ("" when not paged)
    permission: str       # one line: what a 403 means is missing
    privileges: tuple[str, ...] = ()  # Dataverse privileges the request needs (all at Global depth)
    tenant: bool = False  # tenant-wide: fetched once per collect and linked into every environment folder

    @property
    def api_version(self) -> str:
        """``api-version`` of the admin APIs, the ``/vX.Y/`` segment of Dataverse and Graph paths."""
        parts = urlsplit(self.path)
        found = parse_qs(parts.query).get("api-version")
        if found:
            return found[0]
        segment = next((s for s in parts.path.split("/") if s[:1] == "v" and s[1:2].isdigit()), "")
        return segment

    def render(self, **values: str) -> str:
        """The path with its placeholders filled and spaces percent-encoded (``category eq 5``).

        Values are quoted whole, so an environment or role id can never add a path segment.
        """
        template = quote(self.path, safe=_SAFE + "{}")  # the path has no braces but its placeholders
        return template.format(**{k: quote(str(v), safe="") for k, v in values.items()})


_ADMIN = ("service principal registered as a Power Platform management application "
          "(pac admin application register / New-PowerAppManagementApp), or a Power Platform administrator")
_READER = "Dataverse application user holding the 'PolicyKit Reader' role (policykit/data/collect-reader-role.json)"


def _dataverse(dataset: str, query: str, privileges: tuple[str, ...], file: str = "", paged: bool = True) -> Request:
    return Request(
        dataset=dataset, file=file or f"{dataset}.json", host="dataverse", path=f"/api/data/v9.2/{query}",
        paged=paged, next_link_key="@odata.nextLink" if paged else "",
        permission=f"{_READER}: {', '.join(privileges)} at Organization (Global) depth",
        privileges=privileges)


#: Lists the environments for ``--all`` and resolves a name or URL given to ``--environment``; not written.
LIST_ENVIRONMENTS = Request(
    dataset="environments", file="", host="bap",
    path="/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments?api-version=2023-06-01",  # [TF]
    paged=True, next_link_key="nextLink",
    permission=f"Power Platform admin API: {_ADMIN} [list environments]")

ENVIRONMENT = Request(
    dataset="environment", file="environment.json", host="bap",
    path="/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{environment_id}?api-version=2023-06-01",  # [TF]
    paged=False, next_link_key="",
    permission=f"Power Platform admin API: {_ADMIN}")

CONNECTIONS = Request(
    dataset="connections", file="connections.json", host="powerapps",
    path="/providers/Microsoft.PowerApps/scopes/admin/environments/{environment_id}/connections?api-version=2016-11-01",  # [PS]
    paged=True, next_link_key="nextLink",
    permission=f"PowerApps admin API: {_ADMIN}")

SYSTEMUSERS = _dataverse(
    "systemusers",
    "systemusers?$select=systemuserid,fullname,domainname,internalemailaddress,applicationid,"
    "azureactivedirectoryobjectid,accessmode,azurestate,isdisabled,_businessunitid_value"
    "&$expand=systemuserroles_association($select=roleid,name,_roletemplateid_value),"
    "teammembership_association($select=teamid,name)",
    ("prvReadUser", "prvReadRole", "prvReadTeam"))  # the two $expand read role and team rows

APPLICATIONUSERS = _dataverse(
    "applicationusers", "applicationusers?$select=applicationid,applicationname,applicationtype,_userid_value",
    ("prvReadApplicationUser",))

TEAMS = _dataverse(
    "teams", "teams?$select=teamid,name,teamtype&$expand=teamroles_association($select=roleid,name,_roletemplateid_value)",
    ("prvReadTeam", "prvReadRole"))

ROLES = _dataverse(
    "roles", "roles?$select=roleid,name,_roletemplateid_value,_parentrootroleid_value,ismanaged,_businessunitid_value",
    ("prvReadRole",))

#: One request per role of ``roles.json``; a function response, not a paged list.
ROLEPRIVILEGES = _dataverse(
    "roleprivileges", "roles({role_id})/Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRole()",
    ("prvReadRole",), file="roleprivileges/{role_id}.json", paged=False)  # [RP]

CONNECTIONREFERENCES = _dataverse(
    "connectionreferences",
    "connectionreferences?$select=connectionreferenceid,connectionreferencelogicalname,"
    "connectionreferencedisplayname,connectorid,connectionid,_ownerid_value,statecode",
    ("prvReadconnectionreference",))

WORKFLOWS = _dataverse(
    "workflows",
    "workflows?$filter=category eq 5&$select=workflowid,workflowidunique,name,statecode,statuscode,"
    "_ownerid_value,_createdby_value,ismanaged",
    ("prvReadWorkflow",))

#: Graph data is tenant-wide: collect fetches it once and writes it into every environment folder.
USERS = Request(
    dataset="users", file="users.json", host="graph",
    path="/v1.0/users?$select=id,userPrincipalName,displayName,accountEnabled,userType,assignedLicenses&$top=999",
    paged=True, next_link_key="@odata.nextLink",
    permission="Microsoft Graph application permission User.Read.All, admin consent granted", tenant=True)  # [GU]

SUBSCRIBEDSKUS = Request(
    dataset="subscribedSkus", file="subscribedSkus.json", host="graph",
    path="/v1.0/subscribedSkus",
    paged=True, next_link_key="@odata.nextLink",  # Microsoft documents no paging here; a link is followed if sent
    permission="Microsoft Graph application permission LicenseAssignment.Read.All (or the higher "
               "Organization.Read.All / Directory.Read.All), admin consent granted", tenant=True)  # [GS]

#: The tenant's data (DLP) policies: listed, then each one read whole (the list may leave out the
#: connector configurations), as [TF] ``internal/services/dlp_policy/api_dlp_policy.go``
#: ``GetPolicies`` does: ``GET {bap}/providers/PowerPlatform.Governance/v2/policies``, then
#: ``.../v2/policies/{name}`` for each ``policyDefinition.name``. The API takes no ``api-version``.
#: Written as ``{"value": [<each policy's body>]}`` (docs/environment-export.md).
DLPPOLICIES = Request(
    dataset="dlppolicies", file="dlppolicies.json", host="bap",
    path="/providers/PowerPlatform.Governance/v2/policies",
    paged=True, next_link_key="nextLink",
    permission=f"Power Platform admin API: {_ADMIN} [data policies]", tenant=True)  # [TF]

#: One request per policy of the list; what it returns goes into ``dlppolicies.json``.
DLPPOLICY = Request(
    dataset="dlppolicy", file="", host="bap",
    path="/providers/PowerPlatform.Governance/v2/policies/{policy_name}",
    paged=False, next_link_key="",
    permission=f"Power Platform admin API: {_ADMIN} [data policies]", tenant=True)  # [TF]

#: In the order collect fetches them: environment.json first (it holds the instance URL), roles
#: before their privileges, the tenant-wide files last (fetched once, before the environments).
REQUESTS: tuple[Request, ...] = (
    ENVIRONMENT, CONNECTIONS, SYSTEMUSERS, APPLICATIONUSERS, TEAMS, ROLES, ROLEPRIVILEGES,
    CONNECTIONREFERENCES, WORKFLOWS, USERS, SUBSCRIBEDSKUS, DLPPOLICIES,
)

#: Export files no API serves, with the reason collect records for them in ``collection.json``.
NOT_COLLECTED: dict[str, str] = {
    "processlicenses.json": (
        "no documented API lists the Power Automate Process licenses assigned to flows; "
        "the administrator writes this file (docs/collect.md, 'Process licenses')"),
}


def request_for(dataset: str) -> Request:
    """The request of a dataset (``LIST_ENVIRONMENTS`` included)."""
    for request in (*REQUESTS, LIST_ENVIRONMENTS):
        if request.dataset == dataset:
            return request
    raise KeyError(f"no request for dataset {dataset!r}")


def reader_privileges() -> tuple[str, ...]:
    """Every Dataverse privilege the requests need, in first-use order (the reader role's content)."""
    seen: dict[str, None] = {}
    for request in REQUESTS:
        seen.update(dict.fromkeys(request.privileges))
    return tuple(seen)
