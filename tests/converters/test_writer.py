"""``querygym convert`` writes every supported format as BIRD format, and reading the output back
with ``load_bird`` gives the same tasks and the same targets; ``load_tasks`` detects each format
by content and says what it found when it cannot.  (BIRD-Critic's round trip needs PostgreSQL and
lives in ``test_converters_bird_critic.py``.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import querygym
from tests.support import ROSTER, SYNTHETIC, SYNTHETIC_QUESTIONS, cosql_file
from querygym.cli import main
from querygym.converters import FORMATS, detect_format, load_tasks

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SPIDER = DATA / "spider_dev"

needs_data = pytest.mark.skipif(not (SPIDER / "dev.json").is_file(), reason=f"benchmark data not found under {DATA}")


def same_tasks(original: querygym.TaskSet, again: querygym.TaskSet) -> None:
    assert again.ids == original.ids
    for a, b in zip(again, original):
        assert (a.db_id, a.question, a.gold_sql, a.evidence, a.difficulty, a.initial_sql, a.dialect) == \
            (b.db_id, b.question, b.gold_sql, b.evidence, b.difficulty, b.initial_sql, b.dialect), a.id
        assert a.metadata == json.loads(json.dumps(b.metadata)), a.id
        assert a.playable == b.playable, a.id
        if b.schema is not None:
            assert a.schema is not None and a.schema.table_names == b.schema.table_names
            for ta, tb in zip(a.schema, b.schema):
                assert ta.column_names == tb.column_names and ta.primary_key == tb.primary_key


def same_targets(original: querygym.TaskSet, again: querygym.TaskSet) -> None:
    original.check()
    again.check()
    for a, b in zip(again, original):
        assert a.problem == b.problem or (a.problem and b.problem), a.id
        if b.playable:
            result, expected = a.target_result(), b.target_result()
            assert (result.columns, result.rows) == (expected.columns, expected.rows), a.id


def convert(tmp_path: Path, *args: str, link: bool = False) -> querygym.TaskSet:
    out = tmp_path / "out"
    assert main(["convert", *args, "--out", str(out), *(["--link"] if link else [])]) == 0
    return querygym.load_bird(out / "questions.json", out / "databases", tables=out / "tables.json")


@needs_data
def test_spider_round_trip(tmp_path):
    original = load_tasks(SPIDER / "dev.json")
    again = convert(tmp_path, "--from", "spider", str(SPIDER / "dev.json"), link=True)
    same_tasks(original, again)
    same_targets(original, again)
    problems = json.loads((tmp_path / "out" / "problems.json").read_text())
    assert len(problems) == 62 and all("wta_1" in p["reason"] and p["loaded"] for p in problems)
    assert all((tmp_path / "out" / "databases" / t.db_id / f"{t.db_id}.sqlite").is_symlink() for t in again.playable())
    assert len(again) == 1034 and {t.db_id for t in again if not t.playable} == {"wta_1"}


@needs_data
def test_spider_syn_round_trip_with_the_parts_given_in_any_order(tmp_path):
    syn = DATA / "spider_syn" / "dev_spider_format.json"
    original = load_tasks(syn, db_root=SPIDER / "database", tables=SPIDER / "tables.json")
    again = convert(tmp_path, str(SPIDER / "tables.json"), str(SPIDER / "database"), str(syn))
    same_tasks(original, again)
    assert all(not (tmp_path / "out" / "databases" / t.db_id / f"{t.db_id}.sqlite").is_symlink() for t in again)
    same_targets(querygym.TaskSet(original.tasks[:100]), querygym.TaskSet(again.tasks[:100]))


@needs_data
def test_bird_round_trip(tmp_path):
    questions = SPIDER / "dev_bird_format_19db.json"
    original = load_tasks(questions, db_root=SPIDER / "database", tables=SPIDER / "tables_19db.json")
    again = convert(tmp_path, str(questions), str(SPIDER / "database"), str(SPIDER / "tables_19db.json"), link=True)
    same_tasks(original, again)
    same_targets(querygym.TaskSet(original.tasks[:200]), querygym.TaskSet(again.tasks[:200]))


@needs_data
def test_sparc_round_trip(tmp_path):
    sparc = DATA / "sparc" / "dev.json"
    original = load_tasks(sparc, db_root=SPIDER / "database", tables=DATA / "sparc" / "tables.json")
    again = convert(tmp_path, "--from", "sparc", str(sparc), "--db-root", str(SPIDER / "database"),
                    "--tables", str(DATA / "sparc" / "tables.json"), link=True)
    same_tasks(original, again)
    same_targets(original, again)


@needs_data
def test_cosql_round_trip(tmp_path):

    path = cosql_file(tmp_path / "cosql_dev.json")
    original = load_tasks(path, db_root=SPIDER / "database")
    again = convert(tmp_path, str(path), str(SPIDER / "database"))
    same_tasks(original, again)
    same_targets(original, again)


@needs_data
def test_criteria2sql_round_trip(tmp_path):
    source = DATA / "criteria2sql"
    original = load_tasks(source / "dev.jsonl")
    again = convert(tmp_path, str(source / "dev.jsonl"), str(source / "dev.db"), link=True)
    same_tasks(original, again)
    same_targets(original, again)


@needs_data
def test_wikisql_round_trip(tmp_path, wikisql_source):
    original = querygym.converters.load_wikisql(wikisql_source / "dev.jsonl", cache=tmp_path / "cache")
    again = convert(tmp_path, "--from", "wikisql", str(wikisql_source / "dev.jsonl"),
                    str(wikisql_source / "dev.tables.jsonl"))
    same_tasks(original, again)
    same_targets(original, again)
    assert len(json.loads((tmp_path / "out" / "problems.json").read_text())) == 2


@pytest.fixture()
def wikisql_source(tmp_path):

    source = tmp_path / "wikisql"
    source.mkdir()
    questions = [{"phase": 1, "table_id": SYNTHETIC["id"], "question": text, "sql": sql}
                 for sql, text in SYNTHETIC_QUESTIONS]
    questions += [{"phase": 1, "table_id": ROSTER["id"], "question": "q", "sql": {"sel": 0, "agg": 3, "conds": []}},
                  {"phase": 1, "table_id": "x", "question": "no table", "sql": {"sel": 0, "agg": 0, "conds": []}},
                  {"phase": 1, "table_id": ROSTER["id"], "question": "OP", "sql": {"sel": 0, "agg": 0,
                                                                                   "conds": [[0, 3, "a"]]}}]
    (source / "dev.jsonl").write_text("\n".join(map(json.dumps, questions)) + "\n")
    (source / "dev.tables.jsonl").write_text(json.dumps(ROSTER) + "\n" + json.dumps(SYNTHETIC) + "\n")
    return source


# ---------------------------------------------------------------------- detection
@needs_data
@pytest.mark.parametrize("path, expected", [
    ("spider_dev/dev.json", "spider"),
    ("spider_dev/dev_bird_format_19db.json", "bird"),
    ("spider_syn/dev_spider_format.json", "spider"),
    ("sparc/dev.json", "sparc"),
    ("wikisql/dev.jsonl", "wikisql"),
    ("criteria2sql/dev.jsonl", "criteria2sql"),
    ("criteria2sql", "criteria2sql"),
    ("spider_dev", "spider"),
    ("bird_critic", "bird_critic"),
    ("bird_critic/postgresql_preview_0110_data.jsonl", "bird_critic"),
    ("bird_dev_questions/dev.json", "bird"),
])
def test_formats_are_detected_by_content(path, expected):
    assert detect_format(DATA / path) == expected
    assert expected in FORMATS


def test_an_unknown_format_says_what_it_found(tmp_path):
    odd = tmp_path / "questions.jsonl"
    odd.write_text('{"utterance": "hi", "answer": 3}\n')
    with pytest.raises(querygym.DatasetError, match=r"cannot tell the dataset format; found a first record with "
                                                    r"keys \['answer', 'utterance'\]"):
        load_tasks(odd)
    with pytest.raises(querygym.DatasetError, match=r"unknown dataset format 'spidr'. Did you mean 'spider'\?"):
        load_tasks(odd, format="spidr")
    (tmp_path / "train.json").write_text("[]")
    with pytest.raises(querygym.DatasetError, match=r"cannot tell which file holds the questions \(found "
                                                    r"questions.jsonl, train.json\)"):
        load_tasks(tmp_path)
    with pytest.raises(querygym.DatasetError, match="train.json: cannot tell the dataset format; found no records"):
        load_tasks(tmp_path / "train.json")


def test_convert_reports_bad_input_in_one_line(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing.json"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("querygym: error: ") and "missing.json: no such file or folder" in err


@needs_data
def test_tasks_command_reports_per_dataset_what_executes_and_why_not(capsys):
    assert main(["tasks", "--data", str(DATA / "sparc" / "dev.json"), "--db-root", str(SPIDER / "database"),
                 "--check"]) == 0
    err = capsys.readouterr().err
    assert "dev.json (sparc): 1625 task(s) produced" in err
    assert "gold SQL executes for 1546 of 1548 playable task(s) (99.9%)" in err
    assert "1 × gold SQL fails: no such column: T1.id  [161_2]" in err
    assert "77 × database 'wta_1' not found" in err
