"""Dialects: one class per database engine, found by name.

Dialect classes register themselves when their module is imported; modules are found
through the ``querygym.dialects`` entry-point group, which is also how the built-in SQLite
dialect is declared, so a third-party package adds an engine without touching querygym.

>>> get("sqlite").name
'sqlite'
>>> get("sqlit")
Traceback (most recent call last):
...
querygym.errors.UnknownDialectError: Unknown dialect 'sqlit'. Did you mean 'sqlite'? Available: sqlite.
"""

from __future__ import annotations

from querygym.dialects.base import Dialect, QueryGuard, available, get

__all__ = ["Dialect", "QueryGuard", "available", "get"]
