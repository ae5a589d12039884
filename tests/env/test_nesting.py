"""Expressions nested too deeply for the parser are the agent's mistake: an error observation.

sqlglot's parser recurses about twenty Python frames per level of parentheses, and querygym and
sqlglot walk expression trees recursively, so without limits a filter of 5000 parentheses or a
``1+1+...`` thousands long ended in a RecursionError reported as a querygym internal error (a
RuntimeWarning).  The limits (``querygym.plan.ops.MAX_PARENTHESES`` and
``MAX_EXPRESSION_DEPTH``) make them ordinary ``plan`` errors on every engine; warnings are
errors in this suite, so a warning fails these tests.
"""

from __future__ import annotations

import json

import gymnasium
import pytest

from querygym.plan.ops import MAX_EXPRESSION_DEPTH, MAX_PARENTHESES

TOO_DEEP = {
    "parentheses": "(" * 5000 + "customers.customer_id" + ")" * 5000 + " > 0",
    "parentheses just over the limit": "(" * (MAX_PARENTHESES + 1) + "1" + ")" * (MAX_PARENTHESES + 1) + " = 1",
    "sum": "+".join(["1"] * 5000) + " > 0",
    "conjunction": " AND ".join(["customers.customer_id > 0"] * 3000),
    "negations": "NOT " * 3000 + "customers.customer_id > 0",
    "subqueries": "customers.customer_id IN " + "(SELECT customer_id FROM customers WHERE customer_id IN " * 40
                  + "(1)" + ")" * 40,
}
WITHIN = {
    "parentheses": "(" * 20 + "customers.customer_id" + ")" * 20 + " > 0",
    "sum": "customers.customer_id + " + "+".join(["0"] * 150) + " > 0",
    "conjunction": " AND ".join(["customers.customer_id > 0"] * 150),
}


@pytest.fixture
def env(engine):
    e = gymnasium.make("querygym/QueryGym-v0", dialect=engine)
    e.reset(seed=0, options={"task_id": 9})
    yield e
    e.close()


def _assert_nesting_error(obs, info, what="condition"):
    assert info["kind"] == "error", obs[:200]
    assert info["error"]["type"] == "plan", info["error"]
    message = info["error"]["message"]
    assert f"The {what}" in message and "nests too deeply" in message, message
    assert f"at most {MAX_PARENTHESES} levels of parentheses" in message, message
    assert f"{MAX_EXPRESSION_DEPTH} levels deep" in message, message
    assert message in obs and len(message) < 400  # the offending text is shortened, not echoed whole


@pytest.mark.parametrize("shape", sorted(TOO_DEEP))
def test_too_deep_a_condition_is_a_plan_error(env, shape):
    env.step('["perform_projection", "customers", "customers.customer_id"]')
    obs, reward, terminated, truncated, info = env.step(json.dumps(["perform_filter", "customers", TOO_DEEP[shape]]))
    _assert_nesting_error(obs, info)
    assert list(env.unwrapped.episode.plan.ids) == ["T_0"] and not terminated
    # the environment stays usable
    obs, reward, terminated, truncated, info = env.step('["perform_filter", "T_0", "T_0.customer_id > 3"]')
    assert info["kind"] == "cte" and info["cte_id"] == "T_1"


@pytest.mark.parametrize("action, what", [
    (["perform_projection", "customers", "+".join(["customers.customer_id"] * 3000)], "column list"),
    (["perform_order_by", "customers", "(" * 3000 + "customers.name" + ")" * 3000], "ordering"),
    (["perform_aggregate", "customers", "customers.segment", "customers.segment, " + "-(" * 2000 + "1" + ")" * 2000],
     "column list"),
    (["perform_filter", "(" * 3000 + "customers" + ")" * 3000, "1 = 1"], "table reference"),
])
def test_too_deep_in_any_parameter_is_a_plan_error(env, action, what):
    obs, reward, terminated, truncated, info = env.step(json.dumps(action))
    _assert_nesting_error(obs, info, what)


@pytest.mark.parametrize("shape", sorted(WITHIN))
def test_nesting_within_the_limits_still_runs(env, shape):
    obs, reward, terminated, truncated, info = env.step(json.dumps(["perform_filter", "customers", WITHIN[shape]]))
    assert info["kind"] == "cte", obs[:300]


def test_too_deep_initial_sql_is_reported_not_raised(env):
    sql = "SELECT customer_id FROM customers WHERE " + "(" * 3000 + "customer_id > 0" + ")" * 3000
    obs, info = env.reset(options={"task_id": 9, "initial_sql": sql})
    assert "nests too deeply" in info["initial"]["error"]["message"]
    assert info["initial"]["final_cte_id"] is None and env.unwrapped.episode.plan.ids == ()


def test_an_action_list_nested_too_deeply_is_a_parse_error(env):
    obs, reward, terminated, truncated, info = env.step('Action: ["get_tables", ' + "[" * 5000 + "]" * 5000 + "]")
    assert info["kind"] == "error" and info["error"]["type"] == "parse", obs[:200]


def test_an_action_after_thousands_of_unclosed_brackets_is_still_found(env):
    # each unclosed bracket used to be re-read to the end of the text (quadratic); read once now
    obs, reward, terminated, truncated, info = env.step("{" * 20_000 + "[" * 20_000 + ' Action: ["get_tables"]')
    assert info["kind"] == "exploration", obs[:200]
