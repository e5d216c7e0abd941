"""Moving bytes through presigned S3 URLs: spilled output down, big stdin up.

The function hands out presigned URLs, so a user who may only invoke it needs
no S3 permission. Spilled output is streamed to its destination in chunks,
checked against its sha256, and then deleted.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from typing import BinaryIO

from lambdash.errors import TransportError
from lambdash.terminal import ProgressFactory

CHUNK_BYTES = 1024 * 1024
HTTP_TIMEOUT_SECONDS = 60
# Transfers at least this big show a progress bar on a terminal.
PROGRESS_MIN_BYTES = 4 * 1024 * 1024


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


def upload(url: str, body: BinaryIO, size: int, headers: dict[str, str]) -> None:
    """PUT ``size`` bytes read from ``body`` to a presigned URL, streamed: memory stays flat."""
    request = urllib.request.Request(url, data=body, method="PUT", headers={**headers, "Content-Length": str(size)})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS):
            pass
    except urllib.error.HTTPError as problem:
        raise TransportError(f"could not upload to the spill bucket: HTTP {problem.code} {problem.reason}") from None
    except (urllib.error.URLError, OSError) as problem:
        raise TransportError(f"could not upload to the spill bucket: {problem}") from None
