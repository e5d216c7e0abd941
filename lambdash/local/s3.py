"""S3 (and STS, and any other AWS API a sandbox calls) on loopback for the local Lambda, with moto.

So that spills, big stdin and file transfer work on the embedded default with no
configuration, and no sandbox reaches a real AWS endpoint unless pointed there,
the local Lambda gives its sandboxes an S3 endpoint of its own, with a spill bucket
in it and a key pair of its own (made at random for each local Lambda, never the
user's credentials).

It answers only the local Lambda's own sandboxes: requests signed (SigV4) with
that pair, and the presigned URLs they hand out (signed with it in the query string,
not expired), checked with botocore's signer (``lambdash.local.signature``) before
moto sees them. Anything else gets a 403: unsigned requests, other keys, a request
from a web page (any ``Origin``), one naming another host (DNS rebinding). Another
local user, or a page in a browser, can neither read the spilled output nor plant
objects. A signed body that declares its SHA-256 is checked against it before moto
takes it.

moto serves every service, reads whole bodies into memory and costs about 0.3 s of
CPU to import, so it runs as a child process, and only once needed: ``EmbeddedS3``
binds a loopback port at once (cheap) and starts moto on the first connection,
handing it the listening socket with that connection still waiting in it. The key
pair goes to the child through its control pipe, never on a command line. Should
the child die, the next connection starts it again (at most ``MAX_RESTARTS`` times,
each said on stderr). Like a sandbox's supervisor, the child never outlives the
local Lambda: it exits when its control pipe closes (however the local Lambda
ended) or on the parent-death signal.

Run as a script (``python -I -m lambdash.local.s3 FD BUCKET REGION PARENT``) this
module is that child.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import io
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from lambdash.local.credentials import CredentialPair
from lambdash.local.http import split_host
from lambdash.local.signature import check_presigned, check_signature, declared_sha256, is_presigned
from lambdash.text import is_decimal
from lambdash_handler.contract.session import ENV_SESSION_ROLE, SESSION_ROLE_NAME

BUCKET = "lambdash-local"
# moto's account (its DEFAULT_ACCOUNT_ID) holds the session role the sandboxes assume.
SESSION_ROLE_ARN = f"arn:aws:iam::123456789012:role/{SESSION_ROLE_NAME}"
CHILD_EXIT_SECONDS = 10.0
# A child that stopped is started again on the next connection, at most this many times.
MAX_RESTARTS = 3
# A signed body that declares no SHA-256 (other services than S3) is read whole to check the signature.
UNDECLARED_BODY_LIMIT_BYTES = 16 * 1024 * 1024
# A body checked against its declared SHA-256 waits in memory up to this size, then in a temp file.
SPOOL_IN_MEMORY_BYTES = 1024 * 1024
READ_BYTES = 1024 * 1024
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
PRESIGNED_METHODS = ("GET", "HEAD", "PUT", "DELETE")
# S3's words for why a request is refused.
S3_CODES = {
    "MissingAuthenticationTokenException": "AccessDenied",
    "UnrecognizedClientException": "InvalidAccessKeyId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "IncompleteSignatureException": "AuthorizationHeaderMalformed",
}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class EmbeddedS3:
    """A loopback endpoint for S3 and the other AWS APIs, started on first use; ``close`` stops it.

    ``notice`` is told, in one line, when the child is started again or given up on.
    """

    def __init__(self, region: str, notice: Callable[[str], None] | None = None) -> None:
        self.region = region
        self.credentials = CredentialPair.random()
        self.notice = notice or _print_warning
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._child: subprocess.Popen[bytes] | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sandbox_environment(self) -> dict[str, str]:
        """What a sandbox needs to spill there, and to send every other AWS call there too."""
        return {
            "LAMBDASH_BUCKET": BUCKET,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ENDPOINT_URL_STS": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key,
            # Sessions: the role the handler assumes in moto's STS to hand out send-only credentials.
            ENV_SESSION_ROLE: SESSION_ROLE_ARN,
        }

    def start_on_first_use(self, spawn: Callable[[Callable[[], Any]], Any]) -> None:
        """Start moto (through ``spawn``, the long-lived spawning thread) once a connection comes; again if it dies.

        While a child serves, the listening socket is its alone; this process keeps a copy
        only to hand it to the next child, and closes it when no restart is left, so that
        callers are then refused at once.
        """

        def watch() -> None:
            restarts = ended = 0
            while self._wait_for_a_caller():
                with self._lock:
                    if self._closed.is_set():
                        return
                    child: subprocess.Popen[bytes] = spawn(self._spawn)
                    self._child = child
                if restarts:
                    self.notice(f"local Lambda: the embedded S3 had stopped ({_how_it_ended(ended)}); started it "
                                f"again (restart {restarts} of at most {MAX_RESTARTS})")
                ended = child.wait()
                if self._closed.is_set():
                    return
                if restarts == MAX_RESTARTS:
                    self.notice(f"local Lambda: the embedded S3 stopped ({_how_it_ended(ended)}) after "
                                f"{MAX_RESTARTS} restarts and is not started again: spills and big stdin fail "
                                "until serve is restarted")
                    with self._lock:
                        self._listener.close()
                    return
                restarts += 1

        threading.Thread(target=watch, name="embedded-s3", daemon=True).start()

    def _wait_for_a_caller(self) -> bool:
        """True once a connection waits to be accepted; False when closed first."""
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.5)
            except (OSError, ValueError):  # closed meanwhile
                return False
            if ready:
                return True
        return False

    def _spawn(self) -> subprocess.Popen[bytes]:
        descriptor = self._listener.fileno()
        environment = {
            **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
            "MOTO_DISABLE_GLOBAL_CORS": "true",  # a web page must not read or write it
        }
        child = subprocess.Popen(
            [sys.executable, "-I", "-m", "lambdash.local.s3", str(descriptor), BUCKET, self.region,
             str(os.getpid())],
            pass_fds=[descriptor], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=environment, start_new_session=True,
        )
        control: IO[bytes] | None = child.stdin
        if control is not None:  # the pair the child accepts: through the pipe, never on its command line
            pair = {"id": self.credentials.access_key_id, "secret": self.credentials.secret_access_key}
            try:
                control.write(json.dumps(pair).encode() + b"\n")
                control.flush()
            except OSError:
                pass  # it died at once; the watcher sees it
        return child

    @property
    def started(self) -> bool:
        return self._child is not None

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            child = self._child
            self._listener.close()
        if child is not None:
            control: IO[bytes] | None = child.stdin
            if control is not None:
                try:
                    control.close()  # EOF: the child stops
                except OSError:
                    pass
            try:
                child.wait(timeout=CHILD_EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _how_it_ended(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def _print_warning(text: str) -> None:
    print(f"lambdash: warning: {text}", file=sys.stderr, flush=True)


class Refused(Exception):
    """A request the guard does not pass on: an S3 error code and a message, answered with 403."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RequestGuard:
    """A WSGI middleware in front of moto: only the sandboxes' signed requests and the URLs they presign pass.

    ``port`` is the endpoint's own: a Host header must name it, on 127.0.0.1 or localhost.
    """

    def __init__(self, app: WSGIApp, pair: CredentialPair, port: int,
                 issued: Callable[[str], CredentialPair | None] = lambda access_key_id: None) -> None:
        self.app = app
        self.pair = pair
        self.port = port
        # Temporary credentials this S3's own STS handed a sandbox (a session's send-only ones): they pass too.
        self.issued = issued

    def pair_for(self, access_key_id: str) -> CredentialPair:
        """The sandboxes' pair, or the temporary credentials STS issued under ``access_key_id``."""
        if access_key_id == self.pair.access_key_id:
            return self.pair
        return self.issued(access_key_id) or self.pair

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            self.admit(environ)
        except Refused as refused:
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(refused.code)}</Code>'
                    f"<Message>{escape(refused.message)}</Message></Error>").encode()
            start_response("403 Forbidden", [("Content-Type", "application/xml"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)

    def admit(self, environ: dict[str, Any]) -> None:
        """Return when the request may reach moto (its body replaced by the checked copy); else raise Refused."""
        if "HTTP_ORIGIN" in environ:
            raise Refused("AccessDenied", "requests from web pages are refused")
        host, port = split_host(environ.get("HTTP_HOST", ""))
        if host not in LOOPBACK_NAMES or port != self.port:
            raise Refused("AccessDenied", f"Host {environ.get('HTTP_HOST')!r} is not this server")
        method = environ["REQUEST_METHOD"]
        target = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        headers = list(_headers(environ))
        if is_presigned(target):
            if method not in PRESIGNED_METHODS:
                raise Refused("AccessDenied", f"a presigned URL is for {', '.join(PRESIGNED_METHODS)}, not {method}")
            pair = self.pair_for(_credential_key(target))
            _refuse_unless_none(check_presigned(pair, method=method, target=target, headers=headers))
            return
        pair = self.pair_for(_credential_key(dict(headers).get("authorization", "")))
        _refuse_unless_none(check_signature(pair, method=method, target=target, headers=headers, body=None,
                                            service=None))
        declared = declared_sha256(headers)
        if declared is not None:
            environ["wsgi.input"] = _checked_copy(_body(environ), declared)
            return
        body = b"".join(_body(environ, limit=UNDECLARED_BODY_LIMIT_BYTES))
        _refuse_unless_none(check_signature(pair, method=method, target=target, headers=headers, body=body,
                                            service=None))
        environ["wsgi.input"] = io.BytesIO(body)


def _credential_key(text: str) -> str:
    """The access key id a SigV4 Authorization header or presigned query names (Credential=KEY/...)."""
    found = re.search(r"Credential=([^/&,\s]+)", unquote(text))
    return found.group(1) if found else ""


def issued_by_moto(access_key_id: str) -> CredentialPair | None:
    """Temporary credentials moto's STS issued (AssumeRole) under ``access_key_id``, while they are valid."""
    from moto.sts.models import sts_backends

    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    for account in list(sts_backends.values()):
        for backend in list(account.values()):
            role = backend.get_assumed_role_from_access_key(access_key_id)
            if role is not None and role.expiration > now:
                return CredentialPair(role.access_key_id, role.secret_access_key, role.session_token)
    return None


def _refuse_unless_none(refusal: Any) -> None:
    if refusal is not None:
        raise Refused(S3_CODES.get(refusal.code, refusal.code), refusal.message)


def _headers(environ: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The request's headers as a client wrote them (lower-cased), from their WSGI names."""
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield key[5:].lower().replace("_", "-"), value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            yield key.lower().replace("_", "-"), value


def _body(environ: dict[str, Any], limit: int | None = None) -> Iterator[bytes]:
    """The request body, a piece at a time: Content-Length bytes, or all of a chunked one."""
    stream = environ["wsgi.input"]
    length_text = environ.get("CONTENT_LENGTH") or ""
    if environ.get("wsgi.input_terminated"):
        remaining = None
    elif is_decimal(length_text):
        remaining = int(length_text)
    else:
        return
    if limit is not None and remaining is not None and remaining > limit:
        raise Refused("EntityTooLarge", f"a body that declares no SHA-256 may be at most {limit} bytes")
    received = 0
    while remaining is None or remaining > 0:
        piece = stream.read(READ_BYTES if remaining is None else min(READ_BYTES, remaining))
        if not piece:
            if remaining:
                raise Refused("IncompleteBody", "the body ended before its Content-Length")
            return
        received += len(piece)
        if limit is not None and received > limit:
            raise Refused("EntityTooLarge", f"a body that declares no SHA-256 may be at most {limit} bytes")
        if remaining is not None:
            remaining -= len(piece)
        yield piece


def _checked_copy(pieces: Iterator[bytes], declared: str) -> IO[bytes]:
    """The body, kept (in memory, or a temp file when big) and rewound, once it matches its declared SHA-256."""
    digest = hashlib.sha256()
    # moto reads it as the request's input; it goes (and its file with it) when the request is done with.
    copy = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
    for piece in pieces:
        digest.update(piece)
        copy.write(piece)
    if not hmac.compare_digest(digest.hexdigest(), declared):
        copy.close()
        raise Refused("XAmzContentSHA256Mismatch",
                      "The provided 'x-amz-content-sha256' header does not match what was computed.")
    copy.seek(0)
    return copy


def _serve(descriptor: int, bucket: str, region: str, parent: int) -> None:
    """The child: moto's server on the handed-over socket, behind the guard, with the spill bucket made first."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: the local Lambda's spawning thread is gone
    if os.getppid() != parent:
        return

    def leave(*_: object) -> None:
        os._exit(0)

    control = sys.stdin.buffer
    try:
        given = json.loads(control.readline())
        pair = CredentialPair(given["id"], given["secret"])
    except (ValueError, KeyError, TypeError):
        return  # no pair, no service: nobody could use it

    def watch_control() -> None:
        control.read()  # returns at EOF: the local Lambda closed the pipe, or is gone
        leave()

    signal.signal(signal.SIGTERM, leave)
    threading.Thread(target=watch_control, name="control", daemon=True).start()

    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.s3.models import s3_backends
    from werkzeug.serving import make_server

    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].create_bucket(bucket, region)
    listener = socket.socket(fileno=descriptor)
    host, port = listener.getsockname()[:2]
    listener.detach()
    guarded = RequestGuard(DomainDispatcherApplication(create_backend_app), pair, port, issued_by_moto)
    server = make_server(host, port, guarded, threaded=True, request_handler=MotoRequestHandler, fd=descriptor)
    server.serve_forever()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]))
