"""Moving bytes through presigned S3 URLs: spilled output down, big stdin up.

The function hands out presigned URLs, so a user who may only invoke it needs
no S3 permission. Spilled output is streamed to its destination in chunks,
checked against its sha256, and then deleted.
"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import BinaryIO, Protocol

from lambdash.errors import TransportError
from lambdash.terminal import CLEAR_LINE, progress_line

CHUNK_BYTES = 1024 * 1024
HTTP_TIMEOUT_SECONDS = 60
# Transfers at least this big show a progress bar on a terminal.
PROGRESS_MIN_BYTES = 4 * 1024 * 1024


class Progress(Protocol):
    def update(self, done: int) -> None: ...
    def close(self) -> None: ...


ProgressFactory = Callable[[str, int], Progress | None]


class ProgressBar:
    """A one-line progress bar redrawn in place on a terminal's stderr."""

    def __init__(self, label: str, total: int, stream: BinaryIO, width: int = 80) -> None:
        self.label, self.total, self.stream, self.width = label, total, stream, width
        self.started = time.monotonic()
        self._last_draw = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self._last_draw < 0.1 and done < self.total:
            return
        self._last_draw = now
        fraction = done / self.total if self.total else 1.0
        rate = done / max(now - self.started, 1e-6)
        text = f" {self.label} {_mb(done)}/{_mb(self.total)} MB {fraction:4.0%} {_mb(int(rate))} MB/s"
        self.stream.write(progress_line(fraction, text, self.width))
        self.stream.flush()

    def close(self) -> None:
        self.stream.write(CLEAR_LINE)
        self.stream.flush()


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f}"


def download_verified(
    url: str, destination: BinaryIO, *, size: int, sha256: str, label: str,
    progress: ProgressFactory | None = None,
) -> None:
    """Stream an object to ``destination``, checking its size and sha256 as it goes."""
    digest = hashlib.sha256()
    received = 0
    bar = progress(label, size) if progress and size >= PROGRESS_MIN_BYTES else None
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
            while chunk := response.read(CHUNK_BYTES):
                digest.update(chunk)
                destination.write(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(received)
    except urllib.error.HTTPError as problem:
        raise TransportError(f"could not fetch the spilled {label}: HTTP {problem.code} {problem.reason}") from None
    except (urllib.error.URLError, OSError) as problem:
        raise TransportError(f"could not fetch the spilled {label}: {problem}") from None
    finally:
        if bar is not None:
            bar.close()
    destination.flush()
    if received != size or digest.hexdigest() != sha256:
        raise TransportError(
            f"the spilled {label} arrived damaged ({received} of {size} bytes, sha256 mismatch); "
            "what was written may be incomplete"
        )


def delete_object(url: str) -> None:
    """Delete a spilled object through its presigned DELETE URL (a lifecycle rule is the backstop)."""
    request = urllib.request.Request(url, method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS):
            pass
    except (urllib.error.URLError, OSError) as problem:
        raise TransportError(f"could not delete a spilled object: {problem}") from None


def upload(url: str, data: bytes, headers: dict[str, str]) -> None:
    """PUT bytes to a presigned URL."""
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS):
            pass
    except urllib.error.HTTPError as problem:
        raise TransportError(f"could not upload to the spill bucket: HTTP {problem.code} {problem.reason}") from None
    except (urllib.error.URLError, OSError) as problem:
        raise TransportError(f"could not upload to the spill bucket: {problem}") from None
