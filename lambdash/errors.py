"""Exit statuses and the exceptions that carry lambdash's own failures to ``main``.

As ssh does, lambdash exits with the remote command's status; its own failures
use 255 and a one-line message that says what to do.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """The statuses lambdash itself chooses. Any other status is the remote command's."""

    OK = 0
    # A question answered "no": the inventories differ, or the user declined to go on.
    NO = 1
    SIGNAL_BASE = 128
    TIMED_OUT = 124
    INTERRUPTED = 130
    ERROR = 255


class LambdashError(Exception):
    """A failure lambdash reports as ``lambdash: error: <message>`` and exit 255."""

    def __init__(self, message: str, *, details: list[str] | None = None,
                 debug_details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Extra lines shown under the message, such as the function's last log lines.
        self.details = details or []
        # Lines shown under those only with --debug, such as the first bytes of an answer nobody can read.
        self.debug_details = debug_details or []


class ConfigError(LambdashError):
    """The target or the options make no sense."""


class TransportError(LambdashError):
    """Lambda could not be reached, refused the call, or did not answer."""


class FunctionError(LambdashError):
    """The function ran but failed on Lambda's side: it crashed or timed out."""


class RequestRefused(LambdashError):
    """The function refused the request before running anything; ``code`` says why."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class UsageError(LambdashError):
    """Bad command-line usage."""
