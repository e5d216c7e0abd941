"""S3 (and STS, and any other AWS API a sandbox calls) on loopback for the local Lambda, with moto.

So that spills, big stdin and file transfer work on the embedded default with no
configuration, and no sandbox reaches a real AWS endpoint unless pointed there,
the local Lambda gives its sandboxes an S3 endpoint of its own, with a spill bucket
in it and a dummy key pair (never the user's credentials).

moto serves every service, reads whole bodies into memory and costs about 0.3 s of
CPU to import, so it runs as a child process, and only once needed: ``EmbeddedS3``
binds a loopback port at once (cheap) and starts moto on the first connection,
handing it the listening socket with that connection still waiting in it. Like a
sandbox's supervisor, the child never outlives the local Lambda: it exits when its
control pipe closes (however the local Lambda ended) or on the parent-death signal.

Run as a script (``python -I -m lambdash.local.s3 FD BUCKET REGION``) this module is
that child.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from lambdash_handler.contract.session import ENV_SESSION_ROLE, SESSION_ROLE_NAME

BUCKET = "lambdash-local"
# moto's account (its DEFAULT_ACCOUNT_ID) holds the session role the sandboxes assume.
SESSION_ROLE_ARN = f"arn:aws:iam::123456789012:role/{SESSION_ROLE_NAME}"
# The sandboxes' key pair for it: moto takes any, and the user's own never leaves their machine's shell.
ACCESS_KEY_ID = "LOCALS3DUMMYKEYID000"
SECRET_ACCESS_KEY = "local-s3-dummy-secret"
CHILD_EXIT_SECONDS = 10.0


class EmbeddedS3:
    """A loopback endpoint for S3 and the other AWS APIs, started on first use; ``close`` stops it."""

    def __init__(self, region: str) -> None:
        self.region = region
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
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            # Sessions: the role the handler assumes in moto's STS to hand out send-only credentials.
            ENV_SESSION_ROLE: SESSION_ROLE_ARN,
        }

    def start_on_first_use(self, spawn: Callable[[Callable[[], Any]], Any]) -> None:
        """Start moto (through ``spawn``, the long-lived spawning thread) once a connection comes."""

        def watch() -> None:
            while not self._closed.is_set():
                ready, _, _ = select.select([self._listener], [], [], 0.5)
                if ready:
                    with self._lock:
                        if not self._closed.is_set():
                            self._child = spawn(self._spawn)
                            self._listener.close()  # the child's alone now: if it dies, callers are refused
                    return

        threading.Thread(target=watch, name="embedded-s3", daemon=True).start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        descriptor = self._listener.fileno()
        environment = {
            **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
            "MOTO_DISABLE_GLOBAL_CORS": "true",  # a web page must not read or write it
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }
        return subprocess.Popen(
            [sys.executable, "-I", "-m", "lambdash.local.s3", str(descriptor), BUCKET, self.region,
             str(os.getpid())],
            pass_fds=[descriptor], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=environment, start_new_session=True,
        )

    @property
    def started(self) -> bool:
        return self._child is not None

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            child = self._child
        if child is not None:
            control: IO[bytes] | None = child.stdin
            if control is not None:
                control.close()  # EOF: the child stops
            try:
                child.wait(timeout=CHILD_EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._listener.close()


def _serve(descriptor: int, bucket: str, region: str, parent: int) -> None:
    """The child: moto's server on the handed-over socket, with the spill bucket made before the first answer."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: the local Lambda's spawning thread is gone
    if os.getppid() != parent:
        return

    def leave(*_: object) -> None:
        os._exit(0)

    def watch_control() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the local Lambda closed the pipe, or is gone
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
    server = make_server(host, port, DomainDispatcherApplication(create_backend_app), threaded=True,
                         request_handler=MotoRequestHandler, fd=descriptor)
    server.serve_forever()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]))
