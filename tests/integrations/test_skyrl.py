"""The skyrl-gym text environment, made through skyrl-gym's registry and played with its API."""

from pathlib import Path

import pytest

skyrl_gym = pytest.importorskip("skyrl_gym", reason="the skyrl extra is not installed: pip install 'querygym-ra[skyrl]'")

import querygym  # noqa: E402
from querygym.errors import InvalidArgumentError  # noqa: E402
from querygym.integrations import skyrl  # noqa: E402

SEGMENTS = 9  # "How many customers are there in each segment?"


@pytest.fixture(scope="module", autouse=True)
def registered():
    skyrl.register()
    skyrl.register()  # twice is harmless
    assert "querygym" in skyrl_gym.registry


def play(row, actions, env_config=None):
    env = skyrl_gym.make("querygym", env_config=env_config or {}, extras=row)
    chat, meta = env.init(row["prompt"])
    outputs = []
    for action in actions:
        out = env.step(action)
        outputs.append(out)
        if out["done"]:
            break
    metrics = env.get_metrics()
    env.close()
    return chat, meta, outputs, metrics


def test_a_reference_script_solves_its_task_the_text2sql_way():
    (row,) = skyrl.dataset_rows(task_ids=[SEGMENTS])
    assert row["env_class"] == "querygym" and row["task_id"] == SEGMENTS
    script = ['I will look first.\nAction: ["get_unique_values", "customers", "customers.segment"]',
              *querygym.builtin_references()[str(SEGMENTS)]]
    chat, meta, outputs, metrics = play(row, script)
    assert [m["role"] for m in chat] == ["system", "user"]
    assert chat[0]["content"] == querygym.catalog().render_prompt()
    assert chat[1]["content"].startswith("Question: How many customers")  # the overview, with the schema
    assert meta["kind"] == "overview"
    *middle, last = outputs
    for out in middle:
        assert not out["done"] and out["reward"] == 0.0
        assert [m["role"] for m in out["observations"]] == ["user"]
    assert last["done"] and last["reward"] == 1.0 and last["observations"] == []
    assert last["metadata"]["solved"] and last["metadata"]["relation"] == "equal" and last["metadata"]["sql"]
    assert metrics == {"solved": 1.0, "steps": len(outputs), "total_reward": 1.0}


def test_errors_are_observations_and_max_turns_ends_the_episode():
    (row,) = skyrl.dataset_rows(task_ids=[SEGMENTS], max_turns=2)
    _, _, outputs, metrics = play(row, ["no action here", 'Action: ["get_tables"]', 'Action: ["get_tables"]'])
    assert len(outputs) == 2
    assert outputs[0]["metadata"]["kind"] == "error" and "No action found" in outputs[0]["observations"][0]["content"]
    assert outputs[1]["done"] and outputs[1]["metadata"]["truncated"] and not outputs[1]["metadata"]["solved"]
    assert metrics["solved"] == 0.0


def test_a_row_without_a_task_id_is_refused():
    with pytest.raises(InvalidArgumentError, match="task_id"):
        skyrl_gym.make("querygym", env_config={}, extras={"prompt": []})


def test_rows_for_every_playable_task():
    rows = skyrl.dataset_rows()
    assert len(rows) == len(querygym.builtin_tasks().playable())
    assert {r["env_class"] for r in rows} == {"querygym"}


def test_the_readme_example_runs():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("**SkyRL**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(compile(block, "README.md (SkyRL)", "exec"), scope)
    assert scope["info"]["kind"] == "overview" and scope["out"]["metadata"]["kind"] == "exploration"
    scope["env"].close()
