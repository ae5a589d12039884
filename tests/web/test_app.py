"""In-process HTTP tests of every route of the web app (Starlette's test client, real databases)."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

import querygym  # noqa: E402
from querygym.errors import InvalidArgumentError  # noqa: E402
from querygym.runs.runner import run_agent  # noqa: E402
from querygym.web.app import ASSETS, create_app, observation_blocks  # noqa: E402
from tests.support import DATA, HOSTILE, SPIDER, act, hostile_tasks  # noqa: E402

PREDICTIONS = DATA / "predictions" / "spider_dev"

ANSWER_0 = act("perform_filter", "products", "category = 'Hardware' AND list_price > 1000", "product_name")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    tasks = querygym.builtin_tasks()
    subset = tasks.select(tasks.ids[:4])
    run_agent(subset, {"name": "oracle"}, root / "oracle", progress=None)
    run_agent(subset, {"name": "random", "seed": 1}, root / "random", env_kwargs={"max_steps": 3}, progress=None)
    return root


@pytest.fixture(scope="module")
def client(runs):
    app = create_app(querygym.builtin_tasks(), runs=[str(runs)], max_episodes=3)
    with TestClient(app) as c:
        yield c


def new_episode(client, task_id=0, **params):
    r = client.get(f"/tasks/{task_id}", params=params, follow_redirects=False)
    assert r.status_code == 303
    return r.headers["location"].split("episode=")[1].split("&")[0]


def test_task_list_searches_and_answers_json(client):
    page = client.get("/tasks", params={"q": "hardware"})
    assert page.status_code == 200 and "Hardware products" in page.text
    api = client.get("/api/tasks", params={"q": "hardware"}).json()
    assert api["matching"] == len(api["tasks"]) >= 1
    assert set(api["tasks"][0]) >= {"id", "db_id", "question", "difficulty"}
    twin = client.get("/tasks", params={"q": "hardware"}, headers={"Accept": "application/json"}).json()
    assert twin["tasks"] == api["tasks"]
    assert client.get("/", follow_redirects=False).headers["location"] == "/tasks"
    assert client.get("/api/tasks/0").json()["schema"]["tables"]
    first = client.get("/api/tasks").json()
    assert first["matching"] == len(querygym.builtin_tasks()) and first["page"] == 1


def test_task_page_plays_to_success_through_forms(client):
    eid = new_episode(client)
    page = client.get(f"/tasks/0?episode={eid}")
    assert 'id="action-text"' in page.text and '<label for="action-text">Action</label>' in page.text
    assert 'data-action="perform_join"' in page.text  # a form per action of actions.yaml
    form = {"name": "perform_filter", "arg0": "products", "arg1": "category = 'Hardware' AND list_price > 1000",
            "arg2": "product_name"}
    partial = client.post(f"/tasks/0/episodes/{eid}/step", data=form, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and 'id="episode"' in partial.text
    assert "rel-equal" in partial.text and ">solved<" in partial.text
    plan = client.get(f"/api/episodes/{eid}/plan").json()
    assert [n["id"] for n in plan["nodes"] if n["kind"] == "cte"] == ["T_0"]
    assert plan["nodes"][-1]["relation"] == "equal" and plan["nodes"][-1]["row_count"] == 3
    assert ["table:products", "T_0"] in plan["edges"]
    node = client.get(f"/api/episodes/{eid}/nodes/T_0").json()
    assert node["row_count"] == 3 and node["step"] == 1 and set(node["sql"]) >= {"sqlite"}
    html = client.get(f"/tasks/0/episodes/{eid}/nodes/T_0")
    assert 'data-node="T_0"' in html.text
    jsonl = client.get(f"/tasks/0/episodes/{eid}/trajectory.jsonl")
    line = json.loads(jsonl.text.splitlines()[0])
    assert line["kind"] == "cte" and line["relation"] == "equal" and "info" not in line


def test_bad_action_is_an_error_on_the_page_with_the_closest_name(client):
    eid = new_episode(client)
    r = client.post(f"/tasks/0/episodes/{eid}/step", data={"action": act("perform_filter", "prodcts", "1 = 1")},
                    headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'class="error"' in r.text
    assert '<mark class="suggestion">Did you mean &#39;products&#39;?</mark>' in r.text
    r = client.post(f"/tasks/0/episodes/{eid}/step", data={"action": "hello"}, follow_redirects=False)
    assert r.status_code == 303  # without htmx: back to the page, where the error step shows
    r = client.post(f"/tasks/0/episodes/{eid}/step", data={}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "Action box" in r.text


def test_reset_continue_and_share(client):
    eid = new_episode(client)
    for a in (act("perform_filter", "products", "list_price > 1000"), act("perform_projection", "T_0", "sku")):
        client.post(f"/api/episodes/{eid}/step", json={"action": a})
    r = client.post(f"/tasks/0/episodes/{eid}/reset", data={"from": "T_0"}, follow_redirects=False)
    forked = r.headers["location"].split("episode=")[1]
    plan = client.get(f"/api/episodes/{forked}/plan").json()
    assert [n["id"] for n in plan["nodes"] if n["kind"] == "cte"] == ["T_0"]
    r = client.post(f"/tasks/0/episodes/{eid}/reset", follow_redirects=False)
    fresh = r.headers["location"].split("episode=")[1]
    assert client.get(f"/api/episodes/{fresh}/plan").json()["nodes"] == []
    page = client.get(f"/tasks/0?episode={eid}")
    share = page.text.split('id="share-link"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    replayed = client.get(share, follow_redirects=False).headers["location"].split("episode=")[1]
    assert len([n for n in client.get(f"/api/episodes/{replayed}/plan").json()["nodes"] if n["kind"] == "cte"]) == 2


def test_episode_api(client):
    r = client.post("/api/episodes", json={"task_id": 0})
    body = r.json()
    assert set(body) == {"episode_id", "observation", "info"} and body["info"]["kind"] == "overview"
    step = client.post(f"/api/episodes/{body['episode_id']}/step", json={"action": ANSWER_0}).json()
    assert set(step) == {"observation", "reward", "terminated", "truncated", "info"}
    assert step["terminated"] and step["info"]["solved"]
    assert client.get(f"/api/episodes/{body['episode_id']}/trajectory").text.count("\n") == 1
    started = client.post("/api/episodes", json={"task_id": 0, "initial_sql": "SELECT sku FROM products"}).json()
    assert started["info"]["initial"]["cte_ids"] == ["T_0"]
    assert client.post("/api/episodes", json={}).status_code == 400
    assert client.post("/api/episodes/nope/step", json={"action": "x"}).status_code == 404
    odd = client.post(f"/api/episodes/{body['episode_id']}/step", json={"action": 5}).json()
    assert odd["info"]["kind"] == "error"  # not an action: an error observation, not a server error
    assert client.post("/api/episodes", json={"task_id": "nope"}).status_code == 404


def test_episodes_belong_to_their_session_and_are_capped(client, runs):
    eid = client.post("/api/episodes", json={"task_id": 0}).json()["episode_id"]
    other = TestClient(client.app)
    assert other.get(f"/api/episodes/{eid}/plan").status_code == 404
    ids = [client.post("/api/episodes", json={"task_id": 0}).json()["episode_id"] for _ in range(3)]
    assert client.get(f"/api/episodes/{eid}/plan").status_code == 404  # the oldest went (cap 3)
    assert client.get(f"/api/episodes/{ids[-1]}/plan").status_code == 200


def test_analyze_failing_and_diverging_steps(client):
    broken = client.post("/api/analyze", json={"task_id": 0, "sql": "SELECT product_name FROM products "
                                                                    "WHERE categry = 'Hardware'"}).json()
    assert broken["black_box"]["ok"] is False and "categry" in broken["black_box"]["error"]
    assert broken["failing_step"] == 0 and broken["diverging_step"] is None
    assert "category" in broken["error"]["message"]
    wrong = client.post("/api/analyze", json={"task_id": 0, "sql": "SELECT product_name FROM products "
                                                                   "WHERE list_price > 1000"}).json()
    assert wrong["black_box"]["relation"] == "superset" and wrong["failing_step"] is None
    assert wrong["diverging_step"] is None or wrong["diverging_step"] >= 0
    gold = client.post("/api/analyze", json={"task_id": 0, "sql": querygym.builtin_tasks()[0].gold_sql}).json()
    assert gold["black_box"]["relation"] == "equal" and gold["failing_step"] is gold["diverging_step"] is None
    from_run = client.get("/analyze", params={"task": 2, "source": "run:oracle T_1"})
    assert "SQL from oracle T_1" in from_run.text and "Every step runs and the answer is right" in from_run.text
    page = client.get("/analyze", params={"task": 0, "source": "gold"})
    assert page.status_code == 200 and '<label for="sql">SQL</label>' in page.text and "Every step runs" in page.text
    page = client.post("/analyze", data={"task_id": "0", "sql": "SELECT nope FROM products"})
    assert "failing" in page.text and 'id="analysis-data"' in page.text
    assert client.get("/analyze").status_code == 200
    assert client.post("/api/analyze", json={"task_id": 0}).status_code == 400


def test_analyze_takes_the_steps_into_explore(client):
    r = client.post("/analyze/explore", data={"task_id": "0", "sql": "SELECT product_nam FROM products"},
                    follow_redirects=False)
    location = r.headers["location"]
    assert "episode=" in location and "action=" in location
    page = client.get(location)
    assert "product_nam" in page.text and "failed" in page.text


def test_diverging_step_is_the_first_that_leaves_the_gold_steps(client):
    sql = "SELECT product_name FROM products WHERE category = 'Services' AND list_price > 1000"
    report = client.post("/api/analyze", json={"task_id": 0, "sql": sql}).json()
    assert report["failing_step"] is None and report["black_box"]["relation"] == "different"
    assert report["diverging_step"] == 0


def test_runs_pages_filters_and_paging(client):
    runs = client.get("/api/runs").json()["runs"]
    assert {r["name"] for r in runs} == {"oracle", "random"}
    assert "scorecard.png" in client.get("/runs").text
    assert client.get("/runs/oracle/scorecard.png").headers["content-type"] == "image/png"
    listing = client.get("/api/runs/oracle/episodes").json()
    assert listing["total"] == 4 and listing["matching"] == 4 and all(e["solved"] for e in listing["episodes"])
    assert client.get("/api/runs/oracle/episodes", params={"status": "failed"}).json()["matching"] == 0
    paged = client.get("/api/runs/oracle/episodes", params={"page": 2, "page_size": 1}).json()
    assert paged["page"] == 2
    page = client.get("/runs/oracle", params={"status": "solved", "difficulty": "simple"})
    assert page.status_code == 200 and 'id="episodes"' in page.text
    assert client.get("/api/runs/oracle/episodes", params={"max_steps": "x"}).status_code == 400
    assert client.get("/runs/nope").status_code == 404


def test_run_episode_page_and_json(client):
    page = client.get("/runs/oracle/2", params={"step": 1})
    assert page.status_code == 200 and 'id="replay"' in page.text and 'data-step="1"' in page.text
    data = client.get("/api/runs/oracle/episodes/2").json()
    assert data["record"]["solved"] and data["plan"]["nodes"] and data["steps"]
    assert client.get("/runs/oracle/nope").status_code == 404


def test_compare_runs(client):
    result = client.get("/api/compare", params={"a": "oracle", "b": "random"}).json()
    assert result["common"] == 4 and result["counts"]["only_a"] + result["counts"]["both"] == 4
    assert client.get("/compare", params={"a": "oracle", "b": "random"}).status_code == 200
    assert client.get("/compare").status_code == 200
    assert client.get("/api/compare").status_code == 400


def test_live_mode_streams_steps_until_the_end(client):
    start = client.post("/api/live", json={"task_id": 0, "agent": "oracle"}).json()
    with client.stream("GET", start["events"]) as stream:
        text = "".join(stream.iter_text())
    assert "event: step" in text and "event: end" in text and '"solved": true' in text
    assert 'class=\\"step kind-cte\\"' in text  # each step comes rendered as the page shows it
    assert client.post(start["stop"]).json()["stopping"]
    assert client.get("/live").status_code == 200
    assert client.post("/api/live", json={"task_id": 0, "agent": "llm"}).status_code == 400
    assert client.post("/api/live", json={"task_id": 0, "agent": "nope"}).status_code == 400


def test_static_assets_are_vendored_with_versions(client):
    for name in ASSETS.values():
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and r.content
    assert client.get("/static/htmx-2.0.11.LICENSE.txt").status_code == 200
    assert client.get("/static/dagre-3.1.3.LICENSE.txt").status_code == 200


def test_api_index_and_predictions_redirect(client):
    assert any(r["path"] == "/api/analyze" for r in client.get("/api").json()["routes"])
    assert any(r["path"].startswith("/api/analyses/{name}") for r in client.get("/api").json()["routes"])
    assert client.get("/predictions", follow_redirects=False).headers["location"] == "/analyses"
    empty = client.get("/analyses")
    assert empty.status_code == 200 and "querygym serve ... --analyses DIR" in empty.text
    assert client.get("/api/analyses").json() == {"analyses": []}
    assert client.get("/analyses/nope").status_code == 404


def test_hostile_values_stay_text(tmp_path):
    with TestClient(create_app(hostile_tasks(tmp_path))) as c:
        assert HOSTILE not in c.get("/tasks").text
        eid = c.get("/tasks/hostile", follow_redirects=False).headers["location"].split("episode=")[1]
        r = c.post(f"/tasks/hostile/episodes/{eid}/step", data={"action": act("get_preview", "notes")},
                   headers={"HX-Request": "true"})
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text and HOSTILE not in r.text
        assert "<img src=x" not in r.text and "<b>body</b>" not in r.text
        page = c.get(f"/tasks/hostile?episode={eid}")
        assert HOSTILE not in page.text.replace('<script type="application/json"', "")
        node = c.post(f"/api/episodes/{eid}/step", json={"action": act("perform_filter", "notes", "id = 1")})
        assert node.json()["info"]["relation"] is not None
        detail = c.get(f"/tasks/hostile/episodes/{eid}/nodes/T_0").text
        assert HOSTILE not in detail and "&lt;script&gt;" in detail


def test_observation_tables_are_cut_from_text():
    blocks = observation_blocks("Rows: 2\nname\n----\nAnn\nBo\nSQL:\nSELECT 1")
    assert [b["kind"] for b in blocks] == ["text", "table", "text"]
    assert blocks[1]["rows"] == [["Ann"], ["Bo"]]


# ---------------------------------------------------------------------- predictions (querygym analyze folders)
#: 20 Spider dev questions: right ones, wrong ones of several categories, two that do not run (312, 632)
#: and one without a database (429, wta_1)
SAMPLE = [*range(10), 16, 23, 37, 54, 65, 66, 75, 312, 429, 632]


@pytest.fixture(scope="module")
def spider():
    if not (SPIDER / "dev.json").is_file():
        pytest.skip("../shared/data/spider_dev is absent")
    return querygym.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database", tables=SPIDER / "tables.json")


@pytest.fixture(scope="module")
def analyses(spider, tmp_path_factory):
    root = tmp_path_factory.mktemp("analyses")
    for name in ("din_sql", "c3"):
        querygym.analyze(PREDICTIONS / {"din_sql": "din_sql_gpt4", "c3": "c3_gpt35"}[name] / "pred.sql", spider,
                         root / name, only=SAMPLE)
    return root


@pytest.fixture(scope="module")
def predictions(spider, analyses):
    app = create_app(spider, analyses=[str(analyses / "din_sql"), str(analyses / "c3")])
    with TestClient(app) as c:
        yield c


def records_of(folder):
    return [json.loads(line) for line in (folder / "analysis.jsonl").read_text().splitlines()]


def test_analyses_are_listed_with_accuracies_categories_and_chart(predictions, analyses):
    listed = predictions.get("/api/analyses").json()["analyses"]
    assert [a["name"] for a in listed] == ["din_sql", "c3"]
    din = listed[0]
    summary = json.loads((analyses / "din_sql" / "summary.json").read_text())
    assert din["questions"] == 20 and din["skipped"] == 1 and din["accuracy"] == summary["accuracy"]
    assert din["categories"]["execution_error"] == 2 and sum(din["categories"].values()) == 19
    page = predictions.get("/analyses")
    assert page.status_code == 200 and 'href="/analyses/din_sql?category=execution_error"' in page.text
    assert "/analyses/din_sql/report.png" in page.text and "/analyses/compare?a=din_sql&amp;b=c3" in page.text
    chart = predictions.get("/analyses/din_sql/report.png")
    assert chart.headers["content-type"] == "image/png" and chart.content[:4] == b"\x89PNG"
    assert predictions.get("/analyses", headers={"Accept": "application/json"}).json()["analyses"] == listed


def test_question_list_filters_and_pages(predictions, analyses):
    records = records_of(analyses / "din_sql")
    everything = predictions.get("/api/analyses/din_sql", params={"page_size": 500}).json()
    assert everything["total"] == everything["matching"] == 20
    assert [q["index"] for q in everything["questions"]] == SAMPLE
    assert everything["facets"]["category"]["skipped"] == 1 and "concert_singer" in everything["facets"]["db"]
    failing = predictions.get("/api/analyses/din_sql", params={"category": "execution_error"}).json()
    assert [q["index"] for q in failing["questions"]] == [312, 632]
    assert predictions.get("/api/analyses/din_sql", params={"runs": "no"}).json()["matching"] == 2
    assert predictions.get("/api/analyses/din_sql", params={"runs": "yes"}).json()["matching"] == 17
    wrong = predictions.get("/api/analyses/din_sql", params={"category": "wrong"}).json()
    assert wrong["matching"] == sum(r["category"] not in (None, "correct") for r in records) >= 7
    hard = predictions.get("/api/analyses/din_sql", params={"difficulty": "hard", "db": "pets_1"}).json()
    assert {q["index"] for q in hard["questions"]} == {r["index"] for r in records
                                                        if r["difficulty"] == "hard" and r["db_id"] == "pets_1"}
    found = predictions.get("/api/analyses/din_sql", params={"q": "dog but does not have a CAT"}).json()
    assert [q["index"] for q in found["questions"]] == [66]
    paged = predictions.get("/api/analyses/din_sql", params={"page": 2, "page_size": 8}).json()
    assert paged["pages"] == 3 and [q["index"] for q in paged["questions"]] == SAMPLE[8:16]
    page = predictions.get("/analyses/din_sql", params={"category": "execution_error"})
    assert page.status_code == 200 and '<tr data-index="632">' in page.text and 'data-index="0"' not in page.text
    assert '<span class="badge cat-execution_error">execution_error</span>' in page.text
    twin = predictions.get("/analyses/din_sql", params={"category": "execution_error"},
                           headers={"Accept": "application/json"}).json()
    assert twin == failing
    assert predictions.get("/api/analyses/din_sql", params={"category": "nope"}).status_code == 400
    assert predictions.get("/api/analyses/din_sql", params={"runs": "maybe"}).status_code == 400
    assert predictions.get("/api/analyses/nope").status_code == 404


def test_question_page_marks_the_diverging_step_and_opens_sql_analysis(predictions, analyses):
    record = next(r for r in records_of(analyses / "din_sql") if r["index"] == 66)
    assert record["category"] == "filter" and record["step"] == 3 and record["gold_step"] == 3
    page = predictions.get("/analyses/din_sql/66")
    assert page.status_code == 200 and record["question"] in page.text
    assert '<span class="badge cat-filter" id="category">filter</span>' in page.text
    assert '<li class="plan-step diverging" data-step="3">' in page.text  # the prediction's step 3
    assert '<li class="plan-step compared" data-step="3">' in page.text  # the gold step it was held to
    assert page.text.count("plan-step diverging") == 1 and "1 column and 1 row of the target are missing" in page.text
    assert 'href="/analyses/din_sql/65" rel="prev"' in page.text
    data = predictions.get("/api/analyses/din_sql/66").json()
    assert data["record"] == record and data["previous"] == 65 and data["next"] == 75
    repaired = predictions.get(data["repair_url"])  # the prediction, filled in on the SQL analysis page
    assert repaired.status_code == 200 and "dog but does not have a cat" in repaired.text
    assert "WHERE T3.PetType  =  &#39;dog&#39; EXCEPT SELECT" in repaired.text and 'id="analysis-data"' in repaired.text
    assert data["repair_url"].startswith("/analyze?task=66&sql=")


def test_question_page_of_a_failing_prediction_and_of_a_skipped_question(predictions):
    page = predictions.get("/analyses/din_sql/632")
    assert '<span class="badge cat-execution_error" id="category">' in page.text
    assert "plan-step failing" in page.text and "plan-step compared" not in page.text
    assert "T2.series_name" in page.text and 'id="repair"' in page.text
    skipped = predictions.get("/analyses/din_sql/429")
    assert skipped.status_code == 200 and "Not scored" in skipped.text and "wta_1" in skipped.text
    assert 'id="repair"' not in skipped.text  # no database: nothing to repair
    assert predictions.get("/analyses/din_sql/1000").status_code == 404
    assert predictions.get("/api/analyses/din_sql/1000").status_code == 404


def test_the_repair_button_needs_the_analysed_dataset(analyses):
    with TestClient(create_app(querygym.builtin_tasks(), analyses=[str(analyses)])) as c:
        assert {a["name"] for a in c.get("/api/analyses").json()["analyses"]} == {"din_sql", "c3"}
        data = c.get("/api/analyses/din_sql/0").json()
        assert data["repair_url"] is None
        assert "start querygym serve with the dataset" in c.get("/analyses/din_sql/0").text


def test_compare_two_analyses(predictions, analyses):
    from querygym.analysis.report import compare_analyses

    expected = compare_analyses(analyses / "din_sql", analyses / "c3")
    result = predictions.get("/api/analyses/compare", params={"a": "din_sql", "b": "c3"}).json()
    assert result["a"] == "din_sql" and result["b"] == "c3"  # named as the app names them, no server paths
    for key in ("questions", "accuracy", "both_right", "both_wrong", "only_a_right", "only_b_right", "categories",
                "shifts"):
        assert result[key] == expected[key]
    assert [q["index"] for q in result["only_a_right_questions"]] == expected["only_a_right"]
    page = predictions.get("/analyses/compare", params={"a": "din_sql", "b": "c3"})
    assert page.status_code == 200 and 'id="shifts"' in page.text and str(analyses) not in page.text
    for index in expected["only_a_right"]:
        assert f'href="/analyses/din_sql/{index}"' in page.text
    assert predictions.get("/analyses/compare").status_code == 200
    assert predictions.get("/api/analyses/compare").status_code == 400
    assert predictions.get("/api/analyses/compare", params={"a": "din_sql", "b": "nope"}).status_code == 404


def test_analyses_come_only_from_the_command_line(spider, analyses, tmp_path):
    with pytest.raises(InvalidArgumentError, match="not a directory"):
        create_app(spider, analyses=[str(tmp_path / "missing")])
    with pytest.raises(InvalidArgumentError, match="no analysis.jsonl"):
        create_app(spider, analyses=[str(tmp_path)])
    shutil.copytree(analyses / "c3", tmp_path / "compare")
    with pytest.raises(InvalidArgumentError, match="rename the folder"):
        create_app(spider, analyses=[str(tmp_path / "compare")])


def test_hostile_questions_and_sql_stay_text(spider, analyses, tmp_path):
    folder = tmp_path / "hostile"
    folder.mkdir()
    records = records_of(analyses / "din_sql")
    for r in records:
        r["question"], r["sql"] = HOSTILE, f"SELECT '{HOSTILE}'"
        r["pred_actions"] = [json.dumps(["perform_projection", "t", HOSTILE])]
    (folder / "analysis.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with TestClient(create_app(spider, analyses=[str(folder)])) as c:
        for path in ("/analyses", "/analyses/hostile", "/analyses/hostile/66", "/analyses/hostile?q=script"):
            text = c.get(path).text
            assert HOSTILE not in text, path
        assert "&lt;script&gt;" in c.get("/analyses/hostile/66").text
