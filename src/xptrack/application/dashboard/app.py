"""The dashboard's JSON API and page, as a Starlette application over one store.

Routes (API.md "Dashboard"): ``GET /api/experiments``, ``.../{id}/trials`` (paged, sorted,
filtered), ``.../{id}/trials/{n}``, ``.../{id}/metrics/{key}?trials=``, ``.../{id}/diff``;
and for the page: ``.../{id}/columns`` (values for the scatter and parallel coordinates),
a trial's persisted bytes as a download, and ``POST .../{id}/trials/{n}/labels`` (tags and
note: the only write). Everything else is the single page and its static files.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xptrack.application.dashboard.assets import load_assets
from xptrack.application.dashboard.compare import column_values, metric_series, parse_ids
from xptrack.application.dashboard.labels import change_labels, trial_diff
from xptrack.application.dashboard.query import PageQuery
from xptrack.application.dashboard.security import GuardMiddleware
from xptrack.application.dashboard.table import TrialTable
from xptrack.application.dashboard.trial_page import trial_detail
from xptrack.domain.errors import InvalidArgument, NotFoundError, StoreUnavailable, XptrackError
from xptrack.domain.names import validate_name, validate_trial_id
from xptrack.ports.repositories import Backend, ExperimentStore

logger = logging.getLogger(__name__)


class StoreView:
    """The experiments of one backend, each opened once, with its trials table."""

    def __init__(self, backend: Backend, experiment_id: str | None = None) -> None:
        self.backend = backend
        self.experiment_id = experiment_id
        self._lock = threading.Lock()
        self._stores: dict[str, tuple[ExperimentStore, TrialTable]] = {}

    def experiment_ids(self) -> list[str]:
        """Every experiment of the store (the one the dashboard opened on too)."""
        ids = self.backend.list_experiments()
        if self.experiment_id is not None and self.experiment_id not in ids:
            ids.insert(0, self.experiment_id)
        return ids

    def open(self, experiment_id: str) -> tuple[ExperimentStore, TrialTable]:
        """The store and table of a known experiment; NotFoundError for any other id
        (the dashboard never creates an experiment by looking at it)."""
        validate_name(experiment_id, "experiment id")
        with self._lock:
            if experiment_id not in self._stores:
                if experiment_id not in self.experiment_ids():
                    raise NotFoundError(f"no experiment {experiment_id!r} in {self.backend!r}")
                store = self.backend.open(experiment_id)
                self._stores[experiment_id] = (store, TrialTable(store))
            return self._stores[experiment_id]

    def close(self) -> None:
        """Close every store opened."""
        with self._lock:
            for store, _ in self._stores.values():
                store.close()
            self._stores.clear()


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def _error(error: XptrackError) -> JSONResponse:
    status = 404 if isinstance(error, NotFoundError) else 400
    if isinstance(error, StoreUnavailable):
        status = 503
    return _json({"error": str(error), "kind": type(error).__name__}, status)


def _trial_id(request: Request) -> int:
    text = request.path_params["n"]
    try:
        return validate_trial_id(int(text))
    except ValueError:
        raise InvalidArgument(f"a trial id is a positive integer; got {text!r}") from None


def build_app(view: StoreView, hosts: frozenset[str]) -> Starlette:
    """The ASGI application serving ``view`` to requests for ``hosts``."""

    def guarded(handler: Any) -> Any:
        def endpoint(request: Request) -> Response:
            try:
                response: Response = handler(request)
            except XptrackError as error:
                return _error(error)
            return response

        endpoint.__name__ = handler.__name__
        return endpoint

    def experiments(request: Request) -> Response:
        rows = []
        for experiment_id in view.experiment_ids():
            _, table = view.open(experiment_id)
            rows.append({"id": experiment_id, **table.summary()})
        return _json({"experiments": rows, "default": view.experiment_id})

    def trials(request: Request) -> Response:
        _, table = view.open(request.path_params["experiment"])
        params = dict(request.query_params)
        query = PageQuery.from_params(params, request.query_params.getlist("filter"))
        return _json(table.page(query))

    def trial(request: Request) -> Response:
        store, _ = view.open(request.path_params["experiment"])
        return _json(trial_detail(store, _trial_id(request)))

    def persisted(request: Request) -> Response:
        experiment_id = request.path_params["experiment"]
        store, _ = view.open(experiment_id)
        step = validate_name(request.path_params["step"], "step name")
        trial_id = _trial_id(request)
        data = store.load_persisted(step, trial_id)
        name = f"{experiment_id}-{trial_id}-{step}.pkl"
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )

    def metric(request: Request) -> Response:
        store, _ = view.open(request.path_params["experiment"])
        ids = parse_ids(request.query_params.get("trials", ""))
        return _json(metric_series(store, request.path_params["key"], ids))

    def columns(request: Request) -> Response:
        _, table = view.open(request.path_params["experiment"])
        query = PageQuery.from_params(
            dict(request.query_params), request.query_params.getlist("filter")
        )
        keys = [k for k in request.query_params.get("keys", "").split(",") if k]
        if not keys:
            raise InvalidArgument("keys must name columns, say keys=parameters.lr,result")
        return _json(column_values(table, query, keys))

    def diff(request: Request) -> Response:
        experiment_id = request.path_params["experiment"]
        store, _ = view.open(experiment_id)
        a, b = (parse_ids(request.query_params.get(name, ""), name) for name in ("a", "b"))
        return _json(trial_diff(store, experiment_id, a[0], b[0]))

    async def labels(request: Request) -> Response:
        experiment_id = request.path_params["experiment"]
        try:
            body = await request.json()
        except ValueError:
            return _json({"error": "the body must be JSON: {add_tags, remove_tags, note}"}, 400)
        return await _in_thread(lambda: _labels(experiment_id, request, body))

    def _labels(experiment_id: str, request: Request, body: Any) -> Response:
        try:
            store, table = view.open(experiment_id)
            trial_id = _trial_id(request)
            change_labels(store, trial_id, body)
            table.forget(trial_id)
            return _json(trial_detail(store, trial_id))
        except XptrackError as error:
            return _error(error)

    assets = load_assets()

    def asset(request: Request) -> Response:
        found = assets.get(request.path_params.get("path", "index.html"))
        if found is None:
            return _json({"error": "no such file of the dashboard"}, 404)
        headers = {"etag": found.etag, "cache-control": "no-cache"}
        if request.headers.get("if-none-match") == found.etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.media_type, headers=headers)

    api = "/api/experiments/{experiment}"
    routes = [
        Route("/", asset),
        Route("/api/experiments", guarded(experiments)),
        Route(api + "/trials", guarded(trials)),
        Route(api + "/trials/{n}", guarded(trial)),
        Route(api + "/trials/{n}/persisted/{step}", guarded(persisted)),
        Route(api + "/trials/{n}/labels", labels, methods=["POST"]),
        Route(api + "/metrics/{key}", guarded(metric)),
        Route(api + "/columns", guarded(columns)),
        Route(api + "/diff", guarded(diff)),
        Route("/static/{path:path}", asset),
    ]
    middleware = [Middleware(GuardMiddleware, hosts=hosts)]
    return Starlette(routes=routes, middleware=middleware, lifespan=_closing(view))


def _closing(view: StoreView) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        view.close()

    return lifespan


async def _in_thread(call: Any) -> Response:
    from starlette.concurrency import run_in_threadpool

    result: Response = await run_in_threadpool(call)
    return result
