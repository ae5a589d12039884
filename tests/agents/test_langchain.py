"""The LangChain adapter: catalog actions as tools bound to the environment, played by LangChain's fake chat model."""

import json

import gymnasium
import pytest

pytest.importorskip("langchain_core", reason="the langchain extra is not installed: pip install 'querygym-ra[langchain]'")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage  # noqa: E402
from langchain_core.utils.function_calling import convert_to_openai_tool  # noqa: E402
from querygym.agents.langchain import EnvTools, play_with_tools, tool_prompt  # noqa: E402
from querygym.actions.catalog import catalog  # noqa: E402

SEGMENTS = 9  # "How many customers are there in each segment?"


@pytest.fixture(scope="module")
def env():
    e = gymnasium.make("querygym/QueryGym-v0", max_steps=12)
    yield e
    e.close()


def call(name, args, n):
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{n}"}])


def test_one_tool_per_action_with_the_catalogs_description_and_parameters(env):
    tools = EnvTools(env)
    cat = catalog()
    assert [t.name for t in tools.tools] == list(cat.names)
    for tool in tools.tools:
        spec = cat[tool.name]
        assert tool.description == cat.describe(spec)
        schema = convert_to_openai_tool(tool)["function"]["parameters"]
        assert list(schema.get("properties", {})) == [p.name for p in spec.params]
        assert set(schema.get("required", [])) == {p.name for p in spec.params if p.required}
        for p in spec.params:
            prop = schema["properties"][p.name]
            assert prop["description"] == p.description
            if p.type in ("table_list", "condition_list", "join_type_list"):
                assert prop["type"] == "array" and prop["items"] == {"type": "string"}
    join = convert_to_openai_tool(tools.by_name["perform_join"])["function"]["parameters"]
    assert join["required"] == ["tables", "join_conditions", "join_types"]


def test_calling_a_tool_steps_the_environment_and_returns_the_observation(env):
    tools = EnvTools(env)
    overview = tools.reset(task_id=SEGMENTS)
    assert "How many customers are there in each segment?" in overview
    message = tools.by_name["perform_join"].invoke({
        "type": "tool_call", "id": "c1", "name": "perform_join",
        "args": {"tables": ["customers AS c", "regions AS r"], "join_conditions": ["c.region_id = r.region_id"],
                 "join_types": ["INNER JOIN"], "projected_columns": "c.segment, r.region_code"}})
    assert isinstance(message, ToolMessage) and message.tool_call_id == "c1"
    assert message.content.startswith("Created T_0 with perform_join.")
    assert message.artifact["info"]["cte_id"] == "T_0" and message.artifact["terminated"] is False
    assert json.loads(tools.trajectory[0]["action"].removeprefix("Action: "))[0] == "perform_join"
    # A plain invoke with arguments returns the observation text; optional parameters may be left out.
    text = tools.by_name["perform_filter"].invoke({"table_id": "T_0", "conditions": "T_0.segment IS NULL"})
    assert text.startswith("Created T_1 with perform_filter.")
    assert env.unwrapped.episode.plan.node("T_1") is not None


def test_arguments_outside_the_schema_are_answered_with_the_usage_and_take_no_step(env):
    tools = EnvTools(env)
    tools.reset(task_id=SEGMENTS)
    message = tools.by_name["get_columns"].invoke(
        {"type": "tool_call", "id": "c1", "name": "get_columns", "args": {"table": "customers"}})
    assert message.status == "error" and "Usage: Action: [\"get_columns\", \"<table_id>\"]" in message.content
    assert "table_id" in message.content and tools.trajectory == []


def test_a_fake_chat_model_plays_a_task_to_termination(env):
    model = GenericFakeChatModel(messages=iter([
        call("get_unique_values", {"table_id": "customers", "column_id": "customers.segment"}, 1),
        call("get_colums", {"table_id": "customers"}, 2),  # a tool that does not exist
        call("perform_aggregate", {"table_id": "customers", "group_by": "customers.segment"}, 3),  # too few
        call("perform_aggregate", {"table_id": "customers", "group_by": "customers.segment",
                                   "projected_columns": "customers.segment, COUNT(*) AS num_customers"}, 4),
        AIMessage(content="never asked for: the episode ended"),
    ]))
    result = play_with_tools(model, env, task_id=SEGMENTS, max_turns=10)
    assert result.terminated and not result.truncated and result.reward >= 1.0
    assert result.turns == 4 and result.steps == 2
    assert [t["kind"] for t in result.trajectory] == ["exploration", "cte"]
    tool_messages = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in tool_messages] == ["call_1", "call_2", "call_3", "call_4"]
    assert "'Enterprise', 'Mid-Market', 'SMB'" in tool_messages[0].content
    assert tool_messages[1].status == "error" and "Unknown tool 'get_colums'" in tool_messages[1].content
    assert tool_messages[2].status == "error" and "projected_columns" in tool_messages[2].content
    assert tool_messages[3].artifact["terminated"] and tool_messages[3].artifact["info"]["relation"] == "equal"
    # GenericFakeChatModel cannot bind tools, so it was given the catalog prompt to play in text.
    assert result.messages[0].content == catalog().render_prompt()
    assert isinstance(result.messages[1], HumanMessage) and "each segment" in result.messages[1].content


def test_a_reply_without_tool_calls_is_played_as_action_text(env):
    model = GenericFakeChatModel(messages=iter([
        AIMessage(content='I will list the tables first. Action: ["get_tables"]'),
        AIMessage(content="I am not sure."),
        call("perform_aggregate", {"table_id": "customers", "group_by": "customers.segment",
                                   "projected_columns": "customers.segment, COUNT(*) AS num_customers"}, 1),
    ]))
    result = play_with_tools(model, env, task_id=SEGMENTS, max_turns=3)
    assert [t["kind"] for t in result.trajectory] == ["exploration", "error", "cte"] and result.terminated
    assert result.messages[3].content.startswith("Tables: customers")
    assert "No action found" in result.messages[5].content


def test_max_turns_bounds_an_episode(env):
    model = GenericFakeChatModel(messages=iter([call("get_tables", {}, n) for n in range(5)]))
    result = play_with_tools(model, env, task_id=SEGMENTS, max_turns=3)
    assert result.turns == 3 and result.steps == 3 and not result.terminated and not result.truncated


def test_the_tool_prompt_names_every_group():
    prompt = tool_prompt()
    assert all(g.title in prompt for g in catalog().groups.values())


class ToolBindingFake(GenericFakeChatModel):
    """LangChain's generic fake model, plus the tool binding real chat models have."""

    bound: list = []

    def bind_tools(self, tools, **kwargs):
        self.bound.extend(tools)
        return self


def test_a_model_that_binds_tools_gets_the_tools_and_the_tool_prompt(env):
    model = ToolBindingFake(messages=iter([
        call("perform_aggregate", {"table_id": "customers", "group_by": "customers.segment",
                                   "projected_columns": "customers.segment, COUNT(*) AS num_customers"}, 1)]))
    result = play_with_tools(model, env, task_id=SEGMENTS)
    assert [t.name for t in model.bound] == list(catalog().names)
    assert result.messages[0].content == tool_prompt() and result.terminated
