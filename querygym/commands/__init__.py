"""Sub-commands of ``querygym`` beyond the core four, one module each.

Every module in this package defines ``register(subparsers)``, adding its sub-command(s) with
``set_defaults(func=...)``; ``querygym.cli`` finds them all, so a new command never needs an
edit elsewhere.  Shared argument groups live in :mod:`querygym.commands.common`.
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all(subparsers) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
