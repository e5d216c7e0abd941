"""Tab completion in the REPL: command names, remote paths and meta-commands.

The completer decides what the word under the cursor is and offers matches:
- in a command's place, the names of the executables on the remote PATH plus the
  shell's builtins (a word with a slash is completed as a path instead);
- elsewhere, remote paths, relative to the carried cwd;
- on a line starting with ``:``, the meta-commands and their arguments (local
  paths for ``:put``'s source and ``:get``'s destination).

It reads remote listings only from a ``ListingCache``, so it never waits for the
network: what is not cached yet is fetched in the background and the menu is
refreshed when it lands (``waiting_for`` says which listing the last answer
lacked). A bug here is reported through ``on_error`` and completion just offers
nothing; it never reaches the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from lambdash.repl.listing import ListingCache, ListingRequest, listing_for_directory
from lambdash.repl.scanner import Word, word_at_end

# Builtins and keywords of bash (and so of sh): not on PATH, but commands all the same.
SHELL_BUILTINS = (
    "alias", "bg", "break", "builtin", "case", "cd", "command", "compgen", "continue", "declare", "dirs",
    "disown", "echo", "enable", "esac", "eval", "exec", "exit", "export", "false", "fc", "fg", "fi", "for",
    "function", "getopts", "hash", "help", "history", "if", "jobs", "kill", "let", "local", "popd", "printf",
    "pushd", "pwd", "read", "readonly", "return", "select", "set", "shift", "shopt", "source", "test",
    "then", "time", "times", "trap", "true", "type", "typeset", "ulimit", "umask", "unalias", "unset",
    "until", "wait", "while",
)
# Commands whose argument is a directory: only directories are offered after them.
DIRECTORY_COMMANDS = frozenset({"cd", "pushd", "rmdir"})
# Characters that need no backslash in a shell word.
_PLAIN_CHARACTERS = re.compile(r"[A-Za-z0-9_@%+=:,./~-]")

Notify = Callable[[str], None]


class MetaCommandSyntax(Protocol):
    """What the completer needs to know about a meta-command."""

    @property
    def name(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def arguments(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Location:
    """Where completion happens: the carried cwd, and the scope of the commands list."""

    cwd: str | None
    commands_scope: str


class ShellCompleter(Completer):
    """Completes a shell line, reading remote listings from the cache only."""

    def __init__(
        self,
        cache: ListingCache,
        location: Callable[[], Location],
        meta_commands: Sequence[MetaCommandSyntax] = (),
        *,
        builtins: Iterable[str] = SHELL_BUILTINS,
        on_error: Notify | None = None,
    ) -> None:
        self.cache = cache
        self.location = location
        self.meta_commands = {command.name: command for command in meta_commands}
        self.builtins = frozenset(builtins)
        self.on_error = on_error
        # The listing the last answer was missing, if any; the REPL refreshes the menu when it lands.
        self.waiting_for: ListingRequest | None = None
        # Whether that answer was asked for with Tab (then the refresh inserts, as Tab would have).
        self.waiting_after_tab = False
        # The text before the cursor that answer was for: a refresh is for that text only.
        self.waiting_text = ""
        self._local_paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        self.waiting_for = None
        self.waiting_after_tab = complete_event.completion_requested
        self.waiting_text = document.text_before_cursor
        try:
            yield from self._completions(document, complete_event)
        except Exception as problem:  # a completion bug must never reach the prompt
            if self.on_error is not None:
                self.on_error(f"completion failed: {type(problem).__name__}: {problem}")

    def _completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        if text.lstrip().startswith(":"):
            yield from self._meta_completions(text.lstrip(), complete_event)
            return
        word = word_at_end(text)
        if not word.raw and not complete_event.completion_requested:
            return  # a menu of everything after every space would be noise; Tab still lists it all
        if word.command_position and "/" not in word.value:
            yield from self._command_completions(word.raw, word.value)
            return
        after = word.previous.value if isinstance(word.previous, Word) else ""
        yield from self._remote_path_completions(word.raw, word.value,
                                                 directories_only=after in DIRECTORY_COMMANDS)

    def _command_completions(self, raw: str, typed: str) -> Iterator[Completion]:
        if typed.startswith(("$", "~")) or "=" in typed:
            return
        request = ListingRequest(kind="commands", scope=self.location().commands_scope)
        remote = self.cache.get(request)
        if remote is None:
            self.waiting_for = request
        names = self.builtins | frozenset(remote or ())
        for name in sorted(names):
            if name.startswith(typed):
                # No meta column: filled for the few builtins only, it stood far out on their rows.
                yield Completion(shell_escape(name), -len(raw), display=name)

    def _remote_path_completions(self, raw: str, typed: str, *, directories_only: bool = False
                                 ) -> Iterator[Completion]:
        if typed.startswith("$") or (typed.startswith("~") and "/" not in typed):
            return
        slash = typed.rfind("/")
        directory, partial = typed[:slash + 1], typed[slash + 1:]
        request = listing_for_directory(directory, self.location().cwd)
        entries = self.cache.get(request)
        if entries is None:
            self.waiting_for = request
            return
        for entry in sorted(entries):
            if directories_only and not entry.endswith("/"):
                continue
            if entry.startswith(partial) and (partial.startswith(".") or not entry.startswith(".")):
                yield Completion(shell_escape(directory + entry), -len(raw), display=entry)

    def _meta_completions(self, text: str, complete_event: CompleteEvent) -> Iterator[Completion]:
        words = text.split()
        finished = len(words) - (0 if text[-1:].isspace() else 1)
        current = "" if text[-1:].isspace() else words[-1]
        if finished == 0:
            for name, command in sorted(self.meta_commands.items()):
                if name.startswith(current):
                    yield Completion(name, -len(current), display_meta=command.summary)
            return
        syntax = self.meta_commands.get(words[0])
        # Options (-r, --timeout) take no place among the arguments, and are not completed.
        position = sum(1 for word in words[1:finished] if not word.startswith("-"))
        if syntax is None or position >= len(syntax.arguments) or current.startswith("-"):
            return
        kind = syntax.arguments[position]
        if kind == "remote_path":
            word = word_at_end(text)
            yield from self._remote_path_completions(word.raw, word.value)
        elif kind == "local_path":
            yield from self._local_paths.get_completions(Document(current), complete_event)
        elif kind == "meta_name":
            for name in sorted(self.meta_commands):
                if name.startswith(current) or name[1:].startswith(current):
                    yield Completion(name, -len(current))
        elif kind.startswith("choice:"):
            for choice in kind.removeprefix("choice:").split("|"):
                if choice.startswith(current):
                    yield Completion(choice, -len(current))


def shell_escape(text: str) -> str:
    """A word the shell reads back as ``text``, with backslashes rather than quotes so it can grow.

    A leading ``~`` stays bare, so a path typed from the home directory is still expanded.
    """
    return "".join(char if _PLAIN_CHARACTERS.fullmatch(char) else "\\" + char for char in text)
