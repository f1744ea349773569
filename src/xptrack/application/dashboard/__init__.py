"""The dashboard: a JSON API over a store and the single page that is its client.

``start_dashboard(backend, experiment_id=None, host="127.0.0.1", port=5000, blocking=None)``
serves every experiment of ``backend``; ``ex.start_dashboard()`` and ``xptrack dashboard``
both call it. The page's chart library (uPlot) ships in ``static/vendor``: nothing is
fetched from elsewhere, so it works offline.
"""

from xptrack.application.dashboard.server import Dashboard, DashboardUnavailable, start_dashboard

__all__ = ["Dashboard", "DashboardUnavailable", "start_dashboard"]
