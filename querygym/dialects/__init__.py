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

import os
from typing import Any

from querygym.dialects.base import Dialect, available, get
from querygym.dialects.guard import QueryGuard
from querygym.dialects.source import LoadedDatabase

__all__ = ["Dialect", "LoadedDatabase", "QueryGuard", "available", "get", "load_database"]


def load_database(source: str | os.PathLike, to: str, **options: Any) -> LoadedDatabase:
    """Copy the SQLite database ``source`` into the engine named ``to``.

    ``options`` are the engine's: PostgreSQL takes ``url`` (a server; the embedded one by
    default) and ``schema`` (default: the file's stem); DuckDB takes ``out`` (a ``.duckdb`` file
    or a folder; default: the cache).  ``replace=True`` copies even when an up-to-date copy
    exists.

    >>> from querygym.converters.builtin import builtin_database
    >>> load_database(builtin_database(), "sqlite")
    Traceback (most recent call last):
    ...
    querygym.errors.InvalidArgumentError: the 'sqlite' dialect cannot load SQLite databases; engines that can: duckdb, postgres
    """
    return get(to)().load_database(os.fspath(source), **options)
