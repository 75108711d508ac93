"""Textual SQL statements, parsed once."""

from __future__ import annotations

import functools

from sqlalchemy import TextClause, text


@functools.lru_cache(maxsize=512)
def sql(statement: str) -> TextClause:
    """``text(statement)``, memoised. The repositories' statements are constants; building a
    TextClause parses its bind parameters with a regular expression, which showed up in the
    transfer profile when done on every call. Statements are built from constants only (values
    always go in bind parameters), so the set is small; the bound is a safeguard."""
    return text(statement)
