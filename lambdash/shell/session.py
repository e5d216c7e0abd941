"""A session on a target: a command that reads what you send while it runs.

``InteractiveSession`` opens one streamed invocation with a ``session`` request.
The handler's first record (see ``contract.session``) says where the session's
queue is and hands out credentials that may only send to it; input, EOF, window
sizes and signals then go up that queue (``Uplink``, through
``lambdash.aws.uplink``), while the output comes down the stream as a one-shot's
does, ending with the result. What feeds the input (a pipe, a terminal, the
REPL's prompt) is the caller's: see ``relay`` and ``lambdash.repl.interactive``.

A session lasts at most its time limit (the function's timeout): the caller is
told in one line when the end is near and when it came.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdash.errors import LambdashError, RequestRefused, TransportError
from lambdash.shell.remote import (
    LiveOutput,
    RemoteResult,
    RemoteShell,
    function_failure,
    refuses_unknown_field,
    result_of,
)
from lambdash_handler.contract import PROTOCOL_VERSION
from lambdash_handler.contract.records import RESULT, SESSION, STDERR, STDOUT, NotFramed, RecordReader
from lambdash_handler.contract.session import (
    MAX_INPUT_PER_MESSAGE_BYTES,
    OPEN,
    EndOfInput,
    Event,
    Input,
    Signal,
    WindowSize,
    encode_message,
)

if TYPE_CHECKING:
    from lambdash.aws.invoke import StreamedInvoke
    from lambdash.aws.uplink import QueueSender, UplinkAddress
    from lambdash.config import Target

# How long before its end a session says it is about to end (at most half of its whole length).
NEAR_END_SECONDS = 30.0
# Input waiting to go up is held to this much; past it, whoever feeds the session waits (memory stays flat).
MAX_QUEUED_INPUT_BYTES = 1024 * 1024
# After input could not be sent, the handler notices within its long poll; the stream is given this long to end.
UPLINK_FAILURE_GRACE_SECONDS = 20.0
# The handler's code for a shell the sandbox does not have (handler/app.py).
_MISSING_SHELL = "shell_missing"
# A send that failed is told only if the session has not ended this long after.
UPLINK_QUIET_SECONDS = 3.0
# Signals that flush what was typed but not yet sent, as a terminal flushes its queue on Ctrl-C.
_FLUSHING_SIGNALS = frozenset({"INT", "QUIT"})

Notice = Callable[[str], None]


@dataclass(frozen=True)
class TerminalSettings:
    """The terminal a session's command gets: raw keystrokes (``tty``), its size and TERM."""

    tty: bool = False
    rows: int | None = None
    columns: int | None = None
    term: str | None = None

    def to_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"tty": self.tty}
        if self.rows and self.columns:
            request.update(rows=self.rows, columns=self.columns)
        if self.term:
            request["term"] = self.term
        return request


class SessionUnavailable(LambdashError):
    """The target cannot hold a session (no streaming, an old handler, no route to SQS)."""


class Uplink:
    """Sends a session's events in order, coalesced into as few messages as fit, from a thread of its own."""

    def __init__(self, make_sender: Callable[[], QueueSender], on_failure: Callable[[LambdashError], None]) -> None:
        """``make_sender`` is called in the uplink's own thread: making an SQS client takes a while."""
        self._make_sender = make_sender
        self._sender: QueueSender | None = None
        self._on_failure = on_failure
        self._events: collections.deque[Event] = collections.deque()
        self._queued = 0
        self._condition = threading.Condition()
        self._closing = False
        self.failed: LambdashError | None = None
        self.sequence = 0
        self.sent_messages = 0
        self._thread = threading.Thread(target=self._run, name="session-uplink", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        """Queue one event; waits while much input is already waiting to go."""
        with self._condition:
            if isinstance(event, Signal) and event.name in _FLUSHING_SIGNALS:
                kept = [queued for queued in self._events if not isinstance(queued, Input)]
                self._events = collections.deque(kept)
                self._queued = 0
            while (isinstance(event, Input) and self._queued > MAX_QUEUED_INPUT_BYTES and self.failed is None
                   and not self._closing):
                self._condition.wait(0.5)
            if self.failed is not None or self._closing:
                return
            self._events.append(event)
            if isinstance(event, Input):
                self._queued += len(event.data)
            self._condition.notify_all()

    def _take(self) -> list[Event] | None:
        """The next message's events: as many as fit, adjacent input joined; None once closed and empty."""
        with self._condition:
            while not self._events and not self._closing:
                self._condition.wait()
            if not self._events:
                return None
            events: list[Event] = []
            room = MAX_INPUT_PER_MESSAGE_BYTES
            while self._events:
                event = self._events[0]
                if isinstance(event, Input):
                    if room <= 0:
                        break
                    piece = event.data[:room]
                    if len(piece) < len(event.data):
                        self._events[0] = Input(event.data[len(piece):])
                    else:
                        self._events.popleft()
                    self._queued -= len(piece)
                    room -= len(piece)
                    if events and isinstance(events[-1], Input):
                        events[-1] = Input(events[-1].data + piece)
                    else:
                        events.append(Input(piece))
                else:
                    self._events.popleft()
                    events.append(event)
                    room -= 64
            self._condition.notify_all()
            return events

    def _run(self) -> None:
        while (events := self._take()) is not None:
            self.sequence += 1
            try:
                if self._sender is None:
                    self._sender = self._make_sender()
                self._sender.send(self.sequence, encode_message(self.sequence, events))
            except LambdashError as problem:
                with self._condition:
                    self.failed = problem
                    self._events.clear()
                    self._condition.notify_all()
                self._on_failure(problem)
                return
            except Exception as problem:  # never a traceback from a background thread
                with self._condition:
                    self.failed = TransportError(f"input could not be sent: {type(problem).__name__}: {problem}")
                    self._condition.notify_all()
                self._on_failure(self.failed)
                return
            self.sent_messages += 1

    def close(self) -> None:
        """Stop once what is queued has gone (the thread is a daemon: nothing waits for a stuck send)."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()


class InteractiveSession:
    """One command with its input relayed while it runs. ``open``, feed it, then ``wait`` for the result."""

    def __init__(self, shell: RemoteShell, target: Target, command: str, *, live: LiveOutput,
                 terminal: TerminalSettings | None = None, cwd: str | None = None,
                 env: Mapping[str, str | None] | None = None, timeout: float | None = None,
                 shell_name: str = "bash", require_shell: bool = False, notice: Notice | None = None,
                 on_throttle: Callable[[int, float], None] | None = None,
                 make_sender: Callable[[UplinkAddress, Target], QueueSender] | None = None) -> None:
        self.shell = shell
        self.target = target
        self.command = command
        self.live = live
        self.terminal = terminal or TerminalSettings()
        self.notice = notice or (lambda text: None)
        self.cwd, self.env, self.timeout, self.shell_name = cwd, env, timeout, shell_name
        self.require_shell = require_shell
        self.on_throttle = on_throttle
        self._make_sender = make_sender
        self.uplink: Uplink | None = None
        self.seconds: float | None = None
        self.opened_at: float | None = None
        self.open_seconds: float | None = None
        self._stream: StreamedInvoke | None = None
        self._opened = threading.Event()
        self._ended = threading.Event()
        self._result: RemoteResult | None = None
        self._error: BaseException | None = None
        self._uplink_failed_at: float | None = None
        self._timer: threading.Timer | None = None
        # Called (from the stream's thread) once the session has ended.
        self.on_end: Callable[[], None] | None = None
        self._closed = False
        # What was sent before the session opened (a signal to end it, say), delivered once it has.
        self._early: list[Event] = []
        self._uplink_lock = threading.Lock()

    # --- opening -------------------------------------------------------------------------------

    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"v": PROTOCOL_VERSION, "command": self.command, "stream": True,
                                   "session": self.terminal.to_request()}
        if self.shell_name != "sh":
            request["shell"] = self.shell_name
        if self.timeout is not None:
            request["timeout"] = self.timeout
        if self.cwd is not None:
            request["cwd"] = self.cwd
        if self.env:
            request["env"] = dict(self.env)
        if self.shell.bucket:
            request["output"] = {"bucket": self.shell.bucket}
        return request

    def open(self) -> None:
        """Invoke, and return once the session is open (input can go); its refusal or failure raises.

        A session prefers bash (``shell_name`` "bash" unless ``require_shell``): where the
        sandbox has none, the handler refuses before making anything, and sh is used.
        """
        try:
            self._open()
        except RequestRefused as refusal:
            if refusal.code != _MISSING_SHELL or self.shell_name != "bash" or self.require_shell:
                raise
            self.shell_name = "sh"
            self._reset()
            self._open()

    def _reset(self) -> None:
        self._opened.clear()
        self._ended.clear()
        self._result = self._error = None
        self.uplink = None

    def _open(self) -> None:
        from lambdash.aws.invoke import StreamingUnavailable
        from lambdash.aws.uplink import prepare

        started = time.monotonic()
        if self._make_sender is None:
            threading.Thread(target=prepare, name="session-prepare", daemon=True).start()
        try:
            self._stream = self.shell.client.invoke_streaming(json.dumps(self.request()).encode(),
                                                              on_throttle=self.on_throttle)
        except StreamingUnavailable:
            raise SessionUnavailable(f"{self.target.label} cannot stream responses (InvokeWithResponseStream), and "
                                     "a session needs it") from None
        threading.Thread(target=self._read_stream, name="session-downlink", daemon=True).start()
        while not self._opened.wait(0.1):
            if self._ended.is_set():
                break
        if not self._opened.is_set():
            self.wait()  # the handler answered without opening: its refusal or failure raises here
            raise TransportError("the function ended the session before it opened")
        self.open_seconds = time.monotonic() - started

    def _read_stream(self) -> None:
        assert self._stream is not None
        reader = RecordReader()
        response: dict[str, Any] | None = None
        unframed: bytearray | None = None
        try:
            for chunk in self._stream.chunks():
                if unframed is not None:
                    unframed += chunk
                    continue
                try:
                    for kind, payload in reader.feed(chunk):
                        if self._closed:
                            if kind == SESSION and self.uplink is None:
                                # Closed while it opened: what was sent meanwhile (a signal to end it) still goes.
                                self._session_record(json.loads(payload))
                            self._error = TransportError("the session was closed before its command ended")
                            return
                        response = self._record(kind, payload) or response
                except NotFramed:
                    unframed = reader.unframed
            self._result = self._finish(response, unframed)
        except BaseException as problem:  # given to whoever waits
            self._error = problem
        finally:
            if self._timer is not None:
                self._timer.cancel()
            if self.uplink is not None:
                self.uplink.close()
            if self._closed:  # closed before its stream was there to close
                with contextlib.suppress(Exception):
                    self._stream.close()
            self._ended.set()
            if self.on_end is not None:
                self.on_end()

    def _record(self, kind: bytes, payload: bytes) -> dict[str, Any] | None:
        """Show output, open the uplink on the session's record; the result record's document, else None."""
        if kind == STDOUT:
            self.live.write("stdout", payload)
        elif kind == STDERR:
            self.live.write("stderr", payload)
        elif kind == SESSION:
            self._session_record(json.loads(payload))
        elif kind == RESULT:
            response: dict[str, Any] = json.loads(payload)
            return response
        return None

    def _session_record(self, record: dict[str, Any]) -> None:
        if record.get("event") != OPEN or self.uplink is not None:
            return
        from lambdash.aws.uplink import QueueSender, UplinkAddress, refuse_beyond_this_machine

        address = UplinkAddress.from_record(record)
        refuse_beyond_this_machine(address, self.target)
        make = self._make_sender or QueueSender
        with self._uplink_lock:
            self.uplink = Uplink(lambda: make(address, self.target), self._uplink_failed)
            for event in self._early:
                self.uplink.put(event)
            self._early.clear()
        self.seconds = float(record.get("seconds") or 0) or None
        self.opened_at = time.monotonic()
        if self.seconds:
            warn_after = max(self.seconds - NEAR_END_SECONDS, self.seconds / 2)
            left = self.seconds - warn_after
            text = f"the session ends in {left:.0f} s (its time limit is {self.seconds:.0f} s)"
            self._timer = threading.Timer(warn_after, self.notice, [text])
            self._timer.daemon = True
            self._timer.start()
        self._opened.set()

    def _uplink_failed(self, problem: LambdashError) -> None:
        """Said only if the session goes on: a queue gone because the command just ended is no news."""
        self._uplink_failed_at = time.monotonic()

        def tell() -> None:
            if not self._ended.is_set():
                self.notice(f"input stopped: {problem.message}")

        timer = threading.Timer(UPLINK_QUIET_SECONDS, tell)
        timer.daemon = True
        timer.start()

    def _finish(self, response: dict[str, Any] | None, unframed: bytearray | None) -> RemoteResult:
        from lambdash.aws.invoke import InvokeResponse

        assert self._stream is not None
        stream, end = self._stream, self._stream.end
        if unframed is not None:
            raise SessionUnavailable(f"{self.target.label} answered without streaming (its handler runs without the "
                                     "streaming loop), and a session needs it")
        if end is not None and end.error_code:
            answered = InvokeResponse(payload=b"", function_error=end.error_code, log_tail=end.log_tail,
                                      request_id=stream.request_id, throttles=stream.throttles)
            raise function_failure({"errorType": end.error_code, "errorMessage": end.error_details or ""}, answered)
        if response is None:
            raise TransportError(f"the stream from {self.shell.client.function} ended before the session's result; "
                                 f"the command may still be running [request {stream.request_id}]")
        try:
            checked = self.shell.checked(InvokeResponse(payload=json.dumps(response).encode(), function_error=None,
                                                        log_tail="", request_id=stream.request_id))
        except RequestRefused as refusal:
            if refuses_unknown_field(refusal, "session"):
                raise SessionUnavailable(f"the handler of {self.shell.client.function} is too old for sessions; "
                                         "update it with `lambdash deploy`") from None
            if refusal.code.startswith("session_"):
                raise SessionUnavailable(f"cannot open a session: {refusal.message.split(': ', 1)[-1]}") from None
            raise
        return result_of(checked, stream.request_id, stream.throttles, streamed=True)

    # --- input ---------------------------------------------------------------------------------

    def send_input(self, data: bytes) -> None:
        if data:
            self._put(Input(data))

    def send_eof(self) -> None:
        self._put(EndOfInput())

    def send_signal(self, name: str) -> None:
        self._put(Signal(name))

    def send_window(self, rows: int, columns: int) -> None:
        self._put(WindowSize(rows, columns))

    def _put(self, event: Event) -> None:
        if self._ended.is_set():
            return
        with self._uplink_lock:
            if self.uplink is None:
                self._early.append(event)
                return
        self.uplink.put(event)

    # --- the end -------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def wait(self, timeout: float | None = None) -> RemoteResult | None:
        """The result once the command has ended (None if it has not within ``timeout``); failures raise."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended.wait(0.1):
            failed_at = self._uplink_failed_at
            if failed_at is not None and time.monotonic() - failed_at > UPLINK_FAILURE_GRACE_SECONDS:
                self.close()
                failed = self.uplink.failed if self.uplink is not None else None
                raise failed or TransportError("input could not be sent, and the session did not end")
            if deadline is not None and time.monotonic() >= deadline:
                return None
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def close(self) -> None:
        """Stop reading the stream (the command goes on until its input ends or its limit comes).

        Nothing more is shown. The connection is closed from a thread of its own: closing
        it waits for the stream's reader, which waits for the next record (a heartbeat
        comes every 10 s at the latest).
        """
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self.uplink is not None:
            self.uplink.close()
        if self._stream is not None and not self._ended.is_set():
            threading.Thread(target=self._stream.close, name="session-close", daemon=True).start()


def session_error(result: RemoteResult) -> str | None:
    """What went wrong with the session itself (its queue disappeared), as the handler said it; or None."""
    session = result.raw.get("session")
    if isinstance(session, dict) and session.get("error"):
        return str(session["error"])
    return None


def time_limit_note(result: RemoteResult) -> str | None:
    """The line for a session that reached its time limit; None when it ended by itself."""
    if not result.timed_out:
        return None
    limit = result.raw.get("time_limit", {}).get("seconds")
    return (f"the session reached its time limit ({limit:.0f} s) and ended; the command was stopped"
            if isinstance(limit, (int, float)) else "the session reached its time limit and ended")
