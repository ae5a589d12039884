"""Synthesised databases: deterministic, every declared constraint kept, gold queries answered,
neighbours that catch an answer right by coincidence."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from querygym import QueryGymEnv
from querygym.converters import load_bird, load_spider, load_tasks
from querygym.converters.fiben import read_ddl
from querygym.synth import (
    DatabaseHints,
    neighbour_paths,
    synthesise_database,
    synthesise_dataset,
)
from querygym.synth.hints import like_example, time_example
from tests.support import DATA

ROOT = Path(__file__).resolve().parents[2]
BIRD = DATA / "bird_dev_questions"


def rows(path, sql):
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchall()


def assert_constraints(path: Path, schema) -> None:
    """Primary keys unique and never NULL, NOT NULL columns filled, every foreign-key value present in its parent."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        for table in schema:
            if table.name.lower().startswith("sqlite_"):
                continue
            q = f'"{table.name}"'
            if table.primary_key:
                keys = ", ".join(f'"{c}"' for c in table.primary_key)
                dupes = conn.execute(f"SELECT COUNT(*) FROM (SELECT {keys} FROM {q} GROUP BY {keys} "
                                     f"HAVING COUNT(*) > 1)").fetchone()[0]
                assert dupes == 0, f"{path.name}: {table.name} repeats a primary key"
            for column in table.columns:
                if column.not_null or column.name in table.primary_key:
                    nulls = conn.execute(f'SELECT COUNT(*) FROM {q} WHERE "{column.name}" IS NULL').fetchone()[0]
                    assert nulls == 0, f"{path.name}: {table.name}.{column.name} is NOT NULL but holds NULL"
        for child, fk, parent_cols in _declared_fks(conn):
            cond = " AND ".join(f'p."{pc}" = c."{cc}"' for cc, pc in zip(fk, parent_cols[1]))
            notnull = " AND ".join(f'c."{cc}" IS NOT NULL' for cc in fk)
            orphans = conn.execute(f'SELECT COUNT(*) FROM "{child}" AS c WHERE {notnull} AND NOT EXISTS '
                                   f'(SELECT 1 FROM "{parent_cols[0]}" AS p WHERE {cond})').fetchone()[0]
            assert orphans == 0, f"{path.name}: {child}.{fk} has values missing from {parent_cols[0]}"


def _declared_fks(conn):
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        by_id: dict[int, list] = {}
        for row in conn.execute(f'PRAGMA foreign_key_list("{table}")'):
            by_id.setdefault(row[0], []).append(row)
        for parts in by_id.values():
            yield table, [p[3] for p in parts], (parts[0][2], [p[4] for p in parts])


def test_every_synthesised_database_keeps_its_schema_constraints(tmp_path):
    # every schema of BIRD dev, Spider dev and FIBEN, shaped by their gold queries, small
    bird = load_bird(BIRD / "mini_dev_sqlite.json", tables=BIRD / "dev_tables.json")
    spider = load_spider(DATA / "spider_dev" / "dev.json", tables=DATA / "spider_dev" / "tables.json",
                         keep_missing=True)
    written = synthesise_dataset(bird, tmp_path / "bird", rows=8, real_pools=False)
    written += synthesise_dataset(spider, tmp_path / "spider", rows=8, neighbours=1)
    fiben = read_ddl(DATA / "fiben" / "FIBEN.sql")
    written.append(synthesise_database(fiben, [], tmp_path / "fiben", rows=8, neighbours=1))
    assert len(written) == 11 + 20 + 1
    schemas = {**{t.db_id: t.schema for t in bird}, **{t.db_id: t.schema for t in spider}, "fiben": fiben}
    for db in written:
        for path in [db.path, *db.neighbours]:  # neighbours too (Spider's drawn from its real databases)
            assert_constraints(path, schemas[db.db_id])
        # declared types: an INTEGER column holds integers only
        for table in schemas[db.db_id]:
            for column in table.columns:
                if column.type.upper() in ("INTEGER", "BIGINT") and not table.name.startswith("sqlite_"):
                    kinds = rows(db.path, f'SELECT DISTINCT typeof("{column.name}") FROM "{table.name}"')
                    assert {k for (k,) in kinds} <= {"integer", "null"}, (db.db_id, table.name, column.name, kinds)


def test_gold_queries_of_a_schema_without_data_get_non_empty_answers(tmp_path):
    tasks = load_bird(BIRD / "mini_dev_sqlite.json", tables=BIRD / "dev_tables.json")
    group = [t for t in tasks if t.db_id == "california_schools"]
    db = synthesise_database(group[0].schema, [t.gold_sql for t in group], tmp_path, rows=10)
    answered = sum(bool(rows(db.path, t.gold_sql)[:1]) for t in group)
    assert answered >= 0.9 * len(group), f"{answered}/{len(group)}"


def test_same_seed_same_bytes_in_another_process(tmp_path):
    spider = DATA / "spider_dev"
    tasks = load_spider(spider / "dev.json", tables=spider / "tables.json")
    tasks = tasks.select([t.id for t in tasks if t.db_id == "concert_singer"])
    first = synthesise_dataset(tasks, tmp_path / "a", rows=20, seed=7, neighbours=1)[0]
    code = ("from querygym.converters import load_spider; from querygym.synth import synthesise_dataset\n"
            f"t = load_spider({str(spider / 'dev.json')!r}, tables={str(spider / 'tables.json')!r})\n"
            "t = t.select([x.id for x in t if x.db_id == 'concert_singer'])\n"
            f"synthesise_dataset(t, {str(tmp_path / 'b')!r}, rows=20, seed=7, neighbours=1)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "123"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    second = tmp_path / "b" / "concert_singer" / "concert_singer.sqlite"
    assert first.path.read_bytes() == second.read_bytes()
    assert first.neighbours[0].read_bytes() == Path(neighbour_paths(tmp_path / "b", "concert_singer")[0]).read_bytes()
    other = synthesise_dataset(tasks, tmp_path / "c", rows=20, seed=8)[0]
    assert other.path.read_bytes() != first.path.read_bytes()
    # a neighbour is another database of the same schema
    assert first.neighbours[0].read_bytes() != first.path.read_bytes()


def test_literals_ranges_and_patterns_reach_the_rows(tmp_path):
    from querygym.schema import Column, DatabaseSchema, TableSchema

    schema = DatabaseSchema("shop", (
        TableSchema("customer", (Column("id", "INTEGER"), Column("name", "TEXT"), Column("city", "TEXT")), ("id",)),
        TableSchema("orders", (Column("id", "INTEGER"), Column("customer_id", "INTEGER"), Column("amount", "REAL"),
                               Column("day", "DATE")), ("id",)),
    ))
    gold = [("SELECT c.name FROM customer c JOIN orders o ON c.id = o.customer_id "
             "WHERE c.city = 'Reykjavik' AND o.amount > 5000 AND strftime('%Y', o.day) = '2011'"),
            "SELECT name FROM customer WHERE name LIKE 'Zed%'",
            'SELECT id FROM orders WHERE day BETWEEN "2020-01-01" AND "2020-01-31"']
    hints = DatabaseHints(schema)
    assert all(hints.add_query(sql) for sql in gold)
    assert hints.joins == [(("customer", "id"), ("orders", "customer_id"))]
    db = synthesise_database(schema, gold, tmp_path, rows=5)
    for sql in gold:
        assert rows(db.path, sql), sql
    # no foreign key is declared: the join predicate gives one, and it holds
    assert db.inferred_foreign_keys == 1
    assert rows(db.path, "SELECT COUNT(*) FROM orders WHERE customer_id NOT IN (SELECT id FROM customer)") == [(0,)]
    assert like_example("%a_c%") == "axc"
    assert time_example("%m", "03") == "2015-03-15 12:00:00"


def _shop(tmp_path: Path) -> Path:
    """A BIRD-format dataset whose real database makes city and zip code agree, so a filter on
    the zip code gives the right answer to a question about the city, by coincidence."""
    tables = [{"db_id": "shop", "table_names_original": ["people"], "table_names": ["people"],
               "column_names_original": [[-1, "*"], [0, "id"], [0, "name"], [0, "city"], [0, "zip"]],
               "column_names": [[-1, "*"], [0, "id"], [0, "name"], [0, "city"], [0, "zip"]],
               "column_types": ["text", "integer", "text", "text", "text"], "primary_keys": [1], "foreign_keys": []}]
    questions = [{"question_id": 1, "db_id": "shop", "question": "Who lives in Oslo?", "evidence": "",
                  "SQL": "SELECT name FROM people WHERE city = 'Oslo'", "difficulty": "simple"}]
    (tmp_path / "tables.json").write_text(json.dumps(tables))
    (tmp_path / "questions.json").write_text(json.dumps(questions))
    db = tmp_path / "db" / "shop" / "shop.sqlite"
    db.parent.mkdir(parents=True)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, city TEXT, zip TEXT)")
        conn.executemany("INSERT INTO people VALUES (?, ?, ?, ?)",
                         [(1, "Ann", "Oslo", "0150"), (2, "Bo", "Bergen", "5003"), (3, "Cy", "Oslo", "0150"),
                          (4, "Di", "Lyon", "69001")])
        conn.commit()
    return tmp_path


def _play(tasks, filter_condition):
    env = QueryGymEnv(tasks)
    try:
        env.reset(options={"task_id": 1})
        _, reward, terminated, _, info = env.step(json.dumps(["perform_filter", "people", filter_condition,
                                                              "people.name"]))
        return reward, terminated, info
    finally:
        env.close()


def test_a_plan_right_by_coincidence_is_rewarded_without_neighbours_and_not_with_them(tmp_path):
    root = _shop(tmp_path)

    def load():
        return load_bird(root / "questions.json", root / "db", tables=root / "tables.json")

    synthesise_dataset(load(), tmp_path / "synth", rows=20, neighbours=3)

    plain = load()
    reward, terminated, info = _play(plain, "people.zip = '0150'")
    assert (reward, terminated, info["solved"], info["robust"]) == (1.0, True, True, None)

    robust = load().with_neighbours(tmp_path / "synth")
    assert len(robust[1].neighbours) == 3
    reward, terminated, info = _play(robust, "people.zip = '0150'")
    assert info["relation"] == "coincidence" and info["neighbour_mismatches"]
    assert (reward, terminated, info["solved"], info["solved_plain"], info["robust"]) == (0.0, False, False, True, False)

    reward, terminated, info = _play(robust, "people.city = 'Oslo'")
    assert (reward, terminated, info["solved"], info["robust"]) == (1.0, True, True, True)


def test_summary_reports_plain_and_robust_success():
    from querygym.runs.runner import summarise

    records = [{"task": 1, "solved": True, "solved_plain": True, "steps": 2, "errors": 0, "neighbours": 3},
               {"task": 2, "solved": False, "solved_plain": True, "steps": 30, "errors": 0, "truncated": True,
                "neighbours": 3},
               {"task": 3, "solved": False, "solved_plain": False, "steps": 30, "errors": 0, "neighbours": 3}]
    summary = summarise(records)
    assert summary["plain_success_rate"] == pytest.approx(2 / 3)
    assert summary["robust_success_rate"] == summary["success_rate"] == pytest.approx(1 / 3)


def test_synth_db_command_writes_the_bird_layout(tmp_path, capsys):
    from querygym.cli import main

    out = tmp_path / "out"
    assert main(["synth-db", "--data", str(DATA / "spider_dev" / "dev.json"), "--limit", "3", "--out", str(out),
                 "--rows", "4", "--neighbours", "2"]) == 0
    assert (out / "concert_singer" / "concert_singer.sqlite").is_file()
    assert len(neighbour_paths(out, "concert_singer")) == 2
    tasks = load_tasks(DATA / "spider_dev" / "dev.json", db_root=out, tables=DATA / "spider_dev" / "tables.json")
    assert tasks[0].db == str(out / "concert_singer" / "concert_singer.sqlite")
    assert main(["synth-db", "--out", str(out), "--rows", "-1"]) == 2
