"""BIRD-Critic (SWE-SQL): SQL debugging instances on PostgreSQL, as error-remediation tasks.

An instance is a JSON line ``{instance_id, db_id | selected_database, query, issue_sql | error_sql,
sol_sql, preprocess_sql, clean_up_sql, test_cases, …}``; the preview set uses the names
``selected_database`` and ``error_sql``, the released sets ``db_id`` and ``issue_sql``, and any of
the SQL fields may be a string or a list of statements.  Each instance becomes a task with

- ``question``: the user's description of the problem (``query``);
- ``initial_sql``: the user's broken SQL (the issue statements, joined);
- ``gold_sql``: the solution, whose result is the target table;
- ``dialect = "postgres"`` and ``db`` the instance's database on a PostgreSQL server;
- ``metadata``: ``preprocess_sql`` and ``clean_up_sql`` (lists), ``test_cases`` and the other fields.

Only read-only solutions can be played: an instance whose solution is DDL or DML (or several
statements) is kept as a task with ``problem`` saying so.  An instance whose ``preprocess_sql``
or ``clean_up_sql`` is not empty must run inside a sandbox copy of its database
(:mod:`querygym.engine.sandbox`), so the shared database never changes.

``db_root`` is the PostgreSQL server as a SQLAlchemy URL (``postgresql+psycopg://user@host:5432/postgres``);
each database is ``<db_id>`` on it.  ``tables`` is BIRD-Critic's ``dev_schema.json`` (CREATE TABLE
statements plus the first three rows of every table): it gives the task schemas, and a database
missing from the server is created from it with those sample rows (an existing one is used as is).

>>> tables = parse_dev_schema_text('CREATE TABLE "order" (\\norder_id bigint NOT NULL,\\n"Amount (EUR)" real NULL,\\n'
...     '    PRIMARY KEY (order_id)\\n);\\n\\nFirst 3 rows:\\n order_id\\n       1\\n       2\\n')
>>> [(c.name, c.type) for c in tables[0].columns], tables[0].rows
([('order_id', 'bigint'), ('Amount (EUR)', 'real')], [{'order_id': '1'}, {'order_id': '2'}])
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from querygym.converters.common import read_json, read_jsonl, statement_kind
from querygym.converters.tasks import Task, TaskSet
from querygym.engine.samples import (
    SampleColumn,
    SampleTable,
)
from querygym.engine.sandbox import database_url, install_sample_databases
from querygym.errors import DatasetError
from querygym.schema import Column, DatabaseSchema, ForeignKey, TableSchema

#: the released field names first, then the preview's
_DB_KEYS = ("db_id", "selected_database")
_ISSUE_KEYS = ("issue_sql", "error_sql")
_CORE = {"instance_id", "query", "sol_sql", "preprocess_sql", "clean_up_sql", *_DB_KEYS, *_ISSUE_KEYS}


# ---------------------------------------------------------------------- instances
def as_statements(value: Any) -> list[str]:
    """A SQL field (string, list of strings, empty or None) as a list of non-empty statements."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    raise DatasetError(f"a SQL field is a string or a list of strings, got {type(value).__name__}")


def join_statements(statements: list[str]) -> str:
    """Statements as one SQL text: one statement as it is, several each ended by ``;`` on its own line."""
    if len(statements) == 1:
        return statements[0]
    return "\n".join(s if s.rstrip().endswith(";") else s + ";" for s in statements)


def _first(rec: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in rec:
            return rec[key]
    return None


def load_bird_critic(path: str | Path, db_root: str | None = None, tables: str | Path | None = None, *,
                     name: str | None = None, install: bool = True) -> TaskSet:
    """Read BIRD-Critic instances (JSONL, or a JSON list) into a :class:`~querygym.converters.tasks.TaskSet`.

    ``db_root`` is the PostgreSQL server's SQLAlchemy URL; without it the tasks load but cannot be
    played.  ``tables`` is ``dev_schema.json`` (default: the one beside the instances, if any);
    with ``install`` the databases missing on the server are created from it.
    """
    path = Path(path)
    if path.suffix == ".json":
        records = read_json(path, "BIRD-Critic instances")
        if not isinstance(records, list):
            raise DatasetError(f"{path}: BIRD-Critic instances are JSON lines or a JSON list, got "
                               f"{type(records).__name__}")
    else:
        records = read_jsonl(path, "BIRD-Critic instances")
    if tables is None and (path.parent / "dev_schema.json").is_file():
        tables = path.parent / "dev_schema.json"
    samples = parse_dev_schema(tables) if tables is not None else {}
    urls: dict[str, str] = {}
    if db_root is not None:
        wanted = sorted({str(_first(r, _DB_KEYS)) for r in records if isinstance(r, dict)})
        if install and samples:
            install_sample_databases(samples, db_root, [d for d in wanted if d in samples])
        urls = {db_id: database_url(db_root, db_id) for db_id in wanted}
    tasks = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or _first(rec, _DB_KEYS) is None or "sol_sql" not in rec \
                or _first(rec, _ISSUE_KEYS) is None:
            keys = sorted(rec)[:10] if isinstance(rec, dict) else type(rec).__name__
            raise DatasetError(f"{path}: record #{i} is not a BIRD-Critic instance (found {keys}); expected "
                               f"instance_id, db_id or selected_database, query, issue_sql or error_sql, sol_sql")
        db_id = str(_first(rec, _DB_KEYS))
        try:
            issue = as_statements(_first(rec, _ISSUE_KEYS))
            solution = as_statements(rec["sol_sql"])
            preprocess = as_statements(rec.get("preprocess_sql"))
            clean_up = as_statements(rec.get("clean_up_sql"))
        except DatasetError as exc:
            raise DatasetError(f"{path}: instance {rec.get('instance_id', i)}: {exc}") from None
        problem = unsupported_reason(solution)
        if problem is None and db_root is None:
            problem = "no PostgreSQL server given (db_root=URL of the server holding the BIRD-Critic databases)"
        metadata = {k: v for k, v in rec.items() if k not in _CORE}
        metadata.update({"source_format": "bird_critic", "preprocess_sql": preprocess, "clean_up_sql": clean_up,
                         "issue_sql": issue, "sol_sql": solution})
        if problem is not None and problem.startswith("unsupported"):
            metadata["unsupported"] = problem  # intrinsic to the instance: survives a BIRD-format round trip
        tasks.append(Task(id=rec.get("instance_id", i), db_id=db_id, question=str(rec.get("query") or ""),
                          gold_sql=_strip_semicolon(join_statements(solution)) if solution else "",
                          initial_sql=join_statements(issue) if issue else None, dialect="postgres",
                          db=urls.get(db_id), schema=schema_of(samples[db_id]) if db_id in samples else None,
                          problem=problem, metadata=metadata))
    return TaskSet(tasks, name=name or path.name)


def unsupported_reason(solution: list[str]) -> str | None:
    """Why a solution cannot be a target table (None when it is one read-only query)."""
    if not solution:
        return "unsupported: the instance has no solution SQL"
    kinds = [statement_kind(s, "postgres") for s in solution]
    flat = ";".join(kinds).split(";")
    if flat == ["SELECT"]:
        return None
    what = ", ".join(dict.fromkeys(flat))
    if len(flat) > 1:
        ends = " and ends with a SELECT" if flat[-1] == "SELECT" else ""
        return (f"unsupported: the solution is {len(flat)} statements ({what}){ends}, not one read-only query; "
                f"a fix that changes the database has no target table to build")
    article = "an" if what[:1] in "AEIOU" else "a"
    return f"unsupported: the solution is {article} {what} statement (a DDL/DML fix), not a read-only query"


def _strip_semicolon(sql: str) -> str:
    return sql.rstrip().rstrip(";").rstrip()


# ---------------------------------------------------------------------- dev_schema.json
_PG_TYPE = (r"(?:timestamp|time)(?:\(\d+\))? with(?:out)? time zone|double precision|character varying(?:\(\d+\))?|"
            r"bit varying(?:\(\d+\))?|character(?:\(\d+\))?|varchar(?:\(\d+\))?|char(?:\(\d+\))?|"
            r"numeric(?:\(\d+(?:,\s*\d+)?\))?|decimal(?:\(\d+(?:,\s*\d+)?\))?|bigint|integer|smallint|int[248]?|"
            r"real|float[48]?|text|date|timestamptz|timestamp|time|interval|boolean|bool|uuid|jsonb|json|bytea|"
            r"inet|cidr|money|xml|oid|serial|bigserial|USER-DEFINED|ARRAY|[a-z_]+\[\]")
_COLUMN = re.compile(rf"^(?P<name>.+?) (?P<type>{_PG_TYPE})(?P<notnull> NOT NULL| NULL)?(?: DEFAULT (?P<default>.*?))?,?$")
_PRIMARY = re.compile(r"^PRIMARY KEY \((?P<cols>.+)\),?$")
_FOREIGN = re.compile(r"^FOREIGN KEY \((?P<cols>.+?)\) REFERENCES (?P<table>[^\s(]+)\s*\((?P<ref>.+?)\),?$")
_CREATE = re.compile(r'^CREATE TABLE "?(?P<name>[^"(]+?)"? \($')


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip().strip('"') for n in text.split(","))


def parse_dev_schema(path: str | Path) -> dict[str, list[SampleTable]]:
    """BIRD-Critic's ``dev_schema.json`` (``{db_id: text}``) as tables with sample rows, by db_id."""
    path = Path(path)
    data = read_json(path, "BIRD-Critic schema")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DatasetError(f"{path}: a BIRD-Critic schema file maps each db_id to the text of its CREATE TABLE "
                           f"statements and sample rows; got {type(data).__name__}")
    out = {}
    for db_id, text in data.items():
        try:
            out[db_id] = parse_dev_schema_text(text)
        except DatasetError as exc:
            raise DatasetError(f"{path}: database {db_id}: {exc}") from None
    return out


def parse_dev_schema_text(text: str) -> list[SampleTable]:
    """The tables of one database's ``dev_schema.json`` text."""
    tables: list[SampleTable] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _CREATE.match(lines[i].strip())
        if not match:
            i += 1
            continue
        table = SampleTable(match.group("name"), [])
        i += 1
        while i < len(lines) and lines[i].strip() != ");":
            line = lines[i].strip()
            i += 1
            if not line:
                continue
            if m := _PRIMARY.match(line):
                table.primary_key = _names(m.group("cols"))
            elif m := _FOREIGN.match(line):
                table.foreign_keys.append((_names(m.group("cols")), m.group("table").strip('"'), _names(m.group("ref"))))
            elif m := _COLUMN.match(line):
                table.columns.append(SampleColumn(m.group("name").strip('"'), m.group("type"),
                                                  (m.group("notnull") or "").strip() == "NOT NULL",
                                                  m.group("default")))
            else:
                raise DatasetError(f"table {table.name}: cannot read the column line {line!r}")
        i += 1
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i < len(lines) and lines[i].strip().startswith("First") and lines[i].strip().endswith("rows:"):
            block = []
            i += 1
            while i < len(lines) and lines[i].strip() and not lines[i].startswith("CREATE TABLE"):
                block.append(lines[i])
                i += 1
            table.rows, table.note = _sample_rows(block, table)
        tables.append(table)
    return tables


def _sample_rows(block: list[str], table: SampleTable) -> tuple[list[dict[str, str]], str]:
    """Rows printed by pandas' ``to_string(index=False)``: every column right-aligned, so a value
    ends where its header ends.  Columns pandas left out are not in the rows."""
    if not block or block[0].strip().startswith("Empty DataFrame"):
        return [], ""
    header = block[0]
    known = {c.name for c in table.columns}
    spans = [(m.group(), m.end()) for m in re.finditer(r"\S+", header)]
    if any(name not in known for name, _ in spans):
        odd = [name for name, _ in spans if name not in known]
        return [], f"sample rows skipped: their header names {odd} are not columns of the table"
    rows = []
    for line in block[1:]:
        start, row = 0, {}
        for name, end in spans:
            row[name] = line[start:end].strip()
            start = end
        if line[start:].strip():
            return [], "sample rows skipped: a row is wider than its header"
        rows.append(row)
    return rows, ""


def schema_of(tables: list[SampleTable], db_id: str = "") -> DatabaseSchema:
    """The :class:`~querygym.schema.DatabaseSchema` of a parsed ``dev_schema.json`` database."""
    return DatabaseSchema(db_id, tuple(
        TableSchema(t.name, tuple(Column(c.name, c.type) for c in t.columns), t.primary_key,
                    tuple(ForeignKey(cols, ref, ref_cols) for cols, ref, ref_cols in t.foreign_keys))
        for t in tables))
