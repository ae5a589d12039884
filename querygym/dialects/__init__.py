"""Dialects: one class per database engine, found by name.

Dialect classes register themselves when their module is imported; modules are found
through the ``querygym.dialects`` entry-point group, which is also how the built-in SQLite,
PostgreSQL and DuckDB dialects are declared, so a third-party package adds an engine without
touching querygym.  The PostgreSQL and DuckDB dialects need their extras
(``pip install 'querygym-ra[postgres,duckdb]'``); their modules import the drivers only when
a connection is made.

>>> get("sqlite").name
'sqlite'
>>> get("sqlit")
Traceback (most recent call last):
...
querygym.errors.UnknownDialectError: Unknown dialect 'sqlit'. Did you mean 'sqlite'? Available: duckdb, postgres, sqlite.
"""

from __future__ import annotations

from querygym.dialects.base import Dialect, QueryGuard, available, get

__all__ = ["Dialect", "QueryGuard", "available", "get"]
