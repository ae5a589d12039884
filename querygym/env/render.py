"""Plain-text rendering of result tables for observations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Sequence


def format_value(value: Any, max_width: int = 40) -> str:
    """One value as observations show it: NULL for None, numbers without noise, text clipped."""
    if value is None:
        text = "NULL"
    elif isinstance(value, float):
        text = repr(value) if value != int(value) or abs(value) >= 1e16 else f"{value:.1f}"
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = f"<{len(bytes(value))} bytes>"
    else:
        text = str(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")
    return text if len(text) <= max_width else text[: max_width - 1] + "…"


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 40) -> str:
    """Rows as an aligned text table.

    >>> print(format_table(["id", "name"], [(1, "Ann"), (2, None)]))
    id | name
    ---+-----
    1  | Ann
    2  | NULL
    """
    header = [format_value(c, max_width) for c in columns]
    body = [[format_value(v, max_width) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in body]
    return "\n".join(lines)
