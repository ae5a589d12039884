"""A third-party dialect plugs in without touching querygym: the example package in
tests/plugin_example declares one through the ``querygym.dialects`` entry point; installed
into a fresh folder, it is found by name and plays a built-in task to the end."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[1] / "plugin_example"

PLAY = """
import json, gymnasium, querygym
from querygym.dialects import available, get
cls = get("sqlite-traced")
tasks = querygym.builtin_tasks()
task_id = tasks.ids[0]
env = gymnasium.make("querygym/QueryGym-v0", dialect="sqlite-traced")
env.reset(options={"task_id": task_id})
for action in querygym.builtin_references()[str(task_id)]:
    obs, reward, terminated, truncated, info = env.step(action)
print(json.dumps({"available": available(), "module": cls.__module__, "terminated": terminated,
                  "reward": reward, "sql": info.get("sql"), "rendered": len(cls.rendered)}))
"""


def test_an_installed_plugin_dialect_plays_an_episode(tmp_path):
    source = tmp_path / "plugin"
    shutil.copytree(PLUGIN, source)  # pip builds in the folder it installs from: keep the tree clean
    site = tmp_path / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(source)]
    if all(importlib.util.find_spec(m) is not None for m in ("setuptools", "wheel")):
        command.insert(4, "--no-build-isolation")  # no download of a build backend when one is here
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    assert (site / "querygym_sqlite_traced").is_dir()

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", PLAY], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "sqlite-traced" in result["available"]
    assert result["module"] == "querygym_sqlite_traced"
    assert result["terminated"] and result["reward"] == 1.0
    assert result["sql"].startswith("/* querygym-sqlite-traced */")
    assert result["rendered"] > 0


def test_the_plugin_is_not_visible_without_installing_it():
    from querygym.dialects import available

    assert "sqlite-traced" not in available()
