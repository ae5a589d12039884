"""Synthesised databases: data for schemas that ship none, and neighbour databases for a reward
that a query right by coincidence does not earn.

:func:`synthesise_dataset` writes, for each database of a task set, a SQLite file in the BIRD
layout (``OUT/<db_id>/<db_id>.sqlite``), so every command reads it unchanged, and optionally
``K`` neighbours (``OUT/<db_id>/neighbours/<k>.sqlite``): the same schema, the same pools of
values, fresh draws, rows added and removed, keys kept consistent.  The gold queries of the
database's tasks shape the data (:mod:`querygym.synth.hints`): their literals seed the columns
they are compared with, their comparisons give ranges, their join predicates give foreign keys
when the schema declares none, and each query gets witness rows so its answer is not empty.

>>> import tempfile
>>> from querygym.converters.builtin import builtin_tasks
>>> tasks = builtin_tasks()
>>> out = tempfile.mkdtemp()
>>> [d.db_id for d in synthesise_dataset(tasks, out, rows=5)]
['enterprise']
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from querygym.schema import DatabaseSchema, ForeignKey
from querygym.synth.database import DEFAULT_ROWS, Synthesiser, column_kind, derive_seed
from querygym.synth.hints import DatabaseHints

__all__ = ["DEFAULT_ROWS", "DatabaseHints", "SynthesisedDatabase", "Synthesiser", "column_kind", "derive_seed",
           "infer_foreign_keys", "neighbour_paths", "synthesise_database", "synthesise_dataset"]


@dataclass
class SynthesisedDatabase:
    """What synthesis wrote for one database: the file, its neighbours, and what it had to infer."""
    db_id: str
    path: Path
    neighbours: list[Path] = field(default_factory=list)
    #: gold queries sqlglot could not read (they get no witness rows)
    unread: int = 0
    inferred_foreign_keys: int = 0


def infer_foreign_keys(schema: DatabaseSchema, joins: Iterable[tuple[tuple[str, str], tuple[str, str]]]
                       ) -> dict[str, list[ForeignKey]]:
    """Declared foreign keys plus one per join predicate between a column and another table's
    single-column primary key, when that column has no foreign key yet.

    >>> from querygym.schema import Column, TableSchema
    >>> s = DatabaseSchema("d", (TableSchema("a", (Column("id"),), ("id",)), TableSchema("b", (Column("a_id"),))))
    >>> infer_foreign_keys(s, [(("b", "a_id"), ("a", "id"))])["b"]
    [ForeignKey(columns=('a_id',), ref_table='a', ref_columns=('id',))]
    """
    out = {t.name: list(t.foreign_keys) for t in schema}
    tables = {t.name: t for t in schema}
    for a, b in joins:
        for child, parent in ((a, b), (b, a)):
            if child[0] == parent[0] or child[0] not in tables or parent[0] not in tables:
                continue
            if tables[parent[0]].primary_key != (parent[1],):
                continue
            if any(child[1] in fk.columns for fk in out[child[0]]):
                continue
            if _reaches(out, parent[0], child[0]):
                continue  # would close a cycle of references
            out[child[0]].append(ForeignKey((child[1],), parent[0], (parent[1],)))
            break
    return out


def _reaches(fks: dict[str, list[ForeignKey]], start: str, goal: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name == goal:
            return True
        if name in seen:
            continue
        seen.add(name)
        stack.extend(fk.ref_table for fk in fks.get(name, ()))
    return False


def database_pools(path: str | Path, schema: DatabaseSchema, *, limit: int = 200) -> dict[tuple[str, str], list]:
    """Up to ``limit`` distinct values of each column of a real SQLite database (for neighbours of it)."""
    pools: dict[tuple[str, str], list] = {}
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        for table in schema:
            for column in table.columns:
                try:
                    rows = conn.execute(f'SELECT DISTINCT "{column.name}" FROM "{table.name}" '
                                        f'WHERE "{column.name}" IS NOT NULL ORDER BY 1 LIMIT {int(limit)}').fetchall()
                except sqlite3.Error:
                    continue
                pools[(table.name, column.name)] = [r[0] for r in rows if not isinstance(r[0], bytes)]
    return pools


def synthesise_database(schema: DatabaseSchema, gold_sql: Iterable[str], out: str | Path, *, rows: int = DEFAULT_ROWS,
                        seed: int = 0, neighbours: int = 0, dialect: str = "sqlite",
                        pools: dict | None = None) -> SynthesisedDatabase:
    """Write ``out/<db_id>/<db_id>.sqlite`` (and ``neighbours`` variants) for one schema."""
    hints = DatabaseHints(schema, dialect)
    for sql in gold_sql:
        hints.add_query(sql)
    fks = infer_foreign_keys(schema, hints.joins)
    inferred = sum(len(v) for v in fks.values()) - sum(len(t.foreign_keys) for t in schema)
    folder = Path(out) / schema.db_id
    path = Synthesiser(schema, hints, rows=rows, seed=seed, foreign_keys=fks, pools=pools).write(
        folder / f"{schema.db_id}.sqlite")
    result = SynthesisedDatabase(schema.db_id, path, unread=len(hints.failed), inferred_foreign_keys=inferred)
    for k in range(1, neighbours + 1):
        result.neighbours.append(Synthesiser(schema, hints, rows=rows, seed=seed, variant=k, foreign_keys=fks,
                                             pools=pools).write(folder / "neighbours" / f"{k}.sqlite"))
    return result


def neighbour_paths(root: str | Path, db_id: str) -> list[str]:
    """The neighbour databases of ``db_id`` under ``root`` (``root/<db_id>/neighbours/<k>.sqlite``), in order."""
    folder = Path(root) / db_id / "neighbours"
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix == ".sqlite" and p.stem.isdigit()]
    return [str(p) for p in sorted(files, key=lambda p: int(p.stem))]


def _schema_of(task) -> DatabaseSchema | None:
    if task.schema is not None:
        return task.schema
    if task.db:
        try:
            return task.database_schema()
        except Exception:  # an unreadable database: the caller reports it
            return None
    return None


def synthesise_dataset(tasks, out: str | Path, *, rows: int = DEFAULT_ROWS, seed: int = 0, neighbours: int = 0,
                       real_pools: bool = True) -> list[SynthesisedDatabase]:
    """Synthesise every database of a task set under ``out`` (BIRD layout); returns what was written.

    The schema comes from the task (its tables file) or, when it has none, from its database.
    When a task's database exists and ``real_pools`` is true, its values join the pools, so
    neighbours of a real database look like it.
    """
    by_db: dict[str, list] = {}
    for task in tasks:
        by_db.setdefault(task.db_id, []).append(task)
    written = []
    for group in by_db.values():
        schema = next((s for s in (_schema_of(t) for t in group) if s is not None), None)
        if schema is None:
            continue
        schema = _without_internal(schema)
        real = next((t.db for t in group if t.db and Path(str(t.db)).is_file()), None)
        pools = database_pools(real, schema) if real and real_pools else None
        written.append(synthesise_database(schema, [t.gold_sql for t in group], out, rows=rows, seed=seed,
                                           neighbours=neighbours, dialect=group[0].dialect, pools=pools))
    return written


def _without_internal(schema: DatabaseSchema) -> DatabaseSchema:
    """The schema without SQLite's own tables (Spider's world_1 lists ``sqlite_sequence``)."""
    tables = tuple(t for t in schema.tables if not t.name.lower().startswith("sqlite_"))
    return DatabaseSchema(schema.db_id, tables) if len(tables) != len(schema.tables) else schema
