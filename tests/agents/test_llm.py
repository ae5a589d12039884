"""The LLM agent against a scripted OpenAI-compatible server: the real openai client, a real socket."""

import socket

import gymnasium
import pytest

pytest.importorskip("openai", reason="the llm extra is not installed: pip install 'querygym-ra[llm]'")

import querygym  # noqa: E402
from querygym.agents import get  # noqa: E402
from querygym.agents.llm import LLMAgent, ModelEndpointError  # noqa: E402
from querygym.actions.catalog import catalog  # noqa: E402
from querygym.errors import InvalidArgumentError, QueryGymError  # noqa: E402
from tests.openai_stub_server import ScriptedChatServer, error, reply, stall  # noqa: E402

TASKS = querygym.builtin_tasks()
KEY_ENV = "QUERYGYM_TEST_LLM_KEY"
SEGMENTS = 9  # "How many customers are there in each segment?"


@pytest.fixture(scope="module")
def env():
    e = gymnasium.make("querygym/QueryGym-v0", max_steps=12)
    yield e
    e.close()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-secret")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def agent_for(server, **kwargs):
    options = {"api_key_env": KEY_ENV, "backoff_s": 0.01, "max_backoff_s": 0.05, "timeout": 5.0}
    options.update(kwargs)
    return LLMAgent("test-model", base_url=server.base_url, **options)


def play(env, agent, task_id, steps=12):
    """Play like the runner does; returns the (action, reward, terminated, info) of every step."""
    agent.reset(TASKS[task_id])
    obs, info = env.reset(options={"task_id": task_id})
    out = []
    for _ in range(steps):
        action = agent.act(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((action, reward, terminated, info))
        if terminated or truncated:
            break
    return out


SOLVING_REPLIES = [
    reply("To count customers per segment I should first see which segments exist.\n"
          'Action: ["get_unique_values", "customers", "customers.segment"]'),
    # Malformed: the list is cut off. The environment answers with an error observation.
    reply('There are three segments and NULL. Action: ["perform_aggregate", "customers", "customers.segment"'),
    reply("<think>The last action was cut off; maybe [\"get_tables\"] first? No.</think>"
          "Sorry, here is the complete action:\n```json\n"
          '["perform_aggregate", "customers", "customers.segment", "customers.segment, COUNT(*) AS num_customers"]\n'
          "```"),
]


def test_the_agent_solves_a_task_from_replies_in_prose_and_recovers_from_a_malformed_one(env):
    with ScriptedChatServer(SOLVING_REPLIES) as server:
        steps = play(env, agent_for(server), SEGMENTS)
    actions = [a for a, *_ in steps]
    kinds = [info["kind"] for *_, info in steps]
    assert kinds == ["exploration", "error", "cte"]
    assert actions[0] == 'Action: ["get_unique_values", "customers", "customers.segment"]'
    assert actions[2].startswith('Action: ["perform_aggregate"') and "get_tables" not in actions[2]
    *_, (action, reward, terminated, info) = steps
    assert terminated and info["relation"] == "equal" and reward >= 1.0
    # The model saw the error observation of its malformed reply before it fixed it.
    last_request = server.requests[-1]["body"]["messages"]
    assert last_request[-1]["role"] == "user" and "Error" in last_request[-1]["content"]
    assert server.remaining == 0


def test_the_request_carries_the_catalog_prompt_the_overview_and_the_history(env):
    with ScriptedChatServer(SOLVING_REPLIES) as server:
        agent = agent_for(server, temperature=0.3, max_tokens=200, seed=7)
        steps = play(env, agent, SEGMENTS)
    first, last = (r["body"] for r in (server.requests[0], server.requests[-1]))
    assert first["model"] == "test-model" and first["temperature"] == 0.3 and first["max_tokens"] == 200
    assert first["seed"] == 7
    overview, _ = env.reset(options={"task_id": SEGMENTS})
    assert first["messages"] == [{"role": "system", "content": catalog().render_prompt()},
                                 {"role": "user", "content": overview}]
    roles = [m["role"] for m in last["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    # The history holds the model's own replies (thinking removed) and each observation.
    assert last["messages"][2]["content"] == SOLVING_REPLIES[0].content
    assert "'Enterprise', 'Mid-Market', 'SMB'" in last["messages"][3]["content"]
    assert last["messages"][4]["content"] == SOLVING_REPLIES[1].content
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-test-not-a-secret"
    assert len(steps) == 3


def test_a_custom_system_prompt_replaces_the_catalog_prompt(env):
    with ScriptedChatServer([reply('Action: ["get_tables"]')]) as server:
        play(env, agent_for(server, system_prompt="Be brief."), SEGMENTS, steps=1)
    assert server.requests[0]["body"]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_the_context_budget_drops_old_turns_but_keeps_the_system_prompt_and_overview(env):
    script = [reply(f'Step {i}. Action: ["preview_table", "{t}"]')
              for i, t in enumerate(["customers", "employees", "orders", "products", "payments"])]
    script += [reply('Action: ["perform_projection", "regions", "regions.region_code"]'),
               reply('Action: ["get_tables"]')]
    system = catalog().render_prompt()
    overview, _ = env.reset(options={"task_id": SEGMENTS})
    with ScriptedChatServer(script) as server:  # without a budget every turn is sent whole
        play(env, agent_for(server, context_budget_chars=None), SEGMENTS, steps=len(script))
    whole = server.requests[-1]["body"]["messages"]
    assert len(whole) == 2 + 2 * (len(script) - 1)
    # Room for the newest turn and a few hundred characters more.
    budget = len(system) + len(overview) + len(whole[-2]["content"]) + len(whole[-1]["content"]) + 400
    with ScriptedChatServer(script) as server:
        play(env, agent_for(server, context_budget_chars=budget), SEGMENTS, steps=len(script))
    requests = [r["body"]["messages"] for r in server.requests]
    for messages in requests:
        assert messages[0] == {"role": "system", "content": system}
        assert messages[1]["role"] == "user" and messages[1]["content"].startswith(overview)
        assert sum(len(m["content"]) for m in messages) <= budget
        assert [m["role"] for m in messages[2:]] == ["assistant", "user"] * ((len(messages) - 2) // 2)
    last = requests[-1]
    # The newest observation is whole; the oldest steps are gone, and the note says which.
    assert last[-1] == whole[-1] and "Created T_0 with perform_projection." in last[-1]["content"]
    assert 4 <= len(last) < len(whole)
    dropped = (len(whole) - len(last)) // 2
    assert last[1]["content"].endswith(f"[Steps 1-{dropped} are omitted to fit the context budget.]")
    assert not any("Step 0." in m["content"] for m in last)


def test_older_turns_are_summarised_before_they_are_dropped(env):
    script = [reply('Action: ["perform_projection", "customers", "customers.name, customers.email"]'),
              reply('Action: ["perform_projection", "orders", "orders.order_id, orders.status"]'),
              reply('Action: ["get_tables"]')]
    with ScriptedChatServer(script) as server:  # unbudgeted, to measure the turns
        play(env, agent_for(server, context_budget_chars=None), SEGMENTS, steps=3)
    whole = server.requests[-1]["body"]["messages"]
    # Room for the newest turn whole and a few hundred characters: the older turn must be summarised.
    budget = sum(len(m["content"]) for m in whole) - len(whole[2]["content"]) - len(whole[3]["content"]) + 400
    with ScriptedChatServer(script) as server:
        play(env, agent_for(server, context_budget_chars=budget), SEGMENTS, steps=3)
    last = server.requests[-1]["body"]["messages"]
    assert len(last) == len(whole) and sum(len(m["content"]) for m in last) <= budget
    summary = last[3]["content"]
    assert summary.startswith("Observation:\nCreated T_0 with perform_projection.\nColumns: name (TEXT), email (TEXT)")
    assert "rest of this observation omitted" in summary and "| " not in summary
    assert last[2]["content"] == 'Action: ["perform_projection", "customers", "customers.name, customers.email"]'
    assert "Created T_1" in last[5]["content"] and "Rows: 1500" in last[5]["content"]


def test_a_token_budget_leaves_room_for_the_reply_and_learns_the_ratio_from_usage(env):
    # The server reports 1 token per 2 characters; the agent then packs at most 2 characters per token.
    with ScriptedChatServer([reply('Action: ["get_tables"]'), reply('Action: ["get_tables"]')]) as server:
        agent = agent_for(server, context_budget_chars=None, context_budget_tokens=20_000, max_tokens=500)
        agent.reset(TASKS[SEGMENTS])
        overview, info = env.reset(options={"task_id": SEGMENTS})
        agent.act(overview, info)
        sent = sum(len(m["content"]) for m in server.requests[0]["body"]["messages"])
        assert agent.chars_per_token == pytest.approx(sent / (sent // 4), rel=0.01)  # the stub's 4 chars/token
    assert agent.budget_chars() == int((20_000 - 500) * agent.chars_per_token)
    with pytest.raises(InvalidArgumentError, match="must exceed max_tokens"):
        LLMAgent("m", base_url="http://127.0.0.1:1/v1", context_budget_tokens=400, max_tokens=512)


def test_a_server_error_is_retried_and_counted(env):
    with ScriptedChatServer([error(500, "overloaded"), reply('Action: ["get_tables"]')]) as server:
        agent = agent_for(server)
        steps = play(env, agent, SEGMENTS, steps=1)
    assert steps[0][0] == 'Action: ["get_tables"]' and steps[0][3]["kind"] == "exploration"
    assert len(server.requests) == 2
    assert agent.step_usage["requests"] == 2 and agent.step_usage["retries"] == 1
    assert agent.usage["retries"] == 1 and len(agent.retry_delays) == 1
    assert 0 < agent.retry_delays[0] <= 0.05  # backoff_s with jitter, below the cap


def test_a_rate_limit_honours_retry_after(env):
    script = [error(429, "slow down", headers={"Retry-After": "1"}), reply('Action: ["get_tables"]')]
    with ScriptedChatServer(script) as server:
        agent = agent_for(server)
        play(env, agent, SEGMENTS, steps=1)
    assert agent.retry_delays == [1.0]  # the server's wait, not the agent's much shorter backoff
    first, second = server.requests
    assert second["t"] - first["t"] >= 1.0
    assert agent.usage["retries"] == 1


def test_a_timeout_is_retried(env):
    with ScriptedChatServer([stall(2.0), reply('Action: ["get_tables"]')]) as server:
        agent = agent_for(server, timeout=0.3)
        steps = play(env, agent, SEGMENTS, steps=1)
    assert steps[0][0] == 'Action: ["get_tables"]'
    assert agent.usage["requests"] == 2 and agent.usage["retries"] == 1


def test_persistent_failure_raises_a_typed_error_after_max_retries(env):
    with ScriptedChatServer([error(503, "down for maintenance")] * 4) as server:
        agent = agent_for(server, max_retries=3)
        agent.reset(TASKS[SEGMENTS])
        overview, info = env.reset(options={"task_id": SEGMENTS})
        with pytest.raises(ModelEndpointError, match=r"failed 4 time\(s\).*HTTP 503: down for maintenance") as exc:
            agent.act(overview, info)
    assert isinstance(exc.value, QueryGymError) and isinstance(exc.value, ConnectionError)
    assert exc.value.status == 503 and exc.value.attempts == 4
    assert len(server.requests) == 4 and agent.usage["retries"] == 3 and agent.usage["requests"] == 4


def test_an_unreachable_server_raises_after_max_retries():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agent = LLMAgent("m", base_url=f"http://127.0.0.1:{port}/v1", api_key_env=KEY_ENV, max_retries=2,
                     backoff_s=0.01, max_backoff_s=0.02, timeout=2.0)
    agent.reset(TASKS[SEGMENTS])
    with pytest.raises(ModelEndpointError, match="APIConnectionError") as exc:
        agent.act("overview", {"kind": "overview"})
    assert exc.value.status is None and agent.usage["requests"] == 3


def test_a_refused_request_is_not_retried(env):
    with ScriptedChatServer([error(401, "invalid api key"), reply("unused")]) as server:
        agent = agent_for(server)
        agent.reset(TASKS[SEGMENTS])
        with pytest.raises(ModelEndpointError, match="refused the request with HTTP 401: invalid api key"):
            agent.act("overview", {"kind": "overview"})
    assert len(server.requests) == 1 and agent.usage["retries"] == 0


def test_token_usage_sums_over_steps_and_is_recorded_per_step(env):
    script = [reply('Action: ["get_tables"]', prompt_tokens=1000, completion_tokens=7),
              error(502),
              reply('Action: ["get_columns", "customers"]', prompt_tokens=1100, completion_tokens=9),
              reply('Action: ["get_query"]', prompt_tokens=1250, completion_tokens=5)]
    per_step = []
    with ScriptedChatServer(script) as server:
        agent = agent_for(server)
        agent.reset(TASKS[SEGMENTS])
        obs, info = env.reset(options={"task_id": SEGMENTS})
        for _ in range(3):
            before = dict(agent.usage)
            obs, *_, info = env.step(agent.act(obs, info))
            per_step.append({k: agent.usage[k] - before[k] for k in agent.usage})
            assert per_step[-1] == agent.step_usage
    assert agent.usage == {"requests": 4, "retries": 1, "prompt_tokens": 3350, "completion_tokens": 21,
                           "total_tokens": 3371}
    assert per_step[1] == {"requests": 2, "retries": 1, "prompt_tokens": 1100, "completion_tokens": 9,
                           "total_tokens": 1109}
    assert sum(u["total_tokens"] for u in server.sent_usage) == agent.usage["total_tokens"]


def test_spec_rebuilds_the_agent_without_the_key(env, monkeypatch):
    with ScriptedChatServer([reply('Action: ["get_tables"]')]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        agent = LLMAgent("test-model", api_key_env=KEY_ENV, max_tokens=64, context_budget_chars=10_000)
        spec = agent.spec()
        assert spec["base_url"] == server.base_url and spec["api_key_env"] == KEY_ENV
        assert "sk-test-not-a-secret" not in repr(spec)
        rebuilt = get(**spec)
        assert isinstance(rebuilt, LLMAgent) and rebuilt.spec() == spec
        steps = play(env, rebuilt, SEGMENTS, steps=1)
    assert steps[0][3]["kind"] == "exploration"
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-test-not-a-secret"


def test_a_missing_key_is_named_and_local_servers_need_none(monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    agent = LLMAgent("m", api_key_env=KEY_ENV)
    with pytest.raises(InvalidArgumentError, match=f"\\${KEY_ENV}, which is not set"):
        agent.client()
    with ScriptedChatServer([reply('Action: ["get_tables"]')]) as server:
        local = LLMAgent("m", base_url=server.base_url, api_key_env=KEY_ENV)
        local.reset(TASKS[SEGMENTS])
        assert local.act("overview", {"kind": "overview"}) == 'Action: ["get_tables"]'
    assert server.requests[0]["headers"]["authorization"] == "Bearer EMPTY"
