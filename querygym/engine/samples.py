"""PostgreSQL databases rebuilt from a schema dump with a few sample rows per table (the form
BIRD-Critic ships its databases in): the table model, the DDL that recreates it, and sample
values as the Python values to insert.  The sandbox installs them; the BIRD-Critic reader fills
the model from ``dev_schema.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from querygym.util import quote_identifier

_NULL_TEXT = {"None", "NaN", "NaT", "<NA>", "nan"}


@dataclass
class SampleColumn:
    """One column of a sample table: name, PostgreSQL type, NOT NULL and default."""
    name: str
    type: str
    not_null: bool = False
    default: str | None = None


@dataclass
class SampleTable:
    """One table of ``dev_schema.json``: its columns, keys and sample rows (raw text by column)."""

    name: str
    columns: list[SampleColumn]
    primary_key: tuple[str, ...] = ()
    foreign_keys: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    note: str = ""


def sample_value(text: str, column: SampleColumn) -> Any:
    """A printed sample value as the Python value to insert (None for pandas' missing markers)."""
    if text in _NULL_TEXT:
        return None
    kind = column.type.lower()
    if kind in {"text", "character varying", "varchar", "character", "char"} or kind.startswith(("character", "varchar")):
        return text
    if text == "":
        return None
    if kind in {"bigint", "integer", "smallint", "int", "int2", "int4", "int8", "serial", "bigserial"}:
        try:
            return int(float(text)) if not re.fullmatch(r"[-+]?\d+", text) else int(text)
        except ValueError:
            return text
    return text


NEXTVAL = re.compile(r"nextval\('(?P<seq>[^']+)'(?:::regclass)?\)")


def create_statements(tables: list[SampleTable]) -> list[str]:
    """DDL that recreates the tables (columns, primary keys, sequences their defaults use).

    Foreign keys are not created: three sample rows per table cannot satisfy them.
    """
    statements = []
    for table in tables:
        for column in table.columns:
            if column.default and (m := NEXTVAL.search(column.default)):
                statements.append(f"CREATE SEQUENCE IF NOT EXISTS {_quote(m.group('seq'))}")
        parts = []
        for column in table.columns:
            text = f"{_quote(column.name)} {column.type}"
            if column.not_null:
                text += " NOT NULL"
            if column.default:
                text += f" DEFAULT {NEXTVAL.sub(lambda m: _nextval(m.group('seq')), column.default)}"
            parts.append(text)
        if table.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(map(_quote, table.primary_key))})")
        statements.append(f"CREATE TABLE {_quote(table.name)} ({', '.join(parts)})")
    return statements


def _nextval(sequence: str) -> str:
    return "nextval('" + _quote(sequence).replace("'", "''") + "'::regclass)"


def _quote(name: str) -> str:
    return quote_identifier(name, "postgres", always=True)
