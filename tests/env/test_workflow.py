"""Definition-aware workflow on the built-in database with a small corpus written by the test."""

import json
import textwrap

import pytest

import querygym
from tests.support import builtin_rows
from querygym.scoring.docs import load_corpus, parse_document
from querygym.env.environment import QueryGymEnv
from querygym.scoring.report import citations, grade_numbers
from querygym.runs.runner import run_agent
from querygym.converters.builtin import _builtin_dir

DOCS = {
    "external-customer": """\
        ---
        id: external-customer
        title: External customer
        ---
        An external customer is any customer that is not an internal or test account: is_internal = 0.
        Counts of customers always mean external customers.

        ```policy
        id: exclude-internal-accounts
        description: Aggregates over customers or orders must exclude internal accounts.
        when_tables: [customers, orders]
        when_operations: [perform_aggregate]
        require_columns: [customers.is_internal]
        ```
        """,
    "segments": """\
        ---
        id: segments
        title: Customer segments
        ---
        The segment column holds SMB, Mid-Market or Enterprise; a NULL segment means unassigned.
        """,
    "regions": """\
        ---
        id: regions
        title: Region codes
        ---
        Region codes such as NA-E and EU-N name the sales regions.
        """,
}
GOLD = "SELECT COUNT(*) AS n FROM customers WHERE segment = 'SMB' AND is_internal = 0"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("analytics")
    docs = root / "docs"
    docs.mkdir()
    for doc_id, text in DOCS.items():
        (docs / f"{doc_id}.md").write_text(textwrap.dedent(text))
    questions = root / "questions.json"
    questions.write_text(json.dumps([{
        "question_id": 1, "db_id": "enterprise", "question": "How many customers are in the SMB segment?",
        "evidence": "", "SQL": GOLD, "difficulty": "simple", "required_docs": ["external-customer", "segments"],
        "naive_SQL": "SELECT COUNT(*) FROM customers WHERE segment = 'SMB'"}]))
    return querygym.load_bird(questions, _builtin_dir().parent, docs=docs)


@pytest.fixture
def env(dataset):
    e = QueryGymEnv(dataset)
    e.reset(options={"task_id": 1})
    yield e
    e.close()


def step(env, action):
    obs, reward, terminated, truncated, info = env.step(action)
    return obs, reward, terminated, info


def expected_count():
    return builtin_rows(GOLD)[0][0]


def test_documents_and_policies_load(dataset):
    task = dataset[1]
    assert [d.id for d in task.docs] == ["external-customer", "regions", "segments"]
    assert task.required_docs == ("external-customer", "segments") and task.requires_report
    policy = task.documents.policies[0]
    assert policy.id == "exclude-internal-accounts" and policy.require_columns == ("customers.is_internal",)


def test_search_ranks_with_bm25_and_names_document_ids(env):
    obs, reward, terminated, info = step(env, '["search_docs", "internal test accounts excluded from counts"]')
    assert info["kind"] == "exploration" and info["results"][0] == "external-customer"
    assert "[external-customer]" in obs and len(info["results"]) <= 5
    obs, reward, terminated, info = step(env, '["search_docs", "zzz qqq"]')
    assert info["results"] == []


def test_read_doc_and_its_errors(env):
    obs, *_ = step(env, '["read_doc", "segments"]')
    assert "SMB, Mid-Market or Enterprise" in obs
    obs, reward, terminated, info = step(env, '["read_doc", "segment"]')
    assert info["kind"] == "error" and "Did you mean 'segments'" in obs


def test_execute_sql_materialises_steps_and_reports_the_failing_one(env):
    obs, reward, terminated, info = step(env, '["execute_sql", "SELECT name FROM customers AS c JOIN regions AS r '
                                              'ON c.region_id = r.region_id WHERE r.regoin_code = \'EU-N\'"]')
    assert info["kind"] == "error"
    assert info["execute_sql"]["cte_ids"] == ["T_0"] and info["execute_sql"]["failed_step"] == 2
    assert "Did you mean 'region_code'" in obs and "Repair from step 2" in obs
    obs, reward, terminated, info = step(env, '["reflect_on_error"]')
    assert info["diagnosis"]["candidates"]["regoin_code"][0] == "region_code"
    assert "regions" in info["diagnosis"]["documents"].get("region_code", ["regions"])


def test_policy_violations_are_reported_without_revealing_the_answer(env):
    obs, reward, terminated, info = step(env, '["perform_aggregate", "customers", "", "COUNT(*) AS n"]')
    assert [v["id"] for v in info["policy_violations"]] == ["exclude-internal-accounts"]
    assert "Policy check" in obs and str(expected_count()) not in obs.split("Policy check")[1]
    obs, reward, terminated, info = step(env, '["execute_sql", "SELECT COUNT(*) AS n FROM customers WHERE '
                                              'segment = \'SMB\' AND is_internal = 0"]')
    assert info["kind"] == "cte" and "policy_violations" not in info
    assert not terminated  # a report task ends with the report, not with the right table


def test_a_cited_report_with_reconciled_numbers_earns_the_full_score(env):
    obs, reward, terminated, info = step(env, f'["execute_sql", "{GOLD}"]')
    table = info["cte_id"]
    report = (f"There are {expected_count()} SMB customers [{table}], counting external customers only "
              f"[external-customer] by segment [segments].")
    obs, reward, terminated, info = step(env, json.dumps(["submit_report", table, report]))
    assert terminated and info["kind"] == "report"
    assert info["report"]["score"] == 1.0 and reward == pytest.approx(1.0) and info["solved"]


@pytest.mark.parametrize("report, component, value", [
    ("There are {n} SMB customers [{t}] [segments].", "definitions", 0.5),
    ("There are {wrong} SMB customers [{t}] [external-customer] [segments].", "reconciliation", 0.0),
    ("There are {n} SMB customers. See [external-customer] [segments] and [{t}] for the table.", "evidence", 0.75),
])
def test_each_report_flaw_costs_its_component(env, report, component, value):
    obs, reward, terminated, info = step(env, f'["execute_sql", "{GOLD}"]')
    t = info["cte_id"]
    text = report.format(n=expected_count(), wrong=expected_count() + 7, t=t)
    obs, reward, terminated, info = step(env, json.dumps(["submit_report", t, text]))
    assert info["report"]["components"][component] == value
    assert info["report"]["score"] < 1.0


def test_a_wrong_table_or_a_policy_violation_lowers_the_score(env):
    obs, reward, terminated, info = step(env, '["execute_sql", "SELECT COUNT(*) AS n FROM customers"]')
    t = info["cte_id"]
    obs, reward, terminated, info = step(env, json.dumps(["submit_report", t, f"Counted [{t}] [external-customer] "
                                                                             f"[segments]."]))
    components = info["report"]["components"]
    assert info["report"]["answer"] is False and components["policy"] == 0.0
    assert info["report"]["policy_violations"] == ["exclude-internal-accounts"]
    assert terminated and not info["solved"] and reward == 0.0  # a wrong answer earns nothing, whatever the report


@pytest.mark.parametrize("report", ["hello", "", "The answer is in the table."])
def test_a_report_that_states_and_cites_nothing_earns_nothing(env, report):
    """The case that used to count as solved with a reward near 0.5: a wrong table and an empty report."""
    obs, reward, terminated, info = step(env, '["execute_sql", "SELECT COUNT(*) AS n FROM customers"]')
    obs, reward, terminated, info = step(env, json.dumps(["submit_report", info["cte_id"], report]))
    graded = info["report"]
    assert terminated and not info["solved"] and reward == 0.0
    assert graded["quality"] == 0.0 and graded["score"] == 0.0
    assert graded["components"]["reconciliation"] == 0.0 and graded["components"]["evidence"] == 0.0
    assert graded["components"]["definitions"] == 0.0


def test_a_right_table_with_an_empty_report_is_solved_but_earns_no_quality(env):
    obs, reward, terminated, info = step(env, f'["execute_sql", "{GOLD}"]')
    obs, reward, terminated, info = step(env, json.dumps(["submit_report", info["cte_id"], "hello"]))
    assert terminated and info["solved"] and info["report"]["answer"] is True
    assert info["report"]["quality"] == 0.0 and reward == 0.0


def test_workflow_actions_are_offered_only_with_documentation():
    plain = querygym.load_bird(_builtin_dir() / "questions.json", _builtin_dir().parent)  # no corpus
    env = QueryGymEnv(plain)
    try:
        task = next(t for t in env.tasks if not t.docs)
        obs, info = env.reset(options={"task_id": task.id})
        assert "search_docs" not in obs
        obs, reward, terminated, truncated, info = env.step('["search_docs", "anything"]')
        assert info["kind"] == "error" and "not offered for this task" in obs
        obs, *_ = env.step('["get_actions"]')
        assert "search_docs" not in obs
    finally:
        env.close()


def test_bird_evidence_becomes_a_document():
    task = querygym.load_bird(_builtin_dir() / "questions.json", _builtin_dir().parent)[3]
    assert task.evidence and task.docs[0].id == f"evidence-{task.id}"
    assert task.documents.search(task.question)[0].document.id == f"evidence-{task.id}"


def test_citations_and_numbers():
    assert citations("x [T_3] [net-revenue, doc:churn] [T_3]") == (["net-revenue", "churn"], ["T_3"])
    share, unsupported, unmatched = grade_numbers(
        "Revenue was 1,234.57 [T_1]. Churn was 12.5% [T_1]. In FY2024 Q2 it was 99.", {"T_1": [(1234.5678, 0.125)]},
        question="")
    assert (share, unsupported, unmatched) == (2 / 3, 1, ["99"])


def test_malformed_documents_are_clear_errors(tmp_path):
    with pytest.raises(querygym.DatasetError, match="needs an id"):
        parse_document("no front matter")
    (tmp_path / "a.md").write_text("---\nid: a\n---\n```policy\nid: p\nwhen_tables: [x]\ncolour: red\n```\n")
    with pytest.raises(querygym.DatasetError, match="unknown policy key"):
        load_corpus(tmp_path)


def test_runs_report_accuracy_metrics(dataset, tmp_path):
    t = "T_1"  # execute_sql makes a filter (T_0) and an aggregate (T_1)
    script = {"1": ['["search_docs", "SMB customers"]', f'["execute_sql", "{GOLD}"]',
                    json.dumps(["submit_report", t, f"There are {expected_count()} SMB customers [{t}] "
                                                    f"[external-customer] [segments]."])]}
    summary = run_agent(dataset, {"name": "script", "scripts": script}, tmp_path, progress=None)
    reports = summary["reports"]
    assert reports["submitted"] == 1 and reports["answer_accuracy"] == 1.0 and reports["mean_report_score"] == 1.0
    assert "definition accuracy" in (tmp_path / "scorecard.md").read_text()
