"""``querygym synth-db``: synthesise a SQLite database for each database of a dataset.

    querygym synth-db [dataset options] --out DIR [--rows N] [--seed S] [--neighbours K]

Writes ``DIR/<db_id>/<db_id>.sqlite`` (BIRD layout: every other command reads it with
``--db-root DIR``) shaped by the dataset's schemas and gold queries, and with ``--neighbours K``
also ``DIR/<db_id>/neighbours/1..K.sqlite`` (``--neighbours DIR`` of the other commands).  The
same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import time

from querygym.cli.common import dataset_args, load_tasks
from querygym.errors import QueryGymError
from querygym.synth import DEFAULT_ROWS, synthesise_dataset


def register(subparsers) -> None:
    """Add ``querygym synth-db`` to the command line."""
    p = subparsers.add_parser("synth-db", help="synthesise databases (and neighbours) for a dataset's schemas",
                              description=__doc__.split("\n\n")[0])
    dataset_args(p, neighbours=False)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (DIR/<db_id>/<db_id>.sqlite)")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, metavar="N",
                   help=f"bulk rows per table, beside the rows each gold query needs (default: {DEFAULT_ROWS})")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    p.add_argument("--neighbours", dest="neighbour_count", type=int, default=0, metavar="K",
                   help="also write K neighbour databases of each (default: 0)")
    p.add_argument("--no-real-values", action="store_true",
                   help="do not draw values from a task's real database when it has one")
    p.set_defaults(func=cmd_synth_db, neighbours=None)


def cmd_synth_db(args: argparse.Namespace) -> int:
    """Synthesise a database (and neighbours) for every database of the dataset, in the BIRD layout."""
    if args.rows < 0 or args.neighbour_count < 0:
        raise QueryGymError(f"--rows and --neighbours must be >= 0 (got {args.rows} and {args.neighbour_count})")
    tasks = load_tasks(args)
    started = time.perf_counter()
    written = synthesise_dataset(tasks, args.out, rows=args.rows, seed=args.seed, neighbours=args.neighbour_count,
                                 real_pools=not args.no_real_values)
    for db in written:
        extra = f" + {len(db.neighbours)} neighbours" if db.neighbours else ""
        notes = []
        if db.inferred_foreign_keys:
            notes.append(f"{db.inferred_foreign_keys} foreign keys inferred from joins")
        if db.unread:
            notes.append(f"{db.unread} gold queries unread")
        print(f"{db.path}{extra}" + (f"  ({'; '.join(notes)})" if notes else ""))
    print(f"{len(written)} database(s) in {time.perf_counter() - started:.1f}s")
    return 0
