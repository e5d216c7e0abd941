"""The Lambda entry point: validate the event, run the command, shape the response.

``handle`` is what Lambda calls. It never raises: a malformed event or an
internal failure becomes a structured error response. Everything that touches
AWS takes an injected S3 client, so tests can call ``respond`` directly.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import hashlib
import json
import os
import resource
import shlex
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from .contract import (
    DEFAULT_PREFIX,
    DEFAULT_PROBE_TIMEOUT_SECONDS,
    ENV_BUCKET,
    ENV_PREFIX,
    LAMBDA_RESPONSE_LIMIT_BYTES,
    PROTOCOL_VERSION,
)
from .contract.records import HEARTBEAT_SECONDS, PREAMBLE, RESULT, encode_record
from .identity import begin_invocation
from .limits import (
    ENV_FUNCTION_NAME,
    MAX_DEADLINE_MARGIN_SECONDS,
    MIN_DEADLINE_MARGIN_SECONDS,
    PRESIGN_EXPIRY_SECONDS,
    RESPONSE_SLACK_BYTES,
)
from .output_shaping import (
    OutOfTime,
    S3Factory,
    SpillTarget,
    inline_budget,
    presign,
    shape_streams,
    spill_client,
    spill_to_s3,
)
from .request import SHELLS, InvalidRequest, Request, parse_request
from .runner import KEPT_OUTPUT, CommandResult, Spool, run_command, run_command_streaming
from .streaming import Send, StreamedOutput

_LOGGED_COMMAND_CHARS = 4096
# The last moments before Lambda's deadline are for the stream's result record to go out.
_ANSWER_ALLOWANCE_SECONDS = 0.5
# Less free space than this in the spool's file system means output may have been lost.
FULL_TEMP_DIR_BYTES = 64 * 1024
# Room kept in a legacy response for the notes saying what was cut (base64 of two lines).
LEGACY_NOTE_ROOM_BYTES = 512


class LambdaContext(Protocol):
    """The parts of Lambda's context object the handler uses."""

    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


def handle(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Lambda calls this for every invocation."""
    return respond(event, context)


def respond(
    event: Any,
    context: LambdaContext,
    *,
    s3_factory: S3Factory = spill_client,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Answer one event with a JSON response (the buffered contract). Never raises."""
    response, _ = _answer(event, context, s3_factory, environ, None)
    return response


def respond_streaming(
    event: Any,
    context: LambdaContext,
    send: Send,
    *,
    s3_factory: S3Factory = spill_client,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Answer one event with framed records through ``send``: a command's output as it is written.

    Whatever is not a command to stream (a refusal, another operation) is sent as
    one result record. Returns the final result. Never raises.
    """
    response, streamed = _answer(event, context, s3_factory, environ, send)
    if not streamed:
        try:
            send(PREAMBLE + encode_record(RESULT, json.dumps(response).encode()))
        except Exception:  # the client went away
            traceback.print_exc(file=sys.stderr)
    return response


def _answer(
    event: Any, context: LambdaContext, s3_factory: S3Factory, environ: Mapping[str, str] | None, send: Send | None
) -> tuple[dict[str, Any], bool]:
    """The response to one event, and whether it already went out as a stream."""
    started = time.monotonic()
    identity = begin_invocation()
    # What jobs kept by earlier commands wrote since goes to the log, never into this command's output.
    KEPT_OUTPUT.drain(sys.stderr.buffer)
    environ = os.environ if environ is None else environ
    request: Request | None = None
    streamed = False
    try:
        request = parse_request(event)
        if request.op == "presign_upload":
            response = _presign_upload(request, context, s3_factory, environ)
        elif request.op == "inventory":
            response = _inventory(request, identity)
        elif request.op == "probe":
            response = _probe(request, context)
        elif request.session is not None and send is None:
            raise InvalidRequest("a session needs a streamed invocation (InvokeWithResponseStream)",
                                 code="session_needs_stream")
        elif send is not None and not request.legacy:
            response = _run_streaming(request, context, s3_factory, environ, started, identity, send)
            streamed = True
        else:
            response = _run(request, context, s3_factory, environ, started, identity)
    except InvalidRequest as problem:
        response = error_response("InvalidRequest", str(problem), problem.code)
    except Exception as problem:  # the handler must answer, whatever went wrong
        traceback.print_exc(file=sys.stderr)
        response = error_response("HandlerError", f"{type(problem).__name__}: {problem}")
    if request is not None and request.legacy and "error" in response and "stdout" not in response:
        # A legacy client expects its own shape even for a failure.
        response = {"stdout": "", "stderr": "", "error": {"code": 255, "message": response["error"]["message"]}}
    if not (request is not None and request.legacy):
        response.update(request_id=context.aws_request_id, sandbox=identity)
    _log_invocation(request, response, context, identity, time.monotonic() - started)
    return response, streamed


def error_response(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    """A structured error the client can show as one line (``code`` says which refusal it is)."""
    return {"v": PROTOCOL_VERSION, "ok": False, "error": {"type": kind, "code": code or kind, "message": message}}


def _spill_target(request: Request, environ: Mapping[str, str], s3_factory: S3Factory) -> SpillTarget | None:
    bucket = request.output.bucket or environ.get(ENV_BUCKET)
    if not bucket:
        return None
    prefix = request.output.prefix or environ.get(ENV_PREFIX) or DEFAULT_PREFIX
    return SpillTarget(factory=s3_factory, bucket=bucket, prefix=prefix)


@dataclass(frozen=True)
class TimeLimit:
    """How long the command may run, and whether that is the request's timeout or Lambda's deadline."""

    seconds: float
    kind: Literal["timeout", "deadline"]

    def to_json(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "kind": self.kind}


def _time_limit(request: Request, context: LambdaContext) -> TimeLimit:
    """The request's timeout, unless Lambda's deadline (less a margin for the answer) comes first."""
    remaining = context.get_remaining_time_in_millis() / 1000
    margin = min(max(remaining * 0.1, MIN_DEADLINE_MARGIN_SECONDS), MAX_DEADLINE_MARGIN_SECONDS)
    available = max(remaining - margin, 0.05)
    if request.timeout is not None and request.timeout <= available:
        return TimeLimit(request.timeout, "timeout")
    return TimeLimit(available, "deadline")


def _run(
    request: Request,
    context: LambdaContext,
    s3_factory: S3Factory,
    environ: Mapping[str, str],
    started: float,
    identity: dict[str, Any],
) -> dict[str, Any]:
    spill = _spill_target(request, environ, s3_factory)
    answer_deadline = _answer_deadline(context)
    with Spool() as spool:
        command, stdin_path, limit, shell_path = _prepare(request, context, spool, spill)
        result = run_command(
            command, spool=spool, shell_path=shell_path, stdin_path=stdin_path, cwd=request.cwd,
            base_env=_command_environment(request, environ), env_overlay=request.env, timeout=limit.seconds,
            keep_background=request.keep_background, capture_state=request.capture_state,
            last_status=request.last_status, stop_full_screen=request.terminal is not None,
        )
        assert result.stdout_path is not None
        assert result.stderr_path is not None
        if request.legacy:
            return _legacy_response(result.stdout_path, result.stderr_path, result)
        response = _result_envelope(result, limit, identity, context)
        _warn_if_full(response, spool)
        budget = inline_budget(LAMBDA_RESPONSE_LIMIT_BYTES - RESPONSE_SLACK_BYTES - len(json.dumps(response)))
        if request.output.inline_limit is not None:
            budget = min(budget, request.output.inline_limit)
        output_started = time.monotonic()
        streams = shape_streams(
            {"stdout": result.stdout_path, "stderr": result.stderr_path},
            budget=budget,
            compress=request.output.compress,
            spill=spill,
            key_stem=f"out/{context.aws_request_id}",
            deadline=answer_deadline,
        )
    response.update(streams)
    response["truncated"] = any(stream["lost"] for stream in streams.values())
    response["timings"].update(
        output_ms=_ms(time.monotonic() - output_started), handler_ms=_ms(time.monotonic() - started)
    )
    return response


def _run_streaming(
    request: Request,
    context: LambdaContext,
    s3_factory: S3Factory,
    environ: Mapping[str, str],
    started: float,
    identity: dict[str, Any],
    send: Send,
) -> dict[str, Any]:
    """Run the command, its output sent as records while it runs; the result is the last record."""
    spill = _spill_target(request, environ, s3_factory)
    # A session's queue outlives the result record by a moment: it is deleted once the stream has ended.
    with Spool() as spool, contextlib.ExitStack() as session_scope:
        command, stdin_path, limit, shell_path = _prepare(request, context, spool, spill)
        session = None
        if request.session is not None:  # a session that cannot open is refused before the stream begins
            session = _open_session(request, environ)
            session_scope.callback(session.close)
            limit = _time_limit(request, context)  # opening took some of the time left
        # The stream must end, result record included, before Lambda's own deadline.
        deadline = _answer_deadline(context)
        output = StreamedOutput(send, {"stdout": spool.file("rest-stdout"), "stderr": spool.file("rest-stderr")},
                                deadline, can_spill=spill is not None)
        try:
            if session is not None:
                session.announce(output, limit.seconds)
                result = session.run(command, spool=spool, shell_path=shell_path, cwd=request.cwd, base_env=environ,
                                     env_overlay=request.env, timeout=limit.seconds, heartbeat=HEARTBEAT_SECONDS)
            else:
                result = run_command_streaming(
                    command, spool=spool, sink=output, shell_path=shell_path, stdin_path=stdin_path,
                    cwd=request.cwd, base_env=_command_environment(request, environ), env_overlay=request.env,
                    timeout=limit.seconds,
                    keep_background=request.keep_background, capture_state=request.capture_state,
                    last_status=request.last_status, stop_full_screen=request.terminal is not None,
                    heartbeat=HEARTBEAT_SECONDS,
                )
        except InvalidRequest as problem:  # nothing ran; the stream has begun, so the refusal is its result
            refusal = {**error_response("InvalidRequest", str(problem), problem.code),
                       "request_id": context.aws_request_id, "sandbox": identity}
            output.finish(refusal, lambda name, path, size: {"lost": size})
            return refusal
        response = _result_envelope(result, limit, identity, context)
        if session is not None:
            response["session"] = session.report()

        def describe_rest(name: str, path: Path, size: int) -> dict[str, Any]:
            if spill is None:
                return {"lost": size}
            try:
                return {"s3": spill_to_s3(path, spill, f"out/{context.aws_request_id}/{name}", deadline)}
            except OutOfTime:
                return {"lost": size, "cut_reason": f"the rest could not be streamed ({output.switch_reason}) and "
                                                    "the spill to S3 could not finish before the function's deadline"}
            except Exception as problem:  # S3 down or refusing: the rest is cut, and the record says why
                return {"lost": size, "cut_reason": f"the rest could not be streamed ({output.switch_reason}) "
                                                    f"and the spill to s3://{spill.bucket} failed: {problem}"}

        output_started = time.monotonic()
        response["timings"].update(handler_ms=_ms(time.monotonic() - started))
        output.finish(response, describe_rest)
    response["timings"].update(output_ms=_ms(time.monotonic() - output_started))
    return response


def _open_session(request: Request, environ: Mapping[str, str]) -> Any:
    """The session's queue and credentials (see ``session``); InvalidRequest, nothing made, if it cannot open."""
    from .session import SessionChannel

    assert request.session is not None
    return SessionChannel.open(request.session, environ=environ, function_name=environ.get(ENV_FUNCTION_NAME, ""))


def _command_environment(request: Request, environ: Mapping[str, str]) -> Mapping[str, str]:
    """The environment the request's env applies to: the sandbox's, with the client's terminal (COLUMNS, LINES, TERM).

    The terminal's variables sit under the request's env, so a value the user set
    (`export COLUMNS=60` in the REPL) wins, and the state a command leaves is told
    relative to them: they are never carried as the user's own.
    """
    if request.terminal is None:
        return environ
    return {**environ, **request.terminal.environment()}


def _answer_deadline(context: LambdaContext) -> float:
    """When the answer must be ready: Lambda's deadline, less the moment it takes to send it."""
    return time.monotonic() + context.get_remaining_time_in_millis() / 1000 - _ANSWER_ALLOWANCE_SECONDS


def _prepare(request: Request, context: LambdaContext, spool: Spool,
             spill: SpillTarget | None) -> tuple[str, Path | None, TimeLimit, str]:
    """The command, its stdin in the spool, its time limit and its shell; InvalidRequest when it cannot run.

    A command that came through the bucket runs from its file in the spool, sourced.
    """
    command, stdin_path = request.command, None
    try:
        if request.command_key is not None:
            script = spool.file("script")
            _download_key(request.command_key, spill, script, "command_key", request.command_sha256)
            command = f". {shlex.quote(str(script))}"
        if request.stdin is not None:
            stdin_path = spool.file("stdin")
            stdin_path.write_bytes(request.stdin)
        elif request.stdin_key is not None:
            stdin_path = spool.file("stdin")
            _download_key(request.stdin_key, spill, stdin_path, "stdin_key", request.stdin_sha256)
    except OSError as problem:
        if problem.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InvalidRequest(f"stdin does not fit: {_temp_dir_full(spool.path)}", code="tmp_full") from None
        raise
    shell_path = SHELLS[request.shell]
    if not _executable(shell_path):
        raise InvalidRequest(
            f"{request.shell} is not available in this sandbox ({shell_path} not found)", code="shell_missing"
        )
    return command, stdin_path, _time_limit(request, context), shell_path


def _warn_if_full(response: dict[str, Any], spool: Spool) -> None:
    if _nearly_full(spool.path):
        response.setdefault("warnings", []).append(
            f"{_temp_dir_full(spool.path)}: what the command wrote after that is lost")


def _nearly_full(directory: Path) -> bool:
    usage = os.statvfs(directory)
    return usage.f_bavail * usage.f_frsize < FULL_TEMP_DIR_BYTES


def _temp_dir_full(directory: Path) -> str:
    usage = os.statvfs(directory)
    size_mb = usage.f_blocks * usage.f_frsize // (1024 * 1024)
    return (f"the sandbox's temp dir {directory.parent} ({size_mb} MB) is full; "
            "remove files from it, or give the function more ephemeral storage")


@functools.cache
def _executable(path: str) -> bool:
    return os.access(path, os.X_OK)


def _result_envelope(
    result: CommandResult, limit: TimeLimit, identity: dict[str, Any], context: LambdaContext
) -> dict[str, Any]:
    """Everything in the response except the two streams."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "v": PROTOCOL_VERSION,
        "ok": True,
        "exit_status": result.exit_status,
        "signal": result.signal,
        "timed_out": result.timed_out,
        "time_limit": limit.to_json(),
        "state": None if result.state is None else {"cwd": result.state.cwd, "env": result.state.env},
        **({"state_error": result.state_error} if result.state_error else {}),
        **({"full_screen": result.full_screen} if result.full_screen else {}),
        **({"warnings": list(result.state.notes)} if result.state is not None and result.state.notes else {}),
        "timings": {"command_ms": _ms(result.duration)},
        # ru_maxrss is in KiB on Linux: lifetime high-water marks of this process and its children.
        "memory": {"handler_peak_kib": own.ru_maxrss, "command_peak_kib": children.ru_maxrss},
        "request_id": context.aws_request_id,
        "sandbox": identity,
    }


def _legacy_response(stdout: Path, stderr: Path, result: CommandResult) -> dict[str, Any]:
    """The shape the 2015 lambdash client reads: base64 streams and a node-style error.

    That client prints only stdout and stderr, so output cut to fit is told at the end of stderr.
    """
    streams = shape_streams(
        {"stdout": stdout, "stderr": stderr},
        budget=inline_budget(LAMBDA_RESPONSE_LIMIT_BYTES - RESPONSE_SLACK_BYTES - LEGACY_NOTE_ROOM_BYTES),
        compress=False,
        spill=None,
        key_stem="",
    )
    error: dict[str, Any] | None = None
    if result.signal is not None:
        error = {"code": 128 + result.signal, "killed": True, "signal": result.signal}
    elif result.exit_status:
        error = {"code": result.exit_status, "killed": False, "signal": None}
    notes = "".join(
        f"lambdash: {name} was cut to fit the response: {stream['lost']} of {stream['size']} bytes lost "
        "(a current lambdash client gets it all, through S3)\n"
        for name, stream in streams.items() if stream["lost"]
    )
    stderr_data = streams["stderr"]["data"]
    if notes:
        told = base64.b64decode(stderr_data)
        told += (b"" if told.endswith(b"\n") or not told else b"\n") + notes.encode()
        stderr_data = base64.b64encode(told).decode("ascii")
    return {"stdout": streams["stdout"]["data"], "stderr": stderr_data, "error": error}


def _download_key(key: str, spill: SpillTarget | None, destination: Path, field: str, sha256: str | None) -> None:
    """Fetch what the client uploaded for this request (big stdin, a big command), check it, then delete it."""
    if spill is None:
        raise InvalidRequest(f"{field} needs a spill bucket, and none is configured")
    if not key.startswith(spill.prefix.strip("/") + "/"):
        raise InvalidRequest(f"{field} must be under {spill.prefix.strip('/')}/")
    s3 = spill.client()
    s3.download_file(spill.bucket, key, str(destination))
    s3.delete_object(Bucket=spill.bucket, Key=key)
    if sha256 is not None:
        digest = hashlib.sha256()
        with open(destination, "rb") as source:
            while chunk := source.read(1024 * 1024):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise InvalidRequest(f"what came through {field} is damaged (its sha256 differs); nothing was run")


def _presign_upload(
    request: Request, context: LambdaContext, s3_factory: S3Factory, environ: Mapping[str, str]
) -> dict[str, Any]:
    """Hand out a URL the client can PUT stdin or a file to, with no S3 permission of its own."""
    spill = _spill_target(request, environ, s3_factory)
    if spill is None:
        raise InvalidRequest(f"no spill bucket is configured (set {ENV_BUCKET} on the function, or send output.bucket)")
    key = f"{spill.prefix.strip('/')}/in/{context.aws_request_id}"
    return {
        "v": PROTOCOL_VERSION,
        "ok": True,
        "upload": {
            "bucket": spill.bucket,
            "key": key,
            "put_url": presign(spill.client(), "put_object", spill.bucket, key, ServerSideEncryption="AES256",
                               ContentType="application/octet-stream"),
            "headers": {"x-amz-server-side-encryption": "AES256", "Content-Type": "application/octet-stream"},
            "expires_in": PRESIGN_EXPIRY_SECONDS,
        },
    }


def _probe(request: Request, context: LambdaContext) -> dict[str, Any]:
    """Run the network checks at once; each gets the request's timeout, all end before Lambda's deadline."""
    from .checks import run_checks
    from .contract.checks import BadCheck

    timeout = request.timeout or DEFAULT_PROBE_TIMEOUT_SECONDS
    timeout = min(timeout, max(0.1, _answer_deadline(context) - time.monotonic() - 1.0))
    try:
        document = run_checks(request.checks, timeout)
    except BadCheck as problem:
        raise InvalidRequest(str(problem)) from None
    return {"v": PROTOCOL_VERSION, "ok": True, "probe": document}


def _inventory(request: Request, identity: dict[str, Any]) -> dict[str, Any]:
    from .inventory import collect_inventory

    inventory = collect_inventory(redact=request.redact, redact_key=request.redact_key, sandbox=identity)
    return {"v": PROTOCOL_VERSION, "ok": True, "inventory": inventory}


def _log_invocation(
    request: Request | None, response: dict[str, Any], context: LambdaContext, identity: dict[str, Any],
    duration: float,
) -> None:
    """One structured line per invocation, for CloudWatch."""
    command = request.command if request is not None else None
    if command is not None and len(command) > _LOGGED_COMMAND_CHARS:
        command = command[:_LOGGED_COMMAND_CHARS] + f"... ({len(command)} characters)"
    line = {
        "lambdash": "invocation",
        "request_id": context.aws_request_id,
        "op": request.op if request is not None else None,
        "command": command,
        "exit_status": response.get("exit_status"),
        "signal": response.get("signal"),
        "timed_out": response.get("timed_out"),
        "error": (response.get("error") or {}).get("type") if not (request and request.legacy) else None,
        "duration_ms": _ms(duration),
        "sandbox_id": identity["id"],
    }
    print(json.dumps(line), flush=True)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
