"""The lambdash function's defaults, shared by deploy and the local Lambda.

``lambdash deploy`` makes a function with these settings unless told otherwise,
and the local Lambda hosts one with the same, so a command behaves alike on both.
Only constants live here: the local Lambda imports this module, and nothing else
of deploy. The handler's entry point (``HANDLER``) is the handler's own: it is in
its contract.
"""

from __future__ import annotations

DEFAULT_FUNCTION_NAME = "lambdash"
DEFAULT_RUNTIME = "python3.13"
DEFAULT_ARCHITECTURE = "arm64"
DEFAULT_MEMORY_MB = 1024
DEFAULT_TIMEOUT_SECONDS = 300
# Lambda's own default ephemeral storage (/tmp).
DEFAULT_EPHEMERAL_STORAGE_MB = 512
