"""The REPL's shell scanner: when Enter continues a line, and which word the cursor is in."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdash.repl.scanner import Word, needs_continuation, scan, word_at_end


@pytest.mark.parametrize("text", [
    "echo hi",
    "echo 'a b'",
    'echo "a \\" b"',
    "echo a\\\\",             # an escaped backslash at the end
    "echo it\\'s",
    "echo $'tab\\there'",
    "echo `date`",
    "echo hi # it's a comment",
    "echo 'one\ntwo'",
    "printf 'a\\\nb'",        # a backslash-newline inside single quotes is literal
    "echo a \\\nb",           # a finished continuation
    "",
])
def test_complete_lines_run_on_enter(text: str) -> None:
    assert not needs_continuation(text)


@pytest.mark.parametrize(("text", "why"), [
    ("echo a \\", "trailing backslash"),
    ("echo 'open", "open single quote"),
    ('echo "open', "open double quote"),
    ('echo "a \\"', "the closing double quote is escaped"),
    ("echo $'a\\'", "escaped quote in $'...'"),
    ("echo `date", "open backquote"),
    ("echo 'a'\"b", "quote opened after a closed one"),
    ("echo 'first\nsecond", "still open on the second line"),
])
def test_unfinished_lines_continue(text: str, why: str) -> None:
    assert needs_continuation(text), why


def test_a_quote_inside_a_comment_opens_nothing() -> None:
    result = scan("ls # don't")
    assert result.in_comment
    assert not result.incomplete


def test_a_hash_inside_a_word_is_not_a_comment() -> None:
    assert [token.value for token in scan("echo a#b").tokens if isinstance(token, Word)] == ["echo", "a#b"]
    assert needs_continuation("echo a#b 'c")


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=["Cs"]),
                        max_size=12), min_size=1, max_size=6))
def test_quoted_words_are_complete_and_read_back_as_the_shell_reads_them(words: list[str]) -> None:
    line = " ".join(shlex.quote(word) for word in words)
    result = scan(line)
    assert not result.incomplete
    assert [token.value for token in result.tokens if isinstance(token, Word)] == words


@pytest.mark.parametrize(("text", "raw", "value", "command_position"), [
    ("", "", "", True),
    ("ls", "ls", "ls", True),
    ("ls ", "", "", False),
    ("ls /us", "/us", "/us", False),
    ("cat my\\ fi", "my\\ fi", "my fi", False),
    ("cat 'my fi", "'my fi", "my fi", False),
    ("a | b", "b", "b", True),
    ("a && ", "", "", True),
    ("A=1 B=2 c", "c", "c", True),
    ("cat > ou", "ou", "ou", False),
    ("echo $(da", "da", "da", True),
    ("time gr", "gr", "gr", True),
])
def test_the_word_at_the_cursor(text: str, raw: str, value: str, command_position: bool) -> None:
    word = word_at_end(text)
    assert (word.raw, word.value, word.command_position) == (raw, value, command_position)
