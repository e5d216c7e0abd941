"""Ports, and waiting for a condition rather than for a fixed time."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.05,
               message: str | Callable[[], str] = "the condition never held") -> T:
    """The first true value of ``predicate()``, polled until ``timeout`` seconds; AssertionError after that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message() if callable(message) else message} (waited {timeout:g} s)")
        time.sleep(interval)


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""

    def accepting() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(accepting, timeout, message=f"nothing listening on 127.0.0.1:{port}")


def bucket_keys(s3: Any, name: str) -> list[str]:
    """The keys in the bucket ``name``."""
    return [item["Key"] for item in s3.list_objects_v2(Bucket=name).get("Contents", [])]
