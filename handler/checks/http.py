"""The HTTP check (``http://…``, ``https://…``): the status, the redirects, the time split, and TLS.

One GET per hop, spoken directly on a socket so that each phase is timed (DNS,
connect, TLS, first byte). For https the handshake is verified against the
runtime's trust store; when that fails, it is made again unverified, so the
certificate that was refused can be described (see ``x509``).
"""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..contract.checks import Check
from ..http_head import MAX_HEAD_BYTES, MalformedHead, NotHttp, ResponseHead, head_end, parse_head
from .tcp import connect, resolve
from .verdict import Failure, Progress, remaining, report
from .x509 import parse_certificate

MAX_REDIRECTS = 5
HINT_CERTIFICATE = "clients here will refuse this certificate: {reason}"


def check_http(check: Check, deadline: float, progress: Progress) -> dict[str, Any]:
    """GET the URL, following up to MAX_REDIRECTS redirects: the final status, the time split, the certificate."""
    started = time.monotonic()
    hops: list[dict[str, Any]] = []
    url = check.url
    tls: dict[str, Any] | None = None
    try:
        for _ in range(MAX_REDIRECTS + 1):
            hop, hop_tls = _request(url, deadline, progress)
            hops.append(hop)
            tls = hop_tls or tls
            location = hop.get("location")
            if hop["status"] not in (301, 302, 303, 307, 308) or not location:
                break
            url = urljoin(url, location)
        else:
            return report(check, False, "too many redirects", time.monotonic() - started,
                          f"still redirected after {MAX_REDIRECTS}: " + " -> ".join(str(h["status"]) for h in hops),
                          "the redirects go round in a loop, or further than a client should follow",
                          hops=hops, tls=tls)
    except Failure as failure:
        return report(check, False, failure.verdict, time.monotonic() - started, failure.detail, failure.hint,
                      hops=hops, tls=tls)
    final = hops[-1]
    redirects = f" after {len(hops) - 1} redirect{'s' * (len(hops) > 2)}" if len(hops) > 1 else ""
    timings = final["timings"]
    split = ", ".join(f"{name.replace('_', ' ')} {timings[name] * 1000:.0f} ms"
                      for name in ("dns", "connect", "tls", "first_byte") if timings.get(name) is not None)
    detail = f"{final['status']} {final['reason']}{redirects}; {split}"
    unverified = [hop_tls for hop_tls in (h.get("tls") for h in hops) if hop_tls and not hop_tls["verified"]]
    if unverified:
        certificate = unverified[0]
        detail = (f"{certificate['verify_error']}: subject {certificate['subject']}; issuer {certificate['issuer']}; "
                  f"{_expiry_words(certificate['days_left'])}; HTTP {final['status']} without verifying; {split}")
        return report(check, False, "certificate does not verify", time.monotonic() - started, detail,
                      HINT_CERTIFICATE.format(reason=certificate["verify_error"]), hops=hops, tls=tls)
    if tls is not None:
        detail += f"; {tls['protocol']}, subject {tls['subject']}, {_expiry_words(tls['days_left'])}"
    ok = final["status"] < 500
    return report(check, ok, f"HTTP {final['status']}", time.monotonic() - started, detail,
                  "the server answered with an error of its own", hops=hops, tls=tls)


def _expiry_words(days: int | None) -> str:
    if days is None:
        return "expiry unknown"
    return f"expires in {days} days" if days >= 0 else f"expired {-days} days ago"


def _request(url: str, deadline: float, progress: Progress) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One GET, not following redirects: the hop's facts, and the TLS facts for https."""
    parts = urlsplit(url)
    secure = parts.scheme.lower() == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    timings: dict[str, float | None] = {"dns": None, "connect": None, "tls": None, "first_byte": None}
    started = time.monotonic()
    addresses = resolve(host, port, progress)
    timings["dns"] = round(time.monotonic() - started, 4)
    mark = time.monotonic()
    sock = connect(addresses, deadline, progress)
    timings["connect"] = round(time.monotonic() - mark, 4)
    tls = None
    try:
        if secure:
            mark = time.monotonic()
            sock, tls = _handshake(sock, host, addresses, deadline, progress)
            timings["tls"] = round(time.monotonic() - mark, 4)
        progress.phase = "waiting for the first byte"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rpartition("@")[2]
        sock.settimeout(remaining(deadline))
        mark = time.monotonic()
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: lambdash-probe\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n".encode("latin-1", "replace"))
        head = _read_head(sock, deadline, timings, mark)
    except TimeoutError:
        raise Failure("timed out", f"{host} accepted the connection but did not answer in time",
                      "the server is slow or stuck; try a longer -t") from None
    except OSError as problem:
        raise Failure("connection broke", f"{host}: {problem}", "the server or a proxy closed the connection") \
            from None
    finally:
        sock.close()
    hop: dict[str, Any] = {"url": url, "status": head.status, "reason": head.reason, "timings": timings,
                           "address": addresses[0][4][0] if addresses else None}
    if "location" in head.headers:
        hop["location"] = head.headers["location"]
    if tls is not None:
        hop["tls"] = tls
    return hop, tls


def _read_head(sock: socket.socket, deadline: float, timings: dict[str, float | None], sent: float) -> ResponseHead:
    """The answer's head, read as it comes (its first byte timed); Failure when it is not HTTP."""
    data = b""
    while head_end(data) < 0 and len(data) <= MAX_HEAD_BYTES:
        sock.settimeout(remaining(deadline))
        chunk = sock.recv(16384)
        if timings["first_byte"] is None:
            timings["first_byte"] = round(time.monotonic() - sent, 4)
        if not chunk:
            break
        data += chunk
    try:
        return parse_head(data)
    except NotHttp as problem:
        raise Failure("no HTTP answer", str(problem),
                      "something other than an HTTP server listens there (TLS expected, or another protocol)") from None
    except MalformedHead as problem:
        raise Failure("bad HTTP answer", str(problem), "the server answers in HTTP that clients cannot read") from None


def _handshake(sock: socket.socket, host: str, addresses: list[tuple[Any, ...]], deadline: float,
               progress: Progress) -> tuple[socket.socket, dict[str, Any]]:
    """TLS over ``sock``, verified against the runtime's trust store; when that fails, again unverified to see why."""
    import ssl

    progress.phase = "in the TLS handshake"
    context = ssl.create_default_context()
    sock.settimeout(remaining(deadline))
    try:
        secure = context.wrap_socket(sock, server_hostname=host)
        return secure, _tls_facts(secure, verified=True, error=None)
    except ssl.SSLCertVerificationError as problem:
        error = problem.verify_message or str(problem)
    except ssl.SSLError as problem:
        raise Failure("TLS failed", f"{host}: {problem.reason or problem}",
                      "the server's TLS is broken or not TLS at all (an http:// URL?)") from None
    # Once more without verifying, to describe the certificate that failed (the connection is closed by now).
    sock = connect(addresses, deadline, progress)
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    sock.settimeout(remaining(deadline))
    try:
        secure = unverified.wrap_socket(sock, server_hostname=host)
    except ssl.SSLError as problem:
        sock.close()
        raise Failure("TLS failed", f"{host}: {problem.reason or problem}", "the server's TLS is broken") from None
    return secure, _tls_facts(secure, verified=False, error=error)


def _tls_facts(secure: Any, *, verified: bool, error: str | None) -> dict[str, Any]:
    der = secure.getpeercert(binary_form=True)
    certificate = parse_certificate(der) if der else {}
    cipher = secure.cipher()
    return {
        "protocol": secure.version(), "cipher": cipher[0] if cipher else None,
        "verified": verified, "verify_error": error,
        "subject": certificate.get("subject", "?"), "issuer": certificate.get("issuer", "?"),
        "not_after": certificate.get("not_after"), "days_left": certificate.get("days_left"),
        "names": certificate.get("names", []),
    }
