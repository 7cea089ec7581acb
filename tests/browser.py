"""Drive a real headless Chromium (Debian's ``chromium`` package; ``make test`` installs it).

One process per call, on a local ``file://`` page, nothing else: no remote debugging port, no
network address. :func:`render` loads the page once and returns the DOM Chromium built (after
parsing, style and any script), the console messages it logged (``--enable-logging=stderr``
prints each one as an ``INFO:CONSOLE`` line: script errors, Content-Security-Policy violations,
failed loads) and writes a screenshot; :func:`print_pdf` prints the page as a reader would.

``$POLICYKIT_CHROMIUM`` names another binary. A missing browser fails the test rather than
skipping it: a report nobody looked at in a browser is not tested. :func:`mermaid_js` is mermaid's
bundled build (``make test`` fetches it into ``.tools/``), for the markdown report's graph.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

#: Flags for a container running as root without a GPU or a session bus.
BASE_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-extensions", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-default-apps", "--mute-audio", "--hide-scrollbars")
TIMEOUT = 120
_CONSOLE = re.compile(r':CONSOLE(?:\(\d+\))?(?::\d+)?\] "(.*)", source: (.*)$')


def chromium() -> str:
    """The browser binary, or the test fails saying how to install it."""
    found = os.environ.get("POLICYKIT_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("chromium is not installed: `make test` installs it "
                    "(apt-get install -y --no-install-recommends chromium), or set POLICYKIT_CHROMIUM")
    return found


def mermaid_js() -> Path:
    """mermaid's bundled script (``$POLICYKIT_MERMAID``, else ``.tools/mermaid/mermaid.min.js``), or
    the test fails saying how to get it: GitHub draws the markdown report's graph with it."""
    found = Path(os.environ.get("POLICYKIT_MERMAID") or Path(__file__).resolve().parent.parent / ".tools" / "mermaid"
                 / "mermaid.min.js")
    if not found.is_file():
        pytest.fail(f"mermaid is not installed at {found}: `make test` (or `make mermaid`) fetches it, "
                    "or set POLICYKIT_MERMAID")
    return found


@dataclass
class Rendered:
    dom: str                 # the serialized DOM after loading
    console: list[str]       # every console message, "message (source)"
    screenshot: Path | None


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="policykit-chromium-") as profile:
        return subprocess.run([chromium(), *BASE_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=TIMEOUT, check=False,
                              env={**os.environ, "HOME": profile})


def render(page: Path, screenshot: Path | None = None, window: tuple[int, int] = (1280, 4000),
           settle_ms: int = 0) -> Rendered:
    """Load ``page`` (a local file) once: its DOM, its console messages, and a screenshot. With
    ``settle_ms``, the page's own asynchronous work (a script drawing a graph) runs for up to that
    much virtual time before the DOM is taken."""
    args = ["--enable-logging=stderr", "--v=0", f"--window-size={window[0]},{window[1]}", "--dump-dom"]
    if settle_ms:
        args.append(f"--virtual-time-budget={settle_ms}")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.unlink(missing_ok=True)
        args.append(f"--screenshot={screenshot}")
    run = _run([*args, page.resolve().as_uri()])
    assert run.returncode == 0, f"chromium exited {run.returncode}:\n{run.stderr[-4000:]}"
    console = [f"{m.group(1)} ({m.group(2)})" for m in map(_CONSOLE.search, run.stderr.splitlines()) if m]
    return Rendered(run.stdout, console, screenshot if screenshot and screenshot.is_file() else None)


def print_pdf(page: Path, pdf: Path) -> bytes:
    """Print ``page`` to ``pdf`` as Chromium's print dialog would (print style sheet, no header)."""
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.unlink(missing_ok=True)
    run = _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.resolve().as_uri()])
    assert run.returncode == 0 and pdf.is_file(), f"chromium could not print:\n{run.stderr[-4000:]}"
    return pdf.read_bytes()


class Dom(HTMLParser):
    """The rendered DOM as elements (tag, attributes) and the text a reader sees, per element id."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text_parts: list[str] = []
        self._skip = 0
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in ("style", "script", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text_parts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text_parts))

    def ids(self) -> list[str]:
        return [a["id"] for _, a in self.elements if a.get("id")]

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == name]

    def event_handlers(self) -> list[tuple[str, str]]:
        return [(t, k) for t, a in self.elements for k in a if k.lower().startswith("on")]
