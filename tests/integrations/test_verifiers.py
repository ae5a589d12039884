"""The verifiers environment: loaded the way verifiers loads environments, one real rollout through
verifiers' own harness, interception server and client against the scripted OpenAI-compatible server."""

import asyncio

import pytest

pytest.importorskip("verifiers.v1", reason="the verifiers extra is not installed: pip install 'querygym-ra[verifiers]'")

import verifiers.v1 as vf  # noqa: E402
from verifiers.v1.clients import EvalClientConfig, ModelContext  # noqa: E402
from verifiers.v1.env import RunSlot  # noqa: E402

import querygym  # noqa: E402
import querygym_verifiers  # noqa: E402
from tests.openai_stub_server import ScriptedChatServer, reply  # noqa: E402

KEY_ENV = "QUERYGYM_TEST_LLM_KEY"
SUBSCRIPTIONS = 3  # "What is the total monthly amount of all active subscriptions?"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-secret")


def rollout(env, task, server):
    async def run():
        ctx = ModelContext(model="test-model", client=EvalClientConfig(base_url=server.base_url, api_key_var=KEY_ENV))
        async with env.serving():
            return await env.run_slot(RunSlot(task=task), ctx)

    return asyncio.run(run())


def test_verifiers_loads_the_environment_by_its_taskset_id():
    config = querygym_verifiers.QueryGymEnvConfig.model_validate(
        {"taskset": {"id": "querygym_verifiers", "task_ids": [0, SUBSCRIPTIONS]}})
    env = vf.load_environment(config)
    assert isinstance(env, querygym_verifiers.QueryGymVerifiersEnv)
    tasks = list(env.taskset)
    assert [t.data.task_id for t in tasks] == [0, SUBSCRIPTIONS]
    assert tasks[1].data.question == querygym.builtin_tasks()[SUBSCRIPTIONS].question
    assert tasks[0].data.system_prompt == querygym.catalog().render_prompt()
    # every playable task by default
    assert len(list(querygym_verifiers.load_environment().taskset)) == len(querygym.builtin_tasks().playable())


def test_a_rollout_of_the_reference_actions_earns_querygyms_reward():
    env = querygym_verifiers.load_environment(task_ids=[SUBSCRIPTIONS], max_steps=10)
    task = next(iter(env.taskset))
    script = querygym.builtin_references()[str(SUBSCRIPTIONS)]
    # The model explores once (no reward), then replays the reference actions in prose.
    replies = [reply('Let me look first. Action: ["preview_table", "subscriptions"]')]
    replies += [reply(f"Next step.\nAction: {action}") for action in script]
    with ScriptedChatServer(replies, lifetime_s=300) as server:
        episode = rollout(env, task, server)
    assert server.remaining == 0
    (trace,) = episode.traces
    assert episode.ok and not trace.errors, trace.errors
    assert trace.rewards["querygym_reward"].score == 1.0 and trace.reward == 1.0
    assert trace.metrics == {"solved": 1.0, "steps": float(len(replies))}
    assert trace.info["querygym"]["relation"] == "equal" and trace.stop_condition == "solved"
    # The model saw the overview first, then each observation as the next user turn.
    first, last = server.requests[0]["body"]["messages"], server.requests[-1]["body"]["messages"]
    assert first[0] == {"role": "system", "content": querygym.catalog().render_prompt()}
    assert first[1]["role"] == "user" and first[1]["content"].startswith("Question: What is the total monthly")
    assert last[-1]["role"] == "user" and "subscriptions" in last[-1]["content"]


def test_a_wrong_answer_earns_nothing():
    env = querygym_verifiers.load_environment(task_ids=[SUBSCRIPTIONS], max_steps=2)
    task = next(iter(env.taskset))
    replies = [reply('Action: ["get_tables"]'), reply('Action: ["perform_projection", "regions", "regions.region_code"]')]
    with ScriptedChatServer(replies, lifetime_s=300) as server:
        episode = rollout(env, task, server)
    (trace,) = episode.traces
    assert trace.reward == 0.0 and trace.metrics["solved"] == 0.0 and trace.stop_condition == "truncated"
