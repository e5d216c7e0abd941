"""The REPL's loop: read a line, run it on the target, show the result, never die.

``ReplSession`` wires the parts together: the prompt (prompt_toolkit, with the
bash lexer, history, suggestions, completion and the bottom toolbar), the
carried shell state, the result printer and the meta-commands. It takes
``input=`` and ``output=`` for prompt_toolkit and a ``Terminal`` for the remote
bytes, so tests drive it with ``create_pipe_input()`` and ``DummyOutput()`` and
read what it printed.

How it stays alive: Ctrl-C at the prompt clears the line; Ctrl-C while a command
runs abandons the wait at once (see ``interruptible``); Ctrl-D leaves with status 0
(``exit [N]`` with N, or the last command's status); a
lambdash error prints one line; anything else is reported in one line, and the
loop goes on.
"""

from __future__ import annotations

import queue
import re
import time
import traceback
from collections.abc import Callable
from typing import TypeVar

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app_or_none, run_in_terminal
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import has_focus, is_searching
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output
from prompt_toolkit.search import accept_search
from prompt_toolkit.shortcuts import CompleteStyle

from lambdash.config import Target
from lambdash.errors import ExitStatus, LambdashError
from lambdash.repl.completer import Location, ShellCompleter
from lambdash.repl.interactive import input_hint
from lambdash.repl.interruptible import Interrupted, RemoteCall, Settled
from lambdash.repl.lexer import REPL_STYLE, bash_lexer
from lambdash.repl.listing import Lister, ListingCache, ListingRequest, RemoteLister, commands_scope
from lambdash.repl.meta_commands import META_COMMANDS, LeaveRepl, run_meta
from lambdash.repl.results import LiveView, ResultPrinter, full_screen_hint, status_note
from lambdash.repl.scanner import needs_continuation, scan
from lambdash.repl.shell_state import CarriedShell, SandboxSeen
from lambdash.repl.toolbar import LastCommand, toolbar_fragments
from lambdash.repl.tunnels import ReplTunnels, stopped_line
from lambdash.shell.audit import AuditLog
from lambdash.shell.remote import RemoteResult, RemoteShell, Stdin
from lambdash.terminal import OutputTerminal, Terminal

Value = TypeVar("Value")

# The prompt shows at most this much of the cwd.
PROMPT_CWD_CHARACTERS = 40
# `exit` or `logout`, alone or with a status, leaves the REPL as it would leave a shell.
LEAVING_COMMAND = re.compile(r"(?:exit|logout)(?:\s+(-?[0-9]+))?")
# The `$?` after a command the user walked away from (as a shell sets it after Ctrl-C).
INTERRUPTED_STATUS = 130
# The prompt itself failing this many times in a row means the terminal is gone: stop then.
MAX_PROMPT_FAILURES = 5


class ReplSession:
    """An interactive shell on one target."""

    def __init__(
        self,
        remote: RemoteShell,
        target: Target,
        terminal: Terminal,
        *,
        audit: AuditLog | None = None,
        history: History | None = None,
        input: Input | None = None,  # noqa: A002 - prompt_toolkit's own name for it
        output: Output | None = None,
        timeout: float | None = None,
        json_output: bool = False,
        stream_output: bool = True,
        require_bash: bool = False,
        lister: Lister | None = None,
        debug: bool = False,
    ) -> None:
        self.target = target
        self.terminal = terminal
        self.audit = audit or AuditLog(None)
        self.timeout = timeout
        self.json_output = json_output
        self.stream_output = stream_output
        self.debug = debug
        self.shell = CarriedShell(remote, require_bash=require_bash, notify=self.notice)
        self.printer = ResultPrinter(terminal)
        self.history = history or InMemoryHistory()
        self.last: LastCommand | None = None
        # A problem found while typing (a failed listing, a completion bug) is shown in the toolbar,
        # not printed over the prompt, until a listing succeeds again.
        self.background_problem: str | None = None
        self._late_notices: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.tunnels = ReplTunnels(remote, target, self.background_notice, self._redraw)
        self.listings = ListingCache(
            lister or RemoteLister(self.shell), on_update=self._listing_landed, on_error=self._report_background
        )
        self.completer = ShellCompleter(
            self.listings, self._location, list(META_COMMANDS.values()), on_error=self._report_background
        )
        self.prompt: PromptSession[str] = PromptSession(
            message=self._prompt_message,
            multiline=True,
            prompt_continuation=self._continuation,
            key_bindings=_key_bindings(),
            history=self.history,
            auto_suggest=AutoSuggestFromHistory(),
            completer=self.completer,
            complete_while_typing=True,
            complete_style=CompleteStyle.COLUMN,
            lexer=bash_lexer(),
            style=REPL_STYLE,
            bottom_toolbar=self._toolbar,
            enable_history_search=False,
            input=input,
            output=output,
        )

    # --- the loop -------------------------------------------------------------

    def run(self) -> int:
        """Read and run lines until Ctrl-D or :exit; return the REPL's exit status."""
        prompt_failures = 0
        try:
            while True:
                self._print_late_notices()
                try:
                    line = self.prompt.prompt()
                except KeyboardInterrupt:
                    continue  # Ctrl-C at the prompt clears the line
                except EOFError:
                    return ExitStatus.OK
                except Exception as problem:
                    prompt_failures += 1
                    self._report_unexpected(problem, "the prompt")
                    if prompt_failures >= MAX_PROMPT_FAILURES:
                        self.terminal.error("the prompt keeps failing; leaving the REPL")
                        return ExitStatus.ERROR
                    continue
                prompt_failures = 0
                self.completer.waiting_for = None  # what the line was waiting for is no menu for the next prompt
                try:
                    self.execute_line(line)
                except LeaveRepl as leave:
                    return leave.status
                except Interrupted:
                    pass  # already said so
                except KeyboardInterrupt:
                    self.terminal.message("lambdash: interrupted")
                except LambdashError as problem:
                    self.terminal.error(problem.message)
                    for detail in problem.details:
                        self.terminal.message(f"  | {detail}")
                except Exception as problem:
                    self._report_unexpected(problem, "running the line")
        finally:
            self.close()

    def execute_line(self, line: str) -> None:
        """Run one accepted line: a meta-command, or a command for the remote shell."""
        text = line.strip()
        if not text or not scan(text).tokens:
            return  # blank, or only a comment
        if text.startswith(":"):
            run_meta(self, text)
            return
        leaving = LEAVING_COMMAND.fullmatch(text)
        if leaving:
            # Each command runs in a fresh remote shell, so `exit` there would do nothing: leave instead,
            # with the status given, or the last command's (as a shell does).
            status = leaving.group(1)
            raise LeaveRepl(int(status) % 256 if status is not None else self.shell.state.last_status)
        self.run_command(line)

    def run_command(self, command: str) -> RemoteResult:
        """Run a command with the carried state, show its result and adopt the state it leaves."""
        started = time.monotonic()
        # Shown as it is written, unless :stream off, or :json (one document at the end).
        live = self.printer.begin() if self.stream_output and not self.json_output else None
        try:
            result = self.call_remote_command(command, adopt_state=True, on_throttle=self._throttled, live=live,
                                              terminal=self.terminal.output_terminal())
        except Interrupted:
            self.last = LastCommand(None, time.monotonic() - started, interrupted=True)
            self.shell.note_status(INTERRUPTED_STATUS)
            raise
        except LambdashError:
            self.last = LastCommand(None, time.monotonic() - started)
            self.shell.note_status(ExitStatus.ERROR)
            raise
        self.last = LastCommand(result.status, time.monotonic() - started)
        if self.json_output:
            result.write_json(self.terminal.stdout)
        else:
            self.printer.show(result)
            if result.status != 0 or result.full_screen:
                hint = full_screen_hint(command, result.full_screen)
                if hint:
                    self.terminal.notice(hint)
            reading = input_hint(command)
            if reading:
                self.terminal.notice(reading)
            if self.terminal.stdout_isatty:
                self.printer.offer_pager(self.prompt.output.get_size().rows)
        return result

    # --- remote calls -----------------------------------------------------------

    def call_remote_command(self, command: str, *, stdin: Stdin = None, adopt_state: bool = False,
                            on_throttle: Callable[[int, float], None] | None = None,
                            live: LiveView | None = None, terminal: OutputTerminal | None = None
                            ) -> RemoteResult:
        """Run a remote command in a worker thread, audited; Ctrl-C abandons the wait (and a stream).

        ``terminal`` goes only with what the user typed: a file copied by ``:get`` is no terminal's output.
        """

        def work() -> RemoteResult:
            return self.shell.run(command, stdin=stdin, timeout=self.timeout, keep_state=adopt_state,
                                  on_throttle=on_throttle, live=live, terminal=terminal)

        def settled(outcome: Settled[RemoteResult]) -> None:
            self._record(command, outcome)

        try:
            return self._wait(RemoteCall(work, settled, name="remote-command"), live)
        except Interrupted:
            # Audited at once: nothing guarantees the REPL is still alive when the command ends.
            self.audit.record(target=self.target.label, command=command,
                              request_id=live.request_id if live is not None else None, exit_status=None,
                              sandbox_id=None, error="interrupted at the prompt; the command may still be running",
                              interrupted=True)
            raise

    def call_remote(self, work: Callable[[], Value], *, label: str) -> Value:
        """Run any other remote call (not audited) so that Ctrl-C can abandon the wait."""
        return self._wait(RemoteCall(work, name=label))

    def probe_sandbox(self) -> SandboxSeen | None:
        """Describe the sandbox that answers an empty command now."""
        result = self.call_remote(lambda: self.shell.run("true", keep_state=False), label="sandbox probe")
        seen = SandboxSeen.from_response(result.sandbox)
        if seen is not None:
            self.shell.sandbox = seen
        return seen

    def _wait(self, call: RemoteCall[Value], live: LiveView | None = None) -> Value:
        call.start()
        try:
            return call.wait()
        except Interrupted:
            if live is not None:
                # Nothing more of it is shown; its stream is read on, so its status comes at a later prompt.
                live.abandon()
            if self.terminal.stdin_isatty:
                self.terminal.message("")  # end the line the terminal echoed ^C on
            # A stream names its request when it begins; a buffered answer only at its end, when it is shown.
            request = live.request_id if live is not None and live.request_id else "unknown"
            self.terminal.message(f"lambdash: interrupted; the remote command may still be running (request {request})")
            raise

    def _record(self, command: str, outcome: Settled[RemoteResult]) -> None:
        """The audit line for a command that ended; an interrupted one gets this second line when it ends."""
        result, error = outcome.value, outcome.error
        problem = None
        if isinstance(error, LambdashError):
            problem = error.message
        elif error is not None:
            problem = f"{type(error).__name__}: {error}"
        if outcome.abandoned:
            problem = "ended after it was interrupted at the prompt" + (f": {problem}" if problem else "")
        self.audit.record(
            target=self.target.label, command=command,
            request_id=result.request_id if result else None,
            exit_status=result.status if result else None,
            sandbox_id=result.sandbox.get("id") if result else None,
            error=problem,
        )
        if outcome.abandoned:
            if result is not None:
                note = status_note(result) or ("[stopped as a full-screen program]" if result.full_screen
                                                else "[exit 0]")
                self._late_notices.put(
                    f"the interrupted command finished in the background {note} (request {result.request_id})"
                )
            elif error is not None and problem:
                self._late_notices.put(f"the interrupted command failed: {problem}")

    # --- what the prompt shows --------------------------------------------------

    def _prompt_message(self) -> StyleAndTextTuples:
        try:
            cwd = self.shell.state.cwd
            name = "local" if self.target.local else self.target.function
            fragments: StyleAndTextTuples = [("class:prompt.target", name)]
            if cwd is not None:
                shown = cwd if len(cwd) <= PROMPT_CWD_CHARACTERS else "…" + cwd[-(PROMPT_CWD_CHARACTERS - 1):]
                fragments += [("", ":"), ("class:prompt.cwd", shown)]
            fragments.append(("class:prompt.sign", "$ "))
            return fragments
        except Exception as problem:  # a rendering bug must not take the prompt down
            self._report_background(f"prompt failed: {problem}")
            return [("", "$ ")]

    @staticmethod
    def _continuation(width: int, line_number: int, wrap_count: int) -> StyleAndTextTuples:
        return [("class:continuation", "> ".rjust(width))]

    def _toolbar(self) -> StyleAndTextTuples:
        try:
            running = len(self.tunnels.running)
            tunnels = (running, self.tunnels.open_connections()) if running else None
            return toolbar_fragments(self.target.label, self.shell.sandbox, self.last, self.shell.state.cwd,
                                     self.background_problem, tunnels)
        except Exception as problem:  # a rendering bug must not take the prompt down
            return [("class:bottom-toolbar.problem", f" toolbar failed: {problem}")]

    def _location(self) -> Location:
        state = self.shell.state
        sandbox = self.shell.sandbox
        return Location(cwd=state.cwd, commands_scope=commands_scope(sandbox.id if sandbox else None,
                                                                     state.env.get("PATH")))

    # --- notices ------------------------------------------------------------------

    def notice(self, text: str) -> None:
        self.terminal.notice(text)

    def background_notice(self, text: str) -> None:
        """A notice from another thread (a tunnel's connection): above the prompt now, or before the next one."""
        app = get_app_or_none()
        loop = app.loop if app is not None and app.is_running else None
        if loop is not None:
            def show() -> None:
                run_in_terminal(lambda: self.terminal.notice(text))

            try:
                loop.call_soon_threadsafe(show)
                return
            except RuntimeError:  # that prompt has just ended
                pass
        self._late_notices.put(text)

    def history_entries(self) -> list[str]:
        """The history, oldest first."""
        return list(self.history.get_strings())

    def _throttled(self, attempt: int, delay: float) -> None:
        self.terminal.notice(f"Lambda is throttling; trying again in {delay:.1f} s (attempt {attempt + 1})")

    def _print_late_notices(self) -> None:
        while True:
            try:
                text = self._late_notices.get_nowait()
            except queue.Empty:
                return
            self.terminal.notice(text)

    def _report_background(self, text: str) -> None:
        self.background_problem = text
        self._redraw()

    def _redraw(self) -> None:
        """Draw the prompt and its toolbar again, if it is showing (from any thread)."""
        app = self.prompt.app
        if app.is_running:
            app.invalidate()

    def _report_unexpected(self, problem: BaseException, where: str) -> None:
        if self.debug:
            traceback.print_exception(problem)
        self.terminal.error(f"unexpected {type(problem).__name__} in {where}: {problem} (the REPL goes on)")

    def _listing_landed(self, request: ListingRequest) -> None:
        """A background listing arrived: redraw the completion menu if it was waiting for it."""
        self.background_problem = None  # listings work again
        app = self.prompt.app
        if not app.is_running or request != self.completer.waiting_for:
            return
        loop = app.loop
        if loop is None:
            return

        after_tab, text = self.completer.waiting_after_tab, self.completer.waiting_text

        def refresh() -> None:
            # Only for the text it was asked for (not a later prompt's), and as it was asked: typing a word, or
            # Tab (an empty word lists everything only after Tab).
            buffer = app.current_buffer
            if app.is_running and buffer.document.text_before_cursor == text:
                buffer.start_completion(insert_common_part=after_tab, complete_event=CompleteEvent(
                    text_inserted=not after_tab, completion_requested=after_tab))

        loop.call_soon_threadsafe(refresh)

    def close(self) -> None:
        """Stop background work and say what the abandoned commands did, if they have ended."""
        for running in self.tunnels.stop_all():
            self.terminal.notice(stopped_line(running))
        self.listings.close()
        self.printer.discard()
        self._print_late_notices()


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter", filter=has_focus(DEFAULT_BUFFER))
    def _enter(event: KeyPressEvent) -> None:
        """Run the line, unless it is unfinished (trailing backslash, open quote) or a completion is chosen."""
        buffer = event.current_buffer
        if buffer.complete_state is not None and buffer.complete_state.current_completion is not None:
            buffer.complete_state = None  # keep the chosen completion, as fish does
            return
        if needs_continuation(buffer.document.text):
            buffer.insert_text("\n")
            return
        buffer.validate_and_handle()

    @bindings.add("enter", filter=is_searching)
    def _run_found(event: KeyPressEvent) -> None:
        """Enter in Ctrl-R's search runs the line found, as in bash (Escape takes it to the prompt to edit)."""
        accept_search()
        event.app.current_buffer.validate_and_handle()

    return bindings
