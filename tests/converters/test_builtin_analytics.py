"""The built-in analytics handbook and its definition-aware tasks: well formed, true of the data."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
import yaml

import querygym
from querygym.data import build_enterprise
from querygym.scoring.docs import load_corpus
from querygym.env.environment import QueryGymEnv

DATA_DIR = Path(build_enterprise.__file__).parent / "enterprise"
DOCS_DIR = DATA_DIR / "docs"
DB_PATH = DATA_DIR / "enterprise.sqlite"
ANALYTICS = json.loads((DATA_DIR / "analytics.json").read_text(encoding="utf-8"))
QUESTIONS = json.loads((DATA_DIR / "questions.json").read_text(encoding="utf-8"))
DOC_PATHS = sorted(DOCS_DIR.glob("*.md"))

FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)
POLICY_BLOCK = re.compile(r"```policy\n(.*?)```", re.S)
DOC_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
POLICY_KEYS = {"id", "description", "when_tables", "when_operations", "require_columns"}
TASK_KEYS = {"question_id", "db_id", "question", "evidence", "SQL", "difficulty", "required_docs", "naive_SQL"}


@pytest.fixture(scope="module")
def db():
    con = sqlite3.connect(f"file:{DB_PATH}?mode=ro", uri=True)
    yield con
    con.close()


def columns_of(con: sqlite3.Connection) -> dict[str, set[str]]:
    tables = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {t: {r[1] for r in con.execute(f"PRAGMA table_info({t})")} for t in tables}


def policies() -> list[dict]:
    return [yaml.safe_load(block) for path in DOC_PATHS
            for block in POLICY_BLOCK.findall(path.read_text(encoding="utf-8"))]


# --------------------------------------------------------------------------- documents
def test_at_least_fifteen_documents():
    assert len(DOC_PATHS) >= 15


@pytest.mark.parametrize("path", DOC_PATHS, ids=lambda p: p.stem)
def test_document_front_matter_names_its_file(path):
    text = path.read_text(encoding="utf-8")
    m = FRONT_MATTER.match(text)
    assert m, f"{path.name} must start with --- front matter ---"
    meta = yaml.safe_load(m.group(1))
    assert set(meta) == {"id", "title"}, meta
    assert meta["id"] == path.stem and DOC_ID.match(meta["id"])
    assert isinstance(meta["title"], str) and meta["title"].strip()
    assert text[m.end():].strip(), f"{path.name} has no text"


def test_document_ids_are_unique_and_load():
    corpus = load_corpus(DOCS_DIR)
    assert sorted(d.id for d in corpus) == sorted(p.stem for p in DOC_PATHS)
    titles = [d.title for d in corpus]
    assert len(titles) == len(set(titles))


def test_policies_are_yaml_of_the_documented_shape_over_real_columns(db):
    found = policies()
    assert 3 <= len(found) <= 5
    assert len({p["id"] for p in found}) == len(found)
    schema = columns_of(db)
    for policy in found:
        assert set(policy) == POLICY_KEYS, policy
        assert DOC_ID.match(policy["id"]) and policy["description"].strip()
        assert policy["when_tables"] and set(policy["when_tables"]) <= set(schema), policy
        assert set(policy["when_operations"]) <= {"perform_aggregate", "perform_filter", "perform_join",
                                                  "perform_projection", "perform_order_by", "perform_limit",
                                                  "perform_union", "perform_intersect"}
        for required in policy["require_columns"]:
            table, column = required.split(".")
            assert column in schema[table], required
    assert {p["id"] for p in found} == {p.id for p in load_corpus(DOCS_DIR).policies}


# --------------------------------------------------------------------------- the docs are true of the data
@pytest.mark.parametrize("sql, expected", [
    # every order converts: a rate for each currency and month orders occur in; USD is 1.0
    ("SELECT COUNT(*) FROM orders AS o LEFT JOIN fx_rates AS fx ON fx.currency = o.currency "
     "AND fx.month = substr(o.order_date, 1, 7) WHERE fx.usd_rate IS NULL", 0),
    ("SELECT COUNT(*) FROM fx_rates WHERE currency = 'USD' AND usd_rate <> 1.0", 0),
    ("SELECT COUNT(*) FROM orders WHERE currency NOT IN ('USD', 'EUR', 'GBP', 'SGD')", 0),
    ("SELECT COUNT(DISTINCT currency) FROM orders", 4),
    # the currency is the order's, not the region's: some European orders are in USD
    ("SELECT COUNT(*) > 0 FROM orders AS o JOIN customers AS c ON c.customer_id = o.customer_id "
     "JOIN regions AS r ON r.region_id = c.region_id WHERE r.region_code LIKE 'EU-%' AND o.currency = 'USD'", 1),
    # subscription status codes: C has an end date, A and P have none
    ("SELECT COUNT(*) FROM subscriptions WHERE status NOT IN ('A', 'C', 'P')", 0),
    ("SELECT COUNT(*) FROM subscriptions WHERE (status = 'C') <> (end_date IS NOT NULL)", 0),
    ("SELECT COUNT(*) FROM subscriptions WHERE status = 'C' AND end_date > '2024-06-30'", 0),
    # refunds are full refunds of refunded orders, as a negative second payment
    ("SELECT COUNT(*) FROM payments AS p JOIN orders AS o ON o.order_id = p.order_id "
     "WHERE p.amount < 0 AND o.status <> 'refunded'", 0),
    ("SELECT COUNT(*) FROM (SELECT order_id FROM payments GROUP BY order_id HAVING COUNT(*) = 2 "
     "AND ROUND(SUM(amount), 2) <> 0)", 0),
    ("SELECT COUNT(*) > 0 FROM orders AS o WHERE o.status = 'refunded' "
     "AND NOT EXISTS (SELECT 1 FROM payments AS p WHERE p.order_id = o.order_id)", 1),
    ("SELECT COUNT(*) FROM orders WHERE status NOT IN ('completed', 'shipped', 'cancelled', 'refunded')", 0),
    ("SELECT COUNT(*) FROM payments WHERE method NOT IN ('card', 'wire', 'invoice')", 0),
    ("SELECT COUNT(*) FROM customers WHERE segment NOT IN ('Enterprise', 'Mid-Market', 'SMB')", 0),
    ("SELECT COUNT(*) FROM order_items WHERE discount NOT IN (0, 0.05, 0.1, 0.15, 0.2)", 0),
    ("SELECT COUNT(DISTINCT LOWER(channel)) FROM orders", 4),
    ("SELECT COUNT(*) FROM orders WHERE LOWER(channel) = 'web' AND employee_id IS NOT NULL", 0),
    ("SELECT COUNT(*) FROM customers WHERE is_internal = 1 AND name NOT LIKE 'Internal Test Account%'", 0),
    ("SELECT COUNT(*) FROM customers WHERE is_internal IS NULL", 0),
    ("SELECT MAX(order_date) FROM orders", "2024-06-30"),
    ("SELECT COUNT(*) FROM employees WHERE manager_id IS NULL", 3),
])
def test_the_handbook_is_true_of_the_data(db, sql, expected):
    assert db.execute(sql).fetchone()[0] == expected


# --------------------------------------------------------------------------- tasks
def test_at_least_forty_tasks_over_three_difficulties():
    assert len(ANALYTICS) >= 40
    assert {t["difficulty"] for t in ANALYTICS} == {"simple", "moderate", "challenging"}


def test_tasks_are_bird_records_with_docs_and_naive_sql():
    doc_ids = {p.stem for p in DOC_PATHS}
    for t in ANALYTICS:
        assert set(t) == TASK_KEYS, t["question_id"]
        assert isinstance(t["question_id"], int) and t["db_id"] == "enterprise"
        assert t["question"].strip() and t["SQL"].strip() and t["naive_SQL"].strip()
        assert t["evidence"] == "", "definitions must be found in the documents"
        assert t["required_docs"] and set(t["required_docs"]) <= doc_ids, t["question_id"]


def test_task_ids_are_unique_and_do_not_clash_with_questions():
    ids = [t["question_id"] for t in ANALYTICS]
    assert len(ids) == len(set(ids))
    assert not set(ids) & {q["question_id"] for q in QUESTIONS}
    assert len({t["question"] for t in ANALYTICS}) == len(ANALYTICS)


@pytest.mark.parametrize("task", ANALYTICS, ids=lambda t: str(t["question_id"]))
def test_gold_is_non_empty_and_the_naive_sql_answers_differently(db, task):
    gold = db.execute(task["SQL"]).fetchall()
    assert gold and any(v is not None for row in gold for v in row), task["SQL"]
    naive = db.execute(task["naive_SQL"]).fetchall()
    assert not querygym.compare_tables(naive, gold).equal


@pytest.fixture(scope="module")
def env():
    e = QueryGymEnv(querygym.builtin_tasks())
    yield e
    e.close()


@pytest.mark.parametrize("task", ANALYTICS, ids=lambda t: str(t["question_id"]))
def test_gold_sql_violates_no_policy(env, task):
    env.reset(options={"task_id": task["question_id"]})
    obs, reward, terminated, truncated, info = env.step(json.dumps(["execute_sql", task["SQL"]]))
    assert info["kind"] == "cte", obs
    assert not info.get("policy_violations"), info.get("policy_violations")


def test_a_question_finds_a_required_document_in_the_top_three():
    corpus = load_corpus(DOCS_DIR)
    hits = sum(any(d in [h.document.id for h in corpus.search(t["question"], k=3)] for d in t["required_docs"])
               for t in ANALYTICS)
    assert hits >= 0.9 * len(ANALYTICS)


# --------------------------------------------------------------------------- the database
def test_rebuild_is_deterministic_and_committed(tmp_path):
    first = build_enterprise.build(tmp_path / "a" / "enterprise.sqlite")
    second = build_enterprise.build(tmp_path / "b" / "enterprise.sqlite")
    assert first.read_bytes() == second.read_bytes()
    rebuilt = sqlite3.connect(f"file:{first}?mode=ro", uri=True)
    committed = sqlite3.connect(f"file:{DB_PATH}?mode=ro", uri=True)
    try:
        assert list(rebuilt.iterdump()) == list(committed.iterdump())
    finally:
        rebuilt.close()
        committed.close()


def test_currencies_come_from_their_own_generator():
    # Another FX_SEED changes order currencies and rates only: every other value is drawn from the
    # main generator, so the tasks written before currencies existed keep their answers.
    base = build_enterprise.generate()
    other = build_enterprise.generate(fx_seed=build_enterprise.FX_SEED + 1)
    for table in base:
        if table == "fx_rates":
            assert base[table] != other[table]
        elif table == "orders":
            assert [r[:-1] for r in base[table]] == [r[:-1] for r in other[table]]
            assert [r[-1] for r in base[table]] != [r[-1] for r in other[table]]
        else:
            assert base[table] == other[table], table
