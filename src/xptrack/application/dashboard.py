"""A small read-only web page of an experiment: history, metrics, code and environment.

Served by the standard library's HTTP server on a background thread, bound to the
loopback interface unless told otherwise; nothing to install, nothing written.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from xptrack.domain.errors import XptrackError

if TYPE_CHECKING:
    from xptrack.application.experiment import Experiment

logger = logging.getLogger("xptrack.dashboard")

_STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}"
    "pre{background:#f6f6f6;padding:1em;overflow:auto}nav a{margin-right:1em}"
)
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


class Dashboard:
    """A running dashboard; ``stop()`` shuts it down."""

    def __init__(self, experiment: Experiment, host: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"experiment": experiment})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        address = self._server.server_address
        self.host, self.port = str(address[0]), int(address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        logger.info("Dashboard of experiment %s at %s", experiment.id, self.url)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __repr__(self) -> str:
        return f"Dashboard({self.url})"


class _Handler(BaseHTTPRequestHandler):
    experiment: Experiment

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        pages = {"/": self._history, "/trial": self._trial, "/metric": self._metric}
        page = pages.get(url.path)
        if page is None:
            self._send(404, "<h1>Not found</h1>")
            return
        try:
            self._send(200, page(query))
        except (XptrackError, ValueError) as error:
            self._send(404, f"<h1>Not found</h1><p>{html.escape(str(error))}</p>")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("dashboard: " + format, *args)

    def _send(self, status: int, body: str) -> None:
        title = html.escape(f"xptrack: {self.experiment.id}")
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body><nav><a href='/'>History</a></nav>"
            f"<h1>{title}</h1>{body}</body></html>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def _history(self, _: dict[str, str]) -> str:
        frame = self.experiment.get_history(verbose=True)
        rows = "".join(
            f"<tr><td><a href='/trial?id={int(trial_id)}'>{int(trial_id)}</a></td>"
            + "".join(f"<td>{html.escape(str(value))}</td>" for value in row)
            + "</tr>"
            for trial_id, row in zip(frame.index, frame.itertuples(index=False), strict=True)
        )
        header = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["Trial ID", *frame.columns])
        return f"<h2>History ({len(frame)} trials)</h2><table><tr>{header}</tr>{rows}</table>"

    def _trial(self, query: dict[str, str]) -> str:
        trial_id = int(query.get("id", "0"))
        ex = self.experiment
        parameters = html.escape(json.dumps(ex.get_parameters(trial_id), default=repr, indent=1))
        keys = ex._store.metric_keys(trial_id)
        metrics = " ".join(
            f"<a href='/metric?key={html.escape(k)}&ids={trial_id}'>{html.escape(k)}</a>"
            for k in keys
        )
        parts = [
            f"<h2>Trial {trial_id}</h2><h3>Parameters</h3><pre>{parameters}</pre>",
            f"<h3>Metrics</h3><p>{metrics or 'none'}</p>",
            f"<h3>Code</h3><pre>{html.escape(_or_missing(ex.get_code, trial_id))}</pre>",
        ]
        environment = _or_missing(lambda t: json.dumps(ex.get_environment(t), indent=1), trial_id)
        parts.append(f"<h3>Environment</h3><pre>{html.escape(environment)}</pre>")
        return "".join(parts)

    def _metric(self, query: dict[str, str]) -> str:
        key = query.get("key", "")
        ids = [int(part) for part in query.get("ids", "").split(",") if part]
        frame = self.experiment.load_metric(key, ids)
        return f"<h2>Metric {html.escape(key)}</h2>{_line_chart(frame)}{frame.to_html()}"


def _or_missing(read: Any, trial_id: int) -> str:
    try:
        return str(read(trial_id))
    except XptrackError as error:
        return f"(not recorded: {error})"


def _line_chart(frame: Any, width: int = 640, height: int = 240) -> str:
    """An inline SVG line per trial column (no plotting library needed)."""
    values = frame.to_numpy(dtype=float)
    finite = values[~(values != values)]
    if not len(frame) or not finite.size:
        return ""
    low, high = float(finite.min()), float(finite.max())
    span_y = (high - low) or 1.0
    epochs = [float(e) for e in frame.index]
    span_x = (max(epochs) - min(epochs)) or 1.0
    lines = []
    for number, column in enumerate(frame.columns):
        points = " ".join(
            f"{(x - min(epochs)) / span_x * width:.1f},{height - (y - low) / span_y * height:.1f}"
            for x, y in zip(epochs, frame[column], strict=True)
            if y == y
        )
        color = _COLORS[number % len(_COLORS)]
        lines.append(f"<polyline fill='none' stroke='{color}' points='{points}'/>")
    return f"<svg width='{width}' height='{height}'>{''.join(lines)}</svg>"
