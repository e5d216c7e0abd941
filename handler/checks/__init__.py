"""Network checks from inside the sandbox: TCP, DNS, HTTP(S) with TLS, and AWS endpoints.

The tools people reach for (``nc``, ``dig``, ``curl -v``, ``openssl s_client``) are
missing from the AL2023-based runtimes, so each check is pure Python:

- ``HOST:PORT``: a TCP connect, its time, and open, refused, timed out, unreachable
  or name not resolved;
- ``dns:NAME[@SERVER[:PORT]]``: a DNS query of its own over UDP (A and AAAA) to SERVER
  or to the resolvers in /etc/resolv.conf, telling NXDOMAIN from SERVFAIL from a
  timeout, which ``getaddrinfo`` cannot;
- ``http://…``, ``https://…``: the status, the redirects (up to 5), the time split
  (DNS, connect, TLS, first byte), and for TLS the protocol and the certificate (read
  from its DER, so a certificate that fails to verify is described too);
- ``aws:SERVICE``: the regional endpoint as boto3 would pick it (honouring
  ``AWS_ENDPOINT_URL_<SERVICE>`` and ``AWS_ENDPOINT_URL``), whether it resolves to a
  private or a public address, whether it connects, and for ``aws:sts``
  GetCallerIdentity with the function's credentials.

Each kind is a module here (``tcp``, ``dns``, ``http`` with ``x509``, ``aws``);
the grammar of checks is the contract's (``contract.checks``). Every check has its
own deadline and ends with a verdict, a detail, and for a failure a hint
(``verdict``). They run concurrently. Standard library only, but for botocore (in
every Python runtime) in ``aws:`` checks. The probe document's shape is
``contract/probe.schema.json``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..contract import DEFAULT_PROBE_TIMEOUT_SECONDS
from ..contract.checks import Check, parse_check
from .aws import check_aws
from .dns import check_dns
from .http import check_http
from .tcp import HINT_NOT_RESOLVED, HINT_TIMED_OUT, check_tcp
from .verdict import Progress, report

PROBE_SCHEMA = "lambdash.probe"
PROBE_SCHEMA_VERSION = 1


def run_checks(texts: Sequence[str], timeout: float = DEFAULT_PROBE_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Run every check at once, each within ``timeout`` seconds; the probe document.

    Raises BadCheck (naming the check) before anything runs when one cannot be parsed.
    """
    checks = [parse_check(text) for text in texts]
    results: list[dict[str, Any] | None] = [None] * len(checks)
    progress = [Progress() for _ in checks]
    started = time.monotonic()
    deadline = started + timeout

    def run(index: int) -> None:
        try:
            results[index] = _RUNNERS[checks[index].kind](checks[index], deadline, progress[index])
        except Exception as problem:  # a check's own failure is a finding, never the whole probe's
            results[index] = report(checks[index], False, "error", None, f"{type(problem).__name__}: {problem}",
                                    "this is a fault in the probe itself; the other checks are unaffected")

    threads = [threading.Thread(target=run, args=(index,), name=f"probe-{index}", daemon=True)
               for index in range(len(checks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A check bounds its own waits; this only covers a call that cannot be bounded (getaddrinfo).
        thread.join(max(0.0, deadline + 0.5 - time.monotonic()))
    finished = [
        result if result is not None else report(
            check, False, "timed out", timeout, f"no answer within {timeout:g} s ({progress[index].phase})",
            HINT_NOT_RESOLVED if progress[index].phase == "resolving the name" else HINT_TIMED_OUT)
        for index, (check, result) in enumerate(zip(checks, results, strict=True))
    ]
    return {
        "schema": PROBE_SCHEMA,
        "schema_version": PROBE_SCHEMA_VERSION,
        "timeout": timeout,
        "seconds": round(time.monotonic() - started, 4),
        "checks": finished,
    }


_RUNNERS: dict[str, Callable[[Check, float, Progress], dict[str, Any]]] = {
    "tcp": check_tcp, "dns": check_dns, "http": check_http, "aws": check_aws,
}
