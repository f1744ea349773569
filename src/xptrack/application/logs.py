"""Make xptrack's INFO lines visible to a user who configured no logging at all."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s [%(levelname)s] %(message)s"
_installed = False


def ensure_visible_logging() -> None:
    """Give the ``xptrack`` logger a stderr handler at INFO when nobody configured logging.

    Called when an experiment opens, never on import. A program that configured
    logging itself (any handler on the root or the ``xptrack`` logger) is left alone.
    """
    global _installed
    package_logger = logging.getLogger("xptrack")
    if _installed or logging.getLogger().handlers or package_logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    package_logger.addHandler(handler)
    if package_logger.level == logging.NOTSET:
        package_logger.setLevel(logging.INFO)
    _installed = True
