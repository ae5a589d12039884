"""The built-in data: a small enterprise database with BIRD-format tasks, a document corpus and
a reference action script per task, shipped inside the package (built by
``python -m querygym.data.build_enterprise``).

>>> len(builtin_tasks()) > 0, Path(builtin_database()).name
(True, 'enterprise.sqlite')
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from querygym.converters.bird import load_bird
from querygym.converters.tasks import TaskSet


def _builtin_dir() -> Path:
    return Path(str(resources.files("querygym").joinpath("data", "enterprise")))


def builtin_database() -> str:
    """Path of the built-in enterprise SQLite database."""
    return str(_builtin_dir() / "enterprise.sqlite")


def builtin_tasks() -> TaskSet:
    """The built-in enterprise tasks (BIRD format, shipped with the package)."""
    root = _builtin_dir()
    files = [root / "questions.json"] + ([root / "analytics.json"] if (root / "analytics.json").is_file() else [])
    docs = root / "docs" if (root / "docs").is_dir() else None
    parts = [load_bird(f, root.parent, tables=root / "tables.json", docs=docs, name="enterprise") for f in files]
    return TaskSet([t for p in parts for t in p], [pr for p in parts for pr in p._problems], name="enterprise")


def builtin_references() -> dict[str, list[str]]:
    """The reference action script of every built-in task, by task id."""
    return json.loads((_builtin_dir() / "references.json").read_text(encoding="utf-8"))
