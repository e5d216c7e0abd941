"""Sandbox processes for the local Lambda, and the pool that hands them out.

A sandbox is a child process running ``handler/`` under AWS's runtime interface
client (awslambdaric), with the environment variables Lambda sets, its own temp
dir, a memory limit and a deadline. Between invocations it is frozen with
SIGSTOP, as Lambda freezes an execution environment. A sandbox that times out or
crashes is killed and replaced. The pool grows up to the concurrency limit and
reaps sandboxes left idle.
"""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from handler.constants import LAMBDA_RESPONSE_LIMIT_BYTES
from lambdash.local.function import FunctionConfig
from lambdash.local.runtime_api import RuntimeAPIServer, error_body

# Lambda gives a runtime this long to initialise before the first invocation.
INIT_TIMEOUT_SECONDS = 10.0
# X-Amz-Log-Result holds at most the last 4 KB of the invocation's log.
LOG_TAIL_BYTES = 4096
# Every process of a sandbox inherits this variable, so none can be left behind.
SANDBOX_MARKER = "LAMBDASH_LOCAL_SANDBOX"
# Address space the runtime itself reserves (thread stacks, malloc arenas) on top
# of the function's memory size; without it a 128 MB function could not start.
RUNTIME_ADDRESS_SPACE_ALLOWANCE = 1024 * 1024 * 1024

PASSED_THROUGH_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS",
)


@dataclass
class Invocation:
    """One invocation on its way through a sandbox."""

    request_id: str
    payload: bytes
    function_arn: str
    timeout: float
    client_context: str | None = None
    trace_id: str = field(default_factory=lambda: f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}")
    deadline_ms: int = 0
    delivered: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    response: bytes = b""
    function_error: str | None = None


@dataclass(frozen=True)
class InvokeOutcome:
    """What the caller of Invoke gets back."""

    request_id: str
    payload: bytes
    function_error: str | None
    log: bytes
    sandbox_id: str


class Throttled(Exception):
    """Every sandbox is busy and the pool is at its concurrency limit."""


class Sandbox:
    """One execution environment: a runtime process and its Runtime API."""

    def __init__(self, config: FunctionConfig, task_root: Path, workdir: Path) -> None:
        self.config = config
        self.id = secrets.token_hex(4)
        self.dir = workdir / f"sandbox-{self.id}"
        self.tmp = self.dir / "tmp"
        self.tmp.mkdir(parents=True)
        self.log_path = self.dir / "log"
        self.task_root = task_root
        self.max_response_bytes = LAMBDA_RESPONSE_LIMIT_BYTES
        self.invocations = 0
        self.last_used = time.monotonic()
        self.init_duration: float | None = None
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Invocation] = queue.Queue(maxsize=1)
        self._current: Invocation | None = None
        self._frozen = False
        self._dead = threading.Event()
        self._api = RuntimeAPIServer(self)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return not self._dead.is_set()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Start the Runtime API and the runtime process."""
        self._api.start()
        limit = self.config.memory_mb * 1024 * 1024 + RUNTIME_ADDRESS_SPACE_ALLOWANCE

        def limit_memory() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [self.config.python, "-m", "awslambdaric", self.config.handler],
                cwd=self.task_root, env=self._environment(), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=limit_memory,
            )
        threading.Thread(target=self._watch_process, name=f"sandbox-{self.id}", daemon=True).start()

    def _environment(self) -> dict[str, str]:
        config = self.config
        python_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
        stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[$LATEST]{secrets.token_hex(16)}"
        env = {
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(config.timeout)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_RUNTIME_API": self._api.address,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python_minor}",
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "LAMBDA_RUNTIME_DIR": str(Path(config.python).parent),
            "_HANDLER": config.handler,
            "PATH": os.pathsep.join([str(Path(config.python).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "PYTHONPATH": str(self.task_root),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "TMPDIR": str(self.tmp),
            SANDBOX_MARKER: self.id,
        }
        env.update({name: os.environ[name] for name in PASSED_THROUGH_VARIABLES if name in os.environ})
        env.update(config.environment)
        return env

    def _watch_process(self) -> None:
        assert self._process is not None
        code = self._process.wait()
        self._dead.set()
        reason = f"signal: {signal.Signals(-code).name.lower()}" if code < 0 else f"exit status {code}"
        self._finish_current(None, "Unhandled", error_body(
            f"Runtime exited with error: {reason}", "Runtime.ExitError"))

    # --- the Runtime API's callbacks -------------------------------------------

    def next_invocation(self, is_closed: Callable[[], bool]) -> Invocation | None:
        """Block until there is an invocation for the runtime; freeze while waiting."""
        with self._lock:
            if self._queue.empty() and self.alive and self._process is not None:
                self._signal(signal.SIGSTOP)
                self._frozen = True
        while not is_closed() and self.alive:
            try:
                invocation = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            invocation.deadline_ms = int((time.time() + invocation.timeout) * 1000)
            if self.init_duration is None:
                self.init_duration = time.monotonic() - self._started
            invocation.delivered.set()
            return invocation
        return None

    def invocation_response(self, request_id: str, body: bytes) -> bool:
        return self._finish_current(request_id, None, body)

    def invocation_error(self, request_id: str, error_type: str, body: bytes) -> bool:
        return self._finish_current(request_id, "Unhandled", body or error_body(error_type, error_type))

    def response_too_large(self, request_id: str, size: int) -> None:
        self._finish_current(request_id, "Unhandled", error_body(
            f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
            f"({LAMBDA_RESPONSE_LIMIT_BYTES} bytes).", "Function.ResponseSizeTooLarge"))

    def init_error(self, error_type: str, body: bytes) -> None:
        self._finish_current(None, "Unhandled", body or error_body(error_type, error_type))
        self.kill()

    def _finish_current(self, request_id: str | None, function_error: str | None, body: bytes) -> bool:
        with self._lock:
            current = self._current
            if current is None or current.done.is_set():
                return False
            if request_id is not None and request_id != current.request_id:
                return False
            current.response, current.function_error = body, function_error
            current.done.set()
            return True

    # --- used by the pool --------------------------------------------------------

    def invoke(self, invocation: Invocation) -> InvokeOutcome:
        """Run one invocation to its end: a response, an error, or a timeout."""
        log_start = self.log_path.stat().st_size
        started = time.monotonic()
        with self._lock:
            self._current = invocation
            self.invocations += 1
            if self._frozen:
                self._signal(signal.SIGCONT)
                self._frozen = False
            self._queue.put(invocation)
        failed = False
        if not invocation.delivered.wait(INIT_TIMEOUT_SECONDS) and not invocation.done.is_set():
            failed = self._finish_current(None, "Unhandled", error_body(
                f"Init timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds", "Runtime.InitTimeout"))
        else:
            remaining = invocation.deadline_ms / 1000 - time.time() if invocation.deadline_ms else 0
            if not invocation.done.wait(max(remaining, 0) + 0.05):
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z"
                failed = self._finish_current(None, "Unhandled", error_body(
                    f"{stamp} {invocation.request_id} Task timed out after {invocation.timeout:.2f} seconds",
                    "Sandbox.Timedout"))
        duration = time.monotonic() - started
        with self._lock:
            self._current = None
            self.last_used = time.monotonic()
        outcome = InvokeOutcome(
            request_id=invocation.request_id,
            payload=invocation.response,
            function_error=invocation.function_error,
            log=self._invocation_log(invocation, log_start, duration),
            sandbox_id=self.id,
        )
        if failed:  # a sandbox that timed out is replaced, as Lambda replaces it
            self.kill()
        return outcome

    def _invocation_log(self, invocation: Invocation, offset: int, duration: float) -> bytes:
        """The invocation's log as CloudWatch shows it: START, the runtime's lines, END, REPORT."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                lines = log.read()
        except FileNotFoundError:  # the sandbox was killed and cleaned up meanwhile
            lines = b""
        peak_mb = self._peak_memory_mb()
        report = (
            f"REPORT RequestId: {invocation.request_id}\tDuration: {duration * 1000:.2f} ms\t"
            f"Billed Duration: {max(1, round(duration * 1000))} ms\tMemory Size: {self.config.memory_mb} MB\t"
            f"Max Memory Used: {peak_mb} MB"
        )
        if self.invocations == 1 and self.init_duration is not None:
            report += f"\tInit Duration: {self.init_duration * 1000:.2f} ms"
        return (
            f"START RequestId: {invocation.request_id} Version: $LATEST\n".encode()
            + lines
            + f"END RequestId: {invocation.request_id}\n{report}\n".encode()
        )

    def _peak_memory_mb(self) -> int:
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024
        except (OSError, ValueError):
            pass
        return 0

    def _signal(self, signum: int) -> None:
        if self._process is not None:
            try:
                os.killpg(self._process.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def kill(self) -> None:
        """Stop the sandbox and every process it started, and remove its files."""
        self._dead.set()
        self._signal(signal.SIGKILL)
        kill_marked_processes(SANDBOX_MARKER, self.id)
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._api.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def kill_marked_processes(marker: str, value: str) -> None:
    """SIGKILL every process whose environment carries ``marker=value``.

    Commands run in their own process groups, and some may be kept running in
    the background on purpose; the marker finds them all.
    """
    needle = f"{marker}={value}".encode() + b"\0"
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle not in environ.read() + b"\0":
                    continue
            os.kill(int(entry), signal.SIGKILL)
        except (OSError, ValueError):
            continue


class SandboxPool:
    """Hands out warm sandboxes, starts new ones up to the limit, and reaps idle ones."""

    def __init__(self, config: FunctionConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.task_root = config.task_root or stage_task_root()
        self._lock = threading.Lock()
        self._idle: list[Sandbox] = []
        self._busy: set[Sandbox] = set()
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap_idle, name="sandbox-reaper", daemon=True)
        self._reaper.start()

    @property
    def size(self) -> int:
        with self._lock:
            return len(self._idle) + len(self._busy)

    def invoke(self, payload: bytes, client_context: str | None = None) -> InvokeOutcome:
        """Run one invocation on a warm sandbox, or a new one. Raises Throttled at the limit."""
        sandbox = self._acquire()
        invocation = Invocation(
            request_id=str(uuid.uuid4()), payload=payload, function_arn=self.config.arn,
            timeout=self.config.timeout, client_context=client_context,
        )
        try:
            return sandbox.invoke(invocation)
        finally:
            self._release(sandbox)

    def _acquire(self) -> Sandbox:
        with self._lock:
            if self._closed.is_set():
                raise Throttled("the local Lambda is shutting down")
            while self._idle:
                sandbox = self._idle.pop()  # the most recently used: the warmest
                if sandbox.alive:
                    self._busy.add(sandbox)
                    return sandbox
                sandbox.kill()
            if len(self._busy) >= self.config.concurrency:
                raise Throttled(f"all {self.config.concurrency} sandboxes are busy")
            sandbox = Sandbox(self.config, self.task_root, self.workdir)
            self._busy.add(sandbox)
        try:
            sandbox.start()
        except BaseException:
            with self._lock:
                self._busy.discard(sandbox)
            sandbox.kill()
            raise
        return sandbox

    def _release(self, sandbox: Sandbox) -> None:
        with self._lock:
            self._busy.discard(sandbox)
            if sandbox.alive and not self._closed.is_set():
                self._idle.append(sandbox)
                return
        sandbox.kill()

    def _reap_idle(self) -> None:
        while not self._closed.wait(min(5.0, self.config.idle_timeout / 2)):
            now = time.monotonic()
            with self._lock:
                stale = [s for s in self._idle if now - s.last_used > self.config.idle_timeout or not s.alive]
                self._idle = [s for s in self._idle if s not in stale]
            for sandbox in stale:
                sandbox.kill()

    def close(self) -> None:
        """Kill every sandbox, busy or idle."""
        self._closed.set()
        with self._lock:
            sandboxes = [*self._idle, *self._busy]
            self._idle, self._busy = [], set()
        # In parallel: each kill waits for its process and its Runtime API to stop.
        killers = [threading.Thread(target=sandbox.kill, daemon=True) for sandbox in sandboxes]
        for killer in killers:
            killer.start()
        for killer in killers:
            killer.join()


def stage_task_root(parent: Path | None = None) -> Path:
    """A task root holding the installed ``handler`` package, as a deploy zip holds it.

    It is named after the handler's content, so every local Lambda running the
    same handler sees the same LAMBDA_TASK_ROOT (as /var/task is fixed on AWS)
    and inventories taken on different runs compare cleanly.
    """
    import handler

    source = Path(handler.__file__).parent
    files = sorted(path for path in source.iterdir() if path.is_file() and path.suffix in (".py", ".json"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    parent = parent or Path(tempfile.gettempdir())
    root = parent / f"lambdash-task-{os.getuid()}-{digest.hexdigest()[:16]}"
    if not (root / "handler").is_dir():
        staging = Path(tempfile.mkdtemp(prefix="lambdash-task-", dir=parent))
        (staging / "handler").mkdir()
        for path in files:
            shutil.copy2(path, staging / "handler" / path.name)
        try:
            os.rename(staging, root)
        except OSError:  # another local Lambda staged the same content first
            shutil.rmtree(staging, ignore_errors=True)
    return root


def encode_log_tail(log: bytes) -> str:
    """The X-Amz-Log-Result header: the last 4 KB of the log, base64."""
    return base64.b64encode(log[-LOG_TAIL_BYTES:]).decode("ascii")
