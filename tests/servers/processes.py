"""Throwaway servers for tests and benchmarks: a free loopback port, a readiness check and a
clean stop. Only processes started by the caller are ever stopped, by their own handle."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` (a server this caller started), killing it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_answers(
    process: subprocess.Popen[bytes], answers: Callable[[], bool], timeout: float = 10.0
) -> bool:
    """Poll ``answers`` until it is true (True), or the process died or ``timeout`` passed
    (False). A server takes some milliseconds to bind: this is the only wait it needs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if answers():
            return True
        time.sleep(0.02)
    return False


def redis_answers(port: int, password: str | None = None) -> bool:
    """True when a Redis server on 127.0.0.1:``port`` answers PING."""
    import redis

    client = redis.Redis(port=port, password=password, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def mongo_answers(port: int) -> bool:
    """True when a MongoDB-wire server on 127.0.0.1:``port`` answers ping."""
    import pymongo
    from pymongo.errors import PyMongoError

    uri = f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500) as client:
        try:
            client.admin.command("ping")
        except PyMongoError:
            return False
        return True
