"""Errors a person can act on: syntax errors name file, line and column; help is plain text that
lists the choices; ``--version``; task paths survive a change of directory."""

from __future__ import annotations

import os

import pytest

import querygym
from querygym.agents import AGENTS
from querygym.agents.scripts import load_scripts, load_trajectory_actions
from querygym.cli import build_parser, main
from querygym.converters.common import read_json, read_jsonl
from querygym.dialects import available
from querygym.errors import DatasetError


def _help(capsys, *words) -> str:
    with pytest.raises(SystemExit):
        main([*words, "--help"])
    return capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"querygym {querygym.__version__}"


def test_help_is_plain_text_and_lists_the_choices(capsys):
    commands = [["run"], ["play"], ["tasks"], ["actions"], ["convert"], ["load-db"], ["bench", "decompose"],
                ["bench", "engines"], []]
    for words in commands:
        text = _help(capsys, *words)
        assert "``" not in text and ":func:" not in text and ":class:" not in text, words
    run = _help(capsys, "run")
    assert all(name in run for name in AGENTS) and all(name in run for name in available())


@pytest.mark.parametrize("name, text, place", [
    ("broken.json", '[{"question_id": 1,\n  "question": "x",}]', ":2:19"),
    ("bad-line.jsonl", '{"a": 1}\n{"a": 2}\n{"a": 3,,}\n', ":3:9"),
])
def test_json_syntax_errors_name_file_line_and_column(tmp_path, name, text, place):
    path = tmp_path / name
    path.write_text(text)
    reader = read_jsonl if name.endswith(".jsonl") else read_json
    with pytest.raises(DatasetError) as info:
        reader(path, "questions")
    assert str(info.value).startswith(f"{path}{place}:")


def test_the_dataset_loader_and_the_cli_report_the_place(tmp_path, capsys):
    path = tmp_path / "dev.json"
    path.write_text('[{"question_id": 1, "db_id": "x"\n "question": "q"}]')
    assert main(["tasks", "--bird", str(path)]) == 2
    assert f"{path}:2:2:" in capsys.readouterr().err


def test_script_and_trajectory_files_name_the_place(tmp_path):
    scripts = tmp_path / "scripts.json"
    scripts.write_text('{"9": ["[\\"get_tables\\"]"],\n "10": [oops]}')
    with pytest.raises(DatasetError, match=rf"{scripts}:2:9:"):
        load_scripts(scripts)
    lines = tmp_path / "scripts.jsonl"
    lines.write_text('{"task_id": 9, "actions": []}\n{"task_id": 10, "actions": [}\n')
    with pytest.raises(DatasetError, match=rf"{lines}:2:29:"):
        load_scripts(lines)
    trajectories = tmp_path / "trajectories.jsonl"
    trajectories.write_text('{"task": 9, "step": 1, "action": "x"}\n{"task": 9, "step": 2\n')
    with pytest.raises(DatasetError, match=rf"{trajectories}:2:22:"):
        load_trajectory_actions(trajectories)


def test_task_databases_are_absolute_so_a_change_of_directory_breaks_nothing(tmp_path, monkeypatch):
    root = tmp_path / "copy"
    source = querygym.converters.builtin._builtin_dir()
    (root / "enterprise").mkdir(parents=True)
    (root / "enterprise" / "enterprise.sqlite").write_bytes((source / "enterprise.sqlite").read_bytes())
    monkeypatch.chdir(tmp_path)
    tasks = querygym.load_bird(source / "questions.json", "copy", tables=source / "tables.json")
    task = tasks[tasks.ids[0]]
    assert os.path.isabs(task.db)
    monkeypatch.chdir(root)  # elsewhere: the task still finds its database
    assert task.target_result().rows


def test_every_subcommand_is_reachable_from_the_parser():
    parser = build_parser()
    for words in (["run"], ["play"], ["tasks"], ["actions"], ["convert", "x", "--out", "y"], ["load-db", "--to",
                  "duckdb", "f.sqlite"], ["bench", "decompose"], ["bench", "engines", "--out", "o"]):
        assert parser.parse_args(words).func is not None
