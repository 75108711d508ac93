"""Rules for people's text (names, notes) shared by the ledger and the users."""

from __future__ import annotations

import functools
import unicodedata

# Controls (Cc), format characters (Cf: bidirectional overrides, zero-width joiners and
# spaces) and line or paragraph separators: they hide, reorder or break text on another
# person's screen, so a payee's name "Ravi<U+202E>..." cannot pose as someone else.
INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


# Zero-width non-joiner and joiner: format characters, but Indic scripts need them between
# letters (Malayalam chillus, Devanagari and Bengali half forms), so they pass there.
JOINERS = frozenset("\u200c\u200d")
INDIC = range(0x0900, 0x0E00)  # Devanagari to Sinhala


def _indic(ch: str) -> bool:
    return ord(ch) in INDIC


def invisible_characters(text: str, *, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The invisible characters of ``text`` that are not ``allowed``, as U+XXXX names for an
    error message. A joiner between two characters of Indic scripts is not invisible."""
    found = set()
    for i, ch in enumerate(text):
        if ch in allowed or unicodedata.category(ch) not in INVISIBLE:
            continue
        if ch in JOINERS and 0 < i < len(text) - 1 and _indic(text[i - 1]) and _indic(text[i + 1]):
            continue
        found.add(f"U+{ord(ch):04X}")
    return sorted(found)


@functools.cache
def invisible_class(excluded: frozenset[str] = frozenset()) -> str:
    """The body of a regex character class of every invisible character but ``excluded``,
    in literal characters (read alike by Python's re, the Rust regex engine of pydantic and
    JSON Schema tools), for request schemas that say what :func:`invisible_characters`
    refuses. Surrogates are left out: they are refused as invalid Unicode."""
    codes = [
        code
        for code in range(0x110000)
        if not 0xD800 <= code <= 0xDFFF
        and chr(code) not in excluded
        and unicodedata.category(chr(code)) in INVISIBLE
    ]
    parts: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        parts.append(chr(codes[i]) if i == j else f"{chr(codes[i])}-{chr(codes[j])}")
        i = j + 1
    return "".join(parts)
