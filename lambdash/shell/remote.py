"""A shell on a Lambda target: send one command, get back exact bytes and its status.

``RemoteShell`` builds the request the handler understands, invokes the
function, and turns the response into a ``RemoteResult``. The one-shot command,
the REPL and census all run commands through it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from lambdash.errors import ExitStatus, FunctionError, LambdashError, RequestRefused, TransportError
from lambdash.shell.presigned import delete_object, download_verified, upload
from lambdash.terminal import ProgressFactory
from lambdash_handler.contract import (
    DEFAULT_PROBE_TIMEOUT_SECONDS,
    ENV_BUCKET,
    LAMBDA_REQUEST_LIMIT_BYTES,
    PROTOCOL_VERSION,
)
from lambdash_handler.contract.records import RESULT, STDERR, STDOUT, BadFraming, NotFramed, RecordReader

if TYPE_CHECKING:
    from lambdash.aws.invoke import InvokeResponse, LambdaClient

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

# What a command reads: bytes, or a file or pipe read as it is sent (memory stays flat).
Stdin = bytes | BinaryIO | None


def text_or_base64(data: bytes) -> dict[str, str]:
    """Bytes for a JSON document: ``{"text": ...}`` when they are UTF-8, else ``{"base64": ...}``."""
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


@dataclass(frozen=True)
class Stream:
    """One output stream: inline bytes, or an object in the spill bucket."""

    size: int
    lost: int = 0
    data: bytes | None = None
    spilled: Mapping[str, Any] | None = None
    # Why the stream was cut, when a spill was tried and failed.
    cut_reason: str | None = None
    # Bytes already shown as they were written (a streamed run); the rest is ``data`` or ``spilled``.
    streamed: int = 0

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
            data = zlib.decompress(data)
        return cls(size=raw["size"], lost=raw.get("lost", 0), data=data, cut_reason=raw.get("cut_reason"))

    def write_to(self, destination: BinaryIO, label: str, progress: ProgressFactory | None = None) -> None:
        """Write the stream's bytes unchanged; a spilled one is fetched, verified and deleted."""
        if self.spilled is None:
            destination.write(self.data or b"")
            destination.flush()
            return
        download_verified(
            self.spilled["get_url"], destination, size=self.spilled["size"], sha256=self.spilled["sha256"],
            label=label, progress=progress,
        )
        delete_object(self.spilled["delete_url"])

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
    def lost(self) -> int:
        return self.stdout.lost + self.stderr.lost

    @property
    def warnings(self) -> list[str]:
        """What to tell the user beside the output: what was cut and why, and the handler's own warnings."""
        notes = [truncation_warning(name, stream, self.raw.get("stream_switch"))
                 for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)) if stream.lost]
        return notes + [str(text) for text in self.raw.get("warnings") or []]

    def to_json(self) -> dict[str, Any]:
        """The whole result for scripts: streams as text when they are UTF-8, else base64."""

        def stream(name: str, source: Stream) -> dict[str, Any]:
            return {"size": source.size, "lost": source.lost, **text_or_base64(source.read(name))}

        return {
            "status": self.status,
            "exit_status": self.exit_status,
            "signal": self.signal,
            "timed_out": self.timed_out,
            "stdout": stream("stdout", self.stdout),
            "stderr": stream("stderr", self.stderr),
            "request_id": self.request_id,
            "sandbox": dict(self.sandbox),
            "timings": dict(self.timings),
            "warnings": self.warnings,
        }


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
    ) -> RemoteResult:
        """Run one command and return its result; lambdash's own failures raise LambdashError.

        With ``live``, the output is streamed to it while the command runs, where the
        target can stream; the result then holds only what was not streamed (a
        spilled rest), and what was already shown is not in it again.
        """
        request: dict[str, Any] = {"v": PROTOCOL_VERSION, "command": command}
        if shell != "sh":
            request["shell"] = shell
        if stdin is not None:
            reader = io.BytesIO(stdin) if isinstance(stdin, bytes) else stdin
            head = reader.read(STDIN_INLINE_MAX_BYTES + 1)
            if len(head) > STDIN_INLINE_MAX_BYTES:
                rest = io.BytesIO(head)
                request["stdin_key"], request["stdin_sha256"] = self._upload_through_bucket(
                    lambda size: rest.read(size) or reader.read(size), "stdin",
                    f"stdin is over {STDIN_INLINE_MAX_BYTES} bytes, more")
            else:
                request["stdin"] = base64.b64encode(head).decode("ascii")
        if timeout is not None:
            request["timeout"] = timeout
        if cwd is not None:
            request["cwd"] = cwd
        if env:
            request["env"] = dict(env)
        if capture_state:
            request["capture_state"] = True
        if keep_background:
            request["keep_background"] = True
        if self.bucket:
            request["output"] = {"bucket": self.bucket}
        if len(command) > COMMAND_CHECK_SIZE_CHARACTERS and len(json.dumps(request)) > REQUEST_MAX_BYTES:
            # A script too big for the request (with its stdin) travels through the bucket, as big stdin does.
            encoded = request.pop("command").encode("utf-8", "surrogateescape")
            request["command_key"], request["command_sha256"] = self._upload_through_bucket(
                io.BytesIO(encoded).read, "the command", f"the command is {len(encoded)} bytes, more")
        if live is not None and self.streaming:
            streamed = self._run_streaming(request, live, on_throttle)
            if streamed is not None:
                return streamed
        response, invoked = self.call(request, on_throttle=on_throttle)
        return result_of(response, invoked.request_id, invoked.throttles)

    def _run_streaming(self, request: dict[str, Any], live: LiveOutput,
                       on_throttle: Callable[[int, float], None] | None) -> RemoteResult | None:
        """The result of a streamed run; None when the target turned out not to stream and nothing ran."""
        from lambdash.aws.invoke import InvokeResponse, StreamingUnavailable  # loaded with the client already

        try:
            streamed = self.client.invoke_streaming(json.dumps({**request, "stream": True}).encode(),
                                                    on_throttle=on_throttle)
        except StreamingUnavailable:
            self.streaming = False
            return None
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
        end = streamed.end
        answered = InvokeResponse(
            payload=bytes(unframed or b""), function_error=end.error_code if end else None,
            log_tail=end.log_tail if end else "", request_id=streamed.request_id, throttles=streamed.throttles,
        )
        if unframed is not None or (result is None and not reader.started and end is not None
                                    and not end.error_code):
            # No records: the answer is a whole buffered response (a function without the stream loop).
            self.streaming = False
            try:
                response = self.checked(answered)
            except RequestRefused as refusal:
                if refusal.code == "invalid" and "unknown field 'stream'" in refusal.message:
                    return None  # an older handler refused before running anything: send it buffered
                raise
            return result_of(response, answered.request_id, answered.throttles)
        if end is not None and end.error_code:
            raise function_failure({"errorType": end.error_code, "errorMessage": end.error_details or ""},
                                   answered)
        if result is None:
            raise TransportError(
                f"the stream from {self.client.function} ended before the command's result; "
                f"it may still be running [request {streamed.request_id}]"
            )
        return result_of(self._verified(result), streamed.request_id, streamed.throttles, streamed=True)

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
            if "unknown field 'redact_key'" not in refusal.message:
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
            raise LambdashError(f"the function answered something that is not JSON ({size} bytes)") from None
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
