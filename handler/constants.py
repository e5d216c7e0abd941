"""Names and limits shared by the handler and the client.

Environment-variable names and protocol limits live here, in one place, so the
client and the function can never disagree about them.
"""

from __future__ import annotations

PROTOCOL_VERSION = 1

# Environment variables read by the function.
ENV_BUCKET = "LAMBDASH_BUCKET"
ENV_PREFIX = "LAMBDASH_PREFIX"
ENV_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"

DEFAULT_PREFIX = "lambdash"
# Lambda starts the runtime through the script this variable names (lambdash's can stream).
ENV_EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
# The script in this package that AWS_LAMBDA_EXEC_WRAPPER names: it starts handler/runtime.py.
EXEC_WRAPPER_NAME = "exec-wrapper"

# Lambda's limit on a synchronous response payload: the whole JSON response must
# fit. Lambda's own error message quotes this figure ("... maximum allowed payload
# size (6291556 bytes)"); it is 100 bytes more than 6 MiB.
LAMBDA_RESPONSE_LIMIT_BYTES = 6_291_556
# Lambda's limit on a synchronous invocation request payload: 6 MiB.
LAMBDA_REQUEST_LIMIT_BYTES = 6_291_456
# Room kept free in the response for JSON punctuation we do not count exactly.
RESPONSE_SLACK_BYTES = 4_096

# A command may run at most as long as Lambda's maximum function timeout.
MAX_TIMEOUT_SECONDS = 900.0
# The process group is killed this long before the Lambda deadline (at least).
MIN_DEADLINE_MARGIN_SECONDS = 1.0
MAX_DEADLINE_MARGIN_SECONDS = 10.0

# The handler's S3 calls give up this soon: a spill that cannot reach S3 falls back to truncation.
S3_CONNECT_TIMEOUT_SECONDS = 3.0
S3_READ_TIMEOUT_SECONDS = 20.0

# Presigned URLs handed to the client expire within 15 minutes.
PRESIGN_EXPIRY_SECONDS = 600

# Multipart upload part size for spilled output (S3's minimum is 5 MiB).
SPILL_PART_BYTES = 8 * 1024 * 1024

# Streams at least this big are worth trying to compress.
COMPRESS_MIN_BYTES = 512

# Variables a shell sets for itself; they are never carried between commands.
SHELL_OWNED_VARIABLES = frozenset({"PWD", "SHLVL", "_"})
# The most network checks one probe request may hold.
MAX_PROBE_CHECKS = 64
# How long each network check of a probe may take, unless the request says.
DEFAULT_PROBE_TIMEOUT_SECONDS = 3.0
