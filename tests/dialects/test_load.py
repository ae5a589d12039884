"""Copying SQLite databases into PostgreSQL and DuckDB: every case of SQLite's loose typing
keeps its information (querygym.dialects.source' table), loads are idempotent, and the Spider dev
databases arrive whole.  Runs against the session's real PostgreSQL server."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from querygym.engine.backend import Backend
from querygym.cli import main
from querygym.dialects.source import read_sqlite
from querygym.dialects import load_database

SPIDER = Path(__file__).resolve().parents[3] / "shared" / "data" / "spider_dev" / "database"
LOADERS = ("postgres", "duckdb")

# (column, declared type, values in row order, the kind it becomes, what each value reads back as)
CASES = [
    ("i", "INTEGER", [1, -(2**63), 2**62, None], "integer", [1, -(2**63), 2**62, None]),
    ("r", "REAL", [0.1, 1e300, float("inf"), None], "real", [0.1, 1e300, float("inf"), None]),
    ("ir", "NUMERIC", [1, 2.5, 2**53, None], "real", [1.0, 2.5, float(2**53), None]),
    ("big", "", [2**60, 2.5, 7, None], "text", [str(2**60), "2.5", "7", None]),
    ("t", "TEXT", ["", "héllo", "a'b\"c", None], "text", ["", "héllo", "a'b\"c", None]),
    ("ti", "INTEGER", ["abc", 5, 2.5, None], "text", ["abc", "5", "2.5", None]),
    ("b", "BLOB", [b"\x00\xff", b"", b"x", None], "blob", [b"\x00\xff", b"", b"x", None]),
    ("bt", "", [b"\x00\xff", "hé", 7, None], "blob", [b"\x00\xff", "hé".encode(), b"7", None]),
    ("nul", "TEXT", ["a\x00b", "plain", None, None], "blob", [b"a\x00b", b"plain", None, None]),
    ("none_i", "INT", [None] * 4, "integer", [None] * 4),
    ("none_r", "DOUBLE", [None] * 4, "real", [None] * 4),
    ("none_t", "VARCHAR(10)", [None] * 4, "text", [None] * 4),
]


@pytest.fixture(scope="module")
def loose_db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("loose") / "loose_typing.sqlite"
    with closing(sqlite3.connect(path)) as con:
        columns = ", ".join(f'"{c}" {t}'.strip() for c, t, *_ in CASES)
        con.execute(f'CREATE TABLE "Loose" (id INTEGER PRIMARY KEY, {columns}, bad TEXT)')
        for row in range(4):
            values = [case[2][row] for case in CASES]
            con.execute(f'INSERT INTO "Loose" VALUES (?, {", ".join("?" for _ in CASES)}, NULL)', [row, *values])
        # text holding bytes that are not UTF-8 (SQLite does not check)
        con.execute("""UPDATE "Loose" SET bad = CAST(x'fffe41' AS TEXT) WHERE id = 0""")
        con.execute("CREATE TABLE other (k TEXT REFERENCES \"Loose\"(id))")
        con.commit()
    return str(path)


@pytest.fixture(params=LOADERS)
def loader(request):
    request.getfixturevalue("postgres_url" if request.param == "postgres" else "duckdb_available")
    return request.param


def test_kinds_follow_the_storage_classes(loose_db):
    table = read_sqlite(loose_db).table("Loose")
    assert {c.name: c.kind for c in table.columns} == {"id": "integer", "bad": "text", **{c[0]: c[3] for c in CASES}}


def test_every_loose_value_keeps_its_information(loader, loose_db):
    loaded = load_database(loose_db, loader)
    assert loaded.columns["Loose"]["bad"] == "blob"  # found undecodable while copying, copied as bytes
    names = ["id", *(c[0] for c in CASES), "bad"]
    with Backend(loose_db, loader) as db:
        select = ", ".join(f'"{n}"' for n in names)
        rows = db.execute(f'SELECT {select} FROM "Loose" ORDER BY "id"', max_rows=None).rows
        schema = db.schema()
    got = {name: [bytes(r[i]) if isinstance(r[i], memoryview) else r[i] for r in rows] for i, name in enumerate(names)}
    for column, _, _, _, expected in CASES:
        assert got[column] == expected, column
        for value, want in zip(got[column], expected):
            assert type(value) is type(want), (column, value, want)
    assert got["bad"] == [b"\xff\xfeA", None, None, None]
    assert schema.table("Loose").primary_key == ("id",)
    assert schema.table("other").foreign_keys[0].ref_table == "Loose"


def test_loading_is_idempotent_and_follows_changes(loader, tmp_path):
    path = tmp_path / f"idem_{loader}.sqlite"
    with closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
        con.commit()
    first = load_database(path, loader)
    again = load_database(path, loader)
    assert first.loaded and not again.loaded and again.rows == 10
    with closing(sqlite3.connect(path)) as con:
        con.execute("INSERT INTO t VALUES (10)")
        con.commit()
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a later modification time, whatever the clock
    changed = load_database(path, loader)
    assert changed.loaded and changed.rows == 11
    with Backend(path, loader) as db:
        assert db.scalar("SELECT COUNT(*) FROM t") == 11


def test_sqlite_cannot_load():
    from querygym import InvalidArgumentError
    from querygym.converters.builtin import builtin_database

    with pytest.raises(InvalidArgumentError, match="cannot load"):
        load_database(builtin_database(), "sqlite")


@pytest.mark.skipif(not SPIDER.is_dir(), reason=f"Spider dev databases not found under {SPIDER}")
def test_the_spider_dev_databases_arrive_whole(loader):
    files = sorted(SPIDER.glob("*/*.sqlite"))
    assert len(files) == 19
    for path in files:
        loaded = load_database(path, loader)
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con, Backend(path, loader) as db:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                               "AND name NOT LIKE 'sqlite_%'")]
            assert sorted(db.schema().table_names) == sorted(names)
            for name in names:
                want = con.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
                assert db.scalar(f'SELECT COUNT(*) FROM "{name}"') == want, (path.stem, name)
        assert loaded.tables == len(names)


def test_load_db_command(loader, loose_db, tmp_path, capsys, request):
    args = ["load-db", "--to", loader, loose_db, "--json"]
    if loader == "duckdb":
        args += ["--out", str(tmp_path / "copy.duckdb")]
    else:
        args += ["--schema", "loose_cli", "--url", request.getfixturevalue("postgres_url")]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["engine"] == loader and record["tables"] == 2 and record["rows"] == 4
    with Backend(record["target"], loader) as db:
        assert db.scalar('SELECT COUNT(*) FROM "Loose"') == 4
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["loaded"] is False
