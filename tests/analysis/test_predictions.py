"""Reading prediction files in the forms the field uses, and refusing files that do not line up."""

from __future__ import annotations

import json

import pytest

import querygym
from querygym.analysis.predictions import clean_sql, questions_of, read_predictions
from querygym.errors import PredictionsError, QueryGymError
from tests.support import DATA, SPIDER

pytestmark = pytest.mark.skipif(not (SPIDER / "dev.json").is_file(), reason="../shared/data/spider_dev is absent")
PRED = DATA / "predictions" / "spider_dev" / "din_sql_gpt4" / "pred.sql"


@pytest.fixture(scope="module")
def spider():
    return querygym.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database", tables=SPIDER / "tables.json")


@pytest.fixture(scope="module")
def bird():
    return querygym.load_tasks(SPIDER / "dev_bird_format_19db.json", db_root=SPIDER / "database", format="bird")


def test_clean_sql_removes_fences_semicolons_and_blanks():
    assert clean_sql("```sql\nSELECT a\nFROM t;\n```") == "SELECT a\nFROM t"
    assert clean_sql("Here it is:\n```\nSELECT 1 ;;\n```\nDone.") == "SELECT 1"
    assert clean_sql("  SELECT 2;  \n") == "SELECT 2"


def test_questions_keep_positions_of_questions_without_a_database(spider):
    questions = questions_of(spider)
    assert len(questions) == 1034
    assert [q.index for q in questions] == list(range(1034))
    assert questions[429].db_id == "wta_1" and not spider[429].playable


def test_spider_lines_line_up_with_the_questions(spider):
    preds = read_predictions(PRED, questions_of(spider))
    assert len(preds) == 1034
    assert preds[0].sql == "SELECT COUNT(*) FROM singer" and preds[0].db_id == "concert_singer"


def test_a_trailing_tab_and_db_id_is_checked(spider, tmp_path):
    questions = questions_of(spider)
    lines = PRED.read_text().splitlines()
    good = tmp_path / "good.txt"
    good.write_text("\n".join(f"{sql}\t{q.db_id}" for sql, q in zip(lines, questions)) + "\n")
    assert read_predictions(good, questions)[5].sql == lines[5].rstrip(";").strip()
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(f"{sql}\t{'pets_1' if q.index == 3 else q.db_id}" for sql, q in zip(lines, questions)))
    with pytest.raises(PredictionsError, match="line 4 names database 'pets_1' but question 3 is on 'concert_singer'"):
        read_predictions(bad, questions)


def test_a_wrong_count_is_refused_with_the_reason(spider, tmp_path):
    short = tmp_path / "short.sql"
    short.write_text("\n".join(PRED.read_text().splitlines()[:-1]))
    with pytest.raises(PredictionsError, match="1033 predictions .* for 1034 questions"):
        read_predictions(short, questions_of(spider))
    with pytest.raises(QueryGymError, match="no such predictions file"):
        read_predictions(tmp_path / "absent.sql", questions_of(spider))


def test_bird_json_by_position_and_by_question_id(bird, tmp_path):
    questions = questions_of(bird)
    sqls = {q.index: f"SELECT {q.index}" for q in questions}
    positional = tmp_path / "predict_dev.json"
    positional.write_text(json.dumps({str(q.index): f"{sqls[q.index]};\t----- bird -----\t{q.db_id}"
                                      for q in questions}))
    preds = read_predictions(positional, questions)
    assert [p.sql for p in preds[:2]] == ["SELECT 0", "SELECT 1"]
    keyed = tmp_path / "by_id.json"
    keyed.write_text(json.dumps({str(q.question_id): f"SELECT 7\t----- bird -----\t{q.db_id}" for q in questions[:5]}))
    with pytest.raises(PredictionsError, match="5 predictions for 972 questions"):
        read_predictions(keyed, questions)
    wrong_db = tmp_path / "wrong_db.json"
    wrong_db.write_text(json.dumps({str(q.index): "SELECT 1\t----- bird -----\tnope" for q in questions}))
    with pytest.raises(PredictionsError, match="names database 'nope'"):
        read_predictions(wrong_db, questions)


def test_jsonl_by_question_id_or_index_with_multiline_fenced_sql(bird, tmp_path):
    questions = questions_of(bird)
    path = tmp_path / "preds.jsonl"
    lines = [json.dumps({"question_id": q.question_id, "sql": f"```sql\nSELECT {q.index}\nFROM t;\n```"})
             for q in questions[1:]]
    lines.insert(0, json.dumps({"index": 0, "sql": "SELECT 0"}))
    path.write_text("\n".join(lines) + "\n")
    preds = read_predictions(path, questions)
    assert preds[0].sql == "SELECT 0" and preds[1].sql == "SELECT 1\nFROM t"
    path.write_text(lines[0] + "\n" + lines[0] + "\n")
    with pytest.raises(PredictionsError, match="a second prediction for index 0"):
        read_predictions(path, questions)
    path.write_text('{"sql": "SELECT 1"}\n')
    with pytest.raises(PredictionsError, match="needs 'sql' and 'question_id' or 'index'"):
        read_predictions(path, questions)
