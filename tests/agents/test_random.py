"""The random agent: a baseline that plays valid-looking actions and a fuzzer that sends broken ones."""

import collections

import gymnasium
import pytest

import querygym
from querygym.agents import get
from querygym.agents.random import RandomAgent
from querygym.actions.catalog import catalog
from querygym.plan.decompose import schema_of
from querygym.errors import InvalidActionError, InvalidArgumentError
from querygym.converters.tasks import Task

TASKS = querygym.builtin_tasks()


@pytest.fixture(scope="module")
def env():
    e = gymnasium.make("querygym/QueryGym-v0", max_steps=25)
    yield e
    e.close()


def play(env, agent, task, steps=25):
    """The (action, info) pairs of one episode, at most ``steps`` long."""
    agent.reset(task)
    obs, info = env.reset(options={"task_id": task.id})
    out = []
    for _ in range(steps):
        action = agent.act(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((action, info))
        if terminated or truncated:
            break
    return out


def test_same_seed_same_episode_and_other_seeds_differ(env):
    task = TASKS[TASKS.ids[5]]
    first = [a for a, _ in play(env, RandomAgent(seed=3), task)]
    again = [a for a, _ in play(env, RandomAgent(seed=3), task)]
    other = [a for a, _ in play(env, RandomAgent(seed=4), task)]
    assert first == again
    assert first != other


def test_the_episode_stream_depends_on_the_task_not_on_what_was_played_before(env):
    # A run split over worker processes gives each worker other tasks first; the actions must not change.
    a, b = TASKS[TASKS.ids[1]], TASKS[TASKS.ids[2]]
    alone = [x for x, _ in play(env, RandomAgent(seed=11), b, steps=8)]
    agent = RandomAgent(seed=11)
    play(env, agent, a, steps=8)
    after_another = [x for x, _ in play(env, agent, b, steps=8)]
    assert alone == after_another


def test_spec_rebuilds_the_same_agent(env):
    agent = RandomAgent(seed=5, malformed=0.2, actions=["get_tables", "perform_filter", "perform_join"])
    rebuilt = get(**agent.spec())
    assert isinstance(rebuilt, RandomAgent) and rebuilt.spec() == agent.spec()
    task = TASKS[TASKS.ids[0]]
    assert [a for a, _ in play(env, agent, task, 10)] == [a for a, _ in play(env, rebuilt, task, 10)]


def test_an_unseeded_agent_still_has_a_seed_that_reproduces_it(env):
    agent = RandomAgent()
    task = TASKS[TASKS.ids[4]]
    assert [a for a, _ in play(env, agent, task, 6)] == [a for a, _ in play(env, get(**agent.spec()), task, 6)]


def test_valid_looking_actions_cover_the_catalog_and_mostly_succeed(env):
    agent = RandomAgent(seed=0, malformed=0.0)
    names, kinds = collections.Counter(), collections.Counter()
    for task_id in TASKS.ids[:8]:
        for action, info in play(env, agent, TASKS[task_id]):
            # Every action the agent writes parses: the parameters are valid-looking by construction.
            parsed = catalog().parse(action)
            names[parsed.name] += 1
            kinds[parsed.group, info["kind"]] += 1
    assert set(names) == set(catalog().names), f"never drawn: {set(catalog().names) - set(names)}"
    operations = kinds["operation", "cte"] + kinds["operation", "error"]
    # Operations are checked against the tables' columns; the agent fills them from the schema and the
    # intermediate tables it saw, so most build a table (set operations of unequal widths are the usual miss).
    assert kinds["operation", "cte"] >= 0.8 * operations, kinds
    assert kinds["exploration", "error"] <= 2, kinds


def test_intermediate_tables_and_seen_values_are_used(env):
    agent = RandomAgent(seed=2, malformed=0.0)
    actions = []
    for task_id in TASKS.ids[:6]:
        actions += [catalog().parse(a) for a, _ in play(env, agent, TASKS[task_id])]
    tables = [a.args.get("table_id", "") for a in actions]
    assert any(t.startswith("T_") for t in tables), "no action reads an intermediate table"
    joins = [a for a in actions if a.name == "perform_join"]
    assert joins and all(len(j["join_conditions"]) == len(j["tables"]) - 1 == len(j["join_types"]) for j in joins)
    # Equality conditions on text columns use values that earlier observations showed.
    assert any("= '" in a.args.get("conditions", "") for a in actions)


def test_malformed_text_becomes_error_observations_never_exceptions(env):
    agent = RandomAgent(seed=9, malformed=1.0)
    steps = 0
    for task_id in TASKS.ids[:4]:
        for action, info in play(env, agent, TASKS[task_id], steps=15):
            steps += 1
            assert info["kind"] == "error", (action, info["kind"])
    assert agent.usage["malformed"] == steps


def test_a_task_known_only_by_its_schema_is_fuzzed_with_its_names():
    schema = schema_of(TASKS[TASKS.ids[0]])
    task = Task(id="schema-only", db_id="enterprise", question="?", gold_sql="SELECT 1", schema=schema)
    agent = RandomAgent(seed=1, malformed=0.0, actions=["preview_table"])
    agent.reset(task)
    refs = {catalog().parse(agent.act("", {"kind": "overview"}))["table_id"].split(" AS ")[0] for _ in range(30)}
    assert refs <= set(schema.table_names) and len(refs) > 1


def test_bad_arguments_are_refused_with_a_reason():
    with pytest.raises(InvalidActionError, match="Did you mean 'get_tables'"):
        RandomAgent(actions=["get_table"])
    with pytest.raises(InvalidArgumentError, match="between 0 and 1"):
        RandomAgent(malformed=2)
