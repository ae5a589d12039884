"""The twelve exploration actions on real Spider databases.

Every expectation is computed from the database file with :mod:`sqlite3` directly, so a test
fails when an observation shows something that is not in the data.  Agent mistakes (unknown
tables and columns) must come back as error observations naming the closest match.
"""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
from contextlib import closing
from fractions import Fraction
from pathlib import Path

import gymnasium
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import querygym
from querygym.env import exploration

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SPIDER = DATA / "spider_dev"

pytestmark = pytest.mark.skipif(not (SPIDER / "dev_bird_format_19db.json").is_file(),
                                reason=f"Spider dev data not found under {SPIDER}")

EXPLORATION = ("get_overview", "get_query", "get_schema", "get_tables", "get_columns", "get_actions",
               "get_operations", "preview_table", "get_column_stats", "get_unique_values", "get_column_types",
               "get_sample_values")
OPERATIONS = ("perform_projection", "perform_filter", "perform_join", "perform_order_by", "perform_limit",
              "perform_aggregate", "perform_union", "perform_intersect")


def act(*params) -> str:
    return "Action: " + json.dumps(list(params))


def database(db_id: str) -> Path:
    return SPIDER / "database" / db_id / f"{db_id}.sqlite"


def query(db_id: str, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(f"file:{database(db_id)}?mode=ro", uri=True)) as con:
        return con.execute(sql).fetchall()


def user_tables(db_id: str) -> list[str]:
    return [r[0] for r in query(db_id, "SELECT name FROM sqlite_master WHERE type = 'table' "
                                       "AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def table_info(db_id: str, table: str) -> list[tuple[str, str]]:
    """(name, declared type) of every column."""
    return [(r[1], r[2]) for r in query(db_id, f'PRAGMA table_info("{table}")')]


def shown_type(declared: str) -> str:
    """A declared type as the schema shows it (SQLAlchemy's name for it: ``int`` is INTEGER)."""
    return {"INT": "INTEGER", "BOOL": "BOOLEAN"}.get(declared.upper(), declared.upper())


def quoted_list(values) -> str:
    """Values as the observations list them: strings quoted, numbers bare."""
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)


def table_rows(obs: str) -> list[list[str]]:
    """The body rows of the first text table in an observation (header and rule skipped)."""
    lines = obs.splitlines()
    rule = next(i for i, line in enumerate(lines) if re.fullmatch(r"-+(-\+-+)*", line))
    body = []
    for line in lines[rule + 1:]:
        if "|" not in line and body:
            break
        body.append([cell.strip() for cell in line.split(" | ")])
    return body


def stats_lines(obs: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in obs.splitlines()[1:] if ": " in line)


@pytest.fixture(scope="module")
def spider_tasks() -> querygym.TaskSet:
    return querygym.load_bird(SPIDER / "dev_bird_format_19db.json", SPIDER / "database",
                              tables=SPIDER / "tables_19db.json")


class Player:
    """An environment on one task, with a step that also checks exploration leaves no trace."""

    def __init__(self, tasks: querygym.TaskSet, db_id: str, seed: int = 0):
        self.task = next(t for t in tasks if t.db_id == db_id)
        self.env = gymnasium.make("querygym/QueryGym-v0", tasks=tasks, max_steps=200)
        self.first_obs, self.info = self.env.reset(seed=seed, options={"task_id": self.task.id})

    @property
    def plan_ids(self) -> tuple[str, ...]:
        return tuple(self.env.unwrapped.episode.plan.ids)

    def step(self, *params, kind: str = "exploration") -> str:
        before = self.plan_ids
        obs, reward, terminated, truncated, info = self.env.step(act(*params))
        assert isinstance(obs, str)
        assert info["kind"] == kind, f"{params}: expected a {kind} observation, got {info['kind']}:\n{obs}"
        if kind != "cte":
            assert self.plan_ids == before, f"{params} changed the plan"
            assert not terminated
            assert info["cte_id"] is None
        if kind == "exploration":
            assert reward == 0.0
            assert info["error"] == {}
        if kind == "error":
            assert obs.startswith("Error") and params[0] in obs.splitlines()[0], obs
            assert info["error"]["message"] in obs
        return obs


@pytest.fixture()
def concert(spider_tasks):
    player = Player(spider_tasks, "concert_singer")
    yield player
    player.env.close()


@pytest.fixture()
def world(spider_tasks):
    player = Player(spider_tasks, "world_1")
    yield player
    player.env.close()


@pytest.fixture()
def templates(spider_tasks):
    player = Player(spider_tasks, "cre_Doc_Template_Mgt")
    yield player
    player.env.close()


def test_the_exploration_group_is_the_twelve_actions():
    assert {a.name for a in querygym.catalog().group("exploration")} == set(EXPLORATION)


# ---------------------------------------------------------------------- question and schema
def test_get_overview_shows_question_and_every_table_and_column(concert):
    obs = concert.step("get_overview")
    assert obs == concert.first_obs
    assert concert.task.question in obs
    for table in user_tables("concert_singer"):
        assert re.search(rf"^{table} \(", obs, re.M), table
        for column, _ in table_info("concert_singer", table):
            assert re.search(rf"^  {column} ", obs, re.M), (table, column)


def test_get_query_is_the_question(world):
    obs = world.step("get_query")
    assert obs.strip() == f"Question: {world.task.question}"


def test_get_schema_shows_types_keys_and_intermediate_tables(concert):
    obs = concert.step("get_schema")
    for table in user_tables("concert_singer"):
        for column, declared in table_info("concert_singer", table):
            assert re.search(rf"^  {column} {re.escape(shown_type(declared))}\b", obs, re.M), (table, column, declared)
    for table in user_tables("concert_singer"):
        for fk in query("concert_singer", f'PRAGMA foreign_key_list("{table}")'):
            assert f"FOREIGN KEY ({fk[3]}) REFERENCES {fk[2]}({fk[4]})" in obs
    assert "Singer_ID INTEGER PRIMARY KEY" in obs
    assert "PRIMARY KEY (concert_ID, Singer_ID)" in obs  # singer_in_concert's composite key
    assert "Intermediate tables" not in obs
    concert.step("perform_filter", "singer", "singer.Age > 40", "singer.Name, singer.Age", kind="cte")
    obs = concert.step("get_schema")
    assert re.search(r"^T_0 \(Name TEXT, Age INTEGER\) made by perform_filter$", obs, re.M), obs


def test_get_tables_lists_the_real_tables_and_hides_internal_ones(world):
    obs = world.step("get_tables")
    expected = user_tables("world_1")
    assert query("world_1", "SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'")  # really there
    listed = obs.splitlines()[0].removeprefix("Tables: ").split(", ")
    assert sorted(listed) == expected
    assert "sqlite_sequence" not in obs
    world.step("perform_projection", "city", "city.Name", kind="cte")
    world.step("perform_projection", "T_0", "DISTINCT T_0.Name", kind="cte")
    obs = world.step("get_tables")
    assert obs.splitlines()[1] == "Intermediate tables: T_0, T_1"


def test_get_tables_keeps_mixed_case_names(templates):
    obs = templates.step("get_tables")
    assert sorted(obs.removeprefix("Tables: ").split(", ")) == user_tables("cre_Doc_Template_Mgt")
    assert "Ref_Template_Types" in obs


# ---------------------------------------------------------------------- columns and types
def test_get_columns_with_an_alias(concert):
    obs = concert.step("get_columns", "singer AS s")
    expected = ", ".join(f"s.{c}" for c, _ in table_info("concert_singer", "singer"))
    assert obs.endswith(f": {expected}")
    assert "table singer" in obs


def test_get_columns_matches_names_case_insensitively(templates):
    obs = templates.step("get_columns", "ref_template_types")
    cols = [c for c, _ in table_info("cre_Doc_Template_Mgt", "Ref_Template_Types")]
    assert obs.endswith(": " + ", ".join(f"Ref_Template_Types.{c}" for c in cols))


def test_get_columns_of_an_intermediate_table(world):
    world.step("perform_join", ["country AS c", "countrylanguage AS l"], ["c.Code = l.CountryCode"], ["INNER JOIN"],
               "c.Name, l.Language, l.Percentage AS share", kind="cte")
    obs = world.step("get_columns", "T_0")
    assert obs == "Columns of T_0 (intermediate table made by perform_join): T_0.Name, T_0.Language, T_0.share"


def test_get_column_types_shows_declared_and_seen_types(world):
    obs = world.step("get_column_types", "CountryLanguage AS cl")
    lines = obs.splitlines()[1:]
    info = table_info("world_1", "countrylanguage")
    assert len(lines) == len(info)
    seen = {"CountryCode": "TEXT", "Language": "TEXT", "IsOfficial": "TEXT", "Percentage": "REAL"}
    for line, (column, declared) in zip(lines, info):
        match = re.fullmatch(rf"cl\.{column}: declared (\S+); values seen: {seen[column]}", line)
        assert match, line
        # the type name is the declared one; SQLAlchemy keeps CHAR's length but drops FLOAT's precision
        assert match.group(1).split("(")[0] == shown_type(declared).split("(")[0], line


def test_get_column_types_reports_a_mismatch_between_declared_and_stored(concert):
    # singer.Is_male is declared bool but holds the strings 'T' and 'F'
    assert {r[0] for r in query("concert_singer", "SELECT typeof(Is_male) FROM singer")} == {"text"}
    obs = concert.step("get_column_types", "singer")
    assert "singer.Is_male: declared BOOLEAN; values seen: TEXT" in obs.splitlines()


# ---------------------------------------------------------------------- catalog help
def test_get_actions_lists_the_exploration_actions_only(concert):
    obs = concert.step("get_actions")
    listed = re.findall(r"^(\w+): ", obs, re.M)
    assert listed == list(EXPLORATION)
    assert "perform_" not in obs.replace("perform_aggregate to", "")  # help may point at an operation
    assert 'Action: ["get_column_stats", "<table_id>", "<column_id>"]' in obs
    assert "Preview the first 5 rows" in obs  # {preview_rows} filled in from the catalog settings


def test_get_operations_lists_the_eight_operations(concert):
    obs = concert.step("get_operations")
    assert re.findall(r"^(\w+): ", obs, re.M) == list(OPERATIONS)
    assert '["perform_join", "<tables>", "<join_conditions>", "<join_types>", "[projected_columns]"]' in obs


# ---------------------------------------------------------------------- data
def test_preview_table_with_an_alias_shows_the_first_rows(concert):
    obs = concert.step("preview_table", "singer AS s")
    expected = query("concert_singer", "SELECT * FROM singer LIMIT 5")
    rows = table_rows(obs)
    assert obs.startswith("First 5 row(s) of s (table singer):")
    assert [[str(v) for v in row] for row in expected] == rows


def test_preview_table_of_an_intermediate_table(world):
    world.step("perform_filter", "country", "country.Continent = 'Oceania' AND country.Population > 10000000",
               "country.Name, country.Population", kind="cte")
    obs = world.step("preview_table", "T_0")
    expected = query("world_1", "SELECT Name, Population FROM country WHERE Continent = 'Oceania' "
                                "AND Population > 10000000")
    assert 0 < len(expected) < 5
    assert obs.startswith(f"First {len(expected)} row(s) of T_0 (intermediate table made by perform_filter):")
    assert sorted(table_rows(obs)) == sorted([name, str(pop)] for name, pop in expected)


def test_get_unique_values_lists_the_countries_really_there(concert):
    obs = concert.step("get_unique_values", "singer", "singer.Country")
    values = [r[0] for r in query("concert_singer", "SELECT DISTINCT Country FROM singer ORDER BY Country")]
    assert obs == f"singer.Country has {len(values)} distinct non-NULL value(s): {quoted_list(values)}"


def test_get_unique_values_with_an_alias_and_lower_case_column(world):
    obs = world.step("get_unique_values", "country AS c", "c.continent")
    values = [r[0] for r in query("world_1", "SELECT DISTINCT Continent FROM country ORDER BY Continent")]
    assert obs.endswith(f"has {len(values)} distinct non-NULL value(s): {quoted_list(values)}")


def test_get_unique_values_caps_the_list_and_gives_the_total(world):
    obs = world.step("get_unique_values", "city", "city.CountryCode")
    total = query("world_1", "SELECT COUNT(DISTINCT CountryCode) FROM city")[0][0]
    first = [r[0] for r in query("world_1", "SELECT DISTINCT CountryCode FROM city ORDER BY CountryCode LIMIT 50")]
    assert total > 50
    assert obs == (f"city.CountryCode has {total} distinct non-NULL value(s) (first 50 in sorted order): "
                   f"{quoted_list(first)}")


def test_get_unique_values_counts_nulls(world):
    obs = world.step("get_unique_values", "country", "country.IndepYear")
    nulls = query("world_1", "SELECT COUNT(*) FROM country WHERE IndepYear IS NULL")[0][0]
    distinct = query("world_1", "SELECT COUNT(DISTINCT IndepYear) FROM country")[0][0]
    assert nulls > 0
    assert obs.startswith(f"country.IndepYear has {distinct} distinct non-NULL value(s) (first 50 in sorted "
                          f"order); plus NULL in {nulls} row(s): ")
    smallest = [r[0] for r in query("world_1", "SELECT DISTINCT IndepYear FROM country WHERE IndepYear IS NOT "
                                               "NULL ORDER BY IndepYear LIMIT 3")]
    assert obs.split(": ", 1)[1].startswith(quoted_list(smallest) + ", ")


def test_get_unique_values_on_an_intermediate_table(concert):
    concert.step("perform_filter", "singer", "singer.Age < 40", kind="cte")
    obs = concert.step("get_unique_values", "T_0", "T_0.Country")
    values = [r[0] for r in query("concert_singer", "SELECT DISTINCT Country FROM singer WHERE Age < 40 "
                                                    "ORDER BY Country")]
    assert obs == f"T_0.Country has {len(values)} distinct non-NULL value(s): {quoted_list(values)}"


def test_get_column_stats_of_a_numeric_column_with_an_alias(concert):
    obs = concert.step("get_column_stats", "singer AS s", "s.Age")
    ages = [r[0] for r in query("concert_singer", "SELECT Age FROM singer")]
    stats = stats_lines(obs)
    assert obs.startswith("Statistics of s.Age in s (table singer):")
    assert stats["rows"] == str(len(ages)) and stats["NULL"] == "0"
    assert int(stats["distinct"]) == len(set(ages))
    assert float(stats["mean"]) == pytest.approx(statistics.fmean(ages))
    assert float(stats["std"]) == pytest.approx(statistics.stdev(ages), rel=1e-6)
    assert float(stats["min"]) == min(ages) and float(stats["max"]) == max(ages)
    assert float(stats["50%"]) == pytest.approx(statistics.median(ages))


def _reference_stats(values: list[float]) -> tuple[float, float, float]:
    """The mean, sample standard deviation and skewness of ``values``, from exact fractions."""
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    if not std:
        return float(mean), std, 0.0
    third = sum((v - mean) ** 3 for v in exact) / len(exact)
    return float(mean), std, float(third / Fraction(std) ** 3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=40))
@example([7.733458420149556e-286] * 3)  # equal values: no spread, whatever the mean's rounding
@example([1.1984620899082105e+308] * 3)  # a sum past the largest float
@example([1.1984620899082101e+308, 1.1984620899080812e+308, 1.1984620899080812e+308])  # a spread of 1e-13
@example([1.7e308, -1.7e308, 1e308])  # deviations past the largest float
def test_numeric_stats_agree_with_exact_arithmetic_at_any_magnitude(values):
    # a column of huge numbers (beyond about 5e102, whose cube overflows a float) is described too
    mean, std, skew = _reference_stats(values)
    lines = dict(line.split(": ") for line in exploration._numeric_stats(values))
    assert float(lines["std"]) == pytest.approx(round(std, 6), rel=1e-9, abs=2e-6)
    assert float(lines["skewness"]) == pytest.approx(round(skew, 6), rel=1e-9, abs=2e-6)
    assert float(lines["mean"]) == pytest.approx(round(mean, 6), rel=1e-12, abs=2e-6)
    assert float(lines["min"]) == round(min(values), 6) and float(lines["max"]) == round(max(values), 6)


def test_get_column_stats_counts_nulls(world):
    obs = world.step("get_column_stats", "country", "country.LifeExpectancy")
    total, non_null, distinct, low, high, mean = query(
        "world_1", "SELECT COUNT(*), COUNT(LifeExpectancy), COUNT(DISTINCT LifeExpectancy), MIN(LifeExpectancy), "
                   "MAX(LifeExpectancy), AVG(LifeExpectancy) FROM country")[0]
    stats = stats_lines(obs)
    assert (stats["rows"], stats["non-NULL"], stats["NULL"], stats["distinct"]) == (
        str(total), str(non_null), str(total - non_null), str(distinct))
    assert total - non_null > 0
    assert float(stats["min"]) == low and float(stats["max"]) == high
    assert float(stats["mean"]) == pytest.approx(mean, rel=1e-6)


def test_get_column_stats_of_a_text_column(world):
    obs = world.step("get_column_stats", "COUNTRY", "country.continent")
    top = query("world_1", "SELECT Continent, COUNT(*) FROM country GROUP BY Continent "
                           "ORDER BY COUNT(*) DESC, Continent LIMIT 1")[0]
    stats = stats_lines(obs)
    assert stats["distinct"] == "7"
    assert stats["most frequent"].startswith(f"{top[0]} ({top[1]})")
    assert "mean" not in stats


def test_get_sample_values_come_from_the_column(world):
    obs = world.step("get_sample_values", "countrylanguage AS cl", "cl.Language")
    assert obs.startswith("Sample values of cl.Language: ")
    shown = re.findall(r"'((?:[^'\\]|\\.)*)'", obs.split(": ", 1)[1])
    everything = {r[0] for r in query("world_1", "SELECT DISTINCT Language FROM countrylanguage")}
    assert len(shown) == len(set(shown)) == 5
    assert set(shown) <= everything


def test_get_sample_values_follow_the_seed(spider_tasks):
    def samples(seed):
        player = Player(spider_tasks, "world_1", seed=seed)
        try:
            return [player.step("get_sample_values", "city", "city.Name") for _ in range(3)]
        finally:
            player.env.close()

    first, again, other = samples(7), samples(7), samples(8)
    assert first == again
    assert first != other
    assert len(set(first)) > 1  # successive calls draw new samples


def test_get_sample_values_of_a_small_column_shows_all_of_it(concert):
    obs = concert.step("get_sample_values", "singer", "singer.Country")
    values = {r[0] for r in query("concert_singer", "SELECT DISTINCT Country FROM singer")}
    assert len(values) < 5
    assert set(re.findall(r"'([^']*)'", obs)) == values


# ---------------------------------------------------------------------- agent mistakes
TABLE_ACTIONS = [
    ("get_columns",), ("preview_table",), ("get_column_types",),
    ("get_column_stats", "singers.Age"), ("get_unique_values", "singers.Age"), ("get_sample_values", "singers.Age"),
]


@pytest.mark.parametrize("action", TABLE_ACTIONS, ids=[a[0] for a in TABLE_ACTIONS])
def test_unknown_table_is_an_error_naming_the_closest_table(concert, action):
    name, *rest = action
    obs = concert.step(name, "singers", *rest, kind="error")
    assert "Unknown table 'singers'" in obs
    assert "Did you mean 'singer'?" in obs
    assert "Tables: concert, singer, singer_in_concert, stadium" in obs


@pytest.mark.parametrize("name", ["get_column_stats", "get_unique_values", "get_sample_values"])
def test_unknown_column_is_an_error_naming_the_closest_column(world, name):
    obs = world.step(name, "country", "country.LifeExpectency", kind="error")
    assert "'LifeExpectency'" in obs
    assert "Did you mean 'LifeExpectancy'?" in obs
    assert "Existing columns:" in obs and "HeadOfState" in obs


def test_unknown_unqualified_column_names_the_closest(concert):
    obs = concert.step("get_unique_values", "stadium", "Capacty", kind="error")
    assert "Did you mean 'Capacity'?" in obs


def test_table_name_instead_of_its_alias_is_an_error_that_says_so(concert):
    obs = concert.step("get_column_stats", "singer AS s", "singer.Age", kind="error")
    assert "singer is aliased as s: write s.Age" in obs


def test_unknown_intermediate_table_lists_the_existing_ones(concert):
    obs = concert.step("preview_table", "T_0", kind="error")
    assert "Unknown intermediate table 'T_0'" in obs and "none yet" in obs
    concert.step("perform_projection", "stadium", "stadium.Name", kind="cte")
    obs = concert.step("get_columns", "T_3", kind="error")
    assert "Intermediate tables so far: T_0." in obs


def test_misspelt_table_close_to_an_intermediate_table_is_still_an_error(world):
    world.step("perform_projection", "city", "city.Name, city.Population", kind="cte")
    obs = world.step("get_unique_values", "T_0", "T_0.Populaton", kind="error")
    assert "Did you mean 'Population'?" in obs
    obs = world.step("get_columns", "citty", kind="error")
    assert "Did you mean 'city'?" in obs


@pytest.mark.parametrize("params", [
    ("get_unique_values", "singer", "COUNT(*)"),
    ("get_unique_values", "singer", "singer.Name, singer.Age"),
    ("preview_table", "singer JOIN stadium"),
    ("preview_table", ""),
    ("get_columns", "concert_singer.singer"),
    ("get_column_stats", "singer"),
    ("get_tables", "singer"),
], ids=["aggregate", "two-columns", "join", "empty", "schema-qualified", "missing-argument", "extra-argument"])
def test_malformed_exploration_is_an_error_observation(concert, params):
    concert.step(*params, kind="error")


def test_exploration_after_errors_still_works(concert):
    concert.step("get_columns", "singers", kind="error")
    obs = concert.step("get_unique_values", "stadium", "stadium.Location")
    values = [r[0] for r in query("concert_singer", "SELECT DISTINCT Location FROM stadium ORDER BY Location")]
    assert obs.endswith(quoted_list(values))
