"""The identity inventory section: who the function's credentials say it is, from STS.

boto3 is imported only when the section is collected, so the rest of the
inventory works, and imports fast, without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# STS error codes that mean "the role may not call this", as opposed to a broken call.
DENIED_ERROR_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"})


def probe_identity(sts_client: Any, timeout: float) -> dict[str, Any]:
    """Who the function's credentials say it is, from STS GetCallerIdentity."""
    try:
        client = sts_client if sts_client is not None else _create_sts_client(timeout)
        response = client.get_caller_identity()
    # Any failure, including boto3 missing, is a finding about this sandbox; and
    # botocore's ClientError cannot be named here without importing boto3.
    except Exception as exc:
        code = _client_error_code(exc)
        if code in DENIED_ERROR_CODES:
            return {"status": "denied", "code": code}
        message = " ".join(str(exc).split()) or type(exc).__name__
        return {"status": "error", "message": message}
    if not isinstance(response, Mapping):
        return {"status": "error", "message": f"unexpected response: {type(response).__name__}"}
    metadata = response.get("ResponseMetadata") or {}
    return {
        "status": "ok",
        "account": response.get("Account"),
        "arn": response.get("Arn"),
        "user_id": response.get("UserId"),
        "request_id": metadata.get("RequestId"),
    }


def _create_sts_client(timeout: float) -> Any:
    # Imported here so that the other probes work, and this module imports fast, without boto3.
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1})
    return boto3.client("sts", config=config)


def _client_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (found by shape, not by class)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return None
    error = response.get("Error")
    if not isinstance(error, Mapping):
        return None
    code = error.get("Code")
    return code if isinstance(code, str) else None
