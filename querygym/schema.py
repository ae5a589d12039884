"""Schemas of databases and intermediate tables.

Names are matched the way SQL engines match unquoted identifiers in the benchmarks we read:
case-insensitively, with an exact match preferred.  The canonical spelling (the one in the
database) is what compiled SQL uses, always quoted, so mixed-case names survive every engine.

>>> t = TableSchema("Singer", (Column("Singer_ID", "INTEGER"), Column("Name", "TEXT")))
>>> t.column("name").name
'Name'
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Iterator


@dataclass(frozen=True)
class Column:
    name: str
    type: str = ""


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column | None:
        return find_named(self.columns, name)

    def describe(self) -> str:
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
    db_id: str
    tables: tuple[TableSchema, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[TableSchema]:
        return iter(self.tables)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    def table(self, name: str) -> TableSchema | None:
        return find_named(self.tables, name)

    def describe(self) -> str:
        return "\n".join(t.describe() for t in self.tables)


def find_named(items: Iterable, name: str):
    """The item whose ``.name`` is ``name``: exact match first, then case-insensitive if unique."""
    items = list(items)
    for it in items:
        if it.name == name:
            return it
    folded = [it for it in items if it.name.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def closest(name: str, options: Iterable[str]) -> str | None:
    options = list(options)
    by_fold = {o.casefold(): o for o in options}
    match = difflib.get_close_matches(name.casefold(), list(by_fold), n=1, cutoff=0.6)
    return by_fold[match[0]] if match else None


def did_you_mean(name: str, options: Iterable[str]) -> str:
    guess = closest(name, options)
    return f" Did you mean {guess!r}?" if guess else ""


def quote_name(name: str) -> str:
    """Show a name as an agent would have to write it."""
    if name.replace("_", "a").isalnum() and not name[:1].isdigit():
        return name
    return "`" + name.replace("`", "``") + "`"
