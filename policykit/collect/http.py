"""Polite HTTP for ``policykit collect``: bounded concurrency per host, 429/503 honouring
``Retry-After`` (seconds or HTTP-date), jittered exponential backoff otherwise, bounded retries,
a timeout per request, and paging merged (``@odata.nextLink`` / ``nextLink``).

Dataverse's service protection limits are 52 concurrent requests and 6,000 requests per five
minutes per user and server: at most ``per_host`` (16) requests run at once per host, so a collect
stays far below them by design, and a 429 is waited out as the server asks.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .tokens import TokenProvider

RETRY_STATUSES = frozenset({429, 502, 503, 504})


class CollectError(Exception):
    """A request that failed for good: its status (0 for a network error) and one line saying why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Fetched:
    """A response body (pages merged) and how it was obtained, for ``collection.json``."""

    body: Any
    status: int = 200
    pages: int = 1
    records: int | None = None
    attempts: int = 1
    waited: float = 0.0
    url: str = ""
    log: list[dict] = field(default_factory=list)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def shown_url(url: str) -> str:
    """A URL as recorded: no user information (nothing secret travels in our URLs otherwise)."""
    parts = urlsplit(url)
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _error_text(response: Any) -> str:
    """The API's own error message (Dataverse, Graph and the admin API share ``{"error": {...}}``)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return " ".join(str(error.get(k)) for k in ("code", "message") if error.get(k))[:300]
    return ""


class Http:
    """Authenticated GETs with retries; thread-safe (one httpx client, one semaphore per host)."""

    def __init__(self, tokens: TokenProvider, *, timeout: float = 60.0, retries: int = 5, per_host: int = 16,
                 backoff: float = 1.0, max_wait: float = 120.0, sleep: Callable[[float], None] = time.sleep,
                 on_wait: Callable[[str, float], None] | None = None) -> None:
        import httpx
        self._httpx = httpx
        self.tokens = tokens
        self.retries = retries
        self.per_host = per_host
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.on_wait = on_wait
        self.requests = 0
        self._count = threading.Lock()
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._client = httpx.Client(timeout=timeout, follow_redirects=False,
                                    limits=httpx.Limits(max_connections=per_host * 8))

    def close(self) -> None:
        self._client.close()

    def _gate(self, url: str) -> threading.BoundedSemaphore:
        host = urlsplit(url).netloc.lower()
        with self._count:
            return self._hosts.setdefault(host, threading.BoundedSemaphore(self.per_host))

    def _wait_for(self, attempt: int, response: Any) -> float:
        told = retry_after(response.headers.get("Retry-After")) if response is not None else None
        if told is None:
            told = self.backoff * (2 ** attempt) * (0.5 + random.random())  # jittered exponential
        return min(told, self.max_wait)

    def get(self, url: str, scope: str, headers: dict[str, str] | None = None) -> Fetched:
        """One GET, retried on 429/5xx/timeouts; a JSON body or a :class:`CollectError`."""
        waited, response = 0.0, None
        for attempt in range(self.retries + 1):
            try:
                with self._gate(url):
                    with self._count:
                        self.requests += 1
                    response = self._client.get(url, headers={
                        "Authorization": f"Bearer {self.tokens.token(scope)}", "Accept": "application/json",
                        "OData-MaxVersion": "4.0", "OData-Version": "4.0", **(headers or {})})
            except self._httpx.TransportError as exc:
                response, problem = None, f"network error: {type(exc).__name__}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    break
                problem = f"HTTP {response.status_code}"
            if attempt == self.retries:
                raise CollectError(response.status_code if response is not None else 0,
                                   f"{problem} after {attempt + 1} attempts")
            pause = self._wait_for(attempt, response)
            if self.on_wait:
                self.on_wait(f"{problem}: waiting {pause:.1f} s", pause)
            self.sleep(pause)
            waited += pause
        assert response is not None
        if response.status_code != 200:
            raise CollectError(response.status_code,
                               f"HTTP {response.status_code} {response.reason_phrase} {_error_text(response)}".strip())
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            raise CollectError(response.status_code, "the response is not JSON") from None
        return Fetched(body, status=200, attempts=attempt + 1, waited=waited, url=shown_url(url))

    def get_all(self, url: str, scope: str, next_key: str, headers: dict[str, str] | None = None) -> Fetched:
        """Every page of a list: the first page's body with ``value`` holding all rows, no next link."""
        first = self.get(url, scope, headers)
        body = first.body
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise CollectError(200, 'the response is not a list: no "value" array')
        rows = body["value"]
        seen = {url}
        link = body.pop(next_key, None)
        while link:
            if not isinstance(link, str) or link in seen:
                raise CollectError(200, "the next page link repeats or is not a URL: paging stopped")
            seen.add(link)
            page = self.get(link, scope, headers)
            first.pages += 1
            first.attempts += page.attempts
            first.waited += page.waited
            if not isinstance(page.body, dict) or not isinstance(page.body.get("value"), list):
                raise CollectError(200, f'page {first.pages} is not a list: no "value" array')
            rows.extend(page.body["value"])
            link = page.body.get(next_key)
        first.records = len(rows)
        return first
