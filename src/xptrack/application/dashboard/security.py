"""What keeps the dashboard to its own machine and its own page.

- A request whose ``Host`` is not an address the server was bound to (or one given) is
  refused: a web page on another site that rebinds its DNS name to 127.0.0.1 cannot read
  the store through the visitor's browser.
- A write must come from the dashboard's own page: JSON body, and an ``Origin`` (when the
  browser sends one) naming the same host.
- Every response forbids the page to load or send anything outside the server
  (``Content-Security-Policy``), to be framed, or to leak its address as a referrer.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        b"form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def allowed_hosts(host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """The ``Host`` header values accepted for a server bound to ``host``:``port``."""
    names = {host.strip("[]"), *extra}
    if _is_loopback(host):
        names.update(_LOOPBACK_NAMES)
    elif host in ("0.0.0.0", "::", ""):
        names.update({socket.gethostname(), socket.getfqdn(), *_LOOPBACK_NAMES})
    accepted = set()
    for name in names:
        shown = f"[{name}]" if ":" in name else name
        accepted.update({shown.lower(), f"{shown}:{port}".lower()})
    return frozenset(accepted)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class GuardMiddleware:
    """ASGI middleware: the Host check, the same-origin rule for writes, safety headers."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            logger.warning("Dashboard refused a request for host %r (DNS rebinding?)", host)
            await _refuse(send, 421, f"host {host!r} is not served here")
            return
        if scope["method"] in _WRITE_METHODS and not _same_origin(headers, host):
            await _refuse(send, 403, "writes come only from the dashboard's own page, as JSON")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                named = {key.lower() for key, _ in headers}
                message["headers"] = headers + [h for h in _HEADERS if h[0] not in named]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _same_origin(headers: dict[str, str], host: str) -> bool:
    if not headers.get("content-type", "").startswith("application/json"):
        return False
    origin = headers.get("origin")
    return origin is None or urlsplit(origin).netloc.lower() == host


async def _refuse(send: Send, status: int, reason: str) -> None:
    body = json.dumps({"error": reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
