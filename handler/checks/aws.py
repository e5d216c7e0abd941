"""The AWS endpoint check (``aws:SERVICE``): where boto3 would send the call, and whether it gets there.

The endpoint is the one botocore picks (honouring ``AWS_ENDPOINT_URL_<SERVICE>``
and ``AWS_ENDPOINT_URL``); the check says whether it resolves to a private or a
public address and whether it connects, and for ``aws:sts`` calls
GetCallerIdentity with the function's credentials.
"""

from __future__ import annotations

import ipaddress
import os
import time
from typing import Any
from urllib.parse import urlsplit

from ..contract.checks import Check
from .tcp import connect, resolve
from .verdict import Failure, Progress, remaining, report


def check_aws(check: Check, deadline: float, progress: Progress) -> dict[str, Any]:
    """Resolve and connect to the service's endpoint, and for sts call GetCallerIdentity."""
    started = time.monotonic()
    progress.phase = "finding the endpoint"
    try:
        client, source = _aws_client(check.service, deadline)
    except LookupError as problem:
        return report(check, False, "unknown service", None, str(problem),
                      "name the service as boto3 does: aws:s3, aws:sts, aws:secretsmanager, aws:dynamodb, ...")
    endpoint = client.meta.endpoint_url
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    facts: dict[str, Any] = {"endpoint": endpoint, "endpoint_source": source}
    try:
        addresses = resolve(host, port, progress)
        facts["addresses"] = sorted({address[4][0] for address in addresses})
        kind = _address_kind(addresses[0][4][0])
        facts["address_kind"] = kind
        connecting = time.monotonic()
        sock = connect(addresses, deadline, progress)
    except Failure as failure:
        verdict = "blocked" if failure.verdict in ("timed out", "unreachable") else failure.verdict
        hint = (f"no route to {check.service}: give the function's subnets a NAT gateway, or add a VPC endpoint "
                f"for {check.service}" + (" (a gateway endpoint, which is free)"
                                          if check.service in ("s3", "dynamodb") else ""))
        return report(check, False, verdict, time.monotonic() - started, f"{endpoint}: {failure.detail}",
                      hint if verdict == "blocked" else failure.hint, **facts)
    connected = time.monotonic()
    peer = sock.getpeername()[0]
    sock.close()
    verdict = {"public": "reachable at a public address", "private": "reachable through a VPC interface endpoint",
               "loopback": "reachable at a loopback address"}[kind]
    detail = f"{endpoint} ({peer}) connects in {(connected - connecting) * 1000:.1f} ms"
    if source:
        detail += f"; the endpoint is set by {source}"
    if check.service == "sts":
        progress.phase = "calling GetCallerIdentity"
        try:
            identity = client.get_caller_identity()
        except Exception as problem:
            message = " ".join(str(problem).split())
            return report(check, False, verdict, time.monotonic() - started,
                          f"{detail}; GetCallerIdentity failed: {message}",
                          "the endpoint answers, but the function's credentials do not work there", **facts)
        facts["identity"] = {"account": identity.get("Account"), "arn": identity.get("Arn")}
        detail += f"; GetCallerIdentity: {identity.get('Arn')}"
    return report(check, True, verdict, time.monotonic() - started, detail, **facts)


def _aws_client(service: str, deadline: float) -> tuple[Any, str | None]:
    """A botocore client for ``service`` (its endpoint chosen as boto3 would), and the variable that set it."""
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import UnknownServiceError

    environ = os.environ
    session = botocore.session.get_session()
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    seconds_left = remaining(deadline)
    config = Config(connect_timeout=seconds_left, read_timeout=seconds_left, retries={"total_max_attempts": 1})
    try:
        client = session.create_client(service, region_name=region, config=config)
    except UnknownServiceError:
        raise LookupError(f"boto3 knows no service named {service!r}") from None
    service_id = client.meta.service_model.service_id.hyphenize().replace("-", "_").upper()
    endpoint = client.meta.endpoint_url.rstrip("/")
    source = next((name for name in (f"AWS_ENDPOINT_URL_{service_id}", "AWS_ENDPOINT_URL")
                   if environ.get(name, "").rstrip("/") == endpoint), None)
    return client, source


def _address_kind(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.is_loopback:
        return "loopback"
    return "private" if ip.is_private else "public"
