"""WikiSQL format and its Criteria2SQL variant.

WikiSQL: ``*.jsonl`` questions ``{table_id, question, sql: {sel, agg, conds}, phase}``, a
``*.tables.jsonl`` of tables ``{id, header, types, rows}`` and a SQLite ``*.db``.  The structured
query becomes SQL with WikiSQL's own semantics, those of its official executor
(``lib/dbengine.py`` and ``lib/query.py`` in salesforce/WikiSQL):

- ``agg`` indexes ``['', 'MAX', 'MIN', 'COUNT', 'SUM', 'AVG']`` and wraps the selected column;
- each condition ``[column, op, value]`` indexes ``['=', '>', '<', 'OP']`` (``OP`` is a
  placeholder that no released query uses; it is reported, not guessed); conditions are joined
  with AND;
- string values are lower-cased, and the database stores its text lower-cased too, so
  comparisons ignore case; for a ``real`` column a string value is read as a number (thousands
  separators dropped, else the first number in it), as the executor does with Babel;
- numbers are compared as numbers; a number against a text column is compared as text, SQLite's
  type-affinity rule, which is also what the executor's bound parameters get.

The official ``.db`` names its tables ``table_<id with - as _>`` and symbolises the columns as
``col0 … colN``; queries on it use those names.  When no ``.db`` is given, one is built from the
tables file under a cache folder (never next to the source): a SQLite file per table at
``<cache>/<db_id>/<db_id>.sqlite``, the same table name, the real header names as columns (made
unique; an empty header becomes ``colN``), ``real`` columns as REAL and text lower-cased.  A task
therefore sees only its own table.  Each task's ``db_id`` is its table name.

Criteria2SQL (clinical-trial eligibility criteria) keeps the layout with differences: one shared
table ``records`` in the ``.db``; an executable ``query`` string, which is the gold SQL; and
conditions interleaved with connector pseudo-conditions ``[connector, level]`` — connector 0 AND,
1 OR, 2 ``+`` (a sum of CASE WHEN … THEN 1 ELSE 0 END terms), 4 "the sum is at least" (followed by
``[NOUSE, 6, n]``) — whose level orders them (a higher level binds tighter; a group of several
conditions is parenthesised), plus operator ids 3 ``>=`` and 4 ``<=``.  The structured query is
rendered the same way and kept in ``metadata["structured_sql"]``; tests prove both give equal tables.

>>> table = {"id": "1-10015132-11", "header": ["Player", "No.", "Position"], "types": ["text", "real", "text"]}
>>> wikisql_sql({"sel": 0, "agg": 3, "conds": [[2, 0, "Guard"], [1, 1, "1,000"]]}, table)
'SELECT COUNT("Player") FROM "table_1_10015132_11" WHERE "Position" = \\'guard\\' AND "No." > 1000.0'
>>> wikisql_sql({"sel": 0, "agg": 0, "conds": [[2, 0, "Guard"]]}, table, symbolic=True)
'SELECT "col0" FROM "table_1_10015132_11" WHERE "col2" = \\'guard\\''
"""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlglot import exp

from querygym.converters.common import cache_dir, read_jsonl
from querygym.converters.tasks import Problem, Task, TaskSet
from querygym.errors import DatasetError, StructuredQueryError
from querygym.util import quote_identifier

AGG_OPS = ("", "MAX", "MIN", "COUNT", "SUM", "AVG")
COND_OPS = ("=", ">", "<", "OP")
#: Criteria2SQL's operator ids, read off its data (5 does not occur; 6 is the count threshold)
CRITERIA_COND_OPS = {0: "=", 1: ">", 2: "<", 3: ">=", 4: "<=", 6: ">="}
#: Criteria2SQL connector ids
AND, OR, PLUS, AT_LEAST = 0, 1, 2, 4
_NUMBER = re.compile(r"[-+]?\d*\.\d+|\d+")
_AGG_CLASSES = {"MAX": exp.Max, "MIN": exp.Min, "COUNT": exp.Count, "SUM": exp.Sum, "AVG": exp.Avg}


# ---------------------------------------------------------------------- names and values
def table_name(table_id: str) -> str:
    """WikiSQL's SQL name of a table: ``table_`` plus the id with dashes as underscores."""
    table_id = str(table_id)
    return table_id if table_id.startswith("table") else "table_" + table_id.replace("-", "_")


def column_names(header: list[str]) -> list[str]:
    """SQL column names for a WikiSQL header: the header text, unique ignoring case (as SQLite
    compares names); an empty header becomes ``colN``, a repeated one gets ``_2``, ``_3``, …"""
    names: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(header):
        base = " ".join(str(raw).split()) or f"col{i}"
        name, k = base, 1
        while name.lower() in seen:
            k += 1
            name = f"{base}_{k}"
        seen.add(name.lower())
        names.append(name)
    return names




def _column(name: str) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name, quoted=True))


def _number_literal(value: float | int) -> exp.Expression:
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        raise StructuredQueryError(f"condition value {value!r} is not a finite number")
    return exp.Literal.number(repr(value) if isinstance(value, float) else str(value))


def _wikisql_value(value: Any, column_type: str, *, lower: bool = True) -> exp.Expression:
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, str):
        if lower:
            value = value.lower()
        if column_type == "real":
            return _number_literal(_parse_number(value))
        return exp.Literal.string(value)
    if isinstance(value, (int, float)):
        return _number_literal(value)
    raise StructuredQueryError(f"condition value {value!r} is neither a string nor a number")


def _parse_number(text: str) -> float:
    """A string condition value on a ``real`` column, read as the executor reads it
    (``babel.numbers.parse_decimal`` in the en_US locale, else the first number in the text)."""
    cleaned = text.strip().replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        found = _NUMBER.findall(text)
        if not found:
            raise StructuredQueryError(f"condition value {text!r} on a numeric column has no number in it") from None
        return float(found[0])


# ---------------------------------------------------------------------- WikiSQL rendering
def wikisql_query(sql: dict, table: dict, *, symbolic: bool = False, lower: bool = True) -> exp.Select:
    """The structured query ``sql`` over ``table`` (a tables-file record) as a sqlglot expression.

    ``symbolic`` names the columns ``colN`` as the official ``.db`` does; otherwise they are the
    header names (see :func:`column_names`).
    """
    header = list(table.get("header") or [])
    types = [str(t).lower() for t in (table.get("types") or ["text"] * len(header))]
    names = [f"col{i}" for i in range(len(header))] if symbolic else column_names(header)
    try:
        sel, agg, conds = int(sql["sel"]), int(sql["agg"]), list(sql.get("conds") or [])
    except (KeyError, TypeError, ValueError) as exc:
        raise StructuredQueryError(f"structured query {sql!r} lacks sel, agg or conds ({exc})") from None

    def col(index: int) -> exp.Column:
        if not 0 <= index < len(names):
            raise StructuredQueryError(f"column index {index} is out of range; table {table.get('id')} has "
                                       f"{len(names)} columns")
        return _column(names[index])

    if not 0 <= agg < len(AGG_OPS):
        raise StructuredQueryError(f"aggregation id {agg} is not one of WikiSQL's {len(AGG_OPS)} ({AGG_OPS})")
    projection: exp.Expression = col(sel)
    if AGG_OPS[agg]:
        projection = _AGG_CLASSES[AGG_OPS[agg]](this=projection)
    predicates = []
    for cond in conds:
        if not isinstance(cond, (list, tuple)) or len(cond) != 3:
            raise StructuredQueryError(f"condition {cond!r} is not [column, operator, value]")
        index, op, value = cond
        if not isinstance(op, int) or not 0 <= op < len(COND_OPS) or COND_OPS[op] == "OP":
            raise StructuredQueryError(f"condition operator id {op!r} is not one of WikiSQL's '=', '>', '<' "
                                       f"(ids 0-2; id 3 is the unused placeholder 'OP')")
        column_type = types[index] if 0 <= index < len(types) else "text"
        predicates.append(_comparison(COND_OPS[op], col(index), _wikisql_value(value, column_type, lower=lower)))
    query = exp.select(projection).from_(exp.Table(this=exp.to_identifier(table_name(table["id"]), quoted=True)))
    return query.where(exp.and_(*predicates), copy=False) if predicates else query


def wikisql_sql(sql: dict, table: dict, *, symbolic: bool = False, lower: bool = True) -> str:
    """:func:`wikisql_query` rendered as SQLite SQL."""
    return wikisql_query(sql, table, symbolic=symbolic, lower=lower).sql(dialect="sqlite")


def _comparison(op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
    classes = {"=": exp.EQ, ">": exp.GT, "<": exp.LT, ">=": exp.GTE, "<=": exp.LTE, "!=": exp.NEQ}
    return classes[op](this=left, expression=right)


# ---------------------------------------------------------------------- Criteria2SQL rendering
def criteria2sql_query(sql: dict, header: list[str], *, table: str = "records") -> exp.Select:
    """A Criteria2SQL structured query (conditions with connector pseudo-conditions) as sqlglot."""
    conds = list(sql.get("conds") or [])
    try:
        sel, agg = int(sql["sel"]), int(sql["agg"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StructuredQueryError(f"structured query {sql!r} lacks sel or agg ({exc})") from None
    if not 0 <= agg < len(AGG_OPS):
        raise StructuredQueryError(f"aggregation id {agg} is not one of {AGG_OPS}")

    def col(index: Any) -> exp.Column:
        if not isinstance(index, int) or not 0 <= index < len(header):
            raise StructuredQueryError(f"column index {index!r} is out of range; the table has {len(header)} columns")
        return _column(str(header[index]))

    projection: exp.Expression = col(sel)
    if AGG_OPS[agg]:
        projection = _AGG_CLASSES[AGG_OPS[agg]](this=projection)
    query = exp.select(projection).from_(exp.Table(this=exp.to_identifier(table, quoted=True)))
    if not conds:
        return query
    items, connectors = conds[0::2], conds[1::2]
    if any(not isinstance(c, (list, tuple)) or len(c) != 3 for c in items) or \
            any(not isinstance(c, (list, tuple)) or len(c) != 2 for c in connectors):
        raise StructuredQueryError(f"conditions {conds!r} do not alternate [column, op, value] and [connector, level]")
    return query.where(_criteria_group(items, connectors, col, header), copy=False)


def _criteria_group(items: list, connectors: list, col, header: list[str]) -> exp.Expression:
    if len(items) == 1:
        return _criteria_condition(items[0], col)
    level = min(c[1] for c in connectors)
    parts: list[list] = [[[items[0]], []]]
    ops: list[int] = []
    for connector, item in zip(connectors, items[1:]):
        if connector[1] == level:
            ops.append(connector[0])
            parts.append([[item], []])
        else:
            parts[-1][0].append(item)
            parts[-1][1].append(connector)
    pieces: list[Any] = [p[0] if len(p[0]) == 1 and _is_threshold(p[0][0], header) else
                         _criteria_group(p[0], p[1], col, header) for p in parts]
    # precedence within one level: + (a sum of CASE terms), then "at least", then AND, then OR
    pieces, ops = _fold(pieces, ops, PLUS, lambda a, b: exp.Add(this=a, expression=b), _case_term)
    pieces, ops = _fold(pieces, ops, AT_LEAST, _at_least)
    pieces, ops = _fold(pieces, ops, AND, lambda a, b: exp.and_(a, b))
    pieces, ops = _fold(pieces, ops, OR, lambda a, b: exp.or_(a, b))
    if ops:
        raise StructuredQueryError(f"connector id(s) {sorted(set(ops))} unknown; known: 0 AND, 1 OR, 2 +, 4 at least")
    return pieces[0]


def _fold(pieces: list, ops: list[int], which: int, combine, wrap=None) -> tuple[list, list[int]]:
    out, out_ops = [pieces[0]], []
    in_run = False
    for op, piece in zip(ops, pieces[1:]):
        if op == which:
            left = out[-1] if in_run or wrap is None else wrap(out[-1])
            out[-1] = combine(left, piece if wrap is None else wrap(piece))
            in_run = True
        else:
            if in_run and wrap is not None:
                out[-1] = exp.Paren(this=out[-1])
            out.append(piece)
            out_ops.append(op)
            in_run = False
    if in_run and wrap is not None:
        out[-1] = exp.Paren(this=out[-1])
    return out, out_ops


def _case_term(condition: exp.Expression) -> exp.Expression:
    return exp.Case().when(condition, exp.Literal.number(1)).else_(exp.Literal.number(0))


def _at_least(total: Any, threshold: Any) -> exp.Expression:
    if not isinstance(threshold, list):
        raise StructuredQueryError("an 'at least' connector (4) must be followed by [NOUSE, 6, n]")
    return exp.GTE(this=total, expression=_criteria_literal(threshold[0][2]))


def _is_threshold(cond: list, header: list[str]) -> bool:
    index = cond[0]
    return cond[1] == 6 and isinstance(index, int) and 0 <= index < len(header) and header[index] == "NOUSE"


def _criteria_condition(cond: list, col) -> exp.Expression:
    index, op, value = cond
    if op not in CRITERIA_COND_OPS:
        raise StructuredQueryError(f"condition operator id {op!r} is not one of Criteria2SQL's "
                                   f"{sorted(CRITERIA_COND_OPS)}")
    return _comparison(CRITERIA_COND_OPS[op], col(index), _criteria_literal(value))


def _criteria_literal(value: Any) -> exp.Expression:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number_literal(value)
    text = str(value).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return exp.Literal.string(text[1:-1])
    try:
        float(text)
    except ValueError:
        return exp.Literal.string(text)
    return _number_literal(float(text)) if not re.fullmatch(r"[-+]?\d+", text) else _number_literal(int(text))


# ---------------------------------------------------------------------- databases
def _sqlite_type(wikisql_type: str) -> str:
    return "REAL" if str(wikisql_type).lower() == "real" else "TEXT"


def _stored_value(value: Any, sql_type: str) -> Any:
    if value is None:
        return None
    if sql_type == "REAL":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value).replace(",", ""))
        except ValueError:
            return str(value).lower()
    return str(value).lower() if isinstance(value, str) else (str(value) if not isinstance(value, bool) else str(int(value)))


def _write_atomically(path: Path, build) -> None:
    """Build a SQLite file beside ``path`` and move it into place, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if tmp.exists():
        tmp.unlink()
    with closing(sqlite3.connect(tmp)) as con:
        build(con)
        con.commit()
    os.replace(tmp, path)


def build_table_database(table: dict, folder: Path) -> str:
    """A SQLite file holding one WikiSQL table (header names, lower-cased text), at
    ``<folder>/<db_id>/<db_id>.sqlite``; built once, reused afterwards."""
    name = table_name(table["id"])
    path = folder / name / f"{name}.sqlite"
    if path.is_file():
        return str(path)
    header = list(table.get("header") or [])
    types = [_sqlite_type(t) for t in (table.get("types") or ["text"] * len(header))]
    names = column_names(header)

    def build(con: sqlite3.Connection) -> None:
        columns = ", ".join(f"{quote_identifier(n, always=True)} {t}" for n, t in zip(names, types))
        con.execute(f"CREATE TABLE {quote_identifier(name, always=True)} ({columns})")
        marks = ", ".join("?" for _ in names)
        rows = [[_stored_value(v, t) for v, t in zip(list(row) + [None] * (len(names) - len(row)), types)]
                for row in table.get("rows") or []]
        con.executemany(f"INSERT INTO {quote_identifier(name, always=True)} VALUES ({marks})", rows)

    _write_atomically(path, build)
    return str(path)


def extract_table_database(source_db: Path, name: str, folder: Path) -> str | None:
    """Copy table ``name`` of an official WikiSQL ``.db`` into a SQLite file of its own (so a task
    sees only its table); None when the ``.db`` has no such table."""
    path = folder / name / f"{name}.sqlite"
    if path.is_file():
        return str(path)
    with closing(sqlite3.connect(f"file:{source_db}?mode=ro", uri=True)) as src:
        found = src.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        if found is None:
            return None
        cursor = src.execute(f"SELECT * FROM {quote_identifier(name, always=True)}")
        rows = cursor.fetchall()
        width = len(cursor.description)

    def build(con: sqlite3.Connection) -> None:
        con.execute(found[0])
        con.executemany(f"INSERT INTO {quote_identifier(name, always=True)} VALUES ({', '.join('?' * width)})", rows)

    _write_atomically(path, build)
    return str(path)


def build_records_database(tables: list[dict], folder: Path) -> str:
    """Criteria2SQL's shared ``records`` table rebuilt from its tables file (every table there is a
    projection of ``records`` keyed by ``id``), at ``<folder>/records/records.sqlite``."""
    path = folder / "records" / "records.sqlite"
    if path.is_file():
        return str(path)
    columns: dict[str, str] = {"id": "INTEGER"}
    rows: dict[Any, dict[str, Any]] = {}
    kinds = {"int": "INTEGER", "bool": "INTEGER", "float": "REAL", "real": "REAL"}
    for table in tables:
        header = list(table.get("header") or [])
        for name, kind in zip(header, table.get("types") or []):
            if name != "NOUSE":
                columns.setdefault(name, kinds.get(str(kind).lower(), "TEXT"))
        for row in table.get("rows") or []:
            if row:
                rows.setdefault(row[0], {}).update({n: v for n, v in zip(header, row) if n != "NOUSE"})
    names = list(columns)

    def build(con: sqlite3.Connection) -> None:
        con.execute(f"CREATE TABLE records ({', '.join(f'{quote_identifier(n, always=True)} {columns[n]}' for n in names)})")
        con.executemany(f"INSERT INTO records VALUES ({', '.join('?' * len(names))})",
                        [[values.get(n) for n in names] for _, values in sorted(rows.items())])

    _write_atomically(path, build)
    return str(path)




# ---------------------------------------------------------------------- loaders
def _tables_by_id(path: Path | None) -> dict[str, dict]:
    if path is None:
        return {}
    out = {}
    for i, record in enumerate(read_jsonl(path, "WikiSQL tables")):
        if not isinstance(record, dict) or "id" not in record or "header" not in record:
            raise DatasetError(f"{path}: table #{i} lacks id or header; a tables file has "
                               f"{{id, header, types, rows}} per line")
        out[str(record["id"])] = record
    return out


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".jsonl", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _resolve_sources(path: Path, db_root: str | Path | None, tables: str | Path | None
                     ) -> tuple[Path | None, Path | None]:
    """The ``.db`` (given as a file, a folder holding ``<stem>.db``, or found beside the questions)
    and the tables file (given, or ``<stem>.tables.jsonl`` / ``<stem>_tables.jsonl`` beside them)."""
    stem = _stem(path)
    db: Path | None = None
    if db_root is not None:
        db_root = Path(db_root)
        if db_root.is_file():
            db = db_root
        elif db_root.is_dir():
            db = next((db_root / f"{stem}{s}" for s in (".db", ".sqlite") if (db_root / f"{stem}{s}").is_file()), None)
            if db is None:
                raise DatasetError(f"{db_root}: no {stem}.db in this folder; give the .db file itself")
        else:
            raise DatasetError(f"{db_root}: no such database file or folder")
    else:
        db = next((path.parent / f"{stem}{s}" for s in (".db", ".sqlite") if (path.parent / f"{stem}{s}").is_file()),
                  None)
    if tables is not None:
        tables_path: Path | None = Path(tables)
        if not tables_path.is_file():
            raise DatasetError(f"{tables_path}: tables file not found")
    else:
        tables_path = next((path.parent / n for n in (f"{stem}.tables.jsonl", f"{stem}_tables.jsonl")
                            if (path.parent / n).is_file()), None)
    return db, tables_path


def load_wikisql(path: str | Path, db_root: str | Path | None = None, tables: str | Path | None = None, *,
                 name: str | None = None, keep_missing: bool = True, cache: str | Path | None = None,
                 lower: bool = True) -> TaskSet:
    """Read WikiSQL questions (``*.jsonl``) into a :class:`~querygym.converters.tasks.TaskSet`.

    ``db_root`` is the official ``.db`` (or a folder holding ``<stem>.db``); ``tables`` the tables
    file.  Both default to the files beside the questions.  With a ``.db`` each task gets its
    table copied into a database of its own (columns ``colN``); without one the databases are
    built from the tables file (header names), under ``cache`` (see
    :func:`querygym.converters.common.cache_dir`).  A question whose table is in neither is kept
    as an unplayable task (the reason in ``Task.problem``) whose gold SQL uses the official
    ``colN`` names; ``keep_missing=False`` leaves it out and only reports it.
    """
    path = Path(path)
    records = read_jsonl(path, "WikiSQL questions")
    db, tables_path = _resolve_sources(path, db_root, tables)
    table_records = _tables_by_id(tables_path)
    folder = cache_dir("wikisql", *(p for p in (db, tables_path) if p is not None), base=cache) \
        if db is not None or tables_path is not None else None
    tasks, problems = [], []
    built: dict[str, str | None] = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or any(k not in rec for k in ("table_id", "question", "sql")):
            raise DatasetError(f"{path}: record #{i} is not a WikiSQL question; expected keys table_id, question, "
                               f"sql {{sel, agg, conds}}")
        table_id = str(rec["table_id"])
        sql_name = table_name(table_id)
        table = table_records.get(table_id)
        if table_id not in built:
            if db is not None:
                built[table_id] = extract_table_database(db, sql_name, folder)
            elif table is not None:
                built[table_id] = build_table_database(table, folder)
            else:
                built[table_id] = None
        task_db = built[table_id]
        symbolic = db is not None or table is None
        shape = table if table is not None else {"id": table_id, "header": _symbolic_header(rec["sql"])}
        if db is not None and table is None:
            shape = {"id": table_id, "header": _db_header(task_db), "types": _db_types(task_db)}
        metadata = {"source_format": "wikisql", "table_id": table_id, "sql": rec["sql"]}
        metadata.update({k: v for k, v in rec.items() if k not in {"table_id", "question", "sql"}})
        problem = None
        if task_db is None:
            problem = (f"its table is not in {db}" if db is not None else
                       f"its table is not in {tables_path}" if tables_path is not None else
                       f"no database for its table: give the .db or the tables file ({_stem(path)}.tables.jsonl)")
            if not keep_missing:
                problems.append(Problem(i, problem))
                continue
        try:
            gold = wikisql_sql(rec["sql"], shape, symbolic=symbolic, lower=lower)
        except StructuredQueryError as exc:
            problems.append(Problem(i, f"structured query cannot be rendered: {exc}"))
            continue
        tasks.append(Task(id=i, db_id=sql_name, question=str(rec["question"]), gold_sql=gold, db=task_db,
                          problem=problem, metadata=metadata))
    return TaskSet(tasks, problems, name=name or path.name)


def _symbolic_header(sql: Any) -> list[str]:
    """A header wide enough for every column a query names (for rendering without its table)."""
    indices = [sql.get("sel", 0)] + [c[0] for c in sql.get("conds") or [] if isinstance(c, (list, tuple)) and c]
    width = max((i for i in indices if isinstance(i, int)), default=0) + 1
    return [f"col{i}" for i in range(width)]


def _db_header(db: str | None) -> list[str]:
    if db is None:
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        name = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        return [row[1] for row in con.execute(f"PRAGMA table_info({quote_identifier(name, always=True)})")]


def _db_types(db: str | None) -> list[str]:
    if db is None:
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        name = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        return [str(row[2]).lower() for row in con.execute(f"PRAGMA table_info({quote_identifier(name, always=True)})")]


def load_criteria2sql(path: str | Path, db_root: str | Path | None = None, tables: str | Path | None = None, *,
                      name: str | None = None, keep_missing: bool = True,
                      cache: str | Path | None = None) -> TaskSet:
    """Read Criteria2SQL questions into a :class:`~querygym.converters.tasks.TaskSet`.

    The gold SQL is the record's executable ``query``; the structured ``sql`` rendered over the
    header of its ``table_id`` is kept in ``metadata["structured_sql"]`` (None when the tables
    file is missing or the query cannot be rendered, with the reason in
    ``metadata["structured_problem"]``).  ``db_root`` is the ``.db`` (default: ``<stem>.db``
    beside the questions); without one, ``records`` is rebuilt from the tables file in ``cache``.
    Without either, the questions load as unplayable tasks (``keep_missing=False``: reported only).
    """
    path = Path(path)
    records = read_jsonl(path, "Criteria2SQL questions")
    db, tables_path = _resolve_sources(path, db_root, tables)
    table_records = _tables_by_id(tables_path)
    if db is None and table_records:
        db = Path(build_records_database(list(table_records.values()), cache_dir("criteria2sql", tables_path,
                                                                                  base=cache)))
    db_id = db.stem if db is not None else _stem(path)
    tasks, problems = [], []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or any(k not in rec for k in ("table_id", "question", "query")):
            raise DatasetError(f"{path}: record #{i} is not a Criteria2SQL question; expected keys table_id, "
                               f"question, query, sql")
        table_id = str(rec["table_id"])
        metadata: dict[str, Any] = {"source_format": "criteria2sql", "table_id": table_id, "sql": rec.get("sql"),
                                    "structured_sql": None}
        metadata.update({k: v for k, v in rec.items() if k not in {"table_id", "question", "sql", "query"}})
        table = table_records.get(table_id)
        if table is None:
            metadata["structured_problem"] = f"table {table_id} is not in the tables file"
        elif not isinstance(rec.get("sql"), dict):
            metadata["structured_problem"] = "the record has no structured sql"
        else:
            try:
                metadata["structured_sql"] = criteria2sql_query(rec["sql"], list(table["header"])).sql(dialect="sqlite")
            except StructuredQueryError as exc:
                metadata["structured_problem"] = str(exc)
        problem = None
        if db is None:
            problem = f"no database: give the .db (records table) or the tables file ({_stem(path)}.tables.jsonl)"
            if not keep_missing:
                problems.append(Problem(i, problem))
                continue
        tasks.append(Task(id=i, db_id=db_id, question=" ".join(str(rec["question"]).split()),
                          gold_sql=str(rec["query"]).strip(), db=str(db) if db is not None else None,
                          problem=problem, metadata=metadata))
    return TaskSet(tasks, problems, name=name or path.name)
