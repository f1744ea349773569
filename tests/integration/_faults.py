"""Faults injected into real servers the tests started: a paused process, a connection that
drops a reply after the server acted on the request, a store folder made read-only."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

#: Every wait on a server in these tests ends by this deadline (seconds), success or not.
DEADLINE = 20.0


def _thread_states(pid: int) -> set[str]:
    states = set()
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(OSError):
            states.add(stat.read_text().rsplit(")", 1)[1].split()[0])
    return states


def poll(condition, what: str, deadline: float = DEADLINE) -> None:
    """Wait until ``condition()`` is true; AssertionError naming ``what`` after ``deadline``."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        time.sleep(0.01)


def pause(process: subprocess.Popen[bytes]) -> None:
    """SIGSTOP ``process`` and wait until every thread of it has stopped (delivery is
    asynchronous: a request arriving meanwhile could still be answered)."""
    os.kill(process.pid, signal.SIGSTOP)
    poll(lambda: _thread_states(process.pid) == {"T"}, f"process {process.pid} to stop")


def resume(process: subprocess.Popen[bytes]) -> None:
    """SIGCONT ``process`` (paused by :func:`pause`)."""
    os.kill(process.pid, signal.SIGCONT)


@contextlib.contextmanager
def paused(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """``process`` stopped for the duration of the block."""
    pause(process)
    try:
        yield
    finally:
        resume(process)


class ReplyDroppingProxy:
    """A TCP proxy to ``127.0.0.1:target_port`` that, once armed with a byte string, forwards
    the next request containing it, waits for the server's reply and then closes the client's
    connection instead of forwarding it: the server acted, the client saw a dropped
    connection (what a network failure at the worst moment looks like)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._trigger: bytes | None = None
        self.dropped = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, trigger: bytes) -> None:
        """Drop the reply to the next request containing ``trigger`` (once)."""
        with self._lock:
            self._trigger = trigger

    def _take_trigger(self, data: bytes) -> bool:
        with self._lock:
            if self._trigger is not None and self._trigger in data:
                self._trigger = None
                return True
            return False

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            doomed = threading.Event()
            threading.Thread(target=self._up, args=(client, server, doomed), daemon=True).start()
            threading.Thread(target=self._down, args=(client, server, doomed), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, doomed: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(1 << 16):
                if self._take_trigger(data):
                    doomed.set()
                server.sendall(data)
        _close(client, server)

    def _down(self, client: socket.socket, server: socket.socket, doomed: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(1 << 16):
                if doomed.is_set():
                    self.dropped.set()  # the server answered: it acted on the request
                    break
                client.sendall(data)
        _close(client, server)

    def close(self) -> None:
        self._listener.close()


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
