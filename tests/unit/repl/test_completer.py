"""The REPL's completer, called as prompt_toolkit calls it, with a fake remote lister passed in."""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable, Iterator, Sequence

import pytest
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.document import Document

from lambdash.repl.completer import SHELL_BUILTINS, Location, ShellCompleter, shell_escape
from lambdash.repl.listing import ListingCache, ListingRequest
from lambdash.repl.meta_commands import META_COMMANDS

DIRECTORIES: dict[str, list[str]] = {
    "/srv/app/": ["README.md", "src/", "my notes.txt", ".env", "run.sh"],
    "/": ["bin/", "etc/", "tmp/", "usr/"],
    "/etc/": ["hostname", "hosts", "passwd"],
    "/srv/app/src/": ["main.py", "util.py"],
}
COMMANDS = ["python3", "pip3", "ls", "lsblk"]


class FakeLister:
    """Answers listings from the tables above, as the remote scripts would, and counts the calls."""

    def __init__(self) -> None:
        self.requests: list[ListingRequest] = []

    def __call__(self, request: ListingRequest) -> Sequence[str]:
        self.requests.append(request)
        if request.kind == "commands":
            return COMMANDS
        absolute = posixpath.normpath(posixpath.join(request.cwd or "/", request.directory or "."))
        return DIRECTORIES.get(absolute.rstrip("/") + "/", [])


class Fixture:
    """A completer over a FakeLister, with the cwd and sandbox the test sets."""

    def __init__(self, lister: Callable[[ListingRequest], Sequence[str]] | None = None) -> None:
        self.lister = FakeLister()
        self.cwd: str | None = "/srv/app"
        self.scope = "sandbox-a|"
        self.updates: list[ListingRequest] = []
        self.errors: list[str] = []
        self.cache = ListingCache(lister or self.lister, on_update=self.updates.append, on_error=self.errors.append)
        self.completer = ShellCompleter(self.cache, lambda: Location(self.cwd, self.scope),
                                        list(META_COMMANDS.values()), on_error=self.errors.append)

    def now(self, text: str, *, tab: bool = False) -> list[Completion]:
        """What the completer offers at once, while typing (or on Tab), without waiting for anything."""
        return list(self.completer.get_completions(Document(text), CompleteEvent(completion_requested=tab)))

    def settled(self, text: str, *, tab: bool = False) -> list[str]:
        """What it offers once the listings it asked for have landed."""
        self.now(text, tab=tab)
        assert self.cache.wait_idle(5)
        return [completion.text for completion in self.now(text, tab=tab)]


@pytest.fixture
def fixture() -> Iterator[Fixture]:
    made = Fixture()
    yield made
    made.cache.close()


def test_command_names_come_from_the_remote_path_and_the_builtins(fixture: Fixture) -> None:
    assert fixture.settled("py") == ["python3"]
    assert fixture.settled("ls") == ["ls", "lsblk"]
    assert "cd" in fixture.settled("c")
    assert set(SHELL_BUILTINS) <= set(fixture.settled("", tab=True))


def test_builtins_are_offered_before_the_remote_list_arrives(fixture: Fixture) -> None:
    offered = [completion.text for completion in fixture.now("ex")]
    assert offered == ["exec", "exit", "export"]
    assert fixture.completer.waiting_for == ListingRequest(kind="commands", scope="sandbox-a|")


def test_command_names_are_fetched_once_per_sandbox(fixture: Fixture) -> None:
    fixture.settled("py")
    fixture.settled("pi")
    fixture.settled("l")
    assert len(fixture.lister.requests) == 1
    fixture.scope = "sandbox-b|"
    # The other sandbox's list stands in while this one's is fetched.
    assert [completion.text for completion in fixture.now("py")] == ["python3"]
    fixture.cache.wait_idle(5)
    assert [request.scope for request in fixture.lister.requests] == ["sandbox-a|", "sandbox-b|"]


def test_command_position_follows_operators_assignments_and_prefixes(fixture: Fixture) -> None:
    assert fixture.settled("echo hi | py") == ["python3"]
    assert fixture.settled("true && py") == ["python3"]
    assert fixture.settled("FOO=1 py") == ["python3"]
    assert fixture.settled("sudo py") == ["python3"]
    assert fixture.settled("x=$(py") == ["python3"]


def test_arguments_complete_as_paths_relative_to_the_cwd(fixture: Fixture) -> None:
    assert fixture.settled("cat R") == ["README.md"]
    assert fixture.lister.requests[-1] == ListingRequest(kind="directory", directory="", cwd="/srv/app")
    assert fixture.settled("python3 src/m") == ["src/main.py"]


def test_absolute_paths_do_not_depend_on_the_cwd(fixture: Fixture) -> None:
    completions = fixture.now("ls /et")
    fixture.cache.wait_idle(5)
    completions = fixture.now("ls /et")
    assert [(completion.text, completion.start_position) for completion in completions] == [("/etc/", -3)]
    assert fixture.lister.requests[-1] == ListingRequest(kind="directory", directory="/", cwd=None)
    assert fixture.settled("cat /etc/host") == ["/etc/hostname", "/etc/hosts"]


def test_a_word_with_a_slash_in_command_position_is_a_path(fixture: Fixture) -> None:
    assert fixture.settled("./ru") == ["./run.sh"]


def test_special_characters_are_escaped_and_the_whole_word_is_replaced(fixture: Fixture) -> None:
    completions = fixture.now("cat my")
    fixture.cache.wait_idle(5)
    completions = fixture.now("cat my")
    assert [(completion.text, completion.start_position) for completion in completions] == [("my\\ notes.txt", -2)]
    # A partly escaped word is read back the way the shell reads it.
    assert fixture.settled("cat my\\ n") == ["my\\ notes.txt"]
    assert fixture.settled("cat 'my n") == ["my\\ notes.txt"]


def test_cd_is_offered_directories_only(fixture: Fixture) -> None:
    assert fixture.settled("cd ", tab=True) == ["src/"]
    assert fixture.settled("cat s") == ["src/"]
    assert fixture.settled("cat ", tab=True) == ["README.md", "my\\ notes.txt", "run.sh", "src/"]


def test_an_empty_word_gets_a_menu_only_on_tab(fixture: Fixture) -> None:
    assert fixture.settled("cat ") == []
    assert fixture.settled("") == []
    assert fixture.settled("cat ", tab=True) != []


def test_hidden_files_only_when_the_word_starts_with_a_dot(fixture: Fixture) -> None:
    assert ".env" not in fixture.settled("cat ", tab=True)
    assert fixture.settled("cat .") == [".env"]


def test_meta_commands_complete_with_their_summaries(fixture: Fixture) -> None:
    completions = fixture.now(":")
    assert [completion.text for completion in completions] == sorted(META_COMMANDS)
    timeout = fixture.now(":ti")
    assert [completion.text for completion in timeout] == [":timeout"]
    assert timeout[0].display_meta_text == META_COMMANDS[":timeout"].summary
    assert fixture.lister.requests == []  # meta-commands need no listing


def test_meta_command_arguments_complete_by_kind(fixture: Fixture) -> None:
    assert [completion.text for completion in fixture.now(":json o")] == ["on", "off"]
    assert [completion.text for completion in fixture.now(":help ge")] == [":get"]
    assert fixture.settled(":get /etc/pa") == ["/etc/passwd"]
    assert fixture.now(":exit ") == []
    assert [completion.text for completion in fixture.now(":tunnels s")] == ["stop"]


def test_options_take_no_place_among_a_meta_commands_arguments(fixture: Fixture) -> None:
    assert fixture.settled(":get -r /etc/pa") == ["/etc/passwd"]
    assert fixture.settled(":get -r -p /etc/pa") == ["/etc/passwd"]
    assert fixture.now(":get -") == []  # an option being typed is not a path


def test_typing_never_waits_for_a_slow_listing() -> None:
    release = threading.Event()

    def stuck_lister(request: ListingRequest) -> Sequence[str]:
        release.wait(10)
        return ["late/"]

    fixture = Fixture(stuck_lister)
    try:
        # The listing is still stuck, yet every keystroke gets an answer at once.
        assert fixture.now("ls /u") == []
        assert fixture.now("ls /us") == []
        assert not release.is_set()
        assert fixture.completer.waiting_for == ListingRequest(kind="directory", directory="/")
        release.set()
        assert fixture.cache.wait_idle(5)
        assert [completion.text for completion in fixture.now("ls /l")] == ["/late/"]
        assert fixture.updates == [ListingRequest(kind="directory", directory="/")]
    finally:
        release.set()
        fixture.cache.close()


def test_a_stale_listing_is_served_while_it_is_refreshed() -> None:
    clock = [0.0]
    lister = FakeLister()
    cache = ListingCache(lister, ttl=5.0, clock=lambda: clock[0])
    request = ListingRequest(kind="directory", directory="/")
    try:
        assert cache.get(request) is None
        cache.wait_idle(5)
        assert cache.get(request) == ("bin/", "etc/", "tmp/", "usr/")
        assert len(lister.requests) == 1
        clock[0] = 6.0
        assert cache.get(request) == ("bin/", "etc/", "tmp/", "usr/")  # stale, but at once
        cache.wait_idle(5)
        assert len(lister.requests) == 2
    finally:
        cache.close()


def test_a_failing_listing_is_reported_not_raised() -> None:
    def failing_lister(request: ListingRequest) -> Sequence[str]:
        raise OSError("no route to sandbox")

    fixture = Fixture(failing_lister)
    try:
        assert fixture.settled("cat /etc/") == []
        assert fixture.errors == ["completion listing failed: no route to sandbox"]
    finally:
        fixture.cache.close()


def test_a_bug_in_the_completer_is_reported_not_raised(fixture: Fixture) -> None:
    def broken_location() -> Location:
        raise KeyError("cwd")

    fixture.completer.location = broken_location
    assert fixture.now("cat x") == []
    assert fixture.errors == ["completion failed: KeyError: 'cwd'"]


@pytest.mark.parametrize(("name", "escaped"), [
    ("plain-name_1.txt", "plain-name_1.txt"),
    ("with space", "with\\ space"),
    ("it's", "it\\'s"),
    ("$HOME", "\\$HOME"),
    ("~/dir", "~/dir"),
])
def test_shell_escape(name: str, escaped: str) -> None:
    assert shell_escape(name) == escaped
