"""Loud failures: a run that cannot work exits non-zero with one line; infrastructure failures are
errors to play again, not played episodes; questions without a database are counted apart; progress
off a terminal; output file permissions.  Real parts only: real SQLite files from ../shared/data, a
real subprocess, the project's stub OpenAI server and a port nothing listens on."""

import io
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import querygym
from querygym.cli import main
from querygym.errors import DatasetError, InvalidArgumentError, RunAbortedError, UnknownDialectError
from querygym.runs.runner import format_summary, run_agent
from tests.support import DATA, SPIDER

ROOT = Path(__file__).resolve().parents[2]
BIRD_SPIDER = SPIDER / "dev_bird_format_19db.json"
needs_data = pytest.mark.skipif(not BIRD_SPIDER.is_file(), reason=f"Spider data not found under {DATA}")


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def free_port() -> int:
    """A local port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------- configurations that cannot work
def test_an_unknown_dialect_exits_2_with_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "querygym", "run", "--dialect", "mysql", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "querygym: error: Unknown dialect 'mysql'. Available: duckdb, postgres, sqlite."]
    assert not out.exists()
    with pytest.raises(UnknownDialectError):  # the library checks too, before playing anything
        run_agent(querygym.builtin_tasks(), {"name": "oracle"}, out, env_kwargs={"dialect": "mysql"}, progress=None)
    assert not out.exists()


def test_an_empty_task_selection_is_an_error(tmp_path, capsys):
    assert main(["run", "--agent", "oracle", "--limit", "0", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert error_lines(capsys) == ["querygym: error: no task selected: --limit 0 leaves none"]
    with pytest.raises(InvalidArgumentError, match="no task selected"):
        run_agent(querygym.builtin_tasks().select([]), {"name": "oracle"}, tmp_path / "lib", progress=None)


@needs_data
def test_the_readme_convert_example_without_db_root_names_the_missing_option(tmp_path, capsys):
    out = tmp_path / "bird_sparc"
    assert main(["convert", "--from", "sparc", str(DATA / "sparc" / "dev.json"), "--out", str(out)]) == 2
    (line,) = error_lines(capsys)
    assert line.startswith("querygym: error: ") and "none of its 1625 question(s) can be played" in line
    assert "give --db-root DIR" in line and not out.exists()  # 0 tasks is an error, not an empty dataset


@needs_data
def test_the_readme_convert_example_works_as_written(tmp_path, capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if line.startswith("querygym convert --from sparc"))
    assert "--db-root ../shared/data/spider_dev/database" in command
    out = tmp_path / "bird_sparc"
    assert main(["convert", "--from", "sparc", str(DATA / "sparc" / "dev.json"),
                 "--db-root", str(SPIDER / "database"), "--out", str(out), "--link"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 1625 task(s)" in printed and "77 without a database, kept as unplayable" in printed
    problems = json.loads((out / "problems.json").read_text())
    assert len(problems) == 77 and all("wta_1" in p["reason"] and p["loaded"] for p in problems)


@needs_data
@pytest.mark.parametrize("command, source, option", [
    (["tasks", "--data"], DATA / "wikisql" / "dev.jsonl", "--db-root FILE.db (the dataset's database) or --tables"),
    (["run", "--agent", "oracle", "--bird"], DATA / "bird_dev_questions" / "dev.json", "--db-root DIR"),
    (["tasks", "--data"], DATA / "bird_critic" / "postgresql_preview_0110_data.jsonl", "--db-root URL"),
])
def test_a_dataset_with_nothing_playable_names_the_missing_option_in_one_line(command, source, option, tmp_path,
                                                                              capsys):
    assert main([*command, str(source), *(["--out", str(tmp_path / "run"), "--quiet"] if command[0] == "run" else [])]) == 2
    (line,) = error_lines(capsys)
    assert line.startswith(f"querygym: error: {source}: none of its ") and option in line
    assert not (tmp_path / "run").exists()


@needs_data
def test_a_wrong_db_root_says_what_was_looked_for(tmp_path, capsys):
    assert main(["run", "--agent", "oracle", "--bird", str(BIRD_SPIDER), "--db-root", str(SPIDER),
                 "--out", str(tmp_path / "run"), "--quiet"]) == 2
    (line,) = error_lines(capsys)
    assert f"can be played with --db-root {SPIDER}" in line and "world_1/world_1.sqlite" in line


# ---------------------------------------------------------------------- questions without a database
@needs_data
@pytest.mark.parametrize("fmt, path", [("spider", SPIDER / "dev.json"), ("sparc", DATA / "sparc" / "dev.json")])
def test_every_format_keeps_questions_without_a_database_as_unplayable_tasks(fmt, path):
    tasks = querygym.converters.load_tasks(path, db_root=SPIDER / "database", format=fmt)
    unplayable = [t for t in tasks if not t.playable]
    assert unplayable and {t.db_id for t in unplayable} == {"wta_1"}
    assert all("database 'wta_1' not found" in t.problem for t in unplayable)


@needs_data
def test_unplayable_tasks_are_counted_apart_and_left_out_of_the_success_rate(tmp_path, capsys):
    tasks = querygym.converters.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database")
    wta = [t.id for t in tasks if t.db_id == "wta_1"][:3]
    chosen = [0, 1, 2, *wta]
    summary = run_agent(tasks.select(chosen), {"name": "oracle"}, tmp_path / "run", progress=None)
    assert summary["tasks"] == 6 and summary["episodes"] == 3 and summary["unplayable"] == 3
    assert summary["success_rate"] == summary["solved"] / 3 == 1.0
    assert set(summary["unplayable_tasks"]) == {str(i) for i in wta}
    assert sorted(p.stem for p in (tmp_path / "run" / "episodes").glob("*.json")) == ["0", "1", "2"]
    assert "- unplayable tasks (not counted above): 3" in (tmp_path / "run" / "scorecard.md").read_text()
    assert main(["tasks", "--data", str(SPIDER / "dev.json"), "--task", "0", "--task", str(wta[0])]) == 0
    captured = capsys.readouterr()
    assert f"{wta[0]}\twta_1\teasy\tunplayable: database 'wta_1' not found" in captured.out
    assert "2 task(s), 1 playable, 1 with problems" in captured.err
    with pytest.raises(DatasetError, match="none of the 3 selected task"):
        run_agent(tasks.select(wta), {"name": "oracle"}, tmp_path / "none", progress=None)


# ---------------------------------------------------------------------- an endpoint that is down
def test_an_unreachable_endpoint_stops_the_run_with_one_line_and_records_errors_not_episodes(tmp_path, capsys):
    pytest.importorskip("openai", reason="the llm extra is not installed")
    out = tmp_path / "run"
    argv = ["run", "--agent", "llm", "--model", "m", "--base-url", f"http://127.0.0.1:{free_port()}/v1",
            "--max-retries", "1", "--limit", "3", "--out", str(out), "--quiet"]
    assert main(argv) == 2
    (line,) = error_lines(capsys)
    assert line.startswith("querygym: error: the run stopped: ModelEndpointError: ")
    assert "failed 2 time(s) in a row" in line and "run the same command again" in line
    assert not list((out / "episodes").glob("*.json"))  # nothing recorded as played
    assert [p.name for p in (out / "errors").glob("*.json")] == [f"{querygym.builtin_tasks().ids[0]}.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["episodes"], summary["infrastructure_errors"], summary["not_played"]) == (0, 1, 2)
    assert summary["stopped"].startswith("ModelEndpointError") and not (out / "scorecard.md").exists()


def test_a_rerun_plays_again_the_episodes_an_endpoint_failure_stopped(tmp_path, capsys):
    pytest.importorskip("openai", reason="the llm extra is not installed")
    from tests.openai_stub_server import ScriptedChatServer, error, reply

    tasks = querygym.builtin_tasks()
    look = reply('Action: ["get_tables"]')
    # the first episode gets one answer, then the endpoint fails past its retries (HTTP 503 twice);
    # the rerun plays all three episodes, two steps each (--max-steps 2)
    script = [look, error(503), error(503)] + [look] * 6
    with ScriptedChatServer(script) as server:
        argv = ["run", "--agent", "llm", "--model", "m", "--base-url", server.base_url, "--max-retries", "1",
                "--max-steps", "2", "--limit", "3", "--out", str(tmp_path / "run"), "--quiet"]
        assert main(argv) == 2
        assert "HTTP 503" in capsys.readouterr().err
        assert list((tmp_path / "run" / "errors").glob("*.json"))
        assert main(argv) == 0
        assert server.remaining == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["episodes"], summary["infrastructure_errors"], summary["played_now"]) == (3, 0, 3)
    assert not list((tmp_path / "run" / "errors").glob("*.json"))  # the error is history once played
    lines = [json.loads(x) for x in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    assert [(x["task"], x["step"]) for x in lines] == [(t, s) for t in tasks.ids[:3] for s in (1, 2)]


# ---------------------------------------------------------------------- progress and permissions
def test_progress_off_a_terminal_prints_lines_with_elapsed_time_and_eta(tmp_path):
    stream = io.StringIO()  # not a tty
    tasks = querygym.builtin_tasks()
    tasks = tasks.select(tasks.ids[:10])
    run_agent(tasks, {"name": "oracle"}, tmp_path, progress=stream)
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 1 <= len(lines) <= 11 and lines[-1].startswith(f"[{len(tasks)}/{len(tasks)}] solved {len(tasks)} (100%)")
    assert all("elapsed " in line and ", eta " in line for line in lines) and lines[-1].endswith("eta 0:00")


def test_run_and_convert_outputs_are_created_0644(tmp_path):
    old = os.umask(0o022)
    try:
        tasks = querygym.builtin_tasks()
        run_agent(tasks.select(tasks.ids[:3]), {"name": "oracle"}, tmp_path / "run", progress=None)
        querygym.converters.writer.write_bird(querygym.builtin_tasks(), tmp_path / "bird")
    finally:
        os.umask(old)
    files = [p for p in [*(tmp_path / "run").rglob("*"), *(tmp_path / "bird").rglob("*")] if p.is_file()]
    assert any(p.name == "summary.json" for p in files) and any(p.suffix == ".sqlite" for p in files)
    assert {p.relative_to(tmp_path).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == \
        {p.relative_to(tmp_path).as_posix(): "0o644" for p in files}


# ---------------------------------------------------------------------- the time limit of a whole episode
def test_an_episode_past_its_time_limit_is_an_error_to_play_again_and_the_run_goes_on(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--limit", "4", "--out", str(out), "--quiet"]  # the built-in reference scripts
    assert main([*argv, "--episode-timeout", "0.000001"]) == 1
    err = error_lines(capsys)
    assert err[-1].startswith("querygym: error: ") and "stopped by an infrastructure error" in err[-1]
    summary = json.loads((out / "summary.json").read_text())
    timed_out = summary["infrastructure_error_tasks"]
    assert timed_out and all(e["type"] == "EpisodeTimeoutError" for e in timed_out.values())
    assert summary["episodes"] + len(timed_out) == 4  # the run went on; one-step episodes finished
    assert sorted(p.stem for p in (out / "errors").glob("*.json")) == sorted(timed_out)
    assert main(argv) == 0  # the same run without the limit plays exactly those again
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["episodes"], summary["infrastructure_errors"], summary["played_now"]) == (4, 0, len(timed_out))


def test_a_refused_postgres_server_stops_the_run_with_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    from querygym.dialects.postgres import PostgresDialect

    monkeypatch.setattr(PostgresDialect, "server_url", f"postgresql://nobody@127.0.0.1:{free_port()}/postgres")
    out = tmp_path / "run"
    assert main(["run", "--dialect", "postgres", "--agent", "oracle", "--limit", "3", "--out", str(out),
                 "--quiet"]) == 2
    (line,) = error_lines(capsys)
    assert line.startswith("querygym: error: the run stopped: EngineUnavailableError: ") and "refused" in line
    assert not list((out / "episodes").glob("*.json")) and len(list((out / "errors").glob("*.json"))) == 1


@needs_data
def test_bench_decompose_still_reads_a_dataset_without_databases(tmp_path, capsys):
    assert main(["bench", "decompose", "--bird", str(DATA / "bird_dev_questions" / "mini_dev_sqlite.json"),
                 "--limit", "5", "--out", str(tmp_path / "bench")]) == 0
    assert (tmp_path / "bench" / "decompose.json").is_file()


def test_without_neighbour_databases_no_robust_rate_is_reported(tmp_path):
    """A robust success rate with no neighbour database behind it would be credit for nothing."""
    tasks = querygym.builtin_tasks()
    summary = run_agent(tasks.select(tasks.ids[:2]), {"name": "script"}, tmp_path / "run", progress=None)
    assert summary["robust_success_rate"] is None and summary["with_neighbours"] == 0
    assert "robust" not in format_summary(summary)
