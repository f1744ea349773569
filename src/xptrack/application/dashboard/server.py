"""Serving the dashboard: uvicorn on a socket bound here, in the foreground or a thread."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Iterable

import uvicorn

from xptrack.application.dashboard.app import StoreView, build_app
from xptrack.application.dashboard.security import allowed_hosts
from xptrack.domain.errors import InvalidBackend, XptrackError
from xptrack.ports.repositories import Backend

logger = logging.getLogger(__name__)
_STARTUP_DEADLINE = 15.0


class DashboardUnavailable(XptrackError, OSError):
    """The dashboard could not listen on the address asked for (taken, or not this machine's)."""


class Dashboard:
    """A dashboard being served: ``url``, and ``stop()`` to shut it down."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket, host: str) -> None:
        self._server = server
        self._socket = sock
        self.host = host
        self.port = int(sock.getsockname()[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where a browser opens the dashboard."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/"

    def serve_in_thread(self) -> None:
        """Start serving on a background thread; returns once requests are answered."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_DEADLINE
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise DashboardUnavailable(f"the dashboard did not start at {self.url}")
            self._thread.join(0.01)

    def serve_until_interrupted(self) -> None:
        """Serve in this thread until Ctrl-C (uvicorn handles the signal and shuts down)."""
        logger.info("Serving the dashboard until Ctrl-C")
        try:
            self._server.run(sockets=[self._socket])
        except KeyboardInterrupt:
            pass
        finally:
            self._socket.close()

    def stop(self) -> None:
        """Stop serving and wait until the server has shut down."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __repr__(self) -> str:
        return f"Dashboard({self.url})"


def start_dashboard(
    backend: Backend,
    experiment_id: str | None = None,
    host: str = "127.0.0.1",
    port: int = 5000,
    blocking: bool | None = None,
    *,
    allowed: Iterable[str] = (),
) -> Dashboard:
    """Serve the dashboard of every experiment in ``backend``, opening on ``experiment_id``.

    Bound to loopback unless ``host`` says otherwise; requests naming another ``Host``
    than the bound address (or one in ``allowed``) are refused. ``blocking=None`` blocks
    until Ctrl-C outside Jupyter/IPython and returns a running handle inside; ``False``
    always returns the handle (``.url``, ``.stop()``), ``True`` always blocks.

    >>> dashboard = start_dashboard(ex.backend, "quickstart", blocking=False)  # doctest: +SKIP
    >>> dashboard.url
    'http://127.0.0.1:5000/'
    """
    if not isinstance(backend, Backend):
        raise InvalidBackend(
            "start_dashboard needs an xptrack Backend (say ex.backend); "
            f"got {type(backend).__name__}"
        )
    sock = _listen(host, port)
    hosts = allowed_hosts(host, int(sock.getsockname()[1]), allowed)
    view = StoreView(backend, experiment_id)
    config = uvicorn.Config(
        build_app(view, hosts),
        log_config=None,  # the user's logging stays as it is
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        lifespan="on",
    )
    dashboard = Dashboard(uvicorn.Server(config), sock, host)
    logger.info("Dashboard of %r at %s", backend, dashboard.url)
    if blocking is None:
        blocking = not _in_notebook()
    if blocking:
        dashboard.serve_until_interrupted()
    else:
        dashboard.serve_in_thread()
    return dashboard


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        raise DashboardUnavailable(
            f"cannot serve the dashboard on {host}:{port} ({error.strerror}); "
            "pass another port (port=0 picks a free one) or a host of this machine"
        ) from error
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _in_notebook() -> bool:
    """Whether this runs under IPython or Jupyter (where blocking would freeze the kernel)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return callable(get) and get() is not None
