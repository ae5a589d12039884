"""Readers that turn benchmark datasets into querygym task sets.

:func:`load_tasks` reads any supported format, detected from the file's contents or named
with ``format``; each format family has its own module.
"""

from __future__ import annotations

import json
from pathlib import Path

from querygym.converters.bird import load_bird, load_tables_json
from querygym.errors import DatasetError
from querygym.tasks import TaskSet

__all__ = ["FORMATS", "detect_format", "load_bird", "load_tables_json", "load_tasks"]

#: format name -> loader(path, *, db_root, tables) -> TaskSet
FORMATS = {
    "bird": lambda path, *, db_root=None, tables=None: load_bird(path, db_root, tables=tables),
}


def detect_format(path: str | Path) -> str:
    """The format of a dataset file or folder, judged by its contents."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix == ".json":
        try:
            with path.open(encoding="utf-8") as fh:
                data = json.load(fh)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{path}: not JSON ({exc})") from None
        first = data[0] if isinstance(data, list) and data else None
        if isinstance(first, dict) and {"db_id", "question", "SQL"} <= set(first):
            return "bird"
        found = sorted(first)[:8] if isinstance(first, dict) else type(data).__name__
        raise DatasetError(f"{path}: cannot tell the dataset format; its first record has {found}. "
                           f"Supported: {', '.join(sorted(FORMATS))} (name one with format=...)")
    raise DatasetError(f"{path}: cannot tell the dataset format of this {'folder' if path.is_dir() else 'file'}. "
                       f"Supported: {', '.join(sorted(FORMATS))} (name one with format=...)")


def load_tasks(path: str | Path, *, db_root: str | Path | None = None, tables: str | Path | None = None,
               format: str | None = None) -> TaskSet:
    """Read a dataset in any supported format into a :class:`~querygym.tasks.TaskSet`.

    >>> from querygym.tasks import _builtin_dir
    >>> len(load_tasks(_builtin_dir() / "questions.json", db_root=_builtin_dir().parent)) >= 30
    True
    """
    name = format or detect_format(path)
    if name not in FORMATS:
        raise DatasetError(f"unknown dataset format {name!r}; supported: {', '.join(sorted(FORMATS))}")
    return FORMATS[name](path, db_root=db_root, tables=tables)
