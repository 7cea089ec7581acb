"""What a secret looks like: names, value shapes, identifiers that only look random, and the
literal credentials an HTTP call carries. Rules reach these through the JMESPath functions
``secret_reason()`` and ``redact()``; the flow loader uses them to record HTTP literals.

Three questions, kept apart:

- **Is this name secret-sounding?** (:func:`secret_name`) — judged on *words*, never substrings:
  ``KeyVaultName``, ``TurkeyRegion``, ``ArkansasOffice`` are not; ``StorageAccountKey`` is.
- **Is this value a literal?** (:func:`is_literal`) — a workflow expression (``@parameters(...)``,
  ``Bearer @{body(...)}``), a pipeline placeholder (``#{Name}#``: :func:`policykit.platform.is_placeholder`)
  or a dummy (``<your key>``, ``xxxx``) is not a value anyone can leak.
- **Does the value look like a secret?** (:func:`secret_reason`) — a shape is enough (JWT, SAS
  signature, connection string with a key, Azure Functions key in a URL, private key, long
  high-entropy token); identifiers that look random (GUIDs, SharePoint composite site ids, Graph
  drive and item ids, Teams channel ids, Azure resource ids) are not tokens.

Nothing here prints a value: :func:`redact` is the only form a report may show.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any
from urllib.parse import unquote

from .platform import is_placeholder

# --------------------------------------------------------------------------- names

#: Words that make a name secret wherever they stand (``PasswordForSftp``, ``SecretPrd``) —
#: unless the name ends in a word that says it holds something *about* the secret (below).
STRONG_WORDS = frozenset({"secret", "secrets", "password", "passwords", "passwd", "pwd", "passphrase",
                          "credential", "credentials"})
#: Words that make a name secret only as its last word: ``ApiKey`` holds a key, ``KeyVaultName``
#: and ``ApiKeyHeader`` do not. ``signature`` only after ``access``/``sas`` (an e-mail signature is
#: no secret).
WEAK_WORDS = frozenset({"key", "token", "sas", "apikey", "connectionstring", "connstr"})
#: Lower-case compounds that camelCase splitting cannot separate (``clientsecret``, ``accountkey``).
COMPOUND_WORDS = frozenset({"apikey", "accountkey", "accesskey", "subscriptionkey", "sharedaccesskey",
                            "functionkey", "hostkey", "masterkey", "accesstoken", "sastoken",
                            "bearertoken", "authtoken", "refreshtoken", "connectionstring", "connstr",
                            "sharedaccesssignature"})
#: ``<qualifier> key`` / ``<qualifier> token`` that name data, not credentials.
NOT_SECRET_KEYS = frozenset({"primary", "foreign", "partition", "row", "sort", "lookup", "cache",
                             "alternate", "alternative", "natural", "composite", "unique", "public",
                             "idempotency", "correlation", "dedup", "deduplication", "routing",
                             "translation", "resource", "localization", "language", "object", "file",
                             "field", "column", "entity", "record", "table", "map", "registry", "message"})
NOT_SECRET_TOKENS = frozenset({"continuation", "next", "page", "paging", "skip", "sync", "delta",
                               "cancellation", "change", "state"})
#: Last words that describe a secret rather than hold it: ``PasswordResetUrl``, ``SecretName``,
#: ``ClientSecretId`` (a Key Vault secret's id), ``CredentialType``.
DESCRIPTORS = frozenset({"url", "uri", "link", "endpoint", "host", "hostname", "name", "names", "header",
                         "id", "ids", "guid", "identifier", "hint", "label", "length", "policy", "expiry",
                         "expiration", "expires", "expire", "date", "time", "days", "hours", "minutes",
                         "count", "enabled", "required", "reset", "rotation", "type", "kind", "format",
                         "mode", "field", "path", "version", "scope", "audience", "lifetime", "store",
                         "vault", "location", "owner", "contact", "email", "mail", "user", "username",
                         "prompt", "page", "text", "message", "description", "flag", "provider", "policies"})
#: Trailing words dropped before judging: ``ApiKeyValue``, ``ClientSecret2``, ``ApiKeyPrd``.
_TRAILING = frozenset({"value", "dev", "test", "tst", "uat", "qa", "prd", "prod", "stg", "staging"})
#: Last words of a name that declares an identifier: its value is not judged by entropy.
_ID_WORDS = frozenset({"id", "ids", "guid", "identifier"})

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def name_words(name: str | None) -> list[list[str]]:
    """Lower-case words of each part of a name.

    A flow parameter is named ``Display name (schema_name)``: each part is judged on its own.
    Words split on anything not a letter or digit (snake_case, kebab-case, dots, spaces), on
    case changes (camelCase, PascalCase, ``SASToken`` → sas, token) and around digits
    (``cr123_ApiKey`` → cr, 123, api, key).
    """
    if not isinstance(name, str):
        return []
    parts = []
    for segment in re.split(r"[()\[\]]", name):
        words = [w.lower() for chunk in re.split(r"[^A-Za-z0-9]+", segment) for w in _CAMEL.findall(chunk)]
        if words:
            parts.append(words)
    return parts


def _trimmed(words: list[str]) -> list[str]:
    out = list(words)
    while len(out) > 1 and (out[-1] in _TRAILING or out[-1].isdigit()):
        out.pop()
    return out


def _ends_in_secret(words: list[str]) -> bool:
    """The last word holds a credential: weak/strong word, compound, ``connection string``."""
    last = {"keys": "key", "tokens": "token"}.get(words[-1], words[-1])
    before = words[-2] if len(words) > 1 else ""
    if last in STRONG_WORDS or last in COMPOUND_WORDS or any(last.endswith(s) for s in STRONG_WORDS):
        return True
    if last == "key":
        return before not in NOT_SECRET_KEYS
    if last == "token":
        return before not in NOT_SECRET_TOKENS
    if last == "signature":
        return before in {"access", "sas"}
    if last == "string":
        return before == "connection"
    return last in WEAK_WORDS


def secret_name(name: str | None) -> bool:
    """Whether a name says its value is a credential (see the module docstring).

    Per part of the name (trailing ``value``, digits and environment suffixes dropped): the last
    word is a weak or strong secret word (``cr123_ApiKey``, ``SasToken``, ``x-api-key``,
    ``ConnectionString``, ``SharedAccessSignature``, ``db_pwd``); or a strong word stands anywhere
    and the last word does not describe the secret (``PasswordForSftp`` yes, ``PasswordResetUrl`` no).
    """
    for words in name_words(name):
        words = _trimmed(words)
        if _ends_in_secret(words):
            return True
        if any(w in STRONG_WORDS for w in words) and words[-1] not in DESCRIPTORS:
            return True
    return False


def names_identifier(name: str | None) -> bool:
    """The name's last word says it holds an id (``PlanId``, ``ChannelID``, ``Site GUID``)."""
    return any(_trimmed(words)[-1] in _ID_WORDS for words in name_words(name))


# --------------------------------------------------------------------------- literals

_DUMMY = re.compile(r"^(<[^<>]*>|\[[A-Za-z0-9 _-]*\]|[xX*•.#?-]{3,}|your[\W_].*|"
                    r".*(changeme|change_me|redacted|placeholder).*|null|none|undefined|n/a|todo|tbd)$",
                    re.IGNORECASE)


def is_expression(value: Any) -> bool:
    """A workflow expression or a string interpolating one: ``@parameters('x')``, ``Bearer @{...}``.

    ``@@`` escapes a literal ``@`` at the start of a string; a ``@@Name@@`` placeholder is a
    placeholder, not an expression.
    """
    if not isinstance(value, str):
        return False
    text = value.strip()
    return (text.startswith("@") and not text.startswith("@@")) or "@{" in text


def is_dummy(value: Any) -> bool:
    """A value that stands in for a secret: ``<your key>``, ``xxxx``, ``YOUR_API_KEY``, ``****``."""
    return isinstance(value, str) and bool(_DUMMY.match(value.strip()))


def is_literal(value: Any) -> bool:
    """A non-empty string written into the file as it is used: not an expression, a pipeline
    placeholder or a dummy. Only literals can leak."""
    if not isinstance(value, str) or len(value.strip()) < 3:
        return False
    return not (is_expression(value) or is_placeholder(value) or is_dummy(value))


# --------------------------------------------------------------------------- value shapes

_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}$")
#: A SAS signature: base64 (``+/=``), base64url (``-_``) or url-encoded (``%2B %2F %3D``).
_SAS = re.compile(r"(?:^|[?&;\s])sig=([A-Za-z0-9%+/=_-]{16,})", re.IGNORECASE)
_CONN = re.compile(r"(?:^|;)\s*(AccountKey|SharedAccessKey|Password|Pwd)\s*=\s*"
                   r"(?!@|#\{|\$\(|\{\{|__)[^;\s]{4,}", re.IGNORECASE)
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
_AUTH_SCHEME = re.compile(r"^\s*(Basic|Bearer|SharedAccessSignature|SharedKey|Digest|Token|ApiKey)\s+(.+?)\s*$",
                          re.IGNORECASE | re.DOTALL)
#: Query parameters that carry a credential in a URL, by what they are.
QUERY_SECRETS = {
    "sig": "a SAS signature (sig=)",
    "code": "an Azure Functions key (code=)",
    "api_key": "an API key in the URL (api_key=)",
    "apikey": "an API key in the URL (apikey=)",
    "api-key": "an API key in the URL (api-key=)",
    "subscription-key": "an API Management subscription key in the URL (subscription-key=)",
    "access_token": "an access token in the URL (access_token=)",
    "client_secret": "a client secret in the URL (client_secret=)",
    "password": "a password in the URL (password=)",
}
# name=value in a URL, a form body, or a string built with concat('...code=...'): the value stops
# where an expression, quote or separator starts, so `code=@{...}` has an empty value.
#: Shortest value that counts, by parameter (default 4): a SAS signature is 43+ characters, a
#: Functions key 40+; ``?code=BE`` is a country code.
_MIN_LENGTH = {"sig": 16, "code": 20}
_QUERY = re.compile(r"(?:^|[?&;\s'\"])(" + "|".join(re.escape(k) for k in QUERY_SECRETS) +
                    r")=([^&#\s'\"@{}<>;]*)", re.IGNORECASE)

#: ``scheme://user:password@host``: a password in a URL's user information.
_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@", re.IGNORECASE)

_GUID = r"\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?"
#: Shapes that are identifiers or plain data, not credentials (each anchored, whole value).
_NOT_SECRET = [re.compile(p, re.IGNORECASE) for p in (
    r"^https?://\S+$",                                       # URLs (secret query parameters are checked first)
    r"^[\w.+'-]+@[\w.-]+$",                                  # e-mail addresses, UPNs
    r"^(true|false|yes|no|on|off)$",
    r"^[+-]?\d+([.,]\d+)?$",                                 # numbers, phone numbers
    r"^" + _GUID + r"$",                                     # Dataverse / Entra GUIDs
    r"^[a-z0-9-]+(\.[a-z0-9-]+)+$",                          # host names, org names (unq….crm)
    r"^[\w.-]+\.[a-z]{2,}," + _GUID + "," + _GUID + r"$",    # SharePoint composite site id host,site,web
    r"^b![A-Za-z0-9_-]{40,}(\.[A-Z0-9]{20,})?$",             # Graph drive id (b!…), optionally .driveItem id
    r"^01[A-Z0-9]{32}$",                                     # Graph driveItem id
    r"^AA[A-Za-z]k[A-Za-z0-9_+/=-]{20,}$",                   # Exchange/Outlook message, event, folder ids
    r"^\d+:[\w.-]+@(thread\.[a-z0-9]+|unq\.gbl\.spaces)$",   # Teams channel / chat ids (19:…@thread.tacv2)
    r"^/(subscriptions|providers|tenants)/[^\s?]+$",         # Azure resource ids, ARM provider paths
    r"^/?(sites|drives|groups|teams|users|me|lists)/[^\s?]+$",  # Graph / SharePoint paths
    r"^#[0-9a-f]{3,8}$",                                     # colours
    r"^[A-Za-z][\w.-]{5,}[_-](" + _GUID + r")$",              # names ending in a GUID (connection names)
)]


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def is_identifier(value: str) -> bool:
    """A value whose shape says it is an id, an address or plain data (see ``_NOT_SECRET``)."""
    text = value.strip()
    return any(p.match(text) for p in _NOT_SECRET)


def query_secrets(text: Any) -> list[tuple[str, str]]:
    """``(parameter, value)`` for each credential query parameter (:data:`QUERY_SECRETS`) with a
    literal value in a URL or form-encoded string (see ``_MIN_LENGTH``)."""
    if not isinstance(text, str) or "=" not in text:
        return []
    out = []
    for m in _QUERY.finditer(text):
        param, value = m.group(1).lower(), m.group(2)
        decoded = unquote(value)
        if len(decoded) >= _MIN_LENGTH.get(param, 4) and is_literal(decoded):
            out.append((param, value))
    return out


def split_scheme(value: str) -> tuple[str | None, str]:
    """``Basic dXNl…`` → (``Basic``, ``dXNl…``); a value without a scheme → (None, value)."""
    m = _AUTH_SCHEME.match(value)
    return (m.group(1), m.group(2)) if m else (None, value.strip())


def _shape(text: str) -> str | None:
    """A value shape that is a credential whatever its name."""
    if _JWT.match(text):
        return "a JSON Web Token"
    if _PRIVATE_KEY.search(text):
        return "a private key"
    if _SAS.search(text):
        return "a SAS signature (sig=)"
    if _CONN.search(text):
        return "a connection string with a key or password"
    found = query_secrets(text)
    if found:
        return QUERY_SECRETS[found[0][0]]
    userinfo = _USERINFO.match(text)
    if userinfo and is_literal(unquote(userinfo.group(1))):
        return "a password in the URL (user:password@)"
    scheme, credential = split_scheme(text)
    if scheme and scheme.lower() in {"basic", "bearer"} and len(credential) >= 8 and " " not in credential \
            and is_literal(credential):
        return f"an HTTP {scheme.capitalize()} credential"
    return None


#: Characters that give a value structure (lists, calls, queries, media types, data URIs): a
#: generated token has none of them.
_STRUCTURE = re.compile(r"[\s()'\",;:?{}<>\[\]]")


def _word_like(text: str) -> bool:
    """Made of words, as names are (``Get_Planner_Tasks_from_Plan2``, ``/SiteAssets/morning_PNG47.png``):
    words of four letters or more cover most of it. A random token's letters rarely run that long."""
    words = [w for w in _CAMEL.findall(text) if w.isalpha() and len(w) >= 4 and (w.islower() or w[1:].islower())]
    return sum(map(len, words)) >= 0.6 * len(text)


def _high_entropy(text: str) -> bool:
    """A long generated token: 20+ characters, no structure, not words, 4+ bits of entropy per
    character (``-`` and ``_`` left out), letters and digits."""
    if len(text) < 20 or _STRUCTURE.search(text) or _word_like(text):
        return False
    compact = text.replace("-", "").replace("_", "")
    return entropy(compact) >= 4.0 and re.search(r"[0-9]", text) is not None \
        and re.search(r"[A-Za-z]", text) is not None


def secret_reason(name: str | None, value: Any) -> str | None:
    """Why ``value`` (named ``name``) looks like a secret, or None.

    Expressions, placeholders and dummies are never secrets. A value shape is enough (JWT, private
    key, SAS signature, connection string with a key or password, credential query parameter,
    password in a URL, ``Basic``/``Bearer`` credential). Identifiers (:func:`is_identifier`) stop there. Then a long
    high-entropy token — unless the name declares an id (``PlanId``) — and last a secret-sounding
    name (:func:`secret_name`) holding a literal of six characters or more without spaces.
    """
    if not isinstance(value, str) or not is_literal(value):
        return None
    text = value.strip()
    shape = _shape(text)
    if shape:
        return shape
    if is_identifier(text):
        return None
    if _high_entropy(text) and not names_identifier(name):
        return "a high-entropy token"
    if secret_name(name) and " " not in text and len(text) >= 6:
        return f"a literal value in '{name}'"
    return None


def redact(value: Any) -> str:
    """First two characters and the length: enough to recognize, useless to an attacker."""
    text = str(value or "")
    return f"{text[:2]}…({len(text)} chars)"


# --------------------------------------------------------------------------- HTTP literals

#: Request headers that carry a credential (compared case-insensitively); any other header whose
#: name is secret-sounding (:func:`secret_name`: ``X-Auth-Token``, ``x-client-secret``) counts too.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "ocp-apim-subscription-key",
                            "api-key", "x-functions-key"})
#: Fields of an HTTP action's ``authentication`` block that hold a credential.
AUTH_FIELDS = frozenset({"password", "secret", "key", "pfx", "value", "clientsecret"})
#: Body fields that hold a credential besides strong-word names (``password``, ``client_secret``).
_BODY_KEYS = frozenset({"apikey", "api_key", "clientsecret", "client_secret", "client_assertion",
                        "refresh_token", "subscriptionkey"})


def is_secret_header(name: Any) -> bool:
    return isinstance(name, str) and (name.strip().lower() in SECRET_HEADERS or secret_name(name))


def _body_key(key: str) -> bool:
    """A body field holding a credential: a strong secret word (``password``, ``client_secret``,
    ``newPassword``) not followed by a descriptor, or a known credential field (``apiKey``).
    Weak words alone do not count: ``{"key": "Title"}`` and ``nextPageToken`` are data."""
    if key.strip().lower() in _BODY_KEYS:
        return True
    for words in name_words(key):
        words = _trimmed(words)
        if any(w in STRONG_WORDS or any(w.endswith(s) for s in STRONG_WORDS) for w in words) \
                and words[-1] not in DESCRIPTORS:
            return True
    return False


def header_literals(headers: Any) -> list[dict[str, str]]:
    """``{where, value}`` for each credential header with a literal value; for ``Authorization``
    the scheme is named and only the credential after it is the value."""
    out = []
    for name, raw in (headers.items() if isinstance(headers, dict) else []):
        if not is_secret_header(name) or not isinstance(raw, str):
            continue
        scheme, credential = split_scheme(raw)
        if is_literal(credential):
            where = f"header {name} ({scheme})" if scheme else f"header {name}"
            out.append({"where": where, "value": credential})
    return out


class _AllPairs(dict):
    """A JSON object of a request body with every pair it was written with: a name written twice
    (``{"password": "a", "password": "b"}``) keeps only its last value in a dict, and the first
    credential would go unreported."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs


def _json_body(body: str) -> Any:
    text = body.strip()
    if not text.startswith("{"):
        return None
    try:
        return json.loads(text, object_pairs_hook=_AllPairs)
    except (ValueError, RecursionError):
        return None


def body_literals(body: Any, path: str = "") -> list[dict[str, str]]:
    """``{where, value}`` for each credential in a request body: fields of an object body (nested
    too: ``passwordProfile.password``), a JSON string body, or a form-encoded string
    (``grant_type=client_credentials&client_secret=…``)."""
    if isinstance(body, str):
        parsed = _json_body(body)
        if parsed is not None:
            return body_literals(parsed, path)
        return [{"where": f"body parameter {p}", "value": v} for p, v in query_secrets(body)]
    out: list[dict[str, str]] = []
    items = body.pairs if isinstance(body, _AllPairs) else body.items() if isinstance(body, dict) \
        else enumerate(body) if isinstance(body, list) else []
    for key, value in items:
        field = f"{path}.{key}" if path and isinstance(key, str) else f"{path}[{key}]" if path else str(key)
        if isinstance(value, (dict, list)):
            out += body_literals(value, field)
        elif isinstance(key, str) and _body_key(key) and is_literal(value):
            out.append({"where": f"body field {field}", "value": value})
    return out


def uri_literals(uri: Any, queries: Any = None) -> list[dict[str, str]]:
    """``{where, value}`` for each credential query parameter of a URI (and of an action's
    ``queries`` object, which the runtime appends to it)."""
    out = [{"where": f"URI query parameter {p}", "value": v} for p, v in query_secrets(uri)]
    userinfo = _USERINFO.match(uri.strip()) if isinstance(uri, str) else None
    if userinfo and is_literal(unquote(userinfo.group(1))):
        out.append({"where": "URI password (user:password@)", "value": userinfo.group(1)})
    for name, value in (queries.items() if isinstance(queries, dict) else []):
        param = str(name).strip().lower()
        if param in QUERY_SECRETS and isinstance(value, str) and is_literal(value) \
                and len(unquote(value)) >= _MIN_LENGTH.get(param, 4):
            out.append({"where": f"URI query parameter {name}", "value": value})
    return out


def authentication_literals(auth: Any) -> list[dict[str, str]]:
    """``{where, value}`` for each credential field of an ``authentication`` block with a literal."""
    if not isinstance(auth, dict):
        return []
    out = []
    for field in sorted(auth):
        if field.lower() not in AUTH_FIELDS or not isinstance(auth[field], str):
            continue
        scheme, credential = split_scheme(auth[field])  # Raw: "value": "Bearer eyJ…"
        if is_literal(credential):
            where = f"authentication field {field} ({scheme})" if scheme else f"authentication field {field}"
            out.append({"where": where, "value": credential})
    return out


def request_literals(inputs: Any) -> list[dict[str, str]]:
    """Every literal credential of one HTTP request description (an ``Http`` action's inputs, or
    an ``HttpWebhook``'s ``subscribe``/``unsubscribe``): headers, body, URI, authentication."""
    if not isinstance(inputs, dict):
        return []
    return (header_literals(inputs.get("headers")) + body_literals(inputs.get("body"))
            + uri_literals(inputs.get("uri"), inputs.get("queries"))
            + authentication_literals(inputs.get("authentication")))
