"""Numbers as people and peers write them: decimal digits 0-9 only."""

from __future__ import annotations


def is_decimal(text: str) -> bool:
    """Whether ``text`` is digits 0-9 alone (``str.isdigit`` also takes ² and ٣, which ``int`` refuses or reads)."""
    return text.isascii() and text.isdigit()
