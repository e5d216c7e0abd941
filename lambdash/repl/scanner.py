"""A small scanner of shell input: whether a line is complete, and which word the cursor is in.

The REPL needs two answers about what has been typed, without running a shell:
whether Enter should submit the text or open a continuation line (a trailing
backslash, or a quote left open), and, for completion, which word is under the
cursor and whether that word names a command or an argument. Both come from one
pass over the text that follows the shell's quoting rules closely enough for
those questions (POSIX quotes, ``$'...'``, backquotes, comments and the control
operators). It does not parse here-documents or compound commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Characters that end a word and start an operator when unquoted.
_OPERATOR_CHARACTERS = frozenset(";&|()<>")
# Operators after which the next word is a command name.
_COMMAND_SEPARATORS = frozenset({";", "&", "&&", "|", "||", "|&", "(", "$(", "`", "\n", ";;"})
# Words after which the next word is a command name too.
_COMMAND_PREFIX_WORDS = frozenset({
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "time", "exec", "command", "nohup",
    "sudo", "env", "xargs", "builtin", "nice", "timeout", "strace", "watch",
})
_TWO_CHARACTER_OPERATORS = frozenset({"&&", "||", ";;", "|&", ">>", "<<", ">&", "<&", "<>", ">|"})


@dataclass(frozen=True)
class Word:
    """One word as typed (``raw``) and with its quotes and escapes removed (``value``)."""

    start: int
    raw: str
    value: str

    @property
    def is_assignment(self) -> bool:
        """``NAME=value`` before a command sets a variable; it is not the command."""
        name, equals, _ = self.raw.partition("=")
        return bool(equals) and name.replace("_", "a").isalnum() and not name[0].isdigit()


@dataclass(frozen=True)
class Operator:
    """A control or redirection operator such as ``|``, ``&&`` or ``>``."""

    start: int
    text: str


Token = Word | Operator


@dataclass
class ScanResult:
    """What one pass over shell input found."""

    tokens: list[Token] = field(default_factory=list)
    # The quote left open at the end: "'", '"', "$'" or "`"; None when every quote is closed.
    open_quote: str | None = None
    # The text ends in an unquoted backslash: the shell reads the next line as part of this one.
    trailing_backslash: bool = False
    # The text ends inside a comment.
    in_comment: bool = False
    # The text ends in the middle of a word (no unquoted blank or operator after it).
    ends_in_word: bool = False

    @property
    def incomplete(self) -> bool:
        """Whether the shell would wait for another line before running this text."""
        return self.open_quote is not None or self.trailing_backslash


class _WordBuilder:
    """Collects one word's raw text and unquoted value while scanning."""

    def __init__(self) -> None:
        self.start: int | None = None
        self.raw: list[str] = []
        self.value: list[str] = []

    def add(self, index: int, raw: str, value: str) -> None:
        if self.start is None:
            self.start = index
        self.raw.append(raw)
        self.value.append(value)

    def flush(self, tokens: list[Token]) -> None:
        if self.start is not None:
            tokens.append(Word(self.start, "".join(self.raw), "".join(self.value)))
        self.start, self.raw, self.value = None, [], []


def scan(text: str) -> ScanResult:
    """Split shell input into words and operators, and report what is left open at the end."""
    result = ScanResult()
    word = _WordBuilder()
    quote: str | None = None
    index = 0
    while index < len(text):
        if quote is None:
            index, quote = _scan_unquoted(text, index, word, result)
        else:
            index, quote = _scan_quoted(text, index, quote, word)
    result.open_quote = quote
    result.ends_in_word = word.start is not None
    word.flush(result.tokens)
    return result


def _scan_quoted(text: str, index: int, quote: str, word: _WordBuilder) -> tuple[int, str | None]:
    """Take one character (or escape) inside ``quote``; the next index and the quote still open."""
    char = text[index]
    if quote == "'":
        word.add(index, char, "" if char == "'" else char)
        return index + 1, None if char == "'" else quote
    closing = "'" if quote == "$'" else quote
    if char == "\\" and index + 1 < len(text):
        following = text[index + 1]
        # Inside double quotes a backslash only escapes these; elsewhere it is kept.
        kept = following if quote != '"' or following in '$`"\\\n' else char + following
        word.add(index, char + following, "" if following == "\n" else kept)
        return index + 2, quote
    if char == closing:
        word.add(index, char, "")
        return index + 1, None
    word.add(index, char, char)
    return index + 1, quote


def _scan_unquoted(text: str, index: int, word: _WordBuilder, result: ScanResult) -> tuple[int, str | None]:
    """Take one unquoted character, escape, quote or operator; the next index and any quote it opens."""
    char = text[index]
    if char == "\\":
        return _scan_escape(text, index, word, result), None
    if char in "'\"`":
        if char == "`":
            word.flush(result.tokens)
            result.tokens.append(Operator(index, "`"))
        else:
            word.add(index, char, "")
        return index + 1, char
    if text.startswith("$'", index):
        word.add(index, "$'", "")
        return index + 2, "$'"
    if text.startswith("$(", index) and not text.startswith("$((", index):
        word.flush(result.tokens)
        result.tokens.append(Operator(index, "$("))
        return index + 2, None
    if char == "#" and word.start is None:
        end = text.find("\n", index)
        result.in_comment = end == -1
        return (len(text) if end == -1 else end), None
    if char in " \t\n" or char in _OPERATOR_CHARACTERS:
        word.flush(result.tokens)
        if char in " \t":
            return index + 1, None
        pair = text[index:index + 2]
        operator = pair if pair in _TWO_CHARACTER_OPERATORS else char
        result.tokens.append(Operator(index, operator))
        return index + len(operator), None
    word.add(index, char, char)
    return index + 1, None


def _scan_escape(text: str, index: int, word: _WordBuilder, result: ScanResult) -> int:
    """An unquoted backslash: a trailing one, a line continuation, or an escaped character."""
    if index + 1 >= len(text):
        result.trailing_backslash = True
        word.add(index, "\\", "")
        return index + 1
    following = text[index + 1]
    if following != "\n":  # a line continuation joins the lines; it is no part of any word
        word.add(index, "\\" + following, following)
    return index + 2


def needs_continuation(text: str) -> bool:
    """Whether Enter should open another line instead of running ``text``."""
    return scan(text).incomplete


@dataclass(frozen=True)
class CursorWord:
    """The word the cursor is in (possibly empty), and whether it is in a command's place."""

    raw: str
    value: str
    command_position: bool
    # The word right before it (for meta-commands and redirections), if any.
    previous: Token | None


def word_at_end(text: str) -> CursorWord:
    """Describe the word that ends at the end of ``text`` (the text before the cursor)."""
    result = scan(text)
    tokens = list(result.tokens)
    current: Word | None = None
    if tokens and isinstance(tokens[-1], Word) and (result.ends_in_word or result.open_quote):
        last = tokens.pop()
        assert isinstance(last, Word)
        current = last
    return CursorWord(
        raw=current.raw if current else "",
        value=current.value if current else "",
        command_position=_is_command_position(tokens),
        previous=tokens[-1] if tokens else None,
    )


def _is_command_position(before: list[Token]) -> bool:
    """Whether a word following these tokens would name a command."""
    for token in reversed(before):
        if isinstance(token, Operator):
            return token.text in _COMMAND_SEPARATORS
        if token.value in _COMMAND_PREFIX_WORDS:
            return True
        if not token.is_assignment:
            return False
        # `FOO=1 cmd`: an assignment before a command leaves the command's place open.
    return True
