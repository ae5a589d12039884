"""Helpers and data shared by tests: the shared benchmark data's location, the built-in database
read directly (bypassing querygym), the safety tests' actions and checks, WikiSQL and CoSQL samples."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import querygym
from querygym.converters.tasks import Task

#: the real benchmark data beside the checkout (../shared/data)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SPIDER = DATA / "spider_dev"
SUMS = SPIDER / "SHA256SUMS.sqlite.txt"


def builtin_rows(sql):
    """Rows of ``sql`` on the built-in database, through a plain read-only sqlite3 connection."""
    conn = sqlite3.connect(f"file:{querygym.builtin_database()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------------- shared by the safety tests
def act(*params) -> str:
    return "Action: " + json.dumps(list(params))


def published_sums() -> dict[Path, str]:
    sums = {}
    for line in SUMS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[SPIDER / name.strip()] = digest
    return sums


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_databases_untouched() -> None:
    sums = published_sums()
    assert len(sums) == 19
    for path, digest in sums.items():
        assert sha256(path) == digest, f"{path} was modified"
        leftovers = [p.name for p in path.parent.iterdir()
                     if p.name.endswith(("-journal", "-wal", "-shm"))]
        assert not leftovers, f"{path.parent} holds {leftovers}"


def first_task(tasks: querygym.TaskSet, db_id: str):
    return next(t for t in tasks if t.db_id == db_id)


INJECTIONS = [
    ("perform_filter", "singer", "1=1; DROP TABLE singer"),
    ("perform_filter", "singer", "x'); DELETE FROM singer; --"),
    ("perform_filter", "singer", "x\" OR 1=1 --"),
    ("perform_filter", "singer", "singer.Age > 0) OR (1=1"),
    ("perform_filter", "singer", "1=1 /* */; DROP TABLE singer"),
    ("perform_filter", "singer", "1=1 /* unterminated"),
    ("perform_filter", "singer", "ATTACH DATABASE '{tmp}/x.db' AS x"),
    ("perform_filter", "singer", "PRAGMA query_only=0"),
    ("perform_filter", "singer", "load_extension('x') IS NULL"),
    ("perform_filter", "singer", "LOAD_EXTENSION('x') IS NULL"),
    ("perform_filter", "singer", "readfile('/etc/passwd') IS NOT NULL"),
    ("perform_filter", "singer", "(SELECT readfile('/etc/passwd')) IS NOT NULL"),
    ("perform_filter", "singer", "writefile('{tmp}/w', 'x') > 0"),
    ("perform_filter", "singer", "fts3_tokenizer('simple') IS NULL"),
    ("perform_filter", "singer", "1=1 UNION SELECT sql FROM sqlite_master"),
    ("perform_filter", "singer", "1 IN (SELECT sql FROM sqlite_master)"),
    ("perform_filter", "singer", "EXISTS (SELECT 1 FROM pragma_table_info('singer'))"),
    ("perform_filter", "singer; DROP TABLE singer", "1=1"),
    ("perform_filter", "singer AS s; DELETE FROM singer", "1=1"),
    ("perform_filter", "main.singer", "1=1"),
    ("perform_projection", "singer", "singer.Name; DROP TABLE singer"),
    ("perform_projection", "singer", "singer.Name FROM singer; DELETE FROM singer"),
    ("perform_projection", "singer", "readfile('/etc/passwd')"),
    ("perform_projection", "singer", "singer.Name AS `x`; DROP`"),
    ("perform_join", ["singer AS a", "singer AS b"], ["a.Singer_ID = b.Singer_ID; DROP TABLE singer"], ["INNER JOIN"]),
    ("perform_join", ["singer AS a", "singer AS b"], ["a.Singer_ID = b.Singer_ID"],
     ["INNER JOIN singer ON 1=1; DROP TABLE singer"]),
    ("perform_order_by", "T_0", "T_0.Age; DROP TABLE singer"),
    ("perform_limit", "T_0", "5; DROP TABLE singer"),
    ("perform_limit", "T_0", "5 -- x"),
    ("perform_aggregate", "T_0", "T_0.Age; DROP TABLE singer", "T_0.Age"),
    ("perform_aggregate", "T_0", "T_0.Age", "T_0.Age", "COUNT(*) > 0; DROP TABLE singer"),
    ("perform_union", "ALL; DROP TABLE singer", "T_0", "T_0"),
    ("perform_union", "ALL", "T_0", "T_0", "T_0.Name; DROP TABLE singer", "T_0.Name"),
    ("perform_intersect", "T_0", "T_0", "T_0.Name", "T_0.Name FROM singer; DROP TABLE singer"),
    ("get_unique_values", "singer", "singer.Name; DROP TABLE singer"),
    ("get_column_stats", "singer", "load_extension('x')"),
    ("preview_table", "singer; DROP TABLE singer"),
    ("preview_table", "pragma_table_info('singer')"),
]


TIME_LIMIT = 0.5


# ---------------------------------------------------------------------- WikiSQL tables and questions
ROSTER = {  # WikiSQL README / dev table 1-10015132-11 (first rows)
    "id": "1-10015132-11",
    "header": ["Player", "No.", "Nationality", "Position", "Years in Toronto", "School/Club Team"],
    "types": ["text", "text", "text", "text", "text", "text"],
    "rows": [["Antonio Lang", "21", "United States", "Guard-Forward", "1999-2000", "Duke"],
             ["Voshon Lenard", "2", "United States", "Guard", "2002-03", "Minnesota"],
             ["Martin Lewis", "32, 44", "United States", "Guard-Forward", "1996-97", "Butler CC (KS)"],
             ["Brad Lohaus", "33", "United States", "Forward-Center", "1996", "Iowa"],
             ["Art Long", "42", "United States", "Forward-Center", "2002-03", "Cincinnati"]],
}


SYNTHETIC = {
    "id": "2-0000001-1",
    "header": ["Team", "Points", "Goals for", "", "team", "Coach's name"],
    "types": ["text", "real", "real", "text", "text", "text"],
    "rows": [["Ajax", 30, "1,200", "x", "A", "O'Brien"],
             ["PSV", 25.5, 900, "y", "B", "van Gaal"],
             ["Feyenoord", 30, 450, None, "C", "Slot"],
             ["AZ", None, 12, "z", "D", "de Jong"]],
}


SYNTHETIC_QUESTIONS = [  # (sql, description)
    ({"sel": 1, "agg": 1, "conds": []}, "MAX"),
    ({"sel": 2, "agg": 2, "conds": [[1, 1, "26"]]}, "MIN with > and a numeric string on a real column"),
    ({"sel": 0, "agg": 3, "conds": [[1, 0, 30]]}, "COUNT with = and a number"),
    ({"sel": 2, "agg": 4, "conds": [[2, 1, "1,000"]]}, "SUM with a thousands separator in the value"),
    ({"sel": 1, "agg": 5, "conds": [[2, 2, "about 1000 goals"]]}, "AVG; the first number in the text"),
    ({"sel": 5, "agg": 0, "conds": [[0, 0, "AJAX"]]}, "strings compare ignoring case"),
    ({"sel": 0, "agg": 0, "conds": [[5, 0, "o'brien"], [4, 0, "a"]]}, "a quote in the value; two conditions"),
    ({"sel": 3, "agg": 0, "conds": [[4, 2, "c"]]}, "< on text; the empty header"),
    ({"sel": 0, "agg": 1, "conds": []}, "MAX on text"),
]


# ---------------------------------------------------------------------- a CoSQL file
def cosql_file(path: Path) -> Path:
    # CoSQL's state-tracking layout: turns may hold several user messages joined by " | ";
    # keys appear in either order (final before interaction, query before utterance).
    path.write_text(json.dumps([{
        "final": {"query": "SELECT count(*) FROM singer WHERE age > 30",
                  "utterance": "How many singers are older than 30?"},
        "interaction": [
            {"query": "SELECT name FROM singer", "utterance": "Hi! | Show me all singer names."},
            {"utterance": "Only those older than 30 please", "query": "SELECT name FROM singer WHERE age > = 31"},
            {"query": "SELECT count(*) FROM singer WHERE age > = 31", "utterance": "How many is that?"},
        ],
        "database_id": "concert_singer",
    }]), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- shared by the web app's tests
HOSTILE = "<script>alert(1)</script>"


def hostile_tasks(folder: Path) -> querygym.TaskSet:
    """One task over a tiny SQLite database whose values, question and column name are HTML."""
    db = folder / "hostile.sqlite"
    conn = sqlite3.connect(db)
    conn.execute('CREATE TABLE notes (id INTEGER PRIMARY KEY, "<b>body</b>" TEXT)')
    conn.executemany("INSERT INTO notes VALUES (?, ?)", [(1, HOSTILE), (2, "<img src=x onerror=alert(2)>")])
    conn.commit()
    conn.close()
    task = Task(id="hostile", db_id="hostile", question=f"Which notes say {HOSTILE}?",
                gold_sql='SELECT "<b>body</b>" FROM notes WHERE id = 1', db=str(db), evidence=HOSTILE)
    return querygym.TaskSet([task], name="hostile")
