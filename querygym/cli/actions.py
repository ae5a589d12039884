"""``querygym actions``: print the action catalog (as help text or JSON)."""

from __future__ import annotations

import argparse
import json

from querygym.actions.catalog import catalog


def register(subparsers) -> None:
    """Add ``querygym actions`` to the command line."""
    actions = subparsers.add_parser("actions", help="print the action catalog")
    actions.add_argument("--json", action="store_true", help="as JSON")
    actions.set_defaults(func=cmd_actions)


def cmd_actions(args: argparse.Namespace) -> int:
    """Print the catalog as help text, or as JSON with ``--json``."""
    cat = catalog()
    if args.json:
        print(json.dumps([{"name": a.name, "group": a.group, "description": cat.describe(a), "usage": a.usage,
                           "params": [p.__dict__ for p in a.params], "examples": list(a.examples)} for a in cat],
                         indent=2))
    else:
        print(cat.render_help())
    return 0
