"""Sandboxes for the local Lambda, and the pool that hands them out.

A sandbox is one execution environment: the function's runtime (by default
``handler/`` under AWS's runtime interface client, awslambdaric) with the
environment variables Lambda sets, a memory limit and a deadline, below a
supervisor process of its own (``supervisor.py``) that is never frozen. It runs in
user and mount namespaces of its own, shaped like Lambda's: the host's / read-only,
a private /tmp, the code at /var/task, layers at /opt, uid 993. Where the kernel
refuses them, the pool refuses to start (one line says why and how to allow them),
unless the function is configured unisolated: then the sandbox runs on the host,
with only its temp dir private. Between invocations the supervisor freezes every
process of the sandbox, kept background jobs included, as Lambda freezes an
execution environment. A
sandbox that times out, runs out of memory or crashes is killed and replaced.
When the local Lambda goes, however it goes, each supervisor kills its sandbox;
when a supervisor is killed outright, the local Lambda kills its sandbox's
processes (found by their marker and mount namespace) and replaces the sandbox.

The pool grows up to the concurrency limit, reaps sandboxes left idle, and starts
supervisors from one long-lived thread (a parent-death signal follows the thread
that started a process, and requests are served on short-lived threads).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from lambdash.errors import LambdashError
from lambdash.local.function import ENV_UNISOLATED, FunctionConfig
from lambdash.local.runtime_api import RuntimeAPIServer, error_body
from lambdash_handler.contract import ENV_EXEC_WRAPPER, EXEC_WRAPPER_NAME, LAMBDA_RESPONSE_LIMIT_BYTES, PACKAGE_NAME

# Lambda gives a runtime this long to initialise before the first invocation.
INIT_TIMEOUT_SECONDS = 10.0
# X-Amz-Log-Result holds at most the last 4 KB of the invocation's log.
LOG_TAIL_BYTES = 4096
# Every process of a sandbox inherits this variable, so a test can find them all.
SANDBOX_MARKER = "LAMBDASH_LOCAL_SANDBOX"
# Address space the runtime itself reserves (thread stacks, malloc arenas) on top
# of the function's memory size; without it a 128 MB function could not start.
RUNTIME_ADDRESS_SPACE_ALLOWANCE = 1024 * 1024 * 1024
# How long a broken response stream waits for the supervisor to say the runtime died.
BROKEN_STREAM_GRACE_SECONDS = 1.0
# How long a supervisor may take to kill its sandbox and go.
SUPERVISOR_EXIT_SECONDS = 10.0
# How long the processes of a sandbox whose supervisor was killed are swept for (they may fork meanwhile).
SWEEP_SECONDS = 5.0
SUPERVISOR_SCRIPT = Path(__file__).with_name("supervisor.py")
# Where Lambda puts the function's code; in an unisolated sandbox, paths under it (a deployed exec wrapper)
# mean the staged task root.
LAMBDA_TASK_ROOT = "/var/task"
# An isolated sandbox's temp dir, as Lambda's.
SANDBOX_TMP = "/tmp"
# How long the check that the kernel gives sandboxes their namespaces may take.
ISOLATION_CHECK_SECONDS = 30.0

PASSED_THROUGH_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS",
)

Value = TypeVar("Value")
# Takes each chunk of a streamed response as the runtime sends it; False when it can take no more.
ChunkConsumer = Callable[[bytes], bool]


@dataclass
class Invocation:
    """One invocation on its way through a sandbox; the Runtime API writes its response here."""

    request_id: str
    payload: bytes
    function_arn: str
    timeout: float
    client_context: str | None = None
    # Set for a caller that takes the response as it comes (InvokeWithResponseStream).
    consumer: ChunkConsumer | None = None
    trace_id: str = field(default_factory=lambda: f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}")
    deadline_ms: int = 0
    delivered: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    response: bytearray = field(default_factory=bytearray)
    bytes_written: int = 0
    function_error: str | None = None
    error_payload: bytes = b""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, data: bytes) -> bool:
        """The runtime sent more of the response."""
        if self.done.is_set():
            return False
        self.bytes_written += len(data)
        if self.consumer is not None:
            return self.consumer(data)
        if len(self.response) + len(data) > LAMBDA_RESPONSE_LIMIT_BYTES:
            return False
        self.response += data
        return True

    def finish(self, error_type: str | None = None, error_body: bytes = b"") -> None:
        """The response is complete, or failed with ``error_type``; the first word is final."""
        with self._lock:
            if self.done.is_set():
                return
            if error_type is not None:
                self.function_error = "Unhandled"
                self.error_payload = error_body or error_body_of(error_type)
            self.done.set()

    def broke(self, message: str) -> None:
        """The stream stopped short: most likely the runtime died, which its supervisor is about to say.

        The supervisor's word (an exit, a signal, out of memory) is the better error;
        if none comes shortly, the response was truncated by a runtime still alive.
        """

        def truncated() -> None:
            if not self.done.wait(BROKEN_STREAM_GRACE_SECONDS):
                self.finish("Runtime.TruncatedResponse", error_body(message, "Runtime.TruncatedResponse"))

        threading.Thread(target=truncated, name="broken-stream", daemon=True).start()

    @property
    def payload_out(self) -> bytes:
        """What a buffered caller gets: the response, or the error."""
        return self.error_payload if self.function_error else bytes(self.response)


def error_body_of(error_type: str) -> bytes:
    return error_body(error_type, error_type)


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


class IsolationRefused(LambdashError):
    """The kernel will not give a sandbox its namespaces, and nobody asked to run unisolated."""


class Spawner:
    """Runs work on one long-lived thread: the parent thread of every supervisor."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[tuple[Callable[[], object], Future[object]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sandbox-spawner", daemon=True)
        self._thread.start()

    def run(self, work: Callable[[], Value]) -> Value:
        future: Future[object] = Future()
        self._work.put((work, future))
        return future.result()  # type: ignore[return-value]

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            work, future = item
            try:
                future.set_result(work())
            except BaseException as problem:  # handed to the caller
                future.set_exception(problem)

    def close(self) -> None:
        self._work.put(None)


class Sandbox:
    """One execution environment: a supervised runtime process and its Runtime API."""

    def __init__(self, config: FunctionConfig, task_root: Path, workdir: Path,
                 environment: dict[str, str] | None = None) -> None:
        self.config = config
        # Set by the local Lambda for every sandbox (its embedded S3), over what the user's shell passes on.
        self.provided_environment = environment or {}
        self.id = secrets.token_hex(4)
        self.workdir = workdir
        self.dir = workdir / f"sandbox-{self.id}"
        # Isolated, the sandbox's root is built on the mount point ``root``; unisolated, ``tmp`` is its temp dir.
        self.root = self.dir / "root"
        self.tmp = self.dir / "tmp"
        (self.root if config.isolated else self.tmp).mkdir(parents=True)
        self.log_path = self.dir / "log"
        self.task_root = task_root
        self.invocations = 0
        self.last_used = time.monotonic()
        self.init_duration: float | None = None
        self.pid: int | None = None
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Invocation] = queue.Queue(maxsize=1)
        self._current: Invocation | None = None
        self._frozen = False
        self._dead = threading.Event()
        self._runtime_started = threading.Event()
        self._end: str | None = None
        self._api = RuntimeAPIServer(self)
        self._supervisor: subprocess.Popen[bytes] | None = None
        self._control: IO[bytes] | None = None
        # The sandbox's own mount namespace, when it has one: every process in it is the sandbox's.
        self._mount_namespace: str | None = None

    @property
    def task_path(self) -> str:
        """The task root as the sandbox's processes see it."""
        return LAMBDA_TASK_ROOT if self.config.isolated else str(self.task_root)

    @property
    def alive(self) -> bool:
        return not self._dead.is_set()

    def start(self, spawner: Spawner) -> None:
        """Start the Runtime API, then the supervisor and through it the runtime."""
        self._api.start()
        environment = self._environment()
        argv = list(self.config.runtime_argv)
        wrapper = environment.get(ENV_EXEC_WRAPPER)
        if wrapper:  # as Lambda does: the wrapper, then the managed runtime's command line
            if not self.config.isolated and wrapper.startswith(LAMBDA_TASK_ROOT + "/"):
                wrapper = str(self.task_root) + wrapper.removeprefix(LAMBDA_TASK_ROOT)  # as deployed: in the task root
                environment[ENV_EXEC_WRAPPER] = wrapper
            argv = [wrapper, *argv]
        config = self.config
        spec: dict[str, object] = {
            "argv": argv,
            "env": environment,
            "cwd": self.task_path,
            "address_space_bytes": config.memory_mb * 1024 * 1024 + RUNTIME_ADDRESS_SPACE_ALLOWANCE,
            "memory_limit_bytes": config.memory_mb * 1024 * 1024,
            "workdir": str(self.workdir),
            "parent_pid": os.getpid(),
        }
        if config.isolated:
            spec["isolation"] = {
                "root": str(self.root),
                "task_root": str(self.task_root),
                "layers": [str(layer) for layer in config.layers],
                "tmp_mb": config.ephemeral_storage_mb,
                "pty": config.pty,
                "expose": runtime_directories(config),
            }
        else:
            spec.update(tmp=str(self.tmp), tmp_mb=config.ephemeral_storage_mb)

        def spawn() -> subprocess.Popen[bytes]:
            with open(self.log_path, "ab") as log:
                return subprocess.Popen(
                    [sys.executable, "-I", "-S", str(SUPERVISOR_SCRIPT), str(self.dir)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
                )

        self._supervisor = spawner.run(spawn)
        self._control = self._supervisor.stdin
        # Through the control pipe: a command line is readable by every user, and the spec holds secrets.
        encoded = json.dumps(spec).encode()
        self._tell_supervisor(b"%d\n%s" % (len(encoded), encoded))
        threading.Thread(target=self._watch_supervisor, name=f"sandbox-{self.id}", daemon=True).start()
        if not self._runtime_started.wait(INIT_TIMEOUT_SECONDS):
            self.kill()
            raise RuntimeError(f"the sandbox's supervisor did not start the runtime ({self._end or 'no word'})")

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
            "LAMBDA_TASK_ROOT": self.task_path,
            "LAMBDA_RUNTIME_DIR": str(Path(config.python).parent),
            "_HANDLER": config.handler,
            "PATH": os.pathsep.join([str(Path(config.python).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "PYTHONPATH": self.task_path,
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "TMPDIR": SANDBOX_TMP if config.isolated else str(self.tmp),
            SANDBOX_MARKER: self.id,
        }
        if config.runtime == "lambdash" and (self.task_root / PACKAGE_NAME / EXEC_WRAPPER_NAME).is_file():
            # As `lambdash deploy` sets it.
            env[ENV_EXEC_WRAPPER] = f"{self.task_path}/{PACKAGE_NAME}/{EXEC_WRAPPER_NAME}"
        env.update({name: os.environ[name] for name in PASSED_THROUGH_VARIABLES if name in os.environ})
        env.update(self.provided_environment)
        env.update(config.environment)
        return env

    def _watch_supervisor(self) -> None:
        """Read the supervisor's reports; its last says how the sandbox ended."""
        assert self._supervisor is not None
        assert self._supervisor.stdout is not None
        for raw in self._supervisor.stdout:
            word, _, rest = raw.decode("utf-8", "replace").strip().partition(" ")
            if word == "started":
                self.pid = int(rest)
                self._runtime_started.set()
            elif word == "namespace":
                self._mount_namespace = None if rest == _own_mount_namespace() else rest
            elif word == "ended":
                self._end = rest
        self._supervisor.wait()
        self._dead.set()
        self._runtime_started.set()
        self._fail_current(self._end or "killed")
        if self._end is None:  # killed before it could kill the sandbox: what it started is still there
            kill_marked_processes(SANDBOX_MARKER, self.id, self._mount_namespace)

    def _fail_current(self, end: str) -> None:
        current = self._current
        if current is None:
            return
        kind, _, detail = end.partition(" ")
        if kind == "oom":
            used = int(detail) // (1024 * 1024)
            current.finish("Runtime.OutOfMemory", error_body(
                f"RequestId: {current.request_id} Error: Runtime exited with error: signal: killed "
                f"(the sandbox's processes used {used} MB; the function has {self.config.memory_mb} MB)",
                "Runtime.OutOfMemory"))
        elif kind == "signal":
            current.finish("Runtime.ExitError", error_body(
                f"Runtime exited with error: signal: {_signal_name(int(detail))}", "Runtime.ExitError"))
        elif kind == "exit":
            current.finish("Runtime.ExitError", error_body(
                f"Runtime exited with error: exit status {detail}", "Runtime.ExitError"))
        elif kind == "failed":  # the supervisor could not build the sandbox; the runtime never started
            current.finish("Runtime.Unknown", error_body(
                f"the local sandbox could not be built: {detail}", "Runtime.Unknown"))
        else:
            current.finish("Runtime.ExitError", error_body("the sandbox was stopped", "Runtime.ExitError"))

    def _tell_supervisor(self, command: bytes) -> None:
        if self._control is None:
            return
        try:
            self._control.write(command)
            self._control.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # it is gone already; the watcher says so

    # --- the Runtime API's callbacks -------------------------------------------

    def next_invocation(self, is_closed: Callable[[], bool]) -> Invocation | None:
        """Block until there is an invocation for the runtime; frozen while there is none.

        A runtime may ask for the next invocation while it still sends the last
        response (AWS's Node.js client does), so the sandbox freezes only once that
        response is complete.
        """
        current = self._current
        while current is not None and current.delivered.is_set() and not current.done.wait(0.5):
            if is_closed() or not self.alive:
                return None
        with self._lock:
            if self._queue.empty() and self.alive and not self._frozen:
                self._tell_supervisor(b"F")
                self._frozen = True
        while not is_closed() and self.alive:
            try:
                invocation = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if is_closed():  # the runtime that asked hung up meanwhile: the invocation waits for one still there
                self._queue.put_nowait(invocation)
                return None
            invocation.deadline_ms = int((time.time() + invocation.timeout) * 1000)
            if self.init_duration is None:
                self.init_duration = time.monotonic() - self._started
            invocation.delivered.set()
            return invocation
        return None

    def response_sink(self, request_id: str) -> Invocation | None:
        current = self._current
        if current is None or current.request_id != request_id or current.done.is_set():
            return None
        return current

    def init_error(self, error_type: str, body: bytes) -> None:
        current = self._current
        if current is not None:
            current.finish(error_type, body or error_body_of(error_type))
        self.kill()

    # --- used by the pool --------------------------------------------------------

    def invoke(self, invocation: Invocation) -> InvokeOutcome:
        """Run one invocation to its end: a response, an error, or a timeout."""
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        started = time.monotonic()
        with self._lock:
            self._current = invocation
            self.invocations += 1
            if self._frozen:
                self._tell_supervisor(b"T")
                self._frozen = False
            self._queue.put(invocation)
        failed = False
        if not self.alive:
            self._fail_current(self._end or "killed")
        if not _first_of(invocation.delivered, invocation.done, INIT_TIMEOUT_SECONDS):
            invocation.finish("Runtime.InitTimeout", error_body(
                f"Init timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds", "Runtime.InitTimeout"))
            failed = True
        else:
            remaining = invocation.deadline_ms / 1000 - time.time() if invocation.deadline_ms else 0
            if not invocation.done.wait(max(remaining, 0) + 0.05):
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z"
                invocation.finish("Sandbox.Timedout", error_body(
                    f"{stamp} {invocation.request_id} Task timed out after {invocation.timeout:.2f} seconds",
                    "Sandbox.Timedout"))
                failed = True
        duration = time.monotonic() - started
        with self._lock:
            self._current = None
            self.last_used = time.monotonic()
        outcome = InvokeOutcome(
            request_id=invocation.request_id,
            payload=invocation.payload_out,
            function_error=invocation.function_error,
            log=self._invocation_log(invocation, log_start, duration),
            sandbox_id=self.id,
        )
        if failed or not self.alive:  # a sandbox that timed out is replaced, as Lambda replaces it
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

    def kill(self) -> None:
        """Stop the sandbox and every process in it; the supervisor removes its files."""
        self._dead.set()
        self._tell_supervisor(b"K")
        supervisor = self._supervisor
        if supervisor is not None:
            try:
                supervisor.wait(timeout=SUPERVISOR_EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                supervisor.kill()
                supervisor.wait()
                kill_marked_processes(SANDBOX_MARKER, self.id, self._mount_namespace)
            if self._control is not None:
                try:
                    self._control.close()
                except OSError:
                    pass
        self._api.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        try:
            self.workdir.rmdir()
        except OSError:
            pass


def _first_of(first: threading.Event, second: threading.Event, timeout: float) -> bool:
    """Wait until either event is set (False when neither is, after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not (first.is_set() or second.is_set()):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        first.wait(min(remaining, 0.02))
    return True


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name.lower()
    except ValueError:
        return str(number)


def _own_mount_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/mnt")
    except OSError:
        return None


def runtime_directories(config: FunctionConfig) -> list[str]:
    """The host directories the runtime needs: its interpreter's environment and installation, and its command's files.

    The supervisor opens the way to them where the sandbox's uid could not reach them
    (a Python under /root, when root runs the local Lambda).
    """
    python = Path(config.python)
    found = {str(python.parent.parent), str(python.resolve().parent.parent)}
    for argument in config.runtime_argv:
        if argument.startswith("/") and os.path.exists(argument):
            found.update({os.path.dirname(argument), os.path.dirname(os.path.realpath(argument))})
    return sorted(found)


def isolation_refusal() -> str | None:
    """Why the kernel will not give sandboxes their namespaces (its words), or None when it will.

    The check enters new namespaces, so it runs in a process of its own: a fork of this
    one while it has a single thread (about a millisecond), else the supervisor script
    (a Python start-up, some 40 ms).
    """
    if threading.active_count() == 1:
        return _refusal_in_a_fork()
    try:
        done = subprocess.run([sys.executable, "-I", "-S", str(SUPERVISOR_SCRIPT), "--check"], capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=ISOLATION_CHECK_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as problem:
        return str(problem)
    if done.returncode == 0:
        return None
    return done.stdout.decode("utf-8", "replace").strip() or f"the check exited {done.returncode}"


def _refusal_in_a_fork() -> str | None:
    from lambdash.local.supervisor import check_namespaces

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one answer on the pipe, then gone without running anything of the parent's
        status = 2
        try:
            os.close(read_end)
            why = check_namespaces()
            os.write(write_end, (why or "").encode("utf-8", "replace"))
            status = 0 if why is None else 1
        finally:
            os._exit(status)
    os.close(write_end)
    with open(read_end, "rb") as pipe:
        said = pipe.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    return said or f"the check exited {code}"


# The settings that keep unprivileged user namespaces from a user: (file, refusing value, the setting allowing them).
_USER_NAMESPACE_SETTINGS = (
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "kernel.apparmor_restrict_unprivileged_userns=0"),
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone=1"),
    ("/proc/sys/user/max_user_namespaces", "0", "user.max_user_namespaces=15000"),
)


def how_to_allow_namespaces(why: str) -> str:
    """What lets this machine give sandboxes their namespaces, said for the refusal's one line."""
    if "set the attributes" in why:
        return "isolating needs Linux 5.12 or later (mount_setattr)"
    for path, refusing, setting in _USER_NAMESPACE_SETTINGS:
        try:
            value = Path(path).read_text().strip()
        except OSError:
            continue
        if value == refusing:
            return f"allow them with `sudo sysctl -w {setting}`"
    return "allow unprivileged user namespaces (in a container: a seccomp profile that permits unshare)"


def refusal_message(why: str) -> str:
    """The one line that says the sandbox cannot be isolated, what that leaves open, and the ways on."""
    return (
        f"the local sandbox cannot be isolated: this kernel refuses it user and mount namespaces ({why}), so "
        "commands would run on your machine as you, with your real /, /tmp and /etc writable; "
        f"{how_to_allow_namespaces(why)}, or run them there on purpose: `lambdash serve --unisolated`, or "
        f"{ENV_UNISOLATED}=1 for --local"
    )


def kill_marked_processes(marker: str, value: str, mount_namespace: str | None = None) -> None:
    """SIGKILL every process of a sandbox whose supervisor failed, stopped ones too, until none is left.

    A sandbox's processes carry ``marker=value`` in their environment, and all of
    them, even one started with an emptied environment, live in the sandbox's mount
    namespace when it has one.
    """
    import signal

    needle = f"{marker}={value}".encode() + b"\0"
    deadline = time.monotonic() + SWEEP_SECONDS
    while time.monotonic() < deadline:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                if mount_namespace is not None and os.readlink(f"/proc/{entry}/ns/mnt") == mount_namespace:
                    found.append(int(entry))
                    continue
            except OSError:
                pass
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if needle in environ.read() + b"\0":
                        found.append(int(entry))
            except OSError:
                continue
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
        time.sleep(0.01)  # the killed ones take a moment to go; what they forked meanwhile is found next time


class SandboxPool:
    """Hands out warm sandboxes, starts new ones up to the limit, and reaps idle ones."""

    def __init__(self, config: FunctionConfig, environment: dict[str, str] | None = None) -> None:
        """Raises IsolationRefused when sandboxes are to be isolated and the kernel will not have it."""
        self.config = config
        self.environment = environment or {}
        if config.isolated:
            check_isolation(config)
        self.task_root = config.task_root or stage_task_root()
        self._workdir: Path | None = None
        self.spawner = Spawner()
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

    def new_invocation(self, payload: bytes, client_context: str | None = None,
                       consumer: ChunkConsumer | None = None) -> Invocation:
        return Invocation(
            request_id=str(uuid.uuid4()), payload=payload, function_arn=self.config.arn,
            timeout=self.config.timeout, client_context=client_context, consumer=consumer,
        )

    def invoke(self, payload: bytes, client_context: str | None = None) -> InvokeOutcome:
        """Run one invocation on a warm sandbox, or a new one. Raises Throttled at the limit."""
        sandbox = self.acquire()
        return self.run(sandbox, self.new_invocation(payload, client_context))

    def run(self, sandbox: Sandbox, invocation: Invocation) -> InvokeOutcome:
        """Run an invocation on a sandbox from ``acquire``, and give the sandbox back."""
        try:
            return sandbox.invoke(invocation)
        finally:
            self._release(sandbox)

    def acquire(self) -> Sandbox:
        """A warm sandbox, or a new one; Throttled when all the allowed ones are busy."""
        with self._lock:
            if self._closed.is_set():
                raise Throttled("the local Lambda is shutting down")
            while self._idle:
                sandbox = self._idle.pop()  # the most recently used: the warmest
                if sandbox.alive:
                    self._busy.add(sandbox)
                    return sandbox
                threading.Thread(target=sandbox.kill, daemon=True).start()
            if len(self._busy) >= self.config.concurrency:
                raise Throttled(f"all {self.config.concurrency} sandboxes are busy")
            if self._workdir is None or not self._workdir.is_dir():
                # Made with the first sandbox, so a local Lambda that never ran anything leaves nothing behind.
                self._workdir = Path(tempfile.mkdtemp(prefix="lambdash-local-"))
            sandbox = Sandbox(self.config, self.task_root, self._workdir, self.environment)
            self._busy.add(sandbox)
        try:
            sandbox.start(self.spawner)
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
        # In parallel: each kill waits for its supervisor to finish.
        killers = [threading.Thread(target=sandbox.kill, daemon=True) for sandbox in sandboxes]
        for killer in killers:
            killer.start()
        for killer in killers:
            killer.join()
        self.spawner.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


def check_isolation(config: FunctionConfig) -> None:
    """IsolationRefused unless the kernel gives sandboxes their namespaces and the layers leave the runtime be."""
    why = isolation_refusal()
    if why is not None:
        raise IsolationRefused(refusal_message(why))
    if config.layers:
        if not os.path.isdir("/opt"):
            raise IsolationRefused("the layers go under /opt, and this machine has no /opt to lay them over")
        for directory in runtime_directories(config):
            if directory == "/opt" or directory.startswith("/opt/"):
                raise IsolationRefused(f"the layers replace /opt, where the runtime's interpreter is ({directory}); "
                                       "run lambdash from a Python installed elsewhere")


def stage_task_root(parent: Path | None = None) -> Path:
    """A task root holding the installed handler package, laid out as a deploy zip holds it.

    The exec wrapper is made executable by name, as the deploy zip makes it; the rest
    is 0644 whatever the installed file's mode.
    """
    return stage_tree("task", handler_files(), parent, mode_of=handler_mode)


def handler_files() -> dict[str, Path]:
    """The installed handler package's files, by their path in a task root (under ``lambdash_handler/``)."""
    import lambdash_handler

    source = lambdash_handler.package_root()
    return {f"{PACKAGE_NAME}/{path.relative_to(source).as_posix()}": path
            for path in lambdash_handler.package_files(source)}


def handler_mode(name: str) -> int:
    """The mode of the handler's file ``name`` in a task root: 0755 for the exec wrapper, else 0644."""
    return 0o755 if name == f"{PACKAGE_NAME}/{EXEC_WRAPPER_NAME}" else 0o644


def stage_tree(kind: str, files: Mapping[str, Path], parent: Path | None = None, *,
               mode_of: Callable[[str], int | None] = lambda name: None) -> Path:
    """A directory holding ``files`` (their path in it -> the file to copy), named after its content.

    Every local Lambda staging the same content stages it once, and an unisolated
    sandbox sees the same LAMBDA_TASK_ROOT on every run. ``mode_of`` gives a file's
    mode, or None to keep the source's. Everything is readable by anyone, as Lambda
    wants a function's code, so a sandbox's uid reads it at /var/task.
    """
    digest = hashlib.sha256()
    for name, path in sorted(files.items()):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    parent = parent or Path(tempfile.gettempdir())
    root = parent / f"lambdash-{kind}-{os.getuid()}-{digest.hexdigest()[:16]}"
    if not root.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=f"lambdash-{kind}-", dir=parent))
        for name, path in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            mode = mode_of(name)
            target.chmod(mode if mode is not None else (path.stat().st_mode & 0o777) | 0o444)
        for directory in [staging, *(path for path in staging.rglob("*") if path.is_dir())]:
            directory.chmod(0o755)  # mkdtemp (or a private umask) made it private
        try:
            os.rename(staging, root)
        except OSError:  # another local Lambda staged the same content first
            shutil.rmtree(staging, ignore_errors=True)
    elif root.stat().st_mode & 0o777 != 0o755 and root.stat().st_uid == os.getuid():
        root.chmod(0o755)  # staged by an earlier lambdash, private
    return root


def encode_log_tail(log: bytes) -> str:
    """The X-Amz-Log-Result header: the last 4 KB of the log, base64."""
    return base64.b64encode(log[-LOG_TAIL_BYTES:]).decode("ascii")
