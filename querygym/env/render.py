"""Plain-text rendering of result tables for observations."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Sequence


def format_value(value: Any, max_width: int = 40) -> str:
    r"""One value as observations show it: NULL for None, numbers without noise, text clipped.

    >>> [format_value(v) for v in (None, 3, 2.0, 0.5, float("inf"), "a\tb")]
    ['NULL', '3', '2.0', '0.5', 'inf', 'a b']
    """
    kind = type(value)
    if kind is str:
        text = value
    elif kind is int:
        text = str(value)
    elif value is None:
        text = "NULL"
    elif isinstance(value, float):
        # whole numbers with one decimal; NaN, infinities and fractions as Python writes them
        whole = math.isfinite(value) and value == int(value) and abs(value) < 1e16
        text = f"{value:.1f}" if whole else repr(float(value))
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = f"<{len(bytes(value))} bytes>"
    else:
        text = str(value)
    if "\n" in text or "\r" in text or "\t" in text:
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
