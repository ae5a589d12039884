"""The querygym command."""

import json
import subprocess
import sys

import querygym
from querygym.cli import main


def test_run_plays_the_builtin_references_and_writes_trajectories(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == len(querygym.builtin_tasks())
    assert summary["solved"] == summary["episodes"] and summary["success_rate"] == 1.0
    lines = [json.loads(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]
    assert len(lines) == summary["steps"]
    assert {"task", "step", "action", "kind", "reward", "cte_id"} <= set(lines[0])
    assert sum(line["terminated"] for line in lines) == summary["solved"]
    assert "solved:   " in capsys.readouterr().out


def test_run_with_a_script_file_and_task_selection(tmp_path):
    tasks = querygym.builtin_tasks()
    tid = str(tasks.ids[0])
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({tid: ['["get_tables"]', '["perform_projection", "regions", "region_code"]']}))
    out = tmp_path / "run"
    assert main(["run", "--scripts", str(scripts), "--task", tid, "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 1 and summary["solved"] == 0 and summary["steps"] == 2


def test_script_directory_form(tmp_path):
    tasks = querygym.builtin_tasks()
    tid = str(tasks.ids[0])
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / f"{tid}.txt").write_text("# comment\n" + "\n".join(querygym.builtin_references()[tid]) + "\n")
    out = tmp_path / "run"
    assert main(["run", "--scripts", str(folder), "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["solved"] == 1


def test_bad_input_gets_one_clear_line_and_no_traceback(tmp_path, capsys):
    bad = tmp_path / "questions.json"
    bad.write_text('{"not": "a list"}')
    assert main(["tasks", "--bird", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("querygym: error: ") and str(bad) in err and "Traceback" not in err
    assert main(["run", "--scripts", str(tmp_path / "missing.json"), "--quiet"]) == 2
    assert "script file not found" in capsys.readouterr().err


def test_tasks_lists_and_checks(capsys):
    assert main(["tasks", "--check", "--limit", "5"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == 5
    assert "5 task(s), 5 playable, 0 with problems" in captured.err


def test_play_reads_actions_from_a_prompt():
    tid = str(querygym.builtin_tasks().ids[0])
    script = "\n".join(['["get_tables"]', ":history", *querygym.builtin_references()[tid]]) + "\n"
    proc = subprocess.run([sys.executable, "-m", "querygym", "play", "--task", tid], input=script, text=True,
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[exploration]" in proc.stdout and "1: [\"get_tables\"]" in proc.stdout
    assert "Solved!" in proc.stdout
