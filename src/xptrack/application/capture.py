"""What a step prints and logs, kept per step even when steps run in parallel threads.

While any step runs in a process, ``sys.stdout`` and ``sys.stderr`` are wrapped by a
stream that copies what is written to the capture of the step running in the writing
thread (a context variable) and passes everything on to the stream it wraps, so the user
still sees it; a logging handler on the root logger does the same for log records.
Nothing is captured outside a step, or from threads a step starts itself.
"""

from __future__ import annotations

import contextvars
import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

#: Captured text kept per step; beyond it, the middle is dropped (the end usually matters).
MAX_CHARS = 1_000_000
_LOG_FORMAT = "[%(levelname)s] %(name)s: %(message)s"

_CAPTURE: contextvars.ContextVar[Capture | None] = contextvars.ContextVar(
    "xptrack_capture", default=None
)


class Capture:
    """The text captured for one step, in the order it was written."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._dropped = 0

    def write(self, text: str) -> None:
        if self._size < MAX_CHARS:
            self._parts.append(text)
            self._size += len(text)
        else:
            self._dropped += len(text)

    def text(self) -> str:
        """Everything captured, as storable text (lone surrogates escaped)."""
        text = "".join(self._parts)
        if self._dropped:
            text += f"\n[xptrack: {self._dropped} more characters of output not kept]\n"
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _TeeStream(io.TextIOBase):
    """A stream writing to the running step's capture and to the stream it wraps."""

    def __init__(self, wrapped: TextIO) -> None:
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        capture = _CAPTURE.get()
        if capture is not None:
            capture.write(text)
        return self.wrapped.write(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def fileno(self) -> int:
        return self.wrapped.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.wrapped, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


class _CaptureHandler(logging.Handler):
    """Copies log records to the running step's capture."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter(_LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        capture = _CAPTURE.get()
        if capture is not None:
            try:
                capture.write(self.format(record) + "\n")
            except Exception:
                self.handleError(record)
        # Being a handler, this one would silence Python's last resort (warnings to stderr
        # when nobody configured logging): pass such records on as it would have.
        last_resort = logging.lastResort
        if (
            last_resort is not None
            and record.levelno >= last_resort.level
            and not _other_handlers(logging.getLogger(record.name), self)
        ):
            stream = sys.stderr  # the wrapped one: the capture already has the record
            target = stream.wrapped if isinstance(stream, _TeeStream) else stream
            target.write(last_resort.format(record) + "\n")


def _other_handlers(logger: logging.Logger, ignored: logging.Handler) -> bool:
    """Whether a handler other than ``ignored`` sees records of ``logger``."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler is not ignored for handler in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


class _Installation:
    """The wrapped streams and the handler, in place while at least one step runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._handler = _CaptureHandler()

    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            # Wrapped again if someone (a test runner, a notebook) replaced them meanwhile.
            if not isinstance(sys.stdout, _TeeStream):
                sys.stdout = _TeeStream(sys.stdout)
            if not isinstance(sys.stderr, _TeeStream):
                sys.stderr = _TeeStream(sys.stderr)
            if self._users == 1:
                logging.getLogger().addHandler(self._handler)

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users:
                return
            logging.getLogger().removeHandler(self._handler)
            for name in ("stdout", "stderr"):
                stream = getattr(sys, name)
                if isinstance(stream, _TeeStream):
                    setattr(sys, name, stream.wrapped)


_INSTALLATION = _Installation()


@contextmanager
def capturing() -> Iterator[Capture]:
    """Capture what this thread prints and logs inside the block."""
    capture = Capture()
    _INSTALLATION.acquire()
    token = _CAPTURE.set(capture)
    try:
        yield capture
    finally:
        _CAPTURE.reset(token)
        _INSTALLATION.release()
