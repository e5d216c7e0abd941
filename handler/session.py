"""A session: a command that reads what the client sends while it runs.

``SessionChannel.open`` makes the session's uplink, an SQS FIFO queue named
``lambdash-session-...`` (tagged with its creation time), and the credentials the
client sends with: the session role (``LAMBDASH_SESSION_ROLE``) assumed with an
inline session policy that allows ``sqs:SendMessage`` on that one queue, so a user
who may only invoke the function can open a session. Both go to the client in the
stream's first record. ``run`` then runs the command with a stdin it feeds from
the queue (long polling, in a thread), and its output streamed as usual; input
chunks, EOF, window sizes and signals arrive in order (see ``contract.session``).
``close`` deletes the queue; the queues of sessions that never closed are swept
by age from time to time.

With a terminal (``tty``) the command gets a pseudo-terminal where the sandbox can
open one; on Lambda it cannot, and ``line_discipline`` stands in for the kernel's.
A session lasts at most the command's time limit (the function's deadline).
Nothing here raises past ``open``: a queue that disappears, or that cannot be read,
ends the command and is told in the result's ``session.error``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from .contract.records import SESSION
from .contract.session import (
    CREATED_TAG,
    CREDENTIAL_SECONDS,
    ENV_SESSION_ROLE,
    MESSAGE_GROUP,
    OPEN,
    QUEUE_PREFIX,
    STALE_QUEUE_SECONDS,
    BadMessage,
    EndOfInput,
    Event,
    Input,
    Signal,
    WindowSize,
    decode_message,
)
from .line_discipline import EndOfInput as EndOfLines
from .line_discipline import Interrupt, Line, LineDiscipline
from .request import InvalidRequest, SessionSettings
from .runner import CommandResult, Spool, _Launch, _open_pidfd, _read_some, _Timekeeper, kill_group
from .streaming import StreamedOutput

# The handler's calls to SQS and STS give up this soon: a function in a VPC with no route to them
# must hear so in seconds (the open fails), not at its deadline.
CONNECT_TIMEOUT_SECONDS = 2.0
# Each long poll waits at most this long for input; a queue deleted meanwhile is noticed by the next.
RECEIVE_WAIT_SECONDS = 5
READ_TIMEOUT_SECONDS = RECEIVE_WAIT_SECONDS + 10.0
# This many failed receives in a row (not counting a deleted queue, which ends at once) end the session.
MAX_RECEIVE_FAILURES = 5
# Input received but not yet read by the command is held up to this much; past it, receiving waits.
MAX_PENDING_INPUT_BYTES = 8 * 1024 * 1024
# Stale queues are looked for at most this often per sandbox.
SWEEP_INTERVAL_SECONDS = 600.0
# At most this many queues are looked at by one sweep.
SWEEP_MAX_QUEUES = 1000
READ_CHUNK_BYTES = 64 * 1024
_SIGNALS = {"INT": signal.SIGINT, "QUIT": signal.SIGQUIT, "TERM": signal.SIGTERM, "HUP": signal.SIGHUP,
            "KILL": signal.SIGKILL, "WINCH": signal.SIGWINCH}
_QUEUE_GONE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError"})

# Makes the boto3 client of a service ("sqs", "sts"); tests pass their own.
ClientFactory = Callable[[str], Any]
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
_last_sweep = [0.0]


def default_client(service: str) -> Any:
    """The sandbox's client for ``service``, made once (making one costs more than a call)."""
    with _clients_lock:
        if service not in _clients:
            import boto3
            import botocore.session
            from botocore.config import Config

            core = botocore.session.get_session()
            # The regional STS endpoint: the one a VPC endpoint serves.
            core.set_config_variable("sts_regional_endpoints", "regional")
            session = boto3.session.Session(botocore_session=core)
            _clients[service] = session.client(service, config=Config(
                connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                retries={"total_max_attempts": 2}, max_pool_connections=4))
        return _clients[service]


class SessionChannel:
    """One session's queue and credentials, and the command that reads them."""

    def __init__(self, settings: SessionSettings, sqs: Any, queue_url: str, queue_name: str, endpoint: str,
                 region: str) -> None:
        self.settings = settings
        self.output: StreamedOutput | None = None
        self.sqs = sqs
        self.endpoint = endpoint
        self.region = region
        self.credentials: dict[str, str] | None = None
        self.queue_url = queue_url
        self.queue_name = queue_name
        self.error: str | None = None
        self.pty = False
        self.messages = 0
        self.input_bytes = 0
        self.open_ms = 0.0
        self._last_sequence = 0
        self._closed = threading.Event()
        self._inbox: list[Event] = []
        self._pending = 0
        self._condition = threading.Condition()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    # --- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: SessionSettings, *, environ: Mapping[str, str], function_name: str,
             clients: ClientFactory = default_client) -> SessionChannel:
        """Make the queue and the credentials (``announce`` tells the client).

        InvalidRequest, with nothing left behind, when SQS or STS cannot be reached or refuse.
        """
        started = time.monotonic()
        sqs = clients("sqs")
        endpoint = str(sqs.meta.endpoint_url)
        region = str(sqs.meta.region_name)
        name = f"{QUEUE_PREFIX}{int(time.time())}-{secrets.token_hex(6)}.fifo"
        # The credentials are asked for while the queue is made: the policy names the queue by name, not URL.
        credentials: list[dict[str, str] | None] = []
        refusal: list[InvalidRequest] = []

        def hand_out() -> None:
            try:
                credentials.append(_credentials(clients, environ, name, region))
            except InvalidRequest as problem:
                refusal.append(problem)

        asking = threading.Thread(target=hand_out, name="session-credentials", daemon=True)
        asking.start()
        try:
            created = sqs.create_queue(QueueName=name, Attributes={
                "FifoQueue": "true", "MessageRetentionPeriod": str(STALE_QUEUE_SECONDS), "VisibilityTimeout": "60",
            }, tags={CREATED_TAG: str(int(time.time())), "lambdash:function": function_name or "unknown"})
        except Exception as problem:
            asking.join()
            raise _unavailable("SQS", endpoint, region, problem, f"sqs:CreateQueue on {QUEUE_PREFIX}*") from None
        channel = cls(settings, sqs, str(created["QueueUrl"]), name, endpoint, region)
        asking.join()
        if refusal:
            channel.close()
            raise refusal[0]
        channel.credentials = credentials[0]
        channel.open_ms = round((time.monotonic() - started) * 1000, 3)
        _sweep_now_and_then(sqs, name)
        return channel

    def announce(self, output: StreamedOutput, limit_seconds: float) -> None:
        """The stream's first record: where the client sends input, with which credentials, and for how long."""
        self.output = output
        output.send_record(SESSION, json.dumps({
            "event": OPEN, "queue_url": self.queue_url, "endpoint": self.endpoint, "region": self.region,
            "message_group": MESSAGE_GROUP, "credentials": self.credentials, "seconds": round(limit_seconds, 3),
        }).encode())

    # --- the uplink ----------------------------------------------------------------------------

    def _receive_forever(self) -> None:
        """Long-poll the queue and hand each message's events to the command's loop, until closed."""
        failures = 0
        while not self._closed.is_set():
            with self._condition:
                while self._pending > MAX_PENDING_INPUT_BYTES and not self._closed.is_set():
                    self._condition.wait(0.5)
            try:
                answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                  WaitTimeSeconds=RECEIVE_WAIT_SECONDS)
            except Exception as problem:
                if self._closed.is_set():
                    return
                failures += 1
                if _error_code(problem) in _QUEUE_GONE:
                    self._fail(f"the session's queue {self.queue_name} was deleted; input can no longer reach "
                               "the command, so it was stopped")
                    return
                if failures >= MAX_RECEIVE_FAILURES:
                    self._fail(f"the session's queue {self.queue_name} cannot be read ({_first_line(problem)}); "
                               "the command was stopped")
                    return
                time.sleep(min(1.0, 0.1 * 2 ** failures))
                continue
            failures = 0
            messages = answer.get("Messages") or []
            if not messages:
                continue
            for message in messages:
                self._take(message.get("Body", ""))
            try:
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)])
            except Exception:  # FIFO order holds the next ones back until these go: a failure shows in the log
                traceback.print_exc(file=sys.stderr)

    def _take(self, body: str) -> None:
        try:
            sequence, events = decode_message(body)
        except BadMessage as problem:
            print(f"lambdash session: a message was dropped: {problem}", file=sys.stderr, flush=True)
            return
        if sequence <= self._last_sequence:
            return  # delivered already
        self._last_sequence = sequence
        self.messages += 1
        with self._condition:
            self._inbox.extend(events)
            self._pending += sum(len(event.data) for event in events if isinstance(event, Input))
        self._wake()

    def _fail(self, message: str) -> None:
        self.error = message
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b".")
        except (BlockingIOError, OSError):
            pass

    def _drain_inbox(self) -> list[Event]:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        with self._condition:
            events, self._inbox = self._inbox, []
        return events

    def _consumed(self, size: int) -> None:
        with self._condition:
            self._pending -= size
            self._condition.notify_all()

    # --- the command ---------------------------------------------------------------------------

    def run(self, command: str, *, spool: Spool, shell_path: str, cwd: str | None, base_env: Mapping[str, str],
            env_overlay: Mapping[str, str | None], timeout: float, heartbeat: float) -> CommandResult:
        """Run ``command`` reading the session's input; its output goes to the stream as it is written."""
        overlay = dict(env_overlay)
        settings = self.settings
        terminal = _open_terminal(settings) if settings.tty else None
        self.pty = terminal is not None
        if settings.tty:
            overlay.update({"TERM": settings.term or "xterm"})
            if settings.rows and settings.columns and terminal is None:
                # Without a terminal to ask, programs read the size from these (a pty carries it, kept current).
                overlay.update({"LINES": str(settings.rows), "COLUMNS": str(settings.columns)})
        launch = _Launch(command, spool, shell_path, base_env, overlay, False)
        threading.Thread(target=self._receive_forever, name="session-uplink", daemon=True).start()
        if terminal is not None:
            command_io: _CommandIO = _PtyIO(launch, terminal, cwd)
        else:
            command_io = _PipeIO(launch, cwd)
        discipline = LineDiscipline() if settings.tty and terminal is None else None
        assert self.output is not None, "announce the session before running its command"
        loop = _SessionLoop(self, self.output, command_io, discipline, timeout, heartbeat)
        return loop.run(launch)

    def report(self) -> dict[str, Any]:
        """What the result says of the session."""
        report: dict[str, Any] = {"queue": self.queue_name, "messages": self.messages,
                                  "input_bytes": self.input_bytes, "pty": self.pty, "open_ms": self.open_ms}
        if self.error:
            report["error"] = self.error
        return report

    def close(self) -> None:
        """Delete the queue (the receiving thread stops at its next answer)."""
        self._closed.set()
        with self._condition:
            self._condition.notify_all()
        try:
            self.sqs.delete_queue(QueueUrl=self.queue_url)
        except Exception as problem:
            if _error_code(problem) not in _QUEUE_GONE:  # swept later
                print(f"lambdash session: the queue {self.queue_name} could not be deleted: "
                      f"{_first_line(problem)}", file=sys.stderr, flush=True)
        for descriptor in (self._wake_read, self._wake_write):
            try:
                os.close(descriptor)
            except OSError:
                pass


class _CommandIO:
    """The command's end of the session: where input goes, and where output comes from."""

    readers: dict[int, str]
    writer: int | None
    process: subprocess.Popen[bytes]

    def write(self, data: bytes) -> int:
        assert self.writer is not None
        return os.write(self.writer, data)

    def end_input(self) -> None:
        raise NotImplementedError

    def foreground_group(self) -> int:
        return self.process.pid

    def resize(self, rows: int, columns: int) -> None:
        """A pipe has no window; only a terminal tells its program (SIGWINCH)."""

    def close(self) -> None:
        for descriptor in [*self.readers, *([self.writer] if self.writer is not None else [])]:
            try:
                os.close(descriptor)
            except OSError:
                pass


class _PipeIO(_CommandIO):
    def __init__(self, launch: _Launch, cwd: str | None) -> None:
        in_read, in_write = os.pipe()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            self.process = launch.start(in_read, out_write, err_write, cwd)
        finally:
            for descriptor in (in_read, out_write, err_write):
                os.close(descriptor)
        self.readers = {out_read: "stdout", err_read: "stderr"}
        self.writer = in_write
        for descriptor in (out_read, err_read, in_write):
            os.set_blocking(descriptor, False)

    def end_input(self) -> None:
        if self.writer is not None:
            os.close(self.writer)
            self.writer = None


class _PtyIO(_CommandIO):
    def __init__(self, launch: _Launch, terminal: tuple[int, int], cwd: str | None) -> None:
        master, slave = terminal
        launch.started = time.monotonic()
        try:
            # Its own session, with the terminal as its controlling terminal: the kernel's line
            # discipline then turns Ctrl-C into SIGINT for whatever runs in the foreground.
            self.process = subprocess.Popen(
                launch.argv, executable=launch.shell_path, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                env=launch.env, start_new_session=True, close_fds=True, preexec_fn=_take_controlling_terminal)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.master = master
        self.readers = {master: "stdout"}
        self.writer = master
        os.set_blocking(master, False)

    def end_input(self) -> None:
        # What Ctrl-D does at the start of a line: the reader gets end-of-file.
        try:
            os.write(self.master, b"\x04")
        except OSError:
            pass

    def foreground_group(self) -> int:
        try:
            return os.tcgetpgrp(self.master)
        except OSError:
            return self.process.pid

    def resize(self, rows: int, columns: int) -> None:
        _set_window(self.master, rows, columns)

    def close(self) -> None:
        try:
            os.close(self.master)
        except OSError:
            pass


class _SessionLoop:
    """The command's loop: its output to the stream, the session's events to its input, until it ends."""

    def __init__(self, channel: SessionChannel, output: StreamedOutput, command_io: _CommandIO,
                 discipline: LineDiscipline | None, timeout: float, heartbeat: float) -> None:
        self.channel = channel
        self.output = output
        self.io = command_io
        self.discipline = discipline
        self.timeout = timeout
        self.heartbeat = heartbeat
        self.pending = bytearray()
        self.end_requested = False
        self.poller = select.poll()
        # What is watched on each descriptor: a terminal's one descriptor is read and written.
        self.masks: dict[int, int] = {}

    def run(self, launch: _Launch) -> CommandResult:
        """Serve the command until it ends, then send what it left in its pipes."""
        process = self.io.process
        pidfd = _open_pidfd(process.pid)
        for descriptor in self.io.readers:
            self._watch(descriptor, select.POLLIN, True)
        if pidfd is not None:
            self._watch(pidfd, select.POLLIN, True)
        self._watch(self.channel._wake_read, select.POLLIN, True)
        timekeeper = _Timekeeper(launch.started + self.timeout, self.heartbeat, self.output, pidfd)
        try:
            returncode, timed_out = self._until_end(pidfd, timekeeper)
            duration = time.monotonic() - launch.started
            kill_group(process.pid)
            for descriptor in list(self.io.readers):
                while self._read(descriptor):
                    pass
        finally:
            if pidfd is not None:
                os.close(pidfd)
            self.io.close()
        return launch.result(returncode, timed_out, duration, None, None)

    def _until_end(self, pidfd: int | None, timekeeper: _Timekeeper) -> tuple[int, bool]:
        """Its exit status once the command ends, and whether its deadline came first.

        At its deadline, or when the session's queue fails (``channel.error``), its
        process group is killed.
        """
        process = self.io.process
        returncode: int | None = None
        while returncode is None:
            now = time.monotonic()
            if timekeeper.expired(now):
                kill_group(process.pid)
                return process.wait(), True
            if self.channel.error is not None:
                kill_group(process.pid)
                return process.wait(), False
            returncode = self._serve(self.poller.poll(timekeeper.wait_ms(now)), pidfd, timekeeper)
            if pidfd is None and returncode is None:
                returncode = process.poll()
            timekeeper.beat_if_silent()
        return returncode, False

    def _serve(self, ready: list[tuple[int, int]], pidfd: int | None, timekeeper: _Timekeeper) -> int | None:
        """Do what poll found ready: the session's events in, input to the command, its output out.

        The command's exit status when it exited, else None.
        """
        returncode: int | None = None
        for descriptor, flags in ready:
            if descriptor == pidfd:
                returncode = self.io.process.wait()
            elif descriptor == self.channel._wake_read:
                self._apply(self.channel._drain_inbox())
                continue
            if descriptor == self.io.writer and flags & select.POLLOUT:
                self._write_pending()
            if descriptor in self.io.readers and flags & ~select.POLLOUT and self._read(descriptor):
                timekeeper.output_sent()
        return returncode

    def _read(self, descriptor: int) -> bool:
        """Send what the command wrote there; False at its end (or when it holds nothing now)."""
        try:
            data = _read_some(descriptor, READ_CHUNK_BYTES)
        except OSError as problem:  # a terminal whose every program is gone answers EIO
            if problem.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._watch(descriptor, select.POLLIN, False)
            return False
        if self.discipline is not None:
            data = self.discipline.output(data)
        self.output(self.io.readers[descriptor], data)
        return True

    def _apply(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Input):
                self.channel.input_bytes += len(event.data)
                self.channel._consumed(len(event.data))
                self._input(event.data)
            elif isinstance(event, EndOfInput):
                self.end_requested = True
            elif isinstance(event, WindowSize):
                self.io.resize(event.rows, event.columns)
            elif isinstance(event, Signal):
                self._signal(_SIGNALS[event.name])
        self._write_pending()

    def _input(self, data: bytes) -> None:
        if self.discipline is None:
            self.pending += data
            return
        actions, echo = self.discipline.keys(data)
        if echo:
            self.output("stdout", echo)
        for action in actions:
            if isinstance(action, Line):
                self.pending += action.data
            elif isinstance(action, Interrupt):
                self.pending.clear()
                self._signal(action.signal)
            elif isinstance(action, EndOfLines):
                self.end_requested = True

    def _signal(self, number: int) -> None:
        try:
            os.killpg(self.io.foreground_group(), number)
        except (ProcessLookupError, PermissionError):
            pass

    def _write_pending(self) -> None:
        """Write what the command can take now; the rest waits for its pipe to have room."""
        writer = self.io.writer
        if writer is None:
            self.pending.clear()
            return
        while self.pending:
            try:
                written = self.io.write(bytes(self.pending[:READ_CHUNK_BYTES]))
            except BlockingIOError:
                break
            except OSError:  # the command closed its stdin: what it did not read is dropped, as a pipe drops it
                self.pending.clear()
                self._unwatch_writer()
                self.io.end_input()
                return
            del self.pending[:written]
        if self.pending:
            self._watch(writer, select.POLLOUT, True)
            return
        self._unwatch_writer()
        if self.end_requested:
            self.end_requested = False
            self.io.end_input()

    def _unwatch_writer(self) -> None:
        if self.io.writer is not None:
            self._watch(self.io.writer, select.POLLOUT, False)

    def _watch(self, descriptor: int, event: int, on: bool) -> None:
        """Watch ``descriptor`` for ``event`` (or stop), keeping what else it is watched for."""
        old = self.masks.get(descriptor, 0)
        new = old | event if on else old & ~event
        if new == old:
            return
        if new:
            self.poller.register(descriptor, new)
            self.masks[descriptor] = new
        else:
            self.poller.unregister(descriptor)
            del self.masks[descriptor]


def _open_terminal(settings: SessionSettings) -> tuple[int, int] | None:
    """A pseudo-terminal (master, slave) of the session's size, or None where the sandbox has none."""
    try:
        master, slave = os.openpty()
    except OSError:
        return None
    if settings.rows and settings.columns:
        _set_window(slave, settings.rows, settings.columns)
    return master, slave


def _set_window(descriptor: int, rows: int, columns: int) -> None:
    try:
        fcntl.ioctl(descriptor, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    except OSError:
        pass


def _take_controlling_terminal() -> None:  # pragma: no cover - runs in the child, between fork and exec
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _credentials(clients: ClientFactory, environ: Mapping[str, str], queue: str,
                 region: str) -> dict[str, str] | None:
    """Credentials that may only send to the queue ``queue``; None when no session role is configured.

    Without one the client sends with its own credentials (an older deployment).
    """
    role = environ.get(ENV_SESSION_ROLE)
    if not role:
        return None
    sts = clients("sts")
    try:
        answer = sts.assume_role(RoleArn=role, RoleSessionName=queue.removesuffix(".fifo")[:64],
                                 DurationSeconds=CREDENTIAL_SECONDS,
                                 Policy=json.dumps(session_policy(session_queue_arn(queue, region))))
    except Exception as problem:
        raise _unavailable("STS", str(sts.meta.endpoint_url), region, problem, f"sts:AssumeRole on {role}") from None
    given = answer["Credentials"]
    return {"access_key_id": given["AccessKeyId"], "secret_access_key": given["SecretAccessKey"],
            "session_token": given["SessionToken"], "expiration": str(given["Expiration"])}


def session_policy(queue_arn: str) -> dict[str, Any]:
    """The inline session policy of the handed-out credentials: send to this one queue, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "SendToThisSession", "Effect": "Allow", "Action": "sqs:SendMessage",
                       "Resource": queue_arn}],
    }


def session_queue_arn(queue: str, region: str) -> str:
    """The ARN the session policy names the queue by, known before the queue is made.

    The account is a wildcard: the session role may only send to its own account's
    session queues, so the two policies together allow exactly this account's queue
    of that (random, unique) name.
    """
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:sqs:{region}:*:{queue}"


def _unavailable(service: str, endpoint: str, region: str, problem: Exception, permission: str) -> InvalidRequest:
    """Why a session cannot open, as one line that says what to do."""
    import botocore.exceptions

    code = _error_code(problem)
    if isinstance(problem, (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.EndpointConnectionError)):
        return InvalidRequest(
            f"the function cannot reach {service} ({endpoint}): {_first_line(problem)}. A function in a VPC needs "
            f"VPC endpoints for SQS and STS (com.amazonaws.{region}.sqs, com.amazonaws.{region}.sts) or a NAT "
            "gateway; `lambdash probe aws:sqs aws:sts` checks the route", code="session_unreachable")
    if code in _ACCESS_DENIED:
        return InvalidRequest(
            f"the function's role may not open a session ({permission} was refused: {_first_line(problem)}); "
            "`lambdash deploy` grants it", code="session_denied")
    return InvalidRequest(f"{service} refused to open the session: {_first_line(problem)}",
                          code="session_unavailable")


def _sweep_now_and_then(sqs: Any, current: str) -> None:
    """Delete, in the background, session queues older than any session can be (at most every 10 minutes)."""
    now = time.monotonic()
    if now - _last_sweep[0] < SWEEP_INTERVAL_SECONDS:
        return
    _last_sweep[0] = now

    def sweep() -> None:
        try:
            swept = sweep_stale_queues(sqs, time.time(), keep=current)
        except Exception as problem:
            print(f"lambdash session: the sweep of stale queues failed: {_first_line(problem)}", file=sys.stderr,
                  flush=True)
            return
        if swept:
            print(json.dumps({"lambdash": "session-sweep", "deleted": swept}), flush=True)

    threading.Thread(target=sweep, name="session-sweep", daemon=True).start()


def sweep_stale_queues(sqs: Any, now: float, *, keep: str = "") -> list[str]:
    """Delete the session queues created more than ``STALE_QUEUE_SECONDS`` before ``now``; their names."""
    listed = sqs.list_queues(QueueNamePrefix=QUEUE_PREFIX, MaxResults=SWEEP_MAX_QUEUES)
    swept = []
    for url in listed.get("QueueUrls") or []:
        name = url.rsplit("/", 1)[-1]
        if name == keep:
            continue
        try:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["CreatedTimestamp"])["Attributes"]
            if now - float(attributes["CreatedTimestamp"]) > STALE_QUEUE_SECONDS:
                sqs.delete_queue(QueueUrl=url)
                swept.append(name)
        except Exception as problem:
            if _error_code(problem) not in _QUEUE_GONE:
                raise
    return swept


def _error_code(problem: Exception) -> str:
    response = getattr(problem, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _first_line(problem: Exception) -> str:
    text = str(problem).strip()
    return text.splitlines()[0] if text else type(problem).__name__

