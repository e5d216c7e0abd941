"""What the client and the handler must agree on, and nothing else.

The client imports this subpackage and nothing else of the handler: the protocol
version, the limits both sides apply, the environment variable names deploy sets
and the function reads, the record framing of a streamed response (``records``),
the grammar of network checks (``checks``), and the JSON schemas of the request,
the response, the inventory and the probe report (``*.schema.json`` beside this
file, found with ``schema_path``). What only one side uses lives on that side.
"""

from __future__ import annotations

from pathlib import Path

PROTOCOL_VERSION = 1

# Environment variables deploy (and the local Lambda) set, and the function reads.
ENV_BUCKET = "LAMBDASH_BUCKET"
ENV_PREFIX = "LAMBDASH_PREFIX"
DEFAULT_PREFIX = "lambdash"
# A twin with its function's code (deploy --like --with-code, serve --code): that function's Handler setting,
# which the REPL's Python console names.
ENV_LIKE_HANDLER = "LAMBDASH_LIKE_HANDLER"
# Lambda starts the runtime through the script this variable names (lambdash's can stream).
ENV_EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
# The script in the handler package that AWS_LAMBDA_EXEC_WRAPPER names: it starts the runtime loop.
EXEC_WRAPPER_NAME = "exec-wrapper"
# The handler package's name, in the deploy zip and in an installed lambdash alike.
PACKAGE_NAME = "lambdash_handler"
# What Lambda calls: the function's Handler setting.
HANDLER = f"{PACKAGE_NAME}.app.handle"

# Lambda's limit on a synchronous response payload: the whole JSON response must
# fit. Lambda's own error message quotes this figure ("... maximum allowed payload
# size (6291556 bytes)"); it is 100 bytes more than 6 MiB.
LAMBDA_RESPONSE_LIMIT_BYTES = 6_291_556
# Lambda's limit on a synchronous invocation request payload: 6 MiB.
LAMBDA_REQUEST_LIMIT_BYTES = 6_291_456

# A command may run at most as long as Lambda's maximum function timeout.
MAX_TIMEOUT_SECONDS = 900.0
# The most network checks one probe request may hold.
MAX_PROBE_CHECKS = 64
# How long each network check of a probe may take, unless the request says.
DEFAULT_PROBE_TIMEOUT_SECONDS = 3.0


def schema_path(name: str) -> Path:
    """The JSON schema ``name`` (request, response, inventory or probe) shipped beside this module."""
    return Path(__file__).resolve().parent / f"{name}.schema.json"
