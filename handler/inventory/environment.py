"""Inventory sections read from the environment: Lambda's own variables, and every variable, redacted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..limits import ENV_FUNCTION_NAME
from ..redaction import redact_value

LAMBDA_ENVIRONMENT_FIELDS: dict[str, str] = {
    "function_name": ENV_FUNCTION_NAME,
    "function_version": "AWS_LAMBDA_FUNCTION_VERSION",
    "memory_size_mb": "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "region": "AWS_REGION",
    "log_group_name": "AWS_LAMBDA_LOG_GROUP_NAME",
    "log_stream_name": "AWS_LAMBDA_LOG_STREAM_NAME",
    "initialization_type": "AWS_LAMBDA_INITIALIZATION_TYPE",
    "execution_env": "AWS_EXECUTION_ENV",
}


def probe_lambda(environ: Mapping[str, str]) -> dict[str, Any]:
    """The function's facts as Lambda publishes them in environment variables."""
    section: dict[str, Any] = {field: environ.get(variable) for field, variable in LAMBDA_ENVIRONMENT_FIELDS.items()}
    if section["region"] is None:
        section["region"] = environ.get("AWS_DEFAULT_REGION")
    return section


def describe_environment(environ: Mapping[str, str], *, redact: bool, key: bytes | None = None) -> dict[str, Any]:
    """The environment section: every variable, sorted, secrets redacted unless told."""
    variables = redact_environment(environ, key) if redact else dict(sorted(environ.items()))
    return {"redacted": redact, "variables": variables}


def redact_environment(environ: Mapping[str, str], key: bytes | None = None) -> dict[str, str]:
    """The variables sorted by name, with secrets redacted by name and by value (see ``redaction``)."""
    return {name: redact_value(name, value, key) for name, value in sorted(environ.items())}
