"""The identity of this sandbox: an id made once per process, and how it has been used.

Lambda reuses a warm sandbox for many invocations. The id, the cold flag and the
invocation count let the client see when that happens.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from typing import Any

SANDBOX_ID = secrets.token_hex(8)
_STARTED = time.monotonic()
_lock = threading.Lock()
_invocations = 0


def begin_invocation() -> dict[str, Any]:
    """Count one more invocation and describe the sandbox as it is now."""
    global _invocations
    with _lock:
        _invocations += 1
        count = _invocations
    return {
        "id": SANDBOX_ID,
        "cold": count == 1,
        "invocations": count,
        "uptime": round(time.monotonic() - _STARTED, 3),
        "pid": os.getpid(),
    }
