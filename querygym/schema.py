"""Schemas of databases and intermediate tables.

Names are matched the way SQL engines match unquoted identifiers in the benchmarks we read:
case-insensitively, with an exact match preferred.  The canonical spelling (the one in the
database) is what compiled SQL uses, always quoted, so mixed-case names survive every engine.

>>> t = TableSchema("Singer", (Column("Singer_ID", "INTEGER"), Column("Name", "TEXT")))
>>> t.column("name").name
'Name'
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field
from typing import Iterable, Iterator

from sqlglot import exp

from querygym.util import needs_quotes


@dataclass(frozen=True)
class Column:
    """A column: its name, declared type and whether it is declared NOT NULL."""
    name: str
    type: str = ""
    #: declared NOT NULL (a DDL schema says so; tables.json files never do)
    not_null: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """Columns of a table that refer to columns of another."""
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSchema:
    """A table: its columns, primary key and foreign keys."""
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        """The names of the columns, in order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column | None:
        """Column ``name`` (exact, else the one case-insensitive match), or None."""
        return find_named(self.columns, name)

    def describe(self) -> str:
        """The table as observations show it: a CREATE-TABLE-like block."""
        cols = []
        for c in self.columns:
            flag = " PRIMARY KEY" if c.name in self.primary_key and len(self.primary_key) == 1 else ""
            cols.append(f"  {quote_name(c.name)} {c.type or 'ANY'}{flag}")
        if len(self.primary_key) > 1:
            cols.append(f"  PRIMARY KEY ({', '.join(map(quote_name, self.primary_key))})")
        for fk in self.foreign_keys:
            cols.append(f"  FOREIGN KEY ({', '.join(map(quote_name, fk.columns))}) REFERENCES "
                        f"{quote_name(fk.ref_table)}({', '.join(map(quote_name, fk.ref_columns))})")
        return f"{quote_name(self.name)} (\n" + ",\n".join(cols) + "\n)"


@dataclass(frozen=True)
class DatabaseSchema:
    """A database: its id and tables."""
    db_id: str
    tables: tuple[TableSchema, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[TableSchema]:
        return iter(self.tables)

    @property
    def table_names(self) -> tuple[str, ...]:
        """The names of the tables, in order."""
        return tuple(t.name for t in self.tables)

    def table(self, name: str) -> TableSchema | None:
        """Table ``name`` (exact, else the one case-insensitive match), or None."""
        return find_named(self.tables, name)

    def describe(self) -> str:
        """Every table as observations show it."""
        return self._description

    @functools.cached_property
    def _description(self) -> str:
        # made once: every reset's overview and every get_schema shows it, and the schema is frozen
        return "\n".join(t.describe() for t in self.tables)


def find_named(items: Iterable, name: str):
    """The item whose ``.name`` is ``name``: exact match first, then case-insensitive if unique."""
    items = list(items)
    for it in items:
        if it.name == name:
            return it
    folded = [it for it in items if it.name.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None






@functools.lru_cache(maxsize=65_536)  # every overview and random action quotes the same few names
def quote_name(name: str) -> str:
    """Show a name as an agent would have to write it."""
    return exp.to_identifier(name, quoted=needs_quotes(name)).sql("mysql")  # backticks: no escaping in JSON
