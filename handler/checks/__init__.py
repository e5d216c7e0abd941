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

Every check has its own deadline and ends with a verdict, a detail, and for a
failure a hint. They run concurrently. Standard library only, but for botocore
(in every Python runtime) in ``aws:`` checks. The result's shape is described by
``probe_schema.json`` next to this file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..contract import DEFAULT_PROBE_TIMEOUT_SECONDS
from ..contract.checks import Check, parse_check

PROBE_SCHEMA = "lambdash.probe"
PROBE_SCHEMA_VERSION = 1
MAX_REDIRECTS = 5
HTTP_HEADER_LIMIT_BYTES = 64 * 1024
RESOLV_CONF = "/etc/resolv.conf"

HINT_REFUSED = "the host answered, and nothing listens on that port (or a firewall on it rejects the connection)"
HINT_TIMED_OUT = ("no answer: a security group or network ACL drops it, or there is no route "
                  "(a function in a VPC reaches the internet only through a NAT gateway)")
HINT_UNREACHABLE = "no route from this sandbox to that address (check the subnets' route tables)"
HINT_NOT_RESOLVED = ("the name does not resolve here: check its spelling, the VPC's DNS settings "
                     "(enableDnsSupport), or the private hosted zone it lives in")
HINT_NXDOMAIN = "the server says the name does not exist: check its spelling and the zone it belongs to"
HINT_SERVFAIL = "the server failed to answer for the name: its zone or an upstream server is broken"
HINT_DNS_TIMEOUT = "no DNS answer: the server is unreachable from here (in a VPC, the resolver is at VPC base + 2)"
HINT_CERTIFICATE = "clients here will refuse this certificate: {reason}"


# --- running them ---------------------------------------------------------------------


class _Progress:
    """Where a check has got to, so one still running at its deadline is reported by its phase."""

    def __init__(self) -> None:
        self.phase = "starting"


def run_checks(texts: Sequence[str], timeout: float = DEFAULT_PROBE_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Run every check at once, each within ``timeout`` seconds; the probe document.

    Raises BadCheck (naming the check) before anything runs when one cannot be parsed.
    """
    checks = [parse_check(text) for text in texts]
    results: list[dict[str, Any] | None] = [None] * len(checks)
    progress = [_Progress() for _ in checks]
    started = time.monotonic()
    deadline = started + timeout

    def run(index: int) -> None:
        try:
            results[index] = _RUNNERS[checks[index].kind](checks[index], deadline, progress[index])
        except Exception as problem:  # a check's own failure is a finding, never the whole probe's
            results[index] = _result(checks[index], False, "error", None, f"{type(problem).__name__}: {problem}",
                                     "this is a fault in the probe itself; the other checks are unaffected")

    threads = [threading.Thread(target=run, args=(index,), name=f"probe-{index}", daemon=True)
               for index in range(len(checks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A check bounds its own waits; this only covers a call that cannot be bounded (getaddrinfo).
        thread.join(max(0.0, deadline + 0.5 - time.monotonic()))
    finished = [
        result if result is not None else _result(
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


def _result(check: Check, ok: bool, verdict: str, seconds: float | None, detail: str, hint: str | None = None,
            **facts: Any) -> dict[str, Any]:
    return {
        "check": check.text, "kind": check.kind, "ok": ok, "verdict": verdict,
        "seconds": None if seconds is None else round(seconds, 4), "detail": detail,
        "hint": None if ok else hint, "facts": facts,
    }


def _remaining(deadline: float) -> float:
    return max(0.001, deadline - time.monotonic())


# --- TCP -----------------------------------------------------------------------------------


class _Failure(Exception):
    """A network step that failed, as a verdict and a hint."""

    def __init__(self, verdict: str, detail: str, hint: str) -> None:
        super().__init__(detail)
        self.verdict, self.detail, self.hint = verdict, detail, hint


def _resolve(host: str, port: int, progress: _Progress) -> list[tuple[Any, ...]]:
    progress.phase = "resolving the name"
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as problem:
        raise _Failure("name not resolved", f"{host}: {problem.strerror}", HINT_NOT_RESOLVED) from None


def _connect(addresses: list[tuple[Any, ...]], deadline: float, progress: _Progress) -> socket.socket:
    """A connected socket to the first address that answers; _Failure for the last one's failure."""
    failure: _Failure | None = None
    for family, kind, protocol, _, address in addresses:
        progress.phase = f"connecting to {address[0]}"
        sock = socket.socket(family, kind, protocol)
        sock.settimeout(_remaining(deadline))
        try:
            sock.connect(address)
            return sock
        except TimeoutError:
            sock.close()
            raise _Failure("timed out", f"no answer from {address[0]} port {address[1]}", HINT_TIMED_OUT) from None
        except ConnectionRefusedError:
            failure = _Failure("refused", f"{address[0]} port {address[1]} refused the connection", HINT_REFUSED)
        except OSError as problem:
            failure = _Failure("unreachable", f"{address[0]}: {problem.strerror or problem}", HINT_UNREACHABLE)
        sock.close()
        if time.monotonic() >= deadline:
            break
    assert failure is not None
    raise failure


def _tcp(check: Check, deadline: float, progress: _Progress) -> dict[str, Any]:
    started = time.monotonic()
    try:
        addresses = _resolve(check.host, check.port, progress)
        resolved = time.monotonic()
        sock = _connect(addresses, deadline, progress)
    except _Failure as failure:
        return _result(check, False, failure.verdict, time.monotonic() - started, failure.detail, failure.hint)
    connected = time.monotonic()
    peer = sock.getpeername()[0]
    sock.close()
    return _result(check, True, "open", connected - resolved, f"connected to {peer} port {check.port}",
                   address=peer, resolve_seconds=round(resolved - started, 4))


# --- DNS -----------------------------------------------------------------------------------

DNS_TYPES = {1: "A", 28: "AAAA", 5: "CNAME"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def dns_query(name: str, record_type: int, query_id: int) -> bytes:
    """A standard recursive query for ``name``."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(label)]) + label.encode("idna") for label in name.rstrip(".").split("."))
    return header + labels + b"\0" + struct.pack("!HH", record_type, 1)


@dataclass
class DnsAnswer:
    query_id: int
    rcode: int
    truncated: bool
    addresses: list[str]
    cnames: list[str]


def parse_dns_response(data: bytes) -> DnsAnswer:
    """The rcode, addresses and aliases in a DNS response; ValueError when it is malformed."""
    if len(data) < 12:
        raise ValueError("a DNS response shorter than its header")
    query_id, flags, questions, answers, _, _ = struct.unpack("!HHHHHH", data[:12])
    if not flags & 0x8000:
        raise ValueError("not a DNS response")
    offset = 12
    for _ in range(questions):
        _, offset = _read_name(data, offset)
        offset += 4
    addresses: list[str] = []
    cnames: list[str] = []
    for _ in range(answers):
        _, offset = _read_name(data, offset)
        if offset + 10 > len(data):
            raise ValueError("a DNS answer cut short")
        record_type, _, _, length = struct.unpack("!HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + length]
        if len(rdata) != length:
            raise ValueError("a DNS answer cut short")
        if record_type == 1 and length == 4:
            addresses.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif record_type == 28 and length == 16:
            addresses.append(socket.inet_ntop(socket.AF_INET6, rdata))
        elif record_type == 5:
            cnames.append(_read_name(data, offset)[0])
        offset += length
    return DnsAnswer(query_id, flags & 0x000F, bool(flags & 0x0200), addresses, cnames)


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """A (possibly compressed) name at ``offset``, and the offset after it."""
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):  # bounds a loop of pointers
        if offset >= len(data):
            raise ValueError("a DNS name runs past the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise ValueError("a DNS name runs past the message")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), end if end is not None else offset + 1
        labels.append(data[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise ValueError("a DNS name with too many labels or pointers")


def resolvers(path: str = RESOLV_CONF) -> list[str]:
    """The nameservers in resolv.conf, in order (glibc's default, 127.0.0.1, when there are none)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as conf:
            servers = [line.split()[1] for line in conf if line.split()[:1] == ["nameserver"] and len(line.split()) > 1]
    except OSError:
        servers = []
    return servers or ["127.0.0.1"]


def _dns(check: Check, deadline: float, progress: _Progress) -> dict[str, Any]:
    servers = [check.server] if check.server else resolvers()
    started = time.monotonic()
    last: dict[str, Any] | None = None
    for index, server in enumerate(servers):
        # Each server gets an equal share of what time is left, as a stub resolver would try them in turn.
        share = _remaining(deadline) / (len(servers) - index)
        last = _ask(check, server, time.monotonic() + share, progress, started)
        if last["verdict"] not in ("timed out", "unreachable"):
            return last
    assert last is not None
    return last


def _ask(check: Check, server: str, deadline: float, progress: _Progress, started: float) -> dict[str, Any]:
    progress.phase = f"asking {server}"
    where = f"{server} port {check.port}" if check.port != 53 else server
    try:
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as problem:
        return _result(check, False, "unreachable", None, f"{where}: {problem.strerror}", HINT_UNREACHABLE,
                       server=server)
    with sock:
        ids = {secrets.randbelow(65536): record_type for record_type in (1, 28)}
        while len(ids) < 2:
            ids[secrets.randbelow(65536)] = 28
        try:
            sock.connect((server, check.port))  # answers from anywhere else are dropped by the kernel
            for query_id, record_type in ids.items():
                sock.send(dns_query(check.host, record_type, query_id))
        except OSError as problem:
            return _dns_failure(check, where, server, problem, time.monotonic() - started)
        answers: dict[int, DnsAnswer] = {}
        while len(answers) < len(ids):
            sock.settimeout(_remaining(deadline))
            try:
                data = sock.recv(4096)
            except TimeoutError:
                break
            except OSError as problem:  # ICMP port unreachable: nothing listens there
                return _dns_failure(check, where, server, problem, time.monotonic() - started)
            try:
                answer = parse_dns_response(data)
            except ValueError:
                continue
            if answer.query_id in ids:
                answers[answer.query_id] = answer
            if answers and any(answer.rcode != 0 for answer in answers.values()):
                break  # NXDOMAIN or SERVFAIL for one type is the verdict; no need to wait for the other
    elapsed = time.monotonic() - started
    if not answers:
        return _result(check, False, "timed out", elapsed, f"no answer from {where}", HINT_DNS_TIMEOUT,
                       server=server)
    failed = next((answer for answer in answers.values() if answer.rcode != 0), None)
    addresses = [address for answer in answers.values() for address in answer.addresses]
    cnames = sorted({name for answer in answers.values() for name in answer.cnames})
    facts: dict[str, Any] = {"server": server, "port": check.port, "addresses": addresses, "cnames": cnames,
             "rcode": RCODES.get(failed.rcode if failed else 0, str(failed.rcode if failed else 0))}
    if failed is not None:
        verdict = RCODES.get(failed.rcode, f"rcode {failed.rcode}")
        hint = {3: HINT_NXDOMAIN, 2: HINT_SERVFAIL}.get(failed.rcode, "the server would not answer for the name")
        return _result(check, False, verdict, elapsed, f"{where} answered {verdict} for {check.host}", hint, **facts)
    if not addresses:
        return _result(check, False, "no address", elapsed, f"{where} knows {check.host} but has no A or AAAA "
                       "record for it", "the name exists without an address: check its records", **facts)
    alias = f" (via {', '.join(cnames)})" if cnames else ""
    return _result(check, True, "resolved", elapsed, f"{', '.join(addresses)} from {where}{alias}", **facts)


# --- HTTP and TLS ----------------------------------------------------------------------------


def _dns_failure(check: Check, where: str, server: str, problem: OSError, elapsed: float) -> dict[str, Any]:
    if isinstance(problem, ConnectionRefusedError):
        return _result(check, False, "refused", elapsed, f"{where} refused the query (nothing serves DNS there)",
                       "no DNS server listens there: check the server's address and port", server=server)
    return _result(check, False, "unreachable", elapsed, f"{where}: {problem.strerror or problem}", HINT_UNREACHABLE,
                   server=server)


def _http(check: Check, deadline: float, progress: _Progress) -> dict[str, Any]:
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
            return _result(check, False, "too many redirects", time.monotonic() - started,
                           f"still redirected after {MAX_REDIRECTS}: " + " -> ".join(str(h["status"]) for h in hops),
                           "the redirects go round in a loop, or further than a client should follow",
                           hops=hops, tls=tls)
    except _Failure as failure:
        return _result(check, False, failure.verdict, time.monotonic() - started, failure.detail, failure.hint,
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
        return _result(check, False, "certificate does not verify", time.monotonic() - started, detail,
                       HINT_CERTIFICATE.format(reason=certificate["verify_error"]), hops=hops, tls=tls)
    if tls is not None:
        detail += f"; {tls['protocol']}, subject {tls['subject']}, {_expiry_words(tls['days_left'])}"
    ok = final["status"] < 500
    return _result(check, ok, f"HTTP {final['status']}", time.monotonic() - started, detail,
                   "the server answered with an error of its own", hops=hops, tls=tls)


def _expiry_words(days: int | None) -> str:
    if days is None:
        return "expiry unknown"
    return f"expires in {days} days" if days >= 0 else f"expired {-days} days ago"


def _request(url: str, deadline: float, progress: _Progress) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One GET, not following redirects: the hop's facts, and the TLS facts for https."""
    parts = urlsplit(url)
    secure = parts.scheme.lower() == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    timings: dict[str, float | None] = {"dns": None, "connect": None, "tls": None, "first_byte": None}
    started = time.monotonic()
    addresses = _resolve(host, port, progress)
    timings["dns"] = round(time.monotonic() - started, 4)
    mark = time.monotonic()
    sock = _connect(addresses, deadline, progress)
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
        sock.settimeout(_remaining(deadline))
        mark = time.monotonic()
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: lambdash-probe\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n".encode("latin-1", "replace"))
        head = _read_head(sock, deadline, timings, mark)
    except TimeoutError:
        raise _Failure("timed out", f"{host} accepted the connection but did not answer in time",
                       "the server is slow or stuck; try a longer -t") from None
    except OSError as problem:
        raise _Failure("connection broke", f"{host}: {problem}", "the server or a proxy closed the connection") \
            from None
    finally:
        sock.close()
    status, reason, headers = head
    hop: dict[str, Any] = {"url": url, "status": status, "reason": reason, "timings": timings,
                           "address": addresses[0][4][0] if addresses else None}
    if "location" in headers:
        hop["location"] = headers["location"]
    if tls is not None:
        hop["tls"] = tls
    return hop, tls


def _read_head(sock: socket.socket, deadline: float, timings: dict[str, float | None],
               sent: float) -> tuple[int, str, dict[str, str]]:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < HTTP_HEADER_LIMIT_BYTES:
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(16384)
        if timings["first_byte"] is None:
            timings["first_byte"] = round(time.monotonic() - sent, 4)
        if not chunk:
            break
        data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    match = re.fullmatch(r"HTTP/\d(?:\.\d)? (\d{3})(?: (.*))?", lines[0])
    if not match:
        raise _Failure("no HTTP answer", f"the server answered {lines[0][:60]!r}, not HTTP",
                       "something other than an HTTP server listens there (TLS expected, or another protocol)")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(match[1]), match[2] or "", headers


def _handshake(sock: socket.socket, host: str, addresses: list[tuple[Any, ...]], deadline: float,
               progress: _Progress) -> tuple[socket.socket, dict[str, Any]]:
    """TLS over ``sock``, verified against the runtime's trust store; when that fails, again unverified to see why."""
    import ssl

    progress.phase = "in the TLS handshake"
    context = ssl.create_default_context()
    sock.settimeout(_remaining(deadline))
    try:
        secure = context.wrap_socket(sock, server_hostname=host)
        return secure, _tls_facts(secure, verified=True, error=None)
    except ssl.SSLCertVerificationError as problem:
        error = problem.verify_message or str(problem)
    except ssl.SSLError as problem:
        raise _Failure("TLS failed", f"{host}: {problem.reason or problem}",
                       "the server's TLS is broken or not TLS at all (an http:// URL?)") from None
    # Once more without verifying, to describe the certificate that failed (the connection is closed by now).
    sock = _connect(addresses, deadline, progress)
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    sock.settimeout(_remaining(deadline))
    try:
        secure = unverified.wrap_socket(sock, server_hostname=host)
    except ssl.SSLError as problem:
        sock.close()
        raise _Failure("TLS failed", f"{host}: {problem.reason or problem}", "the server's TLS is broken") from None
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


# --- reading a certificate's DER ---------------------------------------------------------------

_NAME_ATTRIBUTES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
                    "2.5.4.11": "OU", "1.2.840.113549.1.9.1": "emailAddress"}
_SUBJECT_ALT_NAME = "2.5.29.17"


def _der(data: bytes, offset: int) -> tuple[int, int, int]:
    """The tag at ``offset``, and where its content starts and ends."""
    if offset + 2 > len(data):
        raise ValueError("DER cut short")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or offset + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("DER cut short")
    return tag, offset, offset + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        tag, content, after = _der(data, start)
        items.append((tag, content, after))
        start = after
    return items


def _oid(raw: bytes) -> str:
    parts = [raw[0] // 40, raw[0] % 40] if raw else []
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _text(tag: int, raw: bytes) -> str:
    if tag == 0x1E:
        return raw.decode("utf-16-be", "replace")
    if tag == 0x1C:
        return raw.decode("utf-32-be", "replace")
    return raw.decode("utf-8" if tag == 0x0C else "latin-1", "replace")


def _name(data: bytes, start: int, end: int) -> str:
    parts = []
    for _, set_start, set_end in _children(data, start, end):
        for _, pair_start, pair_end in _children(data, set_start, set_end):
            (_, oid_start, oid_end), (value_tag, value_start, value_end) = _children(data, pair_start, pair_end)[:2]
            oid = _oid(data[oid_start:oid_end])
            parts.append(f"{_NAME_ATTRIBUTES.get(oid, oid)}={_text(value_tag, data[value_start:value_end])}")
    return ", ".join(reversed(parts)) if parts else "(empty)"


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def parse_certificate(der: bytes, now: datetime | None = None) -> dict[str, Any]:
    """Subject, issuer, expiry and names of an X.509 certificate, read from its DER."""
    _, cert_start, cert_end = _der(der, 0)
    _, tbs_start, tbs_end = _children(der, cert_start, cert_end)[0]
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:  # the explicit version
        fields = fields[1:]
    issuer, validity, subject = fields[2], fields[3], fields[4]
    (before_tag, before_start, before_end), (after_tag, after_start, after_end) = _children(
        der, validity[1], validity[2])[:2]
    not_after = _time(after_tag, der[after_start:after_end])
    names: list[str] = []
    for tag, start, _ in fields[6:]:
        if tag != 0xA3:
            continue
        _, list_start, list_end = _der(der, start)
        for _, ext_start, ext_end in _children(der, list_start, list_end):
            parts = _children(der, ext_start, ext_end)
            if _oid(der[parts[0][1]:parts[0][2]]) != _SUBJECT_ALT_NAME:
                continue
            _, value_start, _ = parts[-1]
            _, names_start, names_end = _der(der, value_start)
            for name_tag, name_start, name_end in _children(der, names_start, names_end):
                raw = der[name_start:name_end]
                if name_tag == 0x82:
                    names.append(raw.decode("ascii", "replace"))
                elif name_tag == 0x87 and len(raw) in (4, 16):
                    names.append(str(ipaddress.ip_address(raw)))
    now = now or datetime.now(UTC)
    return {
        "subject": _name(der, subject[1], subject[2]),
        "issuer": _name(der, issuer[1], issuer[2]),
        "not_before": _time(before_tag, der[before_start:before_end]).isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - now).days,
        "names": names,
    }


# --- AWS endpoints -----------------------------------------------------------------------------


def _aws(check: Check, deadline: float, progress: _Progress) -> dict[str, Any]:
    started = time.monotonic()
    progress.phase = "finding the endpoint"
    try:
        client, source = _aws_client(check.service, deadline)
    except LookupError as problem:
        return _result(check, False, "unknown service", None, str(problem),
                       "name the service as boto3 does: aws:s3, aws:sts, aws:secretsmanager, aws:dynamodb, ...")
    endpoint = client.meta.endpoint_url
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    facts: dict[str, Any] = {"endpoint": endpoint, "endpoint_source": source}
    try:
        addresses = _resolve(host, port, progress)
        facts["addresses"] = sorted({address[4][0] for address in addresses})
        kind = _address_kind(addresses[0][4][0])
        facts["address_kind"] = kind
        connecting = time.monotonic()
        sock = _connect(addresses, deadline, progress)
    except _Failure as failure:
        verdict = "blocked" if failure.verdict in ("timed out", "unreachable") else failure.verdict
        hint = (f"no route to {check.service}: give the function's subnets a NAT gateway, or add a VPC endpoint "
                f"for {check.service}" + (" (a gateway endpoint, which is free)"
                                          if check.service in ("s3", "dynamodb") else ""))
        return _result(check, False, verdict, time.monotonic() - started, f"{endpoint}: {failure.detail}",
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
            return _result(check, False, verdict, time.monotonic() - started,
                           f"{detail}; GetCallerIdentity failed: {message}",
                           "the endpoint answers, but the function's credentials do not work there", **facts)
        facts["identity"] = {"account": identity.get("Account"), "arn": identity.get("Arn")}
        detail += f"; GetCallerIdentity: {identity.get('Arn')}"
    return _result(check, True, verdict, time.monotonic() - started, detail, **facts)


def _aws_client(service: str, deadline: float) -> tuple[Any, str | None]:
    """A botocore client for ``service`` (its endpoint chosen as boto3 would), and the variable that set it."""
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import UnknownServiceError

    environ = os.environ
    session = botocore.session.get_session()
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    remaining = _remaining(deadline)
    config = Config(connect_timeout=remaining, read_timeout=remaining, retries={"total_max_attempts": 1})
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


_RUNNERS: dict[str, Callable[[Check, float, _Progress], dict[str, Any]]] = {
    "tcp": _tcp, "dns": _dns, "http": _http, "aws": _aws,
}
