"""In-process HTTP tests of every route of the web app (Starlette's test client, real databases)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

import querygym  # noqa: E402
from querygym.runs.runner import run_agent  # noqa: E402
from querygym.web.app import ASSETS, create_app, observation_blocks  # noqa: E402
from tests.support import HOSTILE, act, hostile_tasks  # noqa: E402

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


def test_api_index_and_predictions_placeholder(client):
    assert any(r["path"] == "/api/analyze" for r in client.get("/api").json()["routes"])
    assert client.get("/predictions", headers={"Accept": "application/json"}).json()["available"] is False


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
