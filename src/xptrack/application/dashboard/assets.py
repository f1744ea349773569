"""The page's files (HTML, JavaScript modules, CSS, the vendored uPlot), served from memory.

Read once from the package when the dashboard starts: answering them costs no disk access
and no thread, and each carries an ETag so a browser revalidates instead of downloading.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from importlib.resources.abc import Traversable

import attrs

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}


@attrs.frozen
class Asset:
    """One file of the page: its bytes, media type and ETag."""

    body: bytes
    media_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file under ``static/``, by its path relative to it (``vendor/uPlot.min.css``)."""
    root = resources.files("xptrack.application.dashboard") / "static"
    found: dict[str, Asset] = {}
    _collect(root, "", found)
    return found


def _collect(folder: Traversable, prefix: str, found: dict[str, Asset]) -> None:
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            _collect(entry, f"{name}/", found)
            continue
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        found[name] = Asset(body, _TYPES.get(suffix, "application/octet-stream"), etag)
