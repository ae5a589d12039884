"""The action catalog: loading, validation, parsing agent text, rendering."""

import json
from importlib import resources

import pytest
import yaml

import querygym
from querygym.actions.catalog import load_catalog
from querygym.env.episode import Episode  # noqa: F401  (registers every handler)
from querygym.env.handlers import check_catalog
from querygym.errors import CatalogError, InvalidActionError

EXPLORATION = ["get_overview", "get_query", "get_schema", "get_tables", "get_columns", "get_actions",
               "get_operations", "preview_table", "get_column_stats", "get_unique_values", "get_column_types",
               "get_sample_values"]
WORKFLOW = ["search_docs", "read_doc", "execute_sql", "reflect_on_error", "submit_report"]
OPERATIONS = ["perform_projection", "perform_filter", "perform_join", "perform_order_by", "perform_limit",
              "perform_aggregate", "perform_union", "perform_intersect"]


def _yaml():
    return yaml.safe_load(resources.files("querygym.actions").joinpath("actions.yaml").read_text())


def test_catalog_has_the_papers_twenty_actions_in_their_groups():
    cat = querygym.catalog()
    assert [a.name for a in cat.group("exploration")] == EXPLORATION
    assert [a.name for a in cat.group("operation")] == OPERATIONS


def test_parameters_follow_the_paper():
    cat = querygym.catalog()
    assert [p.name for p in cat["perform_join"].params] == ["tables", "join_conditions", "join_types",
                                                            "projected_columns"]
    assert [p.required for p in cat["perform_aggregate"].params] == [True, True, True, False]
    assert [p.required for p in cat["perform_union"].params] == [True, True, True, False, False]
    assert cat["get_column_stats"].min_args == 2


def test_every_example_in_the_catalog_parses_to_its_own_action():
    cat = querygym.catalog()
    for spec in cat:
        for example in spec.examples:
            assert cat.parse(example).name == spec.name


@pytest.mark.parametrize("text", [
    'Action: ["perform_filter", "T_1", "T_1.year = 2021"]',
    '["perform_filter", "T_1", "T_1.year = 2021"]',
    '{"action": "perform_filter", "args": ["T_1", "T_1.year = 2021"]}',
    'I should keep 2021.\nAction: ["perform_filter", "T_1", "T_1.year = 2021"]\nThat will do.',
    "```json\n[\"perform_filter\", \"T_1\", \"T_1.year = 2021\"]\n```",
    "Action: ['perform_filter', 'T_1', 'T_1.year = 2021']",
])
def test_parse_accepts_every_documented_form(text):
    action = querygym.catalog().parse(text)
    assert action.name == "perform_filter"
    assert action["table_id"] == "T_1" and action["conditions"] == "T_1.year = 2021"
    assert action.get("projected_columns") is None


def test_the_last_action_marker_wins_in_prose():
    text = 'First Action: ["get_tables"] then, better, Action: ["get_schema"]'
    assert querygym.catalog().parse(text).name == "get_schema"


def test_list_parameters_and_lenient_two_table_join():
    cat = querygym.catalog()
    action = cat.parse('["perform_join", ["a AS x", "b"], "x.id = b.id", "INNER JOIN"]')
    assert action["tables"] == ("a AS x", "b")
    assert action["join_conditions"] == ("x.id = b.id",)
    assert action["join_types"] == ("INNER JOIN",)
    assert cat.parse('["perform_limit", "T_0", 5]')["limit"] == "5"


@pytest.mark.parametrize("text, fragment", [
    ("", "No action found"),
    ("hello there", "No action found"),
    ('["perfom_filter", "T_0", "x = 1"]', "Did you mean 'perform_filter'"),
    ('["get_columns"]', "get_columns takes 1 parameter"),
    ('["perform_filter", "T_0"]', "takes 2 to 3 parameter"),
    ('["get_tables", "x", "y"]', "takes 0 parameter"),
    ('[1, 2]', "No action found"),
    ('["perform_join", [["a"]], ["x"], ["INNER JOIN"]]', "must be a list of strings"),
    ('["perform_filter", {"a": 1}, "x"]', "must be a string"),
])
def test_malformed_text_raises_an_error_that_says_what_was_expected(text, fragment):
    with pytest.raises(InvalidActionError) as info:
        querygym.catalog().parse(text)
    assert fragment in str(info.value)
    assert info.value.expected


def test_unknown_keys_fail_loudly():
    data = _yaml()
    data["actions"]["get_tables"]["colour"] = "blue"
    with pytest.raises(CatalogError, match="unknown key.*colour"):
        load_catalog(yaml.safe_dump(data))


def test_unknown_parameter_type_fails():
    data = _yaml()
    data["actions"]["get_columns"]["params"][0]["type"] = "tabel"
    with pytest.raises(CatalogError, match="unknown type 'tabel'"):
        load_catalog(yaml.safe_dump(data))


def test_an_action_without_handler_fails_and_a_handler_without_action_fails():
    data = _yaml()
    data["actions"]["get_weather"] = {"group": "exploration", "description": "No such thing."}
    with pytest.raises(CatalogError, match="no handler for action.*get_weather"):
        check_catalog(load_catalog(yaml.safe_dump(data)))
    data = _yaml()
    del data["actions"]["get_tables"]
    with pytest.raises(CatalogError, match="get_tables have no entry"):
        check_catalog(load_catalog(yaml.safe_dump(data)))
    check_catalog(load_catalog(yaml.safe_dump(_yaml())))  # the packaged catalog and the code agree


def test_examples_must_be_json():
    data = _yaml()
    data["actions"]["get_columns"]["examples"] = ["[get_columns, T_0]"]
    with pytest.raises(CatalogError, match="not a JSON list"):
        load_catalog(yaml.safe_dump(data))


def test_help_is_rendered_from_the_yaml():
    data = _yaml()
    data["actions"]["get_tables"]["description"] = "List the tables, freshly worded."
    data["settings"]["preview_rows"] = 7
    cat = load_catalog(yaml.safe_dump(data))
    text = cat.render_help()
    assert "List the tables, freshly worded." in text
    assert "Preview the first 7 rows" in text
    assert 'Action: ["perform_limit", "<table_id>", "<limit>", "[projected_columns]"]' in text


def test_cli_actions_json_matches_the_catalog(capsys):
    from querygym.cli import main

    assert main(["actions", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in listed] == EXPLORATION + OPERATIONS + WORKFLOW


def test_agent_prompt_is_rendered_from_the_catalog():
    cat = querygym.catalog()
    prompt = cat.render_prompt()
    for spec in cat:
        assert spec.usage in prompt
        for example in spec.examples:
            assert example in prompt
