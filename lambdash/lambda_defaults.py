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

# Lambda's own ranges for the settings deploy takes.
MEMORY_RANGE_MB = (128, 10240)
TIMEOUT_RANGE_SECONDS = (1, 900)
EPHEMERAL_STORAGE_RANGE_MB = (512, 10240)
