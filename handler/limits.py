"""The handler's own limits and timeouts: what no client needs to know.

The limits both sides apply are in ``contract``.
"""

from __future__ import annotations

# The environment variable Lambda sets to the function's name.
ENV_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"

# Room kept free in the response for JSON punctuation we do not count exactly.
RESPONSE_SLACK_BYTES = 4_096

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

# A streamed response may carry this much: Lambda documents 200 MB, and a megabyte is taken as 10**6 bytes, so the
# result record, the stream's last, always fits.
STREAM_LIMIT_BYTES = 200_000_000

# Streams at least this big are worth trying to compress.
COMPRESS_MIN_BYTES = 512

# Variables a shell sets for itself; they are never carried between commands.
SHELL_OWNED_VARIABLES = frozenset({"PWD", "SHLVL", "_"})
