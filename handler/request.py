"""The request half of the client-handler contract: validate an event into a Request.

Every way an event can be malformed is caught here and raised as
``InvalidRequest`` with a message that names the problem, so the entry point can
answer with a structured error instead of an unhandled exception.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .contract import MAX_PROBE_CHECKS, MAX_TIMEOUT_SECONDS, PROTOCOL_VERSION

OPERATIONS = ("run", "presign_upload", "inventory", "probe")
SHELLS = {"sh": "/bin/sh", "bash": "/bin/bash"}
# The kernel refuses to start a program with one environment string (NAME=value and its NUL)
# longer than this (MAX_ARG_STRLEN, 32 pages): execve fails with E2BIG.
ENV_ENTRY_MAX_BYTES = 131_072


class InvalidRequest(Exception):
    """The event is not a request this handler understands.

    ``code`` lets a client tell apart the refusals it can recover from
    (``cwd_missing``, ``shell_missing``) without parsing the message.
    """

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OutputSettings:
    """Where output goes: inline up to ``inline_limit``, else to the spill bucket."""

    inline_limit: int | None = None
    bucket: str | None = None
    prefix: str | None = None
    compress: bool = True


@dataclass(frozen=True)
class SessionSettings:
    """A session's terminal: raw keystrokes (``tty``) or plain input, and the window it has."""

    tty: bool = False
    rows: int | None = None
    columns: int | None = None
    term: str | None = None


@dataclass(frozen=True)
class TerminalSettings:
    """The terminal the client shows the output on: its size and type, for the command's COLUMNS, LINES and TERM."""

    columns: int
    lines: int
    term: str | None = None

    def environment(self) -> dict[str, str]:
        """The variables a command run for this terminal gets, under the request's own env."""
        variables = {"COLUMNS": str(self.columns), "LINES": str(self.lines)}
        if self.term:
            variables["TERM"] = self.term
        return variables


@dataclass(frozen=True)
class Request:
    """A validated request to run one command (or one of the other operations)."""

    op: str = "run"
    command: str = ""
    shell: str = "sh"
    stdin: bytes | None = None
    stdin_key: str | None = None
    # A command too big for the request travels through the spill bucket, as big stdin does.
    command_key: str | None = None
    # The sha256 the client computed of what it uploaded (checked once it is downloaded).
    stdin_sha256: str | None = None
    command_sha256: str | None = None
    cwd: str | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    timeout: float | None = None
    keep_background: bool = False
    capture_state: bool = False
    # With capture_state: the status the command starts with as `$?` (the REPL's last one).
    last_status: int = 0
    # Set when the client's output is a terminal (see ``TerminalSettings``).
    terminal: TerminalSettings | None = None
    output: OutputSettings = field(default_factory=OutputSettings)
    redact: bool = True
    # The user's own key for the HMAC a redacted value shows (see ``redaction``).
    redact_key: bytes | None = None
    legacy: bool = False
    # Sent by a client calling the streaming API; answered with records where the handler can stream.
    stream: bool = False
    # op "probe": the network checks to run (see ``checks``), each within ``timeout``.
    checks: tuple[str, ...] = ()
    # A session (input while the command runs, through a queue; see ``session``), for a streamed run only.
    session: SessionSettings | None = None


def _expect(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python, but a JSON true is never a valid number here.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise InvalidRequest(f"{name} must be {_kind_name(kind)}, not {_json_type(value)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string", bool: "a boolean", int: "an integer", float: "a number", dict: "an object", list: "an array",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_request(event: Any) -> Request:
    """Validate an invocation event and return the Request it describes.

    Raises InvalidRequest naming the first problem found.
    """
    if not isinstance(event, dict):
        raise InvalidRequest(f"event must be a JSON object, not {_json_type(event)}")
    if "v" not in event:
        return _parse_legacy(event)
    version = event["v"]
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise InvalidRequest(f"unknown protocol version {version!r} (this handler speaks version {PROTOCOL_VERSION})")
    op = event.get("op", "run")
    if op not in OPERATIONS:
        raise InvalidRequest(f"unknown op {op!r} (expected one of: {', '.join(OPERATIONS)})")
    known = {"v", "op", "command", "command_key", "command_sha256", "shell", "stdin", "stdin_key", "stdin_sha256",
             "cwd", "env", "timeout",
             "keep_background", "capture_state", "last_status", "terminal", "output", "redact", "redact_key",
             "stream", "checks", "session"}
    unknown = sorted(set(event) - known)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}")
    if op == "probe":
        return Request(op=op, checks=_parse_checks(event.get("checks")), timeout=_parse_timeout(event.get("timeout")))
    if op != "run":
        return Request(op=op, redact=bool(_expect(event.get("redact", True), bool, "redact")),
                       redact_key=_parse_redact_key(event.get("redact_key")), output=_parse_output(event.get("output")))
    command_key = _parse_optional_str(event.get("command_key"), "command_key")
    capture_state = _expect(event.get("capture_state", False), bool, "capture_state")
    if "command" not in event and command_key is None:
        raise InvalidRequest("command is missing")
    command = _expect(event.get("command", ""), str, "command")
    if command and command_key is not None:
        raise InvalidRequest("give command or command_key, not both")
    _check_command(command)
    shell = _expect(event.get("shell", "sh"), str, "shell")
    if shell not in SHELLS:
        raise InvalidRequest(f"shell must be one of: {', '.join(SHELLS)}")
    return Request(
        op="run",
        command=command,
        shell=shell,
        stdin=_parse_stdin(event.get("stdin")),
        stdin_key=_parse_optional_str(event.get("stdin_key"), "stdin_key"),
        command_key=command_key,
        stdin_sha256=_parse_optional_str(event.get("stdin_sha256"), "stdin_sha256"),
        command_sha256=_parse_optional_str(event.get("command_sha256"), "command_sha256"),
        cwd=_parse_cwd(event.get("cwd")),
        env=_parse_env(event.get("env"), carried=capture_state),
        timeout=_parse_timeout(event.get("timeout")),
        keep_background=_expect(event.get("keep_background", False), bool, "keep_background"),
        capture_state=capture_state,
        last_status=_parse_last_status(event.get("last_status"), capture_state),
        terminal=_parse_terminal(event.get("terminal")),
        output=_parse_output(event.get("output")),
        stream=_expect(event.get("stream", False), bool, "stream"),
        session=_parse_session(event.get("session")),
    )


def _parse_legacy(event: dict[str, Any]) -> Request:
    """The 2015 lambdash client sends only {"command": "..."}."""
    if "command" not in event:
        raise InvalidRequest("command is missing (send {\"v\": 1, \"command\": \"...\"})")
    command = _expect(event["command"], str, "command")
    _check_command(command)
    return Request(command=command, legacy=True)


def _check_command(command: str) -> None:
    if "\0" in command:
        raise InvalidRequest("command must not contain a NUL character")
    _check_encodable(command, "command")


def _check_encodable(text: str, what: str) -> None:
    """Refuse a string no program could be given: a lone surrogate that is not an undecodable byte.

    Characters U+DC80 to U+DCFF stand for bytes that are not UTF-8 (Python's
    surrogateescape), so they are kept; any other surrogate has no bytes at all.
    """
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as problem:
        raise InvalidRequest(
            f"{what} holds a lone surrogate (U+{ord(text[problem.start]):04X} at character {problem.start}), "
            "which is not text; send it as UTF-8"
        ) from None



def _parse_optional_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    return str(_expect(value, str, name))


def _parse_stdin(value: Any) -> bytes | None:
    if value is None:
        return None
    _expect(value, str, "stdin")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("stdin is not valid base64") from None


def _parse_checks(value: Any) -> tuple[str, ...]:
    if value is None:
        raise InvalidRequest("checks is missing")
    _expect(value, list, "checks")
    if not 0 < len(value) <= MAX_PROBE_CHECKS:
        raise InvalidRequest(f"checks must hold 1 to {MAX_PROBE_CHECKS} checks, not {len(value)}")
    for index, check in enumerate(value):
        _expect(check, str, f"checks[{index}]")
    return tuple(value)


def _parse_redact_key(value: Any) -> bytes | None:
    if value is None:
        return None
    _expect(value, str, "redact_key")
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise InvalidRequest("redact_key must be hex") from None
    if not 16 <= len(key) <= 64:
        raise InvalidRequest("redact_key must be 16 to 64 bytes")
    return key


def _parse_cwd(value: Any) -> str | None:
    if value is None:
        return None
    _expect(value, str, "cwd")
    if not value or "\0" in value:
        raise InvalidRequest("cwd must be a non-empty path")
    _check_encodable(value, "cwd")
    if not os.path.isdir(value):
        raise InvalidRequest(f"cwd does not exist: {value}", code="cwd_missing")
    return str(value)


def _parse_env(value: Any, *, carried: bool = False) -> dict[str, str | None]:
    """The environment overlay; InvalidRequest for any variable no program could be started with.

    A ``carried`` overlay (the REPL's, with capture_state) may hold a value too big
    for the kernel: the command's shell gets it as a shell variable (see ``runner``).
    """
    if value is None:
        return {}
    _expect(value, dict, "env")
    env: dict[str, str | None] = {}
    for name, setting in value.items():
        if not name or "=" in name or "\0" in name:
            raise InvalidRequest(f"env has an invalid variable name {name!r}")
        _check_encodable(name, f"env name {name!r}")
        if setting is not None:
            _expect(setting, str, f"env[{name!r}]")
            if "\0" in setting:
                raise InvalidRequest(f"env[{name!r}] must not contain a NUL character")
            _check_encodable(setting, f"env value of {name}")
            if not carried and env_entry_bytes(name, setting) > ENV_ENTRY_MAX_BYTES:
                raise InvalidRequest(f"env value of {name} is over {ENV_ENTRY_MAX_BYTES} bytes "
                                     "(with its name, the kernel's limit for one variable)")
        env[name] = setting
    return env


def env_entry_bytes(name: str, value: str) -> int:
    """What ``NAME=value`` takes in a program's environment, its closing NUL included."""
    return len(name.encode("utf-8", "surrogateescape")) + len(value.encode("utf-8", "surrogateescape")) + 2


def _parse_last_status(value: Any, capture_state: bool) -> int:
    if value is None:
        return 0
    _expect(value, int, "last_status")
    if not 0 <= value <= 255:
        raise InvalidRequest(f"last_status must be 0 to 255, not {value}")
    if not capture_state:
        raise InvalidRequest("last_status needs capture_state (it is the REPL's `$?`)")
    return int(value)


# A terminal bigger than this is not a terminal.
MAX_TERMINAL_CELLS = 10_000
_TERMINAL_TYPE = re.compile(r"[\x20-\x7e]{1,256}")


def _parse_terminal(value: Any) -> TerminalSettings | None:
    if value is None:
        return None
    _expect(value, dict, "terminal")
    unknown = sorted(set(value) - {"columns", "lines", "term"})
    if unknown:
        raise InvalidRequest(f"unknown field terminal.{unknown[0]}")
    size = {}
    for name in ("columns", "lines"):
        if name not in value:
            raise InvalidRequest(f"terminal.{name} is missing")
        _expect(value[name], int, f"terminal.{name}")
        if not 0 < value[name] <= MAX_TERMINAL_CELLS:
            raise InvalidRequest(f"terminal.{name} must be 1 to {MAX_TERMINAL_CELLS}, not {value[name]}")
        size[name] = int(value[name])
    term = _parse_optional_str(value.get("term"), "terminal.term")
    if term is not None and not _TERMINAL_TYPE.fullmatch(term):
        raise InvalidRequest("terminal.term must be a terminal type such as xterm-256color")
    return TerminalSettings(columns=size["columns"], lines=size["lines"], term=term)


def _parse_timeout(value: Any) -> float | None:
    if value is None:
        return None
    _expect(value, (int, float), "timeout")
    if not 0 < value <= MAX_TIMEOUT_SECONDS:
        raise InvalidRequest(f"timeout must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds, not {value!r}")
    return float(value)


def _parse_session(value: Any) -> SessionSettings | None:
    if value is None:
        return None
    _expect(value, dict, "session")
    unknown = sorted(set(value) - {"tty", "rows", "columns", "term"})
    if unknown:
        raise InvalidRequest(f"unknown field session.{unknown[0]}")
    size: dict[str, int | None] = {}
    for name in ("rows", "columns"):
        number = value.get(name)
        if number is not None:
            _expect(number, int, f"session.{name}")
            if not 0 < number < 10_000:
                raise InvalidRequest(f"session.{name} must be 1 to 9999, not {number}")
        size[name] = number
    term = _parse_optional_str(value.get("term"), "session.term")
    if term is not None and (not term or len(term) > 64 or not term.isprintable() or "=" in term):
        raise InvalidRequest("session.term must be a terminal type name such as xterm-256color")
    return SessionSettings(tty=_expect(value.get("tty", False), bool, "session.tty"), rows=size["rows"],
                           columns=size["columns"], term=term)


def _parse_output(value: Any) -> OutputSettings:
    if value is None:
        return OutputSettings()
    _expect(value, dict, "output")
    unknown = sorted(set(value) - {"inline_limit", "bucket", "prefix", "compress"})
    if unknown:
        raise InvalidRequest(f"unknown field output.{unknown[0]}")
    inline_limit = value.get("inline_limit")
    if inline_limit is not None:
        _expect(inline_limit, int, "output.inline_limit")
        if inline_limit < 0:
            raise InvalidRequest("output.inline_limit must not be negative")
    return OutputSettings(
        inline_limit=inline_limit,
        bucket=_parse_optional_str(value.get("bucket"), "output.bucket") or None,
        prefix=_parse_optional_str(value.get("prefix"), "output.prefix"),
        compress=_expect(value.get("compress", True), bool, "output.compress"),
    )
