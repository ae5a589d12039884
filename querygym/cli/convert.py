"""``querygym convert``: write any supported dataset as a BIRD-format dataset.

    querygym convert [--from FORMAT] INPUT... --out DIR [--link]

INPUT names the dataset's parts in any order: its question file (or the folder holding it), and
optionally its tables/schema file (a name containing ``tables`` or ``schema``), its database
folder (``<db_id>/<db_id>.sqlite`` inside), its ``.db`` file (WikiSQL, Criteria2SQL) or the URL of
the PostgreSQL server holding its databases (BIRD-Critic).  ``--db-root`` and ``--tables`` say
the same explicitly.  The output is ``DIR/questions.json``, ``DIR/tables.json`` and
``DIR/databases/<db_id>/<db_id>.sqlite`` (copies, or symbolic links with ``--link``), plus
``DIR/problems.json`` listing the questions that could not be loaded, with the reason.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from querygym.cli.common import plain, require_playable
from querygym.converters import load_tasks
from querygym.converters.writer import write_bird
from querygym.errors import QueryGymError


def register(subparsers) -> None:
    """Add ``querygym convert`` to the command line."""
    p = subparsers.add_parser("convert", help="write a dataset in any supported format as BIRD format",
                              description=plain(__doc__.split("\n\n")[0]))
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="the question file or folder, and optionally its tables file, database folder, "
                        ".db file or PostgreSQL server URL")
    p.add_argument("--from", dest="source_format", metavar="FORMAT",
                   help="the input format (detected from the question file's contents by default)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--db-root", metavar="DIR|FILE|URL", help="database folder, .db file or server URL")
    p.add_argument("--tables", metavar="FILE", help="tables or schema file")
    p.add_argument("--link", action="store_true", help="link the database files instead of copying them")
    p.set_defaults(func=cmd_convert)


def _is_database_folder(path: Path) -> bool:
    return any(child.is_dir() and any((child / f"{child.name}{s}").is_file() for s in (".sqlite", ".db", ".sqlite3"))
               for child in path.iterdir())


def classify_inputs(inputs: list[str]) -> tuple[Path, str | None, str | None]:
    """``(question file, db_root, tables)`` from the INPUT arguments of ``convert``."""
    questions: list[Path] = []
    db_root: str | None = None
    tables: str | None = None

    def put(kind: str, value: str) -> None:
        nonlocal db_root, tables
        current = db_root if kind == "db_root" else tables
        if current is not None:
            raise QueryGymError(f"two {'databases' if kind == 'db_root' else 'tables files'} given: "
                                f"{current} and {value}")
        if kind == "db_root":
            db_root = value
        else:
            tables = value

    for item in inputs:
        if "://" in item:
            put("db_root", item)
            continue
        path = Path(item)
        if not path.exists():
            raise QueryGymError(f"{path}: no such file or folder")
        if path.is_dir():
            if _is_database_folder(path):
                put("db_root", item)
            else:
                questions.append(path)
        elif path.suffix in (".db", ".sqlite", ".sqlite3"):
            put("db_root", item)
        elif any(word in path.name.lower() for word in ("tables", "schema")):
            put("tables", item)
        else:
            questions.append(path)
    if len(questions) != 1:
        found = ", ".join(map(str, questions)) or "none"
        raise QueryGymError(f"convert reads one dataset: give exactly one question file or folder (found {found})")
    return questions[0], db_root, tables


def cmd_convert(args: argparse.Namespace) -> int:
    """Load the dataset the inputs name and write it in BIRD format."""
    questions, db_root, tables = classify_inputs(args.inputs)
    db_root = args.db_root or db_root
    tables = args.tables or tables
    tasks = load_tasks(questions, db_root=db_root, tables=tables, format=args.source_format)
    require_playable(tasks, questions, db_root=db_root)  # writing 0 playable tasks is an error, not a result
    written = write_bird(tasks, args.out, link=args.link)
    how = "linked" if args.link else "copied"
    playable = len(tasks.playable())
    print(f"wrote {written.tasks} task(s) to {written.questions}"
          + (f" ({written.tasks - playable} without a database, kept as unplayable)" if playable < written.tasks else ""))
    print(f"wrote {len(written.database_files)} database(s) to {written.databases} ({how}); schemas in {written.tables}")
    if written.problems is not None:
        print(f"{len(tasks.problems)} problem(s) listed with the reason in {written.problems}")
    return 0
