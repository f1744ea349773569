"""How many commands and round trips a trial costs: MongoDB commands by name (pymongo's command
monitoring) and Redis round trips (each packed send of redis-py is one: a pipeline sends all
its commands at once). Installed once by ``run.py`` before any client exists; counts are
process-wide, so take them around work that runs alone (see :func:`per_call`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

COUNTS: Counter[str] = Counter()
_installed = False


def install() -> None:
    """Start counting (idempotent). Clients made afterwards are counted."""
    global _installed
    if _installed:
        return
    _installed = True
    try:
        from pymongo import monitoring

        class Listener(monitoring.CommandListener):
            def started(self, event: Any) -> None:
                COUNTS[f"mongo:{event.command_name}"] += 1

            def succeeded(self, event: Any) -> None:
                pass

            def failed(self, event: Any) -> None:
                pass

        monitoring.register(Listener())
    except ImportError:
        pass
    try:
        from redis.connection import AbstractConnection

        send = AbstractConnection.send_packed_command

        def counted(self: Any, command: Any, check_health: bool = True) -> None:
            COUNTS["redis:round trips"] += 1
            send(self, command, check_health)

        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    except ImportError:
        pass


def per_call(work: Callable[[], Any], calls: int, prefix: str) -> dict[str, float]:
    """Counter name -> its count per call of ``work`` over ``calls`` calls (names under
    ``prefix``: ``mongo`` or ``redis``); ``total`` sums them."""
    before = Counter({k: v for k, v in COUNTS.items() if k.startswith(prefix)})
    for _ in range(calls):
        work()
    after = Counter({k: v for k, v in COUNTS.items() if k.startswith(prefix)})
    delta = {k.split(":", 1)[1]: (after[k] - before[k]) / calls for k in after}
    delta = {k: v for k, v in delta.items() if v}
    delta["total"] = sum(delta.values())
    return delta


def described(counts: dict[str, float]) -> str:
    """``8 commands a trial (findAndModify 1, insert 3, ...)``."""
    parts = ", ".join(f"{k} {v:g}" for k, v in sorted(counts.items()) if k != "total")
    return f"{counts.get('total', 0):g} a trial ({parts})"
