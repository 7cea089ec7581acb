"""What the document builder tells the reader besides findings: data it could not join or judge
(a connection whose account matches no user, a SKU no catalog knows, a solution scanned twice).

A notice is plain data, ``{"message", "source"}``; the scan reports each once, with its location.
"""

from __future__ import annotations


class Notices:
    """Notices in the order they were raised, each at most once (by ``key``, else its message)."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self._seen: set[str] = set()

    def add(self, message: str, source: dict | None = None, key: str | None = None) -> None:
        marker = key or message
        if marker in self._seen:
            return
        self._seen.add(marker)
        self.items.append({"message": message, "source": source})
