"""The cwd and environment a command leaves behind, read back from its shell through a pipe.

The REPL carries its state between commands (see lambdash.repl.state): the
handler runs each command in a wrapper whose EXIT trap reports the shell's cwd
and exported variables, whatever way the command ends (``exit N`` included).
The report uses shell builtins only (``pwd``, ``export -p``, ``printf``) and goes
through a pipe the handler reads while the command runs, so it needs neither a
spool file (a full temp dir loses nothing) nor a program started with the
environment (a variable too big for execve loses nothing either).

A variable too big for the environment of any program (``NAME=value`` over the
kernel's 131072 bytes) cannot be exported to the next command's shell. It comes
through a second pipe as a shell variable instead: the shell and its builtins
see it, the programs it starts do not (they could not start with it).

When the report is missing or damaged, there is no state and ``ShellState``'s
reader says why: the client then keeps the last good state, and says so.
"""

from __future__ import annotations

import os
import re
import select
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from .limits import SHELL_OWNED_VARIABLES
from .request import ENV_ENTRY_MAX_BYTES, InvalidRequest, env_entry_bytes

# One line, so the user's command (run by the eval at its end) is on line 1 of the
# script and the shell's own messages read as they would for `sh -c COMMAND`. It starts
# the command with the previous command's status as `$?` (``__LAMBDASH_LAST_STATUS``),
# and with HOME=/tmp, not exported, when the sandbox has no HOME (Lambda sets none, and
# /tmp is the only place a user can write), so `cd` alone and `~` work as in a login shell. The
# report is: the cwd, NUL, `export -p`, NUL, each carried shell variable still set as
# NAME=value NUL, then "end" NUL (`command`: a function the user defines named pwd or
# printf must not change it). A shell addresses fds over 9 only through /proc.
WRAPPER = (
    "__lambdash_command=$1 __lambdash_fd=$__LAMBDASH_STATE_FD __lambdash_vars=$__LAMBDASH_SHELL_VARIABLES"
    " __lambdash_in=$__LAMBDASH_SHELL_VARIABLES_FD __lambdash_last=${__LAMBDASH_LAST_STATUS:-0};"
    " unset __LAMBDASH_STATE_FD __LAMBDASH_SHELL_VARIABLES __LAMBDASH_SHELL_VARIABLES_FD __LAMBDASH_LAST_STATUS;"
    " shift;"
    " [ -z \"$__lambdash_in\" ] || . \"/proc/self/fd/$__lambdash_in\";"
    " [ -n \"${HOME+set}\" ] || HOME=/tmp;"
    " __lambdash_report() { command pwd; command printf '\\0'; command export -p; command printf '\\0';"
    " for __lambdash_name in $__lambdash_vars; do"
    " eval \"[ -z \\\"\\${$__lambdash_name+set}\\\" ] || command printf '%s=%s\\\\0' $__lambdash_name"
    " \\\"\\$$__lambdash_name\\\"\"; done; command printf 'end\\0'; };"
    " trap '__lambdash_status=$?; __lambdash_report > \"/proc/self/fd/$__lambdash_fd\" 2>/dev/null;"
    " exit $__lambdash_status' EXIT;"
    " __lambdash_return() { return \"$1\"; }; __lambdash_return \"$__lambdash_last\";"
    " eval \"$__lambdash_command\""
)
WRAPPER_VARIABLES = frozenset({"__LAMBDASH_STATE_FD", "__LAMBDASH_SHELL_VARIABLES", "__LAMBDASH_SHELL_VARIABLES_FD",
                               "__LAMBDASH_LAST_STATUS"})
# A report bigger than this is not kept (the state rides in the response, which Lambda caps at 6 MB).
MAX_REPORT_BYTES = 2 * 1024 * 1024
_READ_BYTES = 256 * 1024
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ShellState:
    """The cwd and the environment changes a command left behind, and notes for the user about them."""

    cwd: str
    env: dict[str, str | None]
    notes: tuple[str, ...] = ()


@dataclass
class StateChannel:
    """The pipes of one command's state: its report coming back, and the big variables going in.

    ``child_fds`` go to the shell (``pass_fds``) and ``environment`` into its
    environment; after the start, ``started()`` closes the parent's copies of them.
    The handler calls ``read_available()`` whenever the report pipe is readable
    (``fd``) while the command runs, and ``state()`` once the shell has exited.
    """

    env: dict[str, str]
    # The status the command starts with as `$?`: the previous command's, in the REPL.
    last_status: int = 0
    fd: int = field(init=False)
    child_fds: tuple[int, ...] = field(init=False)
    environment: dict[str, str] = field(init=False)
    _report: bytearray = field(init=False, default_factory=bytearray)
    _too_big: bool = field(init=False, default=False)
    _script: bytes = field(init=False, default=b"")
    _script_fd: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        """Take the variables too big for execve out of ``env`` (it is changed in place): they go by pipe."""
        big = {name: value for name, value in self.env.items() if env_entry_bytes(name, value) > ENV_ENTRY_MAX_BYTES}
        for name in big:
            if not _IDENTIFIER.fullmatch(name):
                raise InvalidRequest(f"env value of {name} is over {ENV_ENTRY_MAX_BYTES} bytes, and {name!r} "
                                     "cannot be a shell variable either")
            del self.env[name]
        self.fd, report_write = os.pipe()
        os.set_blocking(self.fd, False)
        self.child_fds = (report_write,)
        self.environment = {"__LAMBDASH_STATE_FD": str(report_write)}
        if self.last_status:
            self.environment["__LAMBDASH_LAST_STATUS"] = str(self.last_status)
        if big:
            script_read, self._script_fd = os.pipe()
            self.child_fds += (script_read,)
            self.environment.update(__LAMBDASH_SHELL_VARIABLES=" ".join(big),
                                    __LAMBDASH_SHELL_VARIABLES_FD=str(script_read))
            self._script = "".join(f"{name}={_single_quoted(value)}\n" for name, value in big.items()).encode(
                "utf-8", "surrogateescape")

    def started(self) -> None:
        """The shell has its copies: close ours, and feed it the big variables (from a thread: they may fill a pipe)."""
        for descriptor in self.child_fds:
            os.close(descriptor)
        if self._script_fd is not None:
            threading.Thread(target=_write_all, args=(self._script_fd, self._script), name="shell-variables",
                             daemon=True).start()

    def abandon(self) -> None:
        """The shell never started: close everything."""
        for descriptor in (*self.child_fds, self.fd, self._script_fd):
            if descriptor is not None:
                os.close(descriptor)

    def read_available(self) -> bool:
        """Take what the report pipe holds now; False once every writer has closed it.

        A report past MAX_REPORT_BYTES is read and dropped.
        """
        while True:
            try:
                data = os.read(self.fd, _READ_BYTES)
            except BlockingIOError:
                return True
            if not data:
                return False
            if self._too_big:
                continue
            self._report += data
            if len(self._report) > MAX_REPORT_BYTES:
                self._too_big = True
                self._report.clear()

    def wait_readable(self, seconds: float) -> None:
        """Wait at most ``seconds`` for the report pipe to have data (used where no pidfd can wait instead)."""
        select.select([self.fd], [], [], max(0.0, seconds))

    def state(self, base_env: Mapping[str, str]) -> tuple[ShellState | None, str | None]:
        """The state the report describes relative to ``base_env``, or None and why it could not be read.

        Call once the shell has exited: its trap has written all it will. Closes the pipe.
        """
        self.read_available()
        os.close(self.fd)
        if self._too_big:
            return None, f"the shell's environment is over {MAX_REPORT_BYTES // (1024 * 1024)} MB"
        report = bytes(self._report)
        if not report.endswith(b"end\0") or report.count(b"\0") < 3:
            return None, "the shell did not report its cwd and environment (did the command exec, or end its shell?)"
        cwd_text, exported, rest = report[:-len(b"end\0")].split(b"\0", 2)
        cwd = cwd_text.decode("utf-8", "surrogateescape").removesuffix("\n")
        if not cwd.startswith("/"):
            return None, "the shell reported no cwd"
        try:
            after = parse_exports(exported)
        except ValueError as problem:
            return None, f"the shell's export -p could not be read ({problem})"
        for entry in rest.split(b"\0"):
            name, sep, value = entry.partition(b"=")
            if sep:
                after.setdefault(name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        notes = tuple(
            f"{name} is {len(value.encode('utf-8', 'surrogateescape'))} bytes, over the kernel's limit of "
            f"{ENV_ENTRY_MAX_BYTES} for one variable, so no program can start with it exported; later commands "
            "get it as a shell variable, not exported"
            for name, value in after.items()
            if env_entry_bytes(name, value) > ENV_ENTRY_MAX_BYTES and _exported(name, exported)
        )
        return ShellState(cwd=cwd, env=environment_changes(base_env, after), notes=notes), None


def _exported(name: str, exported: bytes) -> bool:
    return re.search(rb"(?m)^(?:export|declare -[-a-zA-Z]*x[a-zA-Z]*) " + re.escape(name.encode()) + rb"=",
                     exported) is not None


def _write_all(descriptor: int, data: bytes) -> None:
    """Write ``data`` to a pipe and close it; a shell that stopped reading just ends it."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def environment_changes(base: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str | None]:
    """The overlay that turns ``base`` into ``after``: new values, and None for unset.

    Names no shell can hold (``a-b``) are not listed by ``export -p``, and no command
    can change them: they are never reported unset.
    """
    ignored = SHELL_OWNED_VARIABLES | WRAPPER_VARIABLES
    changes: dict[str, str | None] = {
        name: value for name, value in after.items() if name not in ignored and base.get(name) != value
    }
    changes.update({name: None for name in base
                    if name not in after and name not in ignored and _IDENTIFIER.fullmatch(name)})
    return changes


# --- reading `export -p` -------------------------------------------------------------------

_ANSI_C_ESCAPES = {ord("a"): 7, ord("b"): 8, ord("e"): 27, ord("E"): 27, ord("f"): 12, ord("n"): 10, ord("r"): 13,
                   ord("t"): 9, ord("v"): 11, ord("\\"): 92, ord("'"): 39, ord('"'): 34, ord("?"): 63}


def parse_exports(text: bytes) -> dict[str, str]:
    """The exported variables ``export -p`` listed, as any shell writes it.

    dash writes ``export NAME='value'``; bash ``declare -x NAME="value"`` (``export``
    in POSIX mode), with ``$'...'`` for control characters. An exported variable
    with no value is not in any program's environment, and is left out. Raises
    ValueError when the text does not read as such a listing.
    """
    variables: dict[str, str] = {}
    for words in _shell_lines(text):
        if not words:
            continue
        if words[0] not in (b"export", b"declare", b"typeset"):
            raise ValueError(f"unexpected {words[0][:20]!r}")
        flags = b"".join(word for word in words[1:] if word.startswith(b"-"))
        if b"a" in flags or b"A" in flags:  # arrays are never in the environment
            continue
        for word in words[1:]:
            if word.startswith(b"-"):
                continue
            name, sep, value = word.partition(b"=")
            if sep:
                variables[name.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
    return variables


def _shell_lines(text: bytes) -> list[list[bytes]]:
    """The words of each line, with the quoting a shell uses for values undone."""
    lines: list[list[bytes]] = []
    words: list[bytes] = []
    word = bytearray()
    in_word = False
    index, size = 0, len(text)
    while index < size:
        char = text[index]
        if char in b" \t\n":
            if in_word:
                words.append(bytes(word))
                word.clear()
                in_word = False
            if char == ord("\n"):
                lines.append(words)
                words = []
            index += 1
            continue
        in_word = True
        if char == ord("'"):
            end = text.find(b"'", index + 1)
            if end < 0:
                raise ValueError("an unterminated '")
            word += text[index + 1:end]
            index = end + 1
        elif char == ord('"'):
            index = _double_quoted(text, index + 1, word)
        elif text.startswith(b"$'", index):
            index = _ansi_c_quoted(text, index + 2, word)
        elif char == ord("\\"):
            if index + 1 < size and text[index + 1] != ord("\n"):
                word.append(text[index + 1])
            index += 2
        else:
            word.append(char)
            index += 1
    if in_word:
        words.append(bytes(word))
    if words:
        lines.append(words)
    return lines


def _double_quoted(text: bytes, index: int, word: bytearray) -> int:
    """Read "..." from just after its opening quote into ``word``; the index after its closing quote."""
    while index < len(text):
        char = text[index]
        if char == ord('"'):
            return index + 1
        if char == ord("\\") and index + 1 < len(text) and text[index + 1] in b'\\"$`\n':
            if text[index + 1] != ord("\n"):
                word.append(text[index + 1])
            index += 2
            continue
        word.append(char)
        index += 1
    raise ValueError('an unterminated "')


def _ansi_c_quoted(text: bytes, index: int, word: bytearray) -> int:
    """Read $'...' from just after its opening quote into ``word``; the index after its closing quote."""
    while index < len(text):
        char = text[index]
        if char == ord("'"):
            return index + 1
        if char != ord("\\") or index + 1 >= len(text):
            word.append(char)
            index += 1
            continue
        escape = text[index + 1]
        index += 2
        if escape in _ANSI_C_ESCAPES:
            word.append(_ANSI_C_ESCAPES[escape])
        elif escape in b"01234567":
            digits = re.match(rb"[0-7]{1,3}", text[index - 1:index + 2])
            assert digits is not None
            word.append(int(digits[0], 8) & 0xFF)
            index += len(digits[0]) - 1
        elif escape in b"xuU":
            width = {ord("x"): 2, ord("u"): 4, ord("U"): 8}[escape]
            digits = re.match(rb"[0-9A-Fa-f]{1,%d}" % width, text[index:index + width])
            if digits is None:
                word += b"\\" + bytes([escape])
                continue
            value = int(digits[0], 16)
            word += bytes([value]) if escape == ord("x") else chr(value).encode("utf-8", "surrogatepass")
            index += len(digits[0])
        elif escape == ord("c") and index < len(text):
            word.append(text[index] & 0x1F)
            index += 1
        else:
            word += b"\\" + bytes([escape])
    raise ValueError("an unterminated $'")
