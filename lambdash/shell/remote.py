"""A shell on a Lambda target: send one command, get back exact bytes and its status.

``RemoteShell`` builds the request the handler understands, invokes the
function, and turns the response into a ``RemoteResult``. The one-shot command,
the REPL and census all run commands through it.

Output is written as it is read, whatever its size: inline output that came
compressed is inflated a chunk at a time, spilled output is fetched in chunks, and
``--json`` writes its document piece by piece. Client memory stays flat.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import hashlib
import io
import json
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

from lambdash.errors import ExitStatus, FunctionError, LambdashError, RequestRefused, TransportError
from lambdash.shell.presigned import delete_object, download_verified, upload
from lambdash.terminal import OutputTerminal, ProgressFactory
from lambdash_handler.contract import (
    DEFAULT_PROBE_TIMEOUT_SECONDS,
    ENV_BUCKET,
    LAMBDA_REQUEST_LIMIT_BYTES,
    PROTOCOL_VERSION,
)
from lambdash_handler.contract.records import RESULT, STDERR, STDOUT, BadFraming, NotFramed, RecordReader

if TYPE_CHECKING:
    from lambdash.aws.invoke import InvokeResponse, LambdaClient, StreamedInvoke

# stdin above this goes through the spill bucket: base64 makes it 4/3 bigger,
# and the whole request must stay under Lambda's 6 MB.
STDIN_INLINE_MAX_BYTES = 4_500_000
# A command (a script piped to lambdash) that makes the request too big goes through the
# bucket too. Only a command longer than this is worth measuring the request for.
COMMAND_CHECK_SIZE_CHARACTERS = 4096
# Lambda's request limit, less room for the fields added when the request is sent.
REQUEST_MAX_BYTES = LAMBDA_REQUEST_LIMIT_BYTES - 1024
UPLOAD_CHUNK_BYTES = 1024 * 1024
LOG_LINES_SHOWN = 5
# With --debug, how much of an answer that is not JSON is shown.
DEBUG_ANSWER_BYTES = 200
# Output is handled this much at a time: inflated, written, encoded for --json.
# A multiple of 3, so each piece of base64 but the last has no padding.
OUTPUT_CHUNK_BYTES = 3 * 256 * 1024

# What a command reads: bytes, or a file or pipe read as it is sent (memory stays flat).
Stdin = bytes | BinaryIO | None
# Request fields a handler older than them refuses before running anything: the request is sent again without.
NEWER_FIELDS = ("last_status", "terminal")


def text_or_base64(data: bytes) -> dict[str, str]:
    """Bytes for a JSON document: ``{"text": ...}`` when they are UTF-8, else ``{"base64": ...}``."""
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


@dataclass(frozen=True)
class Stream:
    """One output stream: inline bytes (``data``, or ``compressed`` by zlib), or an object in the spill bucket."""

    size: int
    lost: int = 0
    data: bytes | None = None
    spilled: Mapping[str, Any] | None = None
    # Why the stream was cut, when a spill was tried and failed.
    cut_reason: str | None = None
    # Bytes already shown as they were written (a streamed run); the rest is ``data`` or ``spilled``.
    streamed: int = 0
    # Inline bytes as the handler compressed them: inflated a chunk at a time as they are written.
    compressed: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_streamed(cls, raw: Mapping[str, Any]) -> Stream:
        """A stream of a streamed run: what was streamed is already shown; the rest is spilled or cut."""
        return cls(size=raw["size"], lost=raw.get("lost", 0), data=b"", spilled=raw.get("s3"),
                   cut_reason=raw.get("cut_reason"), streamed=raw.get("streamed", 0))

    @classmethod
    def from_response(cls, raw: Mapping[str, Any]) -> Stream:
        if "s3" in raw:
            return cls(size=raw["size"], spilled=raw["s3"])
        data = base64.b64decode(raw.get("data", ""))
        if raw.get("encoding") == "zlib+base64":
            return cls(size=raw["size"], lost=raw.get("lost", 0), compressed=data, cut_reason=raw.get("cut_reason"))
        return cls(size=raw["size"], lost=raw.get("lost", 0), data=data, cut_reason=raw.get("cut_reason"))

    def write_to(self, destination: BinaryIO, label: str, progress: ProgressFactory | None = None) -> None:
        """Write the stream's bytes unchanged; a spilled one is fetched, verified and deleted."""
        if self.spilled is None:
            for chunk in self._inline_chunks():
                destination.write(chunk)
            destination.flush()
            return
        download_verified(
            self.spilled["get_url"], destination, size=self.spilled["size"], sha256=self.spilled["sha256"],
            label=label, progress=progress,
        )
        delete_object(self.spilled["delete_url"])

    def _inline_chunks(self) -> Iterator[bytes]:
        """The inline bytes a chunk at a time, inflated as they go when they came compressed."""
        if self.compressed is None:
            data = memoryview(self.data or b"")
            for start in range(0, len(data), OUTPUT_CHUNK_BYTES):
                yield bytes(data[start:start + OUTPUT_CHUNK_BYTES])
            return
        inflater = zlib.decompressobj()
        pending = self.compressed
        while pending:
            # max_length bounds each piece: 64 KB of zlib can inflate to 64 MB of zeros.
            chunk = inflater.decompress(pending, OUTPUT_CHUNK_BYTES)
            pending = inflater.unconsumed_tail
            if chunk:
                yield chunk
        tail = inflater.flush()
        if tail:
            yield tail

    @contextlib.contextmanager
    def replayable(self, label: str) -> Iterator[Callable[[], Iterator[bytes]]]:
        """A maker of the stream's chunks, afresh at each call (a spilled stream is fetched to a temp file once)."""
        if self.spilled is None:
            yield self._inline_chunks
            return
        with tempfile.TemporaryFile() as copy:
            self.write_to(copy, label)

            def chunks() -> Iterator[bytes]:
                copy.seek(0)
                while chunk := copy.read(OUTPUT_CHUNK_BYTES):
                    yield chunk

            yield chunks

    def read(self, label: str) -> bytes:
        buffer = io.BytesIO()
        self.write_to(buffer, label)
        return buffer.getvalue()


@dataclass(frozen=True)
class RemoteState:
    """The cwd and environment changes a remote command left behind."""

    cwd: str
    env: dict[str, str | None]


@dataclass(frozen=True)
class RemoteResult:
    """The outcome of one remote command, as the client received it."""

    exit_status: int | None
    signal: int | None
    timed_out: bool
    stdout: Stream
    stderr: Stream
    state: RemoteState | None
    sandbox: Mapping[str, Any]
    request_id: str
    timings: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False)
    throttles: int = 0

    @property
    def status(self) -> int:
        """lambdash's exit status for this result, as ssh maps it."""
        if self.timed_out:
            return ExitStatus.TIMED_OUT
        if self.signal is not None:
            return ExitStatus.SIGNAL_BASE + self.signal
        return self.exit_status if self.exit_status is not None else ExitStatus.ERROR

    @property
    def full_screen(self) -> str | None:
        """Why the handler stopped the command as a full-screen program (sent with a terminal), or None."""
        reason = self.raw.get("full_screen")
        return str(reason) if reason else None

    @property
    def lost(self) -> int:
        return self.stdout.lost + self.stderr.lost

    @property
    def warnings(self) -> list[str]:
        """What to tell the user beside the output: what was cut and why, and the handler's own warnings."""
        notes = [truncation_warning(name, stream, self.raw.get("stream_switch"))
                 for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)) if stream.lost]
        return notes + [str(text) for text in self.raw.get("warnings") or []]

    def write_json(self, destination: BinaryIO) -> None:
        """The whole result for scripts, as pretty JSON: streams as text when they are UTF-8, else base64.

        The document is written piece by piece, each stream a chunk at a time, so a
        big output never sits in memory (a spilled one is fetched to a temp file first,
        since it is read twice: to learn whether it is UTF-8, then to write it).
        """
        with contextlib.ExitStack() as stack:
            marks: dict[str, tuple[str, Callable[[], Iterator[bytes]]]] = {}
            streams: dict[str, dict[str, Any]] = {}
            for name, source in (("stdout", self.stdout), ("stderr", self.stderr)):
                chunks = stack.enter_context(source.replayable(name))
                mark = f"lambdash-{name}-{uuid.uuid4().hex}"
                kind = "text" if _is_utf8(chunks()) else "base64"
                marks[json.dumps(mark)] = (kind, chunks)
                streams[name] = {"size": source.size, "lost": source.lost, kind: mark}
            document = json.dumps({
                "status": self.status,
                "exit_status": self.exit_status,
                "signal": self.signal,
                "timed_out": self.timed_out,
                **streams,
                "request_id": self.request_id,
                "sandbox": dict(self.sandbox),
                "timings": dict(self.timings),
                "warnings": self.warnings,
            }, indent=2, sort_keys=True) + "\n"
            position = 0
            while marks:
                at, mark = min((document.index(mark), mark) for mark in marks)
                destination.write(document[position:at].encode("ascii"))
                kind, chunks = marks.pop(mark)
                destination.write(b'"')
                for piece in (_json_text if kind == "text" else _base64_pieces)(chunks()):
                    destination.write(piece)
                destination.write(b'"')
                position = at + len(mark)
            destination.write(document[position:].encode("ascii"))
        destination.flush()


def _is_utf8(chunks: Iterator[bytes]) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in chunks:
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _json_text(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """UTF-8 chunks as the inside of one JSON string (as json.dumps escapes it)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for chunk in chunks:
        yield json.dumps(decoder.decode(chunk))[1:-1].encode("ascii")
    yield json.dumps(decoder.decode(b"", final=True))[1:-1].encode("ascii")


def _base64_pieces(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The base64 of the chunks, encoded 3 bytes at a time so the pieces join into one text."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        whole = len(data) - len(data) % 3
        yield base64.b64encode(data[:whole])
        rest = data[whole:]
    yield base64.b64encode(rest)


def truncation_warning(name: str, stream: Stream, switch_reason: str | None = None) -> str:
    """What to tell the user about a stream that was cut: how much, and why (the handler's words, if it gave them)."""
    lost = f"{name} was truncated: {stream.lost} of {stream.size} bytes lost because"
    if stream.cut_reason:
        return f"{lost} {stream.cut_reason}"
    why = f"the rest could not be streamed ({switch_reason})" if switch_reason else "it was too big to return inline"
    return f"{lost} {why} and no spill bucket is configured (pass --bucket NAME, or set {ENV_BUCKET} on the function)"


class LiveOutput(Protocol):
    """Where a streamed command's output goes as it arrives."""

    def write(self, name: str, data: bytes) -> None:
        """Bytes of ``name`` ("stdout" or "stderr"), to be shown at once."""


@runtime_checkable
class NamesItsRequest(Protocol):
    """A LiveOutput that wants Lambda's id for the invocation as soon as the stream begins (for Ctrl-C)."""

    def begun(self, request_id: str) -> None:
        """The stream has begun: its request id is known (before any output)."""


@dataclass(frozen=True)
class StreamContent:
    """What a response stream carried, read to its end."""

    # The result record, when the stream was records and carried one.
    result: dict[str, Any] | None
    # The whole answer, when the stream did not begin as records (a buffered response).
    unframed: bytearray | None
    # Whether the stream began with the records' preamble.
    framed: bool


def refuses_unknown_field(refusal: RequestRefused, name: str) -> bool:
    """Whether a handler refused a request for carrying ``name``, a field it is too old to know."""
    return f"unknown field {name!r}" in refusal.message


class RemoteShell:
    """Runs commands on one target through its LambdaClient.

    ``streaming`` says whether to try response streaming; it turns off, for as long
    as this shell lives, once the target shows it cannot stream (no streaming API,
    a handler without the stream loop), so each command is invoked once.
    """

    def __init__(self, client: LambdaClient, *, bucket: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.streaming = True
        # The NEWER_FIELDS the target's handler turned out not to know.
        self.unknown_fields: set[str] = set()

    def run(
        self,
        command: str,
        *,
        stdin: Stdin = None,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str | None] | None = None,
        capture_state: bool = False,
        keep_background: bool = False,
        shell: str = "sh",
        on_throttle: Callable[[int, float], None] | None = None,
        live: LiveOutput | None = None,
        last_status: int = 0,
        terminal: OutputTerminal | None = None,
    ) -> RemoteResult:
        """Run one command and return its result; lambdash's own failures raise LambdashError.

        With ``live``, the output is streamed to it while the command runs, where the
        target can stream; the result then holds only what was not streamed (a
        spilled rest), and what was already shown is not in it again. With
        ``capture_state``, the command starts with ``last_status`` as ``$?``. With
        ``terminal`` (the output is shown on one), the command gets its size and type
        as COLUMNS, LINES and TERM, and the handler stops it if it acts as a
        full-screen program (the result's ``full_screen`` says why).
        """
        request = self._run_request(
            command, stdin=stdin, timeout=timeout, cwd=cwd, env=env, capture_state=capture_state,
            keep_background=keep_background, shell=shell, last_status=last_status, terminal=terminal,
        )
        self._move_big_command_to_bucket(request)
        return self._send_run_without_unknown_fields(request, live, on_throttle)

    def _run_request(
        self,
        command: str,
        *,
        stdin: Stdin,
        timeout: float | None,
        cwd: str | None,
        env: Mapping[str, str | None] | None,
        capture_state: bool,
        keep_background: bool,
        shell: str,
        last_status: int,
        terminal: OutputTerminal | None,
    ) -> dict[str, Any]:
        """The run request as the handler reads it: the command, and each option only when it is set.

        Stdin too big for the request is uploaded through the bucket here, and the
        request names it.
        """
        request: dict[str, Any] = {"v": PROTOCOL_VERSION, "command": command}
        if shell != "sh":
            request["shell"] = shell
        if stdin is not None:
            request.update(self._stdin_fields(stdin))
        if timeout is not None:
            request["timeout"] = timeout
        if cwd is not None:
            request["cwd"] = cwd
        if env:
            request["env"] = dict(env)
        if capture_state:
            request["capture_state"] = True
            if last_status:
                request["last_status"] = last_status
        if keep_background:
            request["keep_background"] = True
        if terminal is not None:
            request["terminal"] = {"columns": terminal.columns, "lines": terminal.lines, "term": terminal.term}
        if self.bucket:
            request["output"] = {"bucket": self.bucket}
        return request

    def _stdin_fields(self, stdin: bytes | BinaryIO) -> dict[str, str]:
        """The request's fields for stdin: inline (base64) when it fits, else the key and sha256 of its upload."""
        reader = io.BytesIO(stdin) if isinstance(stdin, bytes) else stdin
        head = reader.read(STDIN_INLINE_MAX_BYTES + 1)
        if len(head) <= STDIN_INLINE_MAX_BYTES:
            return {"stdin": base64.b64encode(head).decode("ascii")}
        rest = io.BytesIO(head)
        key, sha256 = self._upload_through_bucket(lambda size: rest.read(size) or reader.read(size), "stdin",
                                                  f"stdin is over {STDIN_INLINE_MAX_BYTES} bytes, more")
        return {"stdin_key": key, "stdin_sha256": sha256}

    def _move_big_command_to_bucket(self, request: dict[str, Any]) -> None:
        """A script too big for the request (with its stdin) travels through the bucket, as big stdin does."""
        if len(request["command"]) > COMMAND_CHECK_SIZE_CHARACTERS and len(json.dumps(request)) > REQUEST_MAX_BYTES:
            encoded = request.pop("command").encode("utf-8", "surrogateescape")
            request["command_key"], request["command_sha256"] = self._upload_through_bucket(
                io.BytesIO(encoded).read, "the command", f"the command is {len(encoded)} bytes, more")

    def _send_run_without_unknown_fields(self, request: dict[str, Any], live: LiveOutput | None,
                                         on_throttle: Callable[[int, float], None] | None) -> RemoteResult:
        """Send a run request, again without each of NEWER_FIELDS the target's handler refuses as unknown.

        A handler refuses such a field before it runs anything, and this shell
        remembers it, so later requests leave it out from the start.
        """
        while True:
            for name in self.unknown_fields:
                request.pop(name, None)
            try:
                return self._send_run(request, live, on_throttle)
            except RequestRefused as refusal:
                refused = next((name for name in NEWER_FIELDS
                                if name in request and refuses_unknown_field(refusal, name)), None)
                if refused is None:
                    raise
                self.unknown_fields.add(refused)  # nothing ran: the handler refused it first

    def _send_run(self, request: dict[str, Any], live: LiveOutput | None,
                  on_throttle: Callable[[int, float], None] | None) -> RemoteResult:
        """The run's result: streamed to ``live`` where the target can stream, else from one buffered invoke."""
        if live is not None and self.streaming:
            streamed = self._run_streaming(request, live, on_throttle)
            if streamed is not None:
                return streamed
        return self._buffered_result(self.client.invoke(json.dumps(request).encode(), on_throttle=on_throttle))

    def _buffered_result(self, invoked: InvokeResponse) -> RemoteResult:
        """The result a whole (buffered) answer holds, once checked as a lambdash handler's success."""
        return result_of(self.checked(invoked), invoked.request_id, invoked.throttles)

    def _run_streaming(self, request: dict[str, Any], live: LiveOutput,
                       on_throttle: Callable[[int, float], None] | None) -> RemoteResult | None:
        """The result of a streamed run; None when the target turned out not to stream and nothing ran."""
        from lambdash.aws.invoke import StreamingUnavailable  # loaded with the client already

        try:
            streamed = self.client.invoke_streaming(json.dumps({**request, "stream": True}).encode(),
                                                    on_throttle=on_throttle)
        except StreamingUnavailable:
            self.streaming = False
            return None
        if isinstance(live, NamesItsRequest):
            live.begun(streamed.request_id)
        return self._streamed_result(streamed, self._read_stream(streamed, live))

    def _read_stream(self, streamed: StreamedInvoke, live: LiveOutput) -> StreamContent:
        """Read a response stream to its end, writing its output records to ``live`` as they arrive.

        A stream that does not begin as records is kept whole: it is a buffered answer.
        """
        reader = RecordReader()
        result: dict[str, Any] | None = None
        unframed: bytearray | None = None
        try:
            for chunk in streamed.chunks():
                if unframed is not None:
                    unframed += chunk
                    continue
                try:
                    for kind, payload in reader.feed(chunk):
                        if kind == STDOUT:
                            live.write("stdout", payload)
                        elif kind == STDERR:
                            live.write("stderr", payload)
                        elif kind == RESULT:
                            result = json.loads(payload)
                except NotFramed:
                    unframed = reader.unframed
                except (BadFraming, ValueError) as problem:
                    raise TransportError(f"the stream from {self.client.function} is damaged: {problem}") from None
        except BaseException:
            streamed.close()  # Ctrl-C or a broken stream: stop reading at once; the function goes on
            raise
        return StreamContent(result=result, unframed=unframed, framed=reader.started)

    def _streamed_result(self, streamed: StreamedInvoke, content: StreamContent) -> RemoteResult | None:
        """The result of a stream read to its end; None when an older handler refused to stream, before running.

        The function's failure raises FunctionError; a stream that ended before the
        result record raises TransportError.
        """
        from lambdash.aws.invoke import InvokeResponse  # loaded with the client already

        end = streamed.end
        answered = InvokeResponse(
            payload=bytes(content.unframed or b""), function_error=end.error_code if end else None,
            log_tail=end.log_tail if end else "", request_id=streamed.request_id, throttles=streamed.throttles,
        )
        if content.unframed is not None or (content.result is None and not content.framed and end is not None
                                            and not end.error_code):
            # No records: the answer is a whole buffered response (a function without the stream loop).
            self.streaming = False
            return self._answered_whole(answered)
        if end is not None and end.error_code:
            raise function_failure({"errorType": end.error_code, "errorMessage": end.error_details or ""},
                                   answered)
        if content.result is None:
            raise TransportError(
                f"the stream from {self.client.function} ended before the command's result; "
                f"it may still be running [request {streamed.request_id}]"
            )
        return result_of(self._verified(content.result), streamed.request_id, streamed.throttles, streamed=True)

    def _answered_whole(self, answered: InvokeResponse) -> RemoteResult | None:
        """The result of a stream that carried a whole buffered answer; None when it refused the stream field."""
        try:
            return self._buffered_result(answered)
        except RequestRefused as refusal:
            if refusal.code == "invalid" and refuses_unknown_field(refusal, "stream"):
                return None  # an older handler refused before running anything: send it buffered
            raise

    def inventory(self, *, redact: bool = True, redact_key: str | None = None) -> dict[str, Any]:
        """The sandbox's inventory, collected by the function's probes.

        ``redact_key`` (hex) keys the HMAC each redacted value shows. A handler older
        than that refuses the field before doing anything; it is then asked without.
        """
        request: dict[str, Any] = {"v": PROTOCOL_VERSION, "op": "inventory", "redact": redact}
        if redact and redact_key:
            request["redact_key"] = redact_key
        try:
            response, _ = self.call(request)
        except RequestRefused as refusal:
            if not refuses_unknown_field(refusal, "redact_key"):
                raise
            response, _ = self.call({key: value for key, value in request.items() if key != "redact_key"})
        inventory: dict[str, Any] = response["inventory"]
        return inventory

    def probe(self, checks: list[str], *, timeout: float = DEFAULT_PROBE_TIMEOUT_SECONDS) -> dict[str, Any]:
        """Run network checks from inside the sandbox, all in one invocation; the probe document.

        Each check (see ``handler/checks/``) gets ``timeout`` seconds; they run at once.
        """
        try:
            response, _ = self.call({"v": PROTOCOL_VERSION, "op": "probe", "checks": checks, "timeout": timeout})
        except RequestRefused as refusal:
            if "unknown op 'probe'" in refusal.message:
                raise LambdashError("the function's handler is too old to run probes; update it with "
                                    "`lambdash deploy`") from None
            raise
        document: dict[str, Any] = response["probe"]
        return document

    def _upload_through_bucket(self, read: Callable[[int], bytes], what: str, size_note: str) -> tuple[str, str]:
        """Upload what ``read`` gives through a URL the function presigns; its key and sha256 for the request.

        It is copied to a temporary file first (on disk, hashed on the way), so its
        size is known for the upload and memory stays flat however big it is.
        """
        request: dict[str, Any] = {"v": PROTOCOL_VERSION, "op": "presign_upload"}
        if self.bucket:
            request["output"] = {"bucket": self.bucket}
        try:
            response, _ = self.call(request)
        except LambdashError as problem:
            raise LambdashError(
                f"{size_note} than fits in a request, and {what} cannot go through S3: {problem.message}"
            ) from None
        digest = hashlib.sha256()
        with tempfile.TemporaryFile() as spooled:
            while chunk := read(UPLOAD_CHUNK_BYTES):
                digest.update(chunk)
                spooled.write(chunk)
            size = spooled.tell()
            spooled.seek(0)
            slot = response["upload"]
            upload(slot["put_url"], spooled, size, slot["headers"])
        key: str = slot["key"]
        return key, digest.hexdigest()

    def call(
        self, request: Mapping[str, Any], *, on_throttle: Callable[[int, float], None] | None = None
    ) -> tuple[dict[str, Any], InvokeResponse]:
        """Invoke the function with one request (buffered) and return its successful response."""
        invoked = self.client.invoke(json.dumps(request).encode(), on_throttle=on_throttle)
        return self.checked(invoked), invoked

    def checked(self, invoked: InvokeResponse) -> dict[str, Any]:
        """The function's answer, when it is a lambdash handler's successful response."""
        try:
            response = json.loads(invoked.payload)
        except ValueError:
            size = len(invoked.payload)
            raise LambdashError(
                f"{self.client.function} answered something that is not JSON ({size} bytes): it is probably not a "
                "lambdash function; name one with -f, or make one with `lambdash deploy`",
                debug_details=[f"the first bytes of its answer: {invoked.payload[:DEBUG_ANSWER_BYTES]!r}"],
            ) from None
        if invoked.function_error:
            raise function_failure(response, invoked)
        return self._verified(response)

    def _verified(self, response: Any) -> dict[str, Any]:
        if not isinstance(response, dict) or response.get("v") != PROTOCOL_VERSION:
            raise LambdashError(
                f"{self.client.function} does not answer like a lambdash handler "
                f"(protocol version {PROTOCOL_VERSION}); redeploy it with `lambdash deploy`"
            )
        if not response.get("ok"):
            error = response.get("error") or {}
            raise RequestRefused(
                f"the function refused the request: {error.get('message', 'no reason given')}",
                code=str(error.get("code") or error.get("type") or "invalid"),
            )
        return response


def result_of(response: Mapping[str, Any], request_id: str, throttles: int, *, streamed: bool = False
              ) -> RemoteResult:
    """A handler's response (buffered, or the result record of a stream) as a RemoteResult."""
    state = response.get("state")
    make = Stream.from_streamed if streamed else Stream.from_response
    return RemoteResult(
        exit_status=response.get("exit_status"),
        signal=response.get("signal"),
        timed_out=bool(response.get("timed_out")),
        stdout=make(response["stdout"]),
        stderr=make(response["stderr"]),
        state=RemoteState(cwd=state["cwd"], env=state["env"]) if state else None,
        sandbox=response.get("sandbox", {}),
        request_id=response.get("request_id") or request_id,
        timings=response.get("timings", {}),
        raw=response,
        throttles=throttles,
    )


def function_failure(response: Any, invoked: InvokeResponse) -> FunctionError:
    """A crash or timeout on Lambda's side, with the last lines of its log."""
    if isinstance(response, dict):
        kind = response.get("errorType", invoked.function_error)
        message = response.get("errorMessage", "")
    else:
        kind, message = invoked.function_error, str(response)
    lines = [line for line in invoked.log_tail.splitlines() if line.strip()]
    return FunctionError(
        f"the function failed ({kind}): {message} [request {invoked.request_id}]",
        details=lines[-LOG_LINES_SHOWN:],
    )
