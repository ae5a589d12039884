"""The verifiers environment: loaded the way verifiers loads environments, real rollouts through
verifiers' own harness, interception server and client against the scripted OpenAI-compatible server,
with the model acting through tool calls (the default) or in text."""

import asyncio
import json

import pytest

pytest.importorskip("verifiers.v1", reason="the verifiers extra is not installed: pip install 'querygym-ra[verifiers]'")

import verifiers.v1 as vf  # noqa: E402
from verifiers.v1.clients import EvalClientConfig, ModelContext  # noqa: E402
from verifiers.v1.env import RunSlot  # noqa: E402

import querygym  # noqa: E402
import querygym_verifiers  # noqa: E402
from querygym.agents.langchain import tool_prompt  # noqa: E402
from tests.openai_stub_server import ScriptedChatServer, reply, tool_call  # noqa: E402

KEY_ENV = "QUERYGYM_TEST_LLM_KEY"
SUBSCRIPTIONS = 3  # "What is the total monthly amount of all active subscriptions?"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-secret")


def rollout(env, task, server):
    return rollouts(env, [task], server)[0]


def rollouts(env, tasks, server):
    """The episodes of ``tasks``, played at once."""
    async def run():
        ctx = ModelContext(model="test-model", client=EvalClientConfig(base_url=server.base_url, api_key_var=KEY_ENV))
        async with env.serving():
            return await asyncio.gather(*(env.run_slot(RunSlot(task=task), ctx) for task in tasks))

    return asyncio.run(run())


def solved_rollout(env, task, replies):
    """One rollout that plays every scripted reply and solves the task; the server and its trace."""
    with ScriptedChatServer(replies, lifetime_s=300) as server:
        episode = rollout(env, task, server)
    assert server.remaining == 0
    (trace,) = episode.traces
    assert episode.ok and not trace.errors, trace.errors
    assert trace.rewards["querygym_reward"].score == 1.0 and trace.reward == 1.0
    assert trace.metrics == {"solved": 1.0, "steps": float(len(replies))}
    assert trace.info["querygym"]["relation"] == "equal" and trace.stop_condition == "solved"
    return server, trace


def call(action: str) -> dict:
    """An action string of the built-in references as the tool call a model would make: keyword arguments."""
    name, *values = json.loads(action)
    params = querygym.catalog()[name].params
    return tool_call(name, {p.name: v for p, v in zip(params, values)})


def tool_results(server) -> list[dict]:
    """The tool messages the model was sent, in order (each request carries the conversation so far)."""
    return [m for m in server.requests[-1]["body"]["messages"] if m["role"] == "tool"]


def test_verifiers_loads_the_environment_by_its_taskset_id():
    config = querygym_verifiers.QueryGymEnvConfig.model_validate(
        {"taskset": {"id": "querygym_verifiers", "task_ids": [0, SUBSCRIPTIONS]}})
    env = vf.load_environment(config)
    assert isinstance(env, querygym_verifiers.QueryGymVerifiersEnv)
    tasks = list(env.taskset)
    assert [t.data.task_id for t in tasks] == [0, SUBSCRIPTIONS]
    assert tasks[1].data.question == querygym.builtin_tasks()[SUBSCRIPTIONS].question
    # The model acts through tools by default; in text, the prompt teaches the catalog's syntax.
    assert tasks[0].data.system_prompt == tool_prompt()
    text = querygym_verifiers.load_environment(task_ids=[0], action_format="text")
    assert next(iter(text.taskset)).data.system_prompt == querygym.catalog().render_prompt()
    with pytest.raises(ValueError, match="action_format"):
        querygym_verifiers.load_environment(action_format="json")
    # every playable task by default
    assert len(list(querygym_verifiers.load_environment().taskset)) == len(querygym.builtin_tasks().playable())


def test_a_text_rollout_of_the_reference_actions_earns_querygyms_reward():
    env = querygym_verifiers.load_environment(task_ids=[SUBSCRIPTIONS], max_steps=10, action_format="text")
    task = next(iter(env.taskset))
    script = querygym.builtin_references()[str(SUBSCRIPTIONS)]
    # The model explores once (no reward), then replays the reference actions in prose.
    replies = [reply('Let me look first. Action: ["preview_table", "subscriptions"]')]
    replies += [reply(f"Next step.\nAction: {action}") for action in script]
    server, trace = solved_rollout(env, task, replies)
    # The model saw the overview first, then each observation as the next user turn.
    first, last = server.requests[0]["body"]["messages"], server.requests[-1]["body"]["messages"]
    assert first[0] == {"role": "system", "content": querygym.catalog().render_prompt()}
    assert first[1]["role"] == "user" and first[1]["content"].startswith("Question: What is the total monthly")
    assert last[-1]["role"] == "user" and "subscriptions" in last[-1]["content"]
    assert "tools" not in first


def test_tool_calls_replaying_the_reference_actions_earn_querygyms_reward():
    env = querygym_verifiers.load_environment(task_ids=[SUBSCRIPTIONS], max_steps=10)
    task = next(iter(env.taskset))
    script = querygym.builtin_references()[str(SUBSCRIPTIONS)]
    replies = [reply("Let me look first.", tool_calls=[tool_call("preview_table", {"table_id": "subscriptions"})])]
    replies += [reply(None, tool_calls=[call(action)]) for action in script]
    server, trace = solved_rollout(env, task, replies)
    assert trace.info["querygym"]["action"] == json.loads(script[-1])
    # The episode ended with the answer: no model call after the last tool call.
    assert len(server.requests) == len(replies)
    first = server.requests[0]["body"]["messages"]
    assert first[0] == {"role": "system", "content": tool_prompt()}
    assert first[1]["role"] == "user" and first[1]["content"].startswith("Question: What is the total monthly")
    # Each tool result is the observation of the call it answers.
    results = tool_results(server)
    calls = [r.tool_calls[0] for r in replies[:-1]]
    assert [m["tool_call_id"] for m in results] == [c["id"] for c in calls]
    assert results[0]["content"].startswith("First 5 row(s) of subscriptions")
    assert "'A'" in results[1]["content"] and results[2]["content"].startswith("Created T_0 with perform_filter")


def test_a_bad_tool_call_is_an_error_observation_and_the_episode_goes_on():
    env = querygym_verifiers.load_environment(task_ids=[SUBSCRIPTIONS], max_steps=4)
    task = next(iter(env.taskset))
    replies = [
        reply(None, tool_calls=[tool_call("preview_table", {"table": "subscriptions"})]),      # unknown parameter
        reply(None, tool_calls=[tool_call("perform_limit", {"table_id": "subscriptions", "limit": {"n": 3}})]),
        reply(None, tool_calls=[tool_call("perform_filter", {"table_id": "subscriptions"})]),  # missing parameter
        reply(None, tool_calls=[tool_call("get_tables", {})]),
    ]
    with ScriptedChatServer(replies, lifetime_s=300) as server:
        episode = rollout(env, task, server)
    (trace,) = episode.traces
    assert episode.ok and not trace.errors, trace.errors
    assert server.remaining == 0 and len(server.requests) == 4
    unknown, mistyped, missing = (m["content"] for m in tool_results(server))
    assert unknown.startswith("Error: preview_table has no parameter(s) 'table'; its parameters: table_id")
    assert mistyped.startswith("Error: Parameter limit of perform_limit must be a string")
    assert missing.startswith("Error: perform_filter needs the parameter(s) conditions")
    # Each mistake cost a step, as in text; the fourth step ran out the episode's steps.
    assert trace.metrics == {"solved": 0.0, "steps": 4.0} and trace.stop_condition == "truncated"
    assert trace.info["querygym"]["kind"] == "exploration" and trace.reward == 0.0


def test_the_tools_offered_are_exactly_the_catalogs_actions():
    env = querygym_verifiers.load_environment(task_ids=[SUBSCRIPTIONS], max_steps=1)
    task = next(iter(env.taskset))
    with ScriptedChatServer([reply(None, tool_calls=[tool_call("get_tables", {})])], lifetime_s=300) as server:
        rollout(env, task, server)
    cat = querygym.catalog()
    offered = server.requests[0]["body"]["tools"]
    assert [t["function"]["name"] for t in offered] == list(cat.names)
    assert offered == [{"type": "function", "function": {"name": spec.name, "description": cat.describe(spec),
                                                         "parameters": spec.json_schema()}} for spec in cat]
    join = next(t["function"]["parameters"] for t in offered if t["function"]["name"] == "perform_join")
    assert join["properties"]["tables"]["type"] == "array" and join["required"] == ["tables", "join_conditions",
                                                                                     "join_types"]


def test_concurrent_episodes_each_step_their_own_querygym_environment():
    env = querygym_verifiers.load_environment(task_ids=[0, SUBSCRIPTIONS], max_steps=2)
    tasks = list(env.taskset)
    assert tasks[0].data.question != tasks[1].data.question
    script = [reply(None, tool_calls=[tool_call("get_query", {})]) for _ in range(2 * len(tasks))]
    with ScriptedChatServer(script, lifetime_s=300) as server:
        episodes = rollouts(env, tasks, server)
    assert server.remaining == 0
    # Each episode's second request carries the result of its first call: its own question.
    answered = [r["body"]["messages"] for r in server.requests if r["body"]["messages"][-1]["role"] == "tool"]
    assert len(answered) == len(tasks)
    for messages in answered:
        (task,) = [t for t in tasks if messages[1]["content"].startswith(f"Question: {t.data.question}")]
        assert task.data.question in messages[-1]["content"]
    assert sorted(e.traces[0].info["querygym"]["task_id"] for e in episodes) == [0, SUBSCRIPTIONS]
    assert [e.traces[0].metrics["steps"] for e in episodes] == [2.0, 2.0]


def test_the_scripted_server_sends_tool_calls_streamed_and_not():
    from openai import OpenAI

    calls = [tool_call("perform_filter", {"table_id": "T_0", "conditions": "T_0.x = 1"}), tool_call("get_tables", {})]
    with ScriptedChatServer([reply("thinking", tool_calls=calls)] * 2, lifetime_s=60) as server:
        client = OpenAI(base_url=server.base_url, api_key="sk-test-not-a-secret")
        plain = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
        chunks = list(stream)
    message = plain.choices[0].message
    assert plain.choices[0].finish_reason == "tool_calls" and message.content == "thinking"
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls]
    streamed: dict[int, dict] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = streamed.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = delta.id or entry["id"]
            entry["name"] = delta.function.name or entry["name"]
            entry["arguments"] += delta.function.arguments or ""
    assert [(e["id"], e["name"], json.loads(e["arguments"])) for e in streamed.values()] == [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_wrong_answer_earns_nothing_and_a_reply_without_tool_calls_is_stepped_as_text():
    env = querygym_verifiers.load_environment(task_ids=[SUBSCRIPTIONS], max_steps=2)
    task = next(iter(env.taskset))
    replies = [reply('Action: ["get_tables"]'), reply('Action: ["perform_projection", "regions", "regions.region_code"]')]
    with ScriptedChatServer(replies, lifetime_s=300) as server:
        episode = rollout(env, task, server)
    (trace,) = episode.traces
    assert trace.reward == 0.0 and trace.metrics["solved"] == 0.0 and trace.stop_condition == "truncated"
    assert trace.metrics["steps"] == 2.0 and trace.info["querygym"]["action"][0] == "perform_projection"
    # Offered tools, the model wrote its first action in text: its observation came back as a user turn.
    second = server.requests[1]["body"]["messages"]
    assert second[-1]["role"] == "user" and "subscriptions" in second[-1]["content"]
