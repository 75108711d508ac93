"""Rules for people's text (names, notes) shared by the ledger and the users."""

from __future__ import annotations

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
