"""FIBEN (Sen et al., PVLDB 2020): ``FIBEN_Queries.json`` (``uniqueQueryID, question, isParaphrased,
SQL, queryType``) over the financial schema of ``FIBEN.sql`` (Db2 DDL).

The gold SQL is Db2: schema-qualified quoted identifiers (``FIBEN."LISTEDSECURITY"``),
``FETCH FIRST n ROWS ONLY``, ``MONTH()``/``YEAR()``, exponent literals (``1.0E6``).  sqlglot reads it
(as PostgreSQL, which shares those forms) and writes SQLite: the schema qualifier is dropped,
``FETCH FIRST`` becomes ``LIMIT``, ``MONTH(x)``/``YEAR(x)`` become ``strftime``.  One record's SQL in
the published file lacks its closing quote, another its last parenthesis; they are closed.

Paraphrases share a ``uniqueQueryID``: the original keeps the id as its task id, each paraphrase
gets ``<id>-p<k>``, and every task's ``metadata["paraphrases"]`` lists the ids of the others.

The data: ``db_root`` may hold ``fiben/fiben.sqlite`` (BIRD layout, e.g. a database built before),
or FIBEN's CSV archive (``data.zip`` or its ``<TABLE>.csv`` files), which is loaded into a SQLite
file in the cache folder.  Without data the database is synthesised from the schema and the gold
queries (:mod:`querygym.synth`) into the cache folder, so every task is playable.

>>> from pathlib import Path
>>> sql = to_sqlite('SELECT o."HASNAME" FROM FIBEN."COUNTRY" o FETCH FIRST 3 ROWS ONLY')
>>> sql
'SELECT o."HASNAME" FROM "COUNTRY" AS o LIMIT 3'
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import sqlglot
from sqlglot import exp

from querygym.converters.common import cache_dir, find_sqlite, read_json, sibling
from querygym.converters.tasks import Problem, Task, TaskSet
from querygym.errors import DatasetError
from querygym.schema import Column, DatabaseSchema, ForeignKey, TableSchema
from querygym.synth import DEFAULT_ROWS, synthesise_database

DB_ID = "fiben"
_REQUIRED = ("uniqueQueryID", "question", "SQL")
_EXPONENT = re.compile(r"(?<![\w.'])(\d+(?:\.\d+)?[eE][+-]?\d+)(?![\w'])")


def read_ddl(path: str | Path, db_id: str = DB_ID) -> DatabaseSchema:
    """The schema a Db2/PostgreSQL DDL file declares: tables, column types, NOT NULL, primary keys,
    and the foreign keys of its ``ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY`` statements."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: FIBEN schema (FIBEN.sql) not found")
    text = path.read_text(encoding="utf-8")
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        statements = [s for s in sqlglot.parse(text, read="postgres") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise DatasetError(f"{path}: not a DDL file sqlglot can read ({str(exc).splitlines()[0]})") from None
    finally:
        logger.setLevel(level)
    tables: dict[str, dict] = {}
    for statement in statements:
        if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
            name = statement.this.this.name
            columns, primary = [], ()
            for item in statement.this.expressions:
                if isinstance(item, exp.ColumnDef):
                    not_null = any(isinstance(c.args.get("kind"), exp.NotNullColumnConstraint)
                                   for c in item.args.get("constraints") or [])
                    kind = item.args.get("kind")
                    columns.append(Column(item.name, kind.sql("postgres") if kind is not None else "", not_null))
                elif isinstance(item, exp.PrimaryKey):
                    primary = tuple(e.name for e in item.expressions)
            tables[name.casefold()] = {"name": name, "columns": tuple(columns), "pk": primary, "fks": []}
        elif isinstance(statement, exp.Alter):
            owner = tables.get(statement.this.name.casefold())
            for fk in statement.find_all(exp.ForeignKey):
                reference = fk.args.get("reference")
                target = reference.this if reference is not None else None
                if owner is None or not isinstance(target, exp.Schema):
                    continue
                owner["fks"].append(ForeignKey(tuple(e.name for e in fk.expressions), target.this.name,
                                               tuple(e.name for e in target.expressions)))
    if not tables:
        raise DatasetError(f"{path}: no CREATE TABLE statement found; expected FIBEN's DDL (FIBEN.sql)")
    return DatabaseSchema(db_id, tuple(TableSchema(t["name"], t["columns"], t["pk"], tuple(dict.fromkeys(t["fks"])))
                                       for t in tables.values()))


def to_sqlite(sql: str) -> str:
    """FIBEN's Db2 SQL as SQLite SQL (see the module docstring for what changes)."""
    text = sql.strip()
    if _open_quote(text):
        text += "'"
    text += ")" * max(0, _open_parens(text))
    text = _EXPONENT.sub(lambda m: repr(float(m.group(1))), text)
    tree = sqlglot.parse_one(text, read="postgres")
    for table in tree.find_all(exp.Table):
        if table.args.get("db") is not None:
            table.set("db", None)
    tree = tree.transform(_date_parts)
    return tree.sql(dialect="sqlite")


def _open_quote(text: str) -> bool:
    return text.count("'") % 2 == 1


def _open_parens(text: str) -> int:
    """Parentheses left open outside string literals (one published query lacks its last ``)``)."""
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted:
            depth += (ch == "(") - (ch == ")")
    return depth


def _date_parts(node):
    """``MONTH(x)`` / ``YEAR(x)`` / ``DAY(x)`` as the integer SQLite's strftime gives."""
    formats = {exp.Month: "%m", exp.Year: "%Y", exp.Day: "%d"}
    for cls, fmt in formats.items():
        if type(node) is cls:
            call = exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string(fmt), node.this])
            return exp.Cast(this=call, to=exp.DataType.build("INTEGER"))
    return node


def load_fiben(questions: str | Path, db_root: str | Path | None = None, tables: str | Path | None = None, *,
               rows: int = DEFAULT_ROWS, seed: int = 0, cache: str | Path | None = None,
               name: str | None = None) -> TaskSet:
    """Read FIBEN into a :class:`~querygym.converters.tasks.TaskSet` (one task per record).

    ``tables`` is ``FIBEN.sql`` (default: beside the question file); ``db_root`` holds the data
    (see the module docstring); without it the database is synthesised with ``rows`` and ``seed``.
    """
    questions = Path(questions)
    data = read_json(questions, "FIBEN questions")
    if not isinstance(data, list):
        raise DatasetError(f"{questions}: FIBEN questions are a JSON list of objects with "
                           f"{', '.join(_REQUIRED)}; got {type(data).__name__}")
    ddl = Path(tables) if tables is not None else sibling(questions, "FIBEN.sql")
    if ddl is None:
        raise DatasetError(f"{questions}: FIBEN needs its schema: give tables=FIBEN.sql (none beside the file)")
    schema = read_ddl(ddl)
    given = _given_data(db_root, schema, cache)  # before the slow part: a bad data folder fails at once
    records, problems = [], []
    counts: dict[str, int] = {}
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or any(k not in rec for k in _REQUIRED):
            raise DatasetError(f"{questions}: record #{i} is not a FIBEN question; expected keys "
                               f"uniqueQueryID, question, isParaphrased, SQL, queryType")
        uid = str(rec["uniqueQueryID"])
        k = counts.get(uid, 0)
        counts[uid] = k + 1
        task_id = uid if k == 0 and not rec.get("isParaphrased") else f"{uid}-p{k}"
        if task_id in (r[0] for r in records):
            task_id = f"{uid}-p{k}-{i}"
        try:
            sql, problem = to_sqlite(str(rec["SQL"])), None
        except sqlglot.errors.SqlglotError as exc:
            sql, problem = str(rec["SQL"]).strip(), f"gold SQL cannot be translated from Db2: {str(exc).splitlines()[0]}"
        records.append((task_id, uid, rec, sql, problem))
    # the original of each id first, then its paraphrases, keep the file's order otherwise
    group: dict[str, list[str]] = {}
    for task_id, uid, *_ in records:
        group.setdefault(uid, []).append(task_id)
    db = given or _synthesised([questions, ddl], schema, [r[3] for r in records if r[4] is None], rows=rows, seed=seed,
                               cache=cache)
    tasks = []
    for task_id, uid, rec, sql, problem in records:
        tasks.append(Task(id=task_id, db_id=DB_ID, question=str(rec["question"]).strip(), gold_sql=sql,
                          difficulty=str(rec.get("queryType") or ""), db=db, schema=schema, problem=problem,
                          metadata={"unique_query_id": rec["uniqueQueryID"],
                                    "is_paraphrased": bool(rec.get("isParaphrased")),
                                    "query_type": rec.get("queryType"), "db2_sql": str(rec["SQL"]).strip(),
                                    "paraphrases": [t for t in group[uid] if t != task_id]}))
        if problem:
            problems.append(Problem(task_id, problem))
    return TaskSet(tasks, [], name=name or questions.name)


def _given_data(db_root, schema: DatabaseSchema, cache) -> str | None:
    """The path of FIBEN's SQLite database when data is given: a database, or the CSV archive loaded."""
    if db_root is not None:
        root = Path(db_root)
        if not root.is_dir():
            raise DatasetError(f"{root}: FIBEN data folder is not a directory")
        found = find_sqlite(root, DB_ID)
        if found is not None:
            return found
        archive = root / "data.zip"
        csvs = sorted(p for p in root.iterdir() if p.suffix.lower() == ".csv")
        if archive.is_file() or csvs:
            sources = [archive] if archive.is_file() else csvs
            folder = cache_dir("fiben-data", *sources, base=cache)
            path = folder / DB_ID / f"{DB_ID}.sqlite"
            if not path.is_file():
                load_csv_data(schema, sources, path)
            return str(path)
        raise DatasetError(f"{root}: no FIBEN data there (expected {DB_ID}/{DB_ID}.sqlite, data.zip or "
                           f"<TABLE>.csv files)")
    return None


def _synthesised(sources: list[Path], schema: DatabaseSchema, gold: list[str], *, rows: int, seed: int,
                 cache) -> str:
    """The path of a database synthesised from the schema and the gold queries (built once per
    version of the source files, rows and seed, and cached)."""
    folder = cache_dir(f"fiben-synth-r{rows}-s{seed}", *sources, base=cache)
    path = folder / DB_ID / f"{DB_ID}.sqlite"
    if not path.is_file():
        synthesise_database(schema, gold, folder, rows=rows, seed=seed)
    return str(path)


def load_csv_data(schema: DatabaseSchema, sources: list[Path], path: Path) -> Path:
    """Load FIBEN's CSV files (one per table, named after it; a header row is skipped when it names
    the columns; empty fields are NULL) into a new SQLite file at ``path``."""
    files: dict[str, tuple[str, bytes]] = {}
    for source in sources:
        if source.suffix.lower() == ".zip":
            with zipfile.ZipFile(source) as archive:
                for member in archive.namelist():
                    if member.lower().endswith(".csv"):
                        files[Path(member).stem.casefold()] = (member, archive.read(member))
        else:
            files[source.stem.casefold()] = (source.name, source.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    if tmp.exists():
        tmp.unlink()
    with closing(sqlite3.connect(tmp)) as conn:
        for table in schema:
            cols = ", ".join(f'"{c.name}" {c.type}' + (" NOT NULL" if c.not_null else "") for c in table.columns)
            pk = f', PRIMARY KEY ({", ".join(chr(34) + c + chr(34) for c in table.primary_key)})' if table.primary_key else ""
            conn.execute(f'CREATE TABLE "{table.name}" ({cols}{pk})')
            if table.name.casefold() not in files:
                continue
            member, raw = files[table.name.casefold()]
            reader = csv.reader(io.StringIO(raw.decode("utf-8", errors="replace")))
            width = len(table.columns)
            names = [c.name.casefold() for c in table.columns]
            batch = []
            for n, row in enumerate(reader):
                if n == 0 and [v.strip().casefold() for v in row] == names:
                    continue
                if len(row) != width:
                    raise DatasetError(f"{member}: row {n + 1} has {len(row)} fields; table {table.name} has "
                                       f"{width} columns")
                batch.append([v if v != "" else None for v in row])
            marks = ", ".join("?" for _ in table.columns)
            conn.executemany(f'INSERT INTO "{table.name}" VALUES ({marks})', batch)
        conn.commit()
    tmp.replace(path)
    return path
