"""The REPL's sessions: ``:i COMMAND`` relays what you type to a running command; ``:py`` is a Python console.

Both open a session (``lambdash.shell.session``) with the carried cwd and
environment, and read your lines here with prompt_toolkit, each with a history file
of its own, apart from the shell's. The command's output is printed above the line
you are editing; its unfinished last line (a prompt such as ``Name? ``) is shown as
the start of that line, as rlwrap does. Enter sends the line; Ctrl-C sends SIGINT
to the remote command; Ctrl-D sends EOF, and the REPL's prompt comes back once the
command has ended.

``:py`` runs a small console in the sandbox (``code.InteractiveConsole``, so values
and tracebacks print as Python prints them) that keeps its state for the session;
it tells the client after each line whether it is ready for a statement (``>>>``)
or needs more (``...``), through a marker on stderr the client takes out. The line is
highlighted with pygments' Python lexer. A function's own code copied into a twin
(``deploy --like --with-code``) is importable, and the banner names its handler.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import secrets
import shlex
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.formatted_text import ANSI, StyleAndTextTuples, to_formatted_text
from prompt_toolkit.history import History, InMemoryHistory, ThreadedHistory
from prompt_toolkit.input import Input
from prompt_toolkit.lexers import Lexer, PygmentsLexer
from prompt_toolkit.output import Output
from pygments.lexers.python import PythonLexer  # type: ignore[import-untyped, unused-ignore]

from lambdash.errors import LambdashError
from lambdash.repl.history import PrivateFileHistory, history_path
from lambdash.shell.remote import RemoteResult
from lambdash.shell.session import InteractiveSession, session_error, time_limit_note
from lambdash.terminal import RED, RESET
from lambdash_handler.contract import ENV_LIKE_HANDLER

if TYPE_CHECKING:
    from lambdash.repl.session import ReplSession

# After a line, :py waits this long for the console's >>> or ... before prompting without one.
CONSOLE_ANSWER_SECONDS = 0.5
# Programs that read commands from a terminal; run with no input they exit at once.
READS_A_TERMINAL = frozenset({
    "python", "python3", "node", "irb", "ruby", "sh", "bash", "dash", "zsh", "ash", "sqlite3", "psql", "mysql",
    "bc", "dc", "ed", "lua", "php", "perl", "R", "ghci", "scala", "jshell", "cat",
})

# The console run in the sandbox for :py. It reads a line at a time, runs it in one namespace, and
# after each line writes MARKER;ready or MARKER;more on stderr (an OSC sequence, taken out by the client).
CONSOLE = r"""
import code, os, sys
marker = sys.argv[1]
for path in ("/opt/python", os.environ.get("LAMBDA_TASK_ROOT") or ""):  # the task root first, as Lambda has it
    if path and os.path.isdir(path) and path not in sys.path:
        sys.path.insert(0, path)
handler = os.environ.get(sys.argv[2])
print("Python %s in the sandbox (%s); Ctrl-D returns to lambdash" % (sys.version.split()[0],
      os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "lambdash")))
if handler:
    print("your function's code is importable: its handler is %s (from %s import %s)"
          % (handler, handler.rsplit(".", 1)[0], handler.rsplit(".", 1)[-1]))
console = code.InteractiveConsole({"__name__": "__console__", "__doc__": None})
more = False
while True:
    sys.stdout.flush()
    sys.stderr.write("\x1b]%s;%s\x07" % (marker, "more" if more else "ready"))
    sys.stderr.flush()
    try:
        line = sys.stdin.readline()
        if not line:
            break
        more = console.push(line[:-1] if line.endswith("\n") else line)
    except KeyboardInterrupt:
        sys.stderr.write("\nKeyboardInterrupt\n")
        console.resetbuffer()
        more = False
"""


class LinePrompt:
    """Reads lines for a session with prompt_toolkit, with the command's output printed above them.

    The prompts run in one asyncio loop for the whole session, and the command's
    output (which arrives on the session's own thread) is handed to that loop, so
    output and prompts never race: a line printed while a prompt is up goes above
    it, and between two prompts it goes straight out, in order.
    """

    def __init__(self, repl: ReplSession, *, history: History, lexer: Lexer | None = None,
                 input: Input | None = None,  # noqa: A002 - prompt_toolkit's own name for it
                 output: Output | None = None, console_marker: str | None = None) -> None:
        self.repl = repl
        self.prompt: PromptSession[str] = PromptSession(history=history, lexer=lexer, input=input, output=output,
                                                        enable_history_search=False)
        self.output = self.prompt.output
        self.partial = ""
        self.state: str | None = None  # :py's console: "ready", "more", or None while a line runs
        self._marker = re.compile(rf"\x1b\]{re.escape(console_marker)};(ready|more)\x07") if console_marker else None
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in ("stdout", "stderr")}
        self._carry = ""
        self._color = repl.terminal.stderr_color
        # The loop the prompts run in, while they do; output is handed to it.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._answered: asyncio.Event | None = None
        self._ended: asyncio.Event | None = None

    # --- output from the command (the session's downlink thread) -------------------------------

    def write(self, name: str, data: bytes) -> None:
        text = self._decoders[name].decode(data)
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._show, name, text)
                return
            self._show(name, text)

    def _show(self, name: str, text: str) -> None:
        """In the prompts' loop (or with none running): print what is complete, keep the unfinished line."""
        answered = False
        if name == "stderr":
            text, answered = self._take_markers(text)
            if text:
                self._print(self.partial + (f"{RED}{text}{RESET}" if self._color else text))
                self.partial = ""
        else:
            complete, newline, self.partial = (self.partial + text).rpartition("\n")
            if newline:
                self._print(complete + "\n")
        app = self.prompt.app
        if app.is_running:
            app.invalidate()
        if answered and self._answered is not None:
            self._answered.set()

    def _take_markers(self, text: str) -> tuple[str, bool]:
        if self._marker is None:
            return text, False
        text = self._carry + text
        self._carry = ""
        states = self._marker.findall(text)
        if states:
            self.state = states[-1]
        text = self._marker.sub("", text)
        start = text.rfind("\x1b]")
        if start != -1 and "\x07" not in text[start:]:  # a marker cut in two: the rest comes next
            text, self._carry = text[:start], text[start:]
        return text, bool(states)

    def _print(self, text: str) -> None:
        def write() -> None:
            self.output.write_raw(text)
            self.output.flush()

        if self.prompt.app.is_running:
            run_in_terminal(write)
        else:
            write()

    def _message(self) -> StyleAndTextTuples:
        shown: StyleAndTextTuples = list(to_formatted_text(ANSI(self.partial)))
        if self._marker is not None and self.state is not None and not self.partial:
            shown.append(("class:prompt", ">>> " if self.state == "ready" else "... "))
        return shown

    # --- the loop ------------------------------------------------------------------------------

    def run(self, session: InteractiveSession) -> RemoteResult:
        """Read and send lines to ``session`` until EOF or its command's end; its result."""
        asyncio.run(self._prompts(session))
        with self._lock:
            if self.partial:
                self._print(self.partial + "\n")
            self.partial = ""
        while True:
            try:
                result = session.wait(timeout=0.2)
            except KeyboardInterrupt:
                session.send_signal("INT")
                continue
            if result is not None:
                return result

    async def _prompts(self, session: InteractiveSession) -> None:
        loop = asyncio.get_running_loop()
        self._answered = asyncio.Event()
        ended = self._ended = asyncio.Event()

        def on_end() -> None:
            def end() -> None:
                ended.set()
                self._end_prompt_if_ended()

            with self._lock:
                if self._loop is not None:
                    loop.call_soon_threadsafe(end)

        session.on_end = on_end
        with self._lock:
            self._loop = loop
        try:
            while not session.ended:
                line = await self._read_line(session, ended)
                if line is None:
                    return
                self.partial = ""
                if self._marker is not None:
                    self.state = None
                    self._answered.clear()
                session.send_input(line.encode("utf-8", "surrogateescape") + b"\n")
                if self._marker is not None:
                    await self._await_console(ended)
        finally:
            with self._lock:
                self._loop = None
            for _ in range(3):  # what the command wrote just before is in the loop's queue: show it
                await asyncio.sleep(0)

    async def _read_line(self, session: InteractiveSession, ended: asyncio.Event) -> str | None:
        """The next line; None at EOF (sent) or once the command has ended. Ctrl-C sends SIGINT."""
        while not session.ended:
            try:
                # Awaited here, never as a task of its own: asyncio lets Ctrl-C's KeyboardInterrupt
                # out of a task only by stopping the whole loop.
                return await self.prompt.prompt_async(self._message, pre_run=self._end_prompt_if_ended)
            except KeyboardInterrupt:
                self.partial = ""
                session.send_signal("INT")
            except EOFError:
                if not session.ended:
                    session.send_eof()
                return None
        return None

    def _end_prompt_if_ended(self) -> None:
        """In the loop: take the prompt down once the command has ended (it may end while the prompt is up)."""
        app = self.prompt.app
        app.erase_when_done = False
        if self._ended is not None and self._ended.is_set() and app.is_running and not app.is_done:
            app.erase_when_done = True  # an empty prompt nobody answered leaves no line behind
            app.exit(exception=EOFError())

    async def _await_console(self, ended: asyncio.Event) -> None:
        """A moment for :py's console to say >>> or ... (a line that runs longer gets a bare prompt, for input()).

        The terminal stays in raw mode meanwhile, so what you type ahead is not echoed twice.
        """
        assert self._answered is not None
        with self.prompt.input.raw_mode():
            waiting = [asyncio.ensure_future(self._answered.wait()), asyncio.ensure_future(ended.wait())]
            await asyncio.wait(waiting, timeout=CONSOLE_ANSWER_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            for future in waiting:
                future.cancel()


def input_history(repl: ReplSession, kind: str) -> History:
    """The history of what is typed to :i or :py, per target, apart from the shell's (mode 0600)."""
    base = history_path(repl.target)
    path = Path(f"{base}-{kind}")
    try:
        return ThreadedHistory(PrivateFileHistory(path))
    except OSError:
        return InMemoryHistory()


def run_interactive(repl: ReplSession, command: str, *, kind: str, lexer: Lexer | None = None,
                    console_marker: str | None = None, label: str | None = None) -> RemoteResult:
    """Run ``command`` as a session fed from the prompt, with the carried cwd and environment."""
    shell = repl.shell
    state = shell.state
    prompt = LinePrompt(repl, history=input_history(repl, kind), lexer=lexer, input=repl.prompt.input,
                        output=repl.prompt.output, console_marker=console_marker)
    session = InteractiveSession(shell.remote, repl.target, command, live=prompt, cwd=state.cwd, env=state.env,
                                 timeout=repl.timeout, shell_name=shell.shell_name,
                                 require_shell=shell.require_bash, notice=repl.notice)
    shown = label or command
    try:
        session.open()
    except LambdashError as problem:
        repl.audit.record(target=repl.target.label, command=shown, request_id=None, exit_status=None,
                          sandbox_id=None, error=problem.message)
        raise
    result = prompt.run(session)
    error = session_error(result)
    repl.audit.record(target=repl.target.label, command=shown, request_id=result.request_id,
                      exit_status=None if error else result.status, sandbox_id=result.sandbox.get("id"), error=error)
    result.stdout.write_to(repl.terminal.stdout, "stdout")
    result.stderr.write_to(repl.terminal.stderr, "stderr")
    if error:
        raise LambdashError(error)
    for text in result.warnings:
        repl.terminal.warning(text)
    note = time_limit_note(result)
    if note:
        repl.notice(note)
    return result


def python_console(repl: ReplSession) -> RemoteResult:
    """``:py``: a Python console in the sandbox, its lines edited and highlighted here."""
    marker = f"lambdash-py-{secrets.token_hex(8)}"
    command = f"exec python3 -u -c {shlex.quote(CONSOLE)} {marker} {ENV_LIKE_HANDLER}"
    return run_interactive(repl, command, kind="python", lexer=PygmentsLexer(PythonLexer), console_marker=marker,
                           label=":py")


def reads_a_terminal(command: str) -> str | None:
    """The program a command runs that reads input it was not given (an interpreter alone, ``read``); or None."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words:
        return None
    program = words[0].rsplit("/", 1)[-1]
    if program == "read":
        return "read"
    if program in READS_A_TERMINAL and all(word.startswith("-") for word in words[1:]):
        return program
    return None


def input_hint(command: str) -> str | None:
    """The one-line hint for a command that met EOF at once for want of input; or None."""
    program = reads_a_terminal(command)
    if program is None:
        return None
    hint = f"`{program}` got no input (a command here gets none): `:i {command}` relays what you type"
    if program.startswith("python"):
        hint += "; `:py` opens a Python console"
    return hint

