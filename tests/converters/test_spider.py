"""Spider-format converter on the real Spider dev and Spider-Syn files, and identifiers in any script.

Expected values come from the files themselves and from the BIRD-format re-keying of Spider dev
that ships beside them (``dev_bird_format_19db.json``), read by the BIRD loader.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import querygym
from querygym.converters import detect_format, load_spider
from querygym.converters.spider import spider_hardness
from querygym.env.environment import QueryGymEnv

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SPIDER = DATA / "spider_dev"
SYN = DATA / "spider_syn" / "dev_spider_format.json"

pytestmark = pytest.mark.skipif(not (SPIDER / "dev.json").is_file() or not SYN.is_file(),
                                reason=f"Spider data not found under {DATA}")


@pytest.fixture(scope="module")
def spider():
    return load_spider(SPIDER / "dev.json")


def test_spider_dev_gives_972_playable_tasks_and_keeps_the_62_without_a_database_as_unplayable(spider):
    records = json.loads((SPIDER / "dev.json").read_text(encoding="utf-8"))
    assert len(records) == len(spider) == 1034 and len(spider.playable()) == 972
    assert {p.task_id for p in spider.problems} == {i for i, r in enumerate(records) if r["db_id"] == "wta_1"}
    assert all("database 'wta_1' not found" in p.reason for p in spider.problems)
    assert [t.id for t in spider.playable()] == [i for i, r in enumerate(records) if r["db_id"] != "wta_1"]
    assert detect_format(SPIDER / "dev.json") == "spider"


def test_spider_tasks_match_the_bird_rekeying_including_spiders_hardness_labels(spider):
    bird = querygym.load_bird(SPIDER / "dev_bird_format_19db.json", SPIDER / "database",
                              tables=SPIDER / "tables_19db.json")
    assert [(t.id, t.db_id, t.question, t.gold_sql, t.difficulty, t.db) for t in spider.playable()] == \
        [(t.id, t.db_id, t.question, t.gold_sql, t.difficulty, t.db) for t in bird]
    assert all(t.schema is not None and t.schema.db_id == t.db_id for t in spider)


def test_every_spider_dev_gold_query_executes(spider):
    assert spider.check() == spider.problems  # nothing beyond the 62 questions without a database
    assert all(t.playable for t in spider if t.db_id != "wta_1")


def test_spider_syn_972_tasks_on_the_spider_databases_with_the_original_question_kept():
    syn = load_spider(SYN, SPIDER / "database", SPIDER / "tables.json")
    records = json.loads(SYN.read_text(encoding="utf-8"))
    assert len(syn.playable()) == 972 and len(syn.problems) == 62
    first = syn.tasks[0]
    assert (first.question, first.metadata["original_question"]) == (records[0]["question"],
                                                                       records[0]["original_question"])
    assert syn.check() == syn.problems


def test_keep_missing_false_leaves_questions_without_a_database_out_and_reports_them(spider):
    unplayable = [t for t in spider if not t.playable]
    assert {t.db_id for t in unplayable} == {"wta_1"} and all(t.schema is not None for t in unplayable)
    dropped = load_spider(SPIDER / "dev.json", keep_missing=False)
    assert len(dropped) == 972 and {p.task_id for p in dropped.problems} == {t.id for t in unplayable}


def test_hardness_follows_spiders_rules_on_a_parsed_query():
    select_two = {"select": [False, [[0, [0, [0, 1, False], None]], [3, [0, [0, 2, False], None]]]],
                  "from": {"table_units": [["table_unit", 0]], "conds": []}, "where": [], "groupBy": [],
                  "having": [], "orderBy": [], "limit": None, "intersect": None, "union": None, "except": None}
    assert spider_hardness(select_two) == "medium"   # two columns and an aggregate: one "other"
    nested = dict(select_two, union=dict(select_two))
    assert spider_hardness(nested) == "extra"


def test_identifiers_in_any_script_and_keywords_as_names_work_end_to_end(tmp_path):
    db_id = "ünï_db"
    folder = tmp_path / "database" / db_id
    folder.mkdir(parents=True)
    with closing(sqlite3.connect(folder / f"{db_id}.sqlite")) as con:
        con.execute('CREATE TABLE "Größe" ("order" INTEGER, "select" TEXT, "名前" TEXT, "from" REAL)')
        con.executemany('INSERT INTO "Größe" VALUES (?, ?, ?, ?)',
                        [(1, "a", "東京", 1.5), (2, "b", "Zürich", 2.5), (3, "c", "Ωmega", 3.5)])
        con.commit()
    questions = tmp_path / "dev.json"
    questions.write_text(json.dumps([{"db_id": db_id, "question": "Which names come after the first?",
                                      "query": 'SELECT "名前" FROM "Größe" WHERE "order" > 1'}],
                                    ensure_ascii=False), encoding="utf-8")
    tasks = querygym.load_tasks(tmp_path)  # the folder: its question file and database folder
    assert tasks.check() == []
    assert sorted(tasks.tasks[0].target_result().rows) == [("Zürich",), ("Ωmega",)]
    env = QueryGymEnv(tasks)
    try:
        env.reset(options={"task_id": 0})
        env.step('["perform_filter", "Größe", "Größe.\\"order\\" > 1"]')
        _, reward, terminated, _, info = env.step('["perform_projection", "T_0", "名前"]')
    finally:
        env.close()
    assert terminated and reward == 1.0, info


def test_a_record_that_is_not_spider_gets_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "dev.json"
    bad.write_text(json.dumps([{"db_id": "x", "question": "q"}]))
    with pytest.raises(querygym.DatasetError, match=r"dev.json: record #0 is not a Spider question \(missing query\)"):
        load_spider(bad)
