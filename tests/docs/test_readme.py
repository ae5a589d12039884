"""The README is executed: every Python block runs, in order, in one namespace; an expression
line followed by a comment holding a Python literal (``x, y   # (1, 'a')``) must evaluate to that
literal; and every ``querygym`` command line in a code block parses with the real argument
parser, options and all.  A block preceded by ``<!-- illustrative -->`` is not run (it names
files the reader has and the repository does not), but its command lines are still checked."""

from __future__ import annotations

import ast
import os
import re
import shlex
from pathlib import Path

import pytest

from querygym.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DATA = ROOT.parent / "shared" / "data"
FENCE = re.compile(r"^(?P<marker><!-- illustrative -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)^```", re.M | re.S)


def blocks(lang: str | None = None) -> list[tuple[str, str, bool]]:
    """(language, text, illustrative) of every fenced block."""
    text = README.read_text(encoding="utf-8")
    return [(m["lang"], m["body"], bool(m["marker"])) for m in FENCE.finditer(text)
            if lang is None or m["lang"] == lang]


def _expected(line: str):
    """The literal in a trailing comment of an expression line, or None."""
    code, _, comment = line.partition("#")
    comment = comment.strip().split(":")[0].strip()
    try:
        tree = ast.parse(code.strip(), mode="eval")
        return tree, ast.literal_eval(comment)
    except (SyntaxError, ValueError):
        return None


def test_every_python_block_runs_and_states_true_values(tmp_path, monkeypatch):
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is not beside the checkout")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    ran = checked = 0
    for lang, body, illustrative in blocks("python"):
        if illustrative:
            continue
        lines = body.splitlines()
        for statement in ast.parse(body).body:
            source = "\n".join(lines[statement.lineno - 1: statement.end_lineno])
            if isinstance(statement, ast.Expr):
                value = eval(compile(ast.Expression(statement.value), "README.md", "eval"), namespace)  # noqa: S307
                found = _expected(lines[statement.end_lineno - 1])
                if found is not None:
                    assert value == found[1], f"README says {source.strip()!r} but it is {value!r}"
                    checked += 1
            else:
                exec(compile(ast.Module([statement], []), "README.md", "exec"), namespace)  # noqa: S102
        ran += 1
    assert ran >= 3 and checked >= 2
    for env in [v for v in namespace.values() if hasattr(v, "close") and hasattr(v, "step")]:
        env.close()


def _command_lines() -> list[str]:
    lines = []
    for lang, body, _ in blocks():
        if lang not in ("", "bash"):
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = line.split("  #")[0].strip()
            for part in re.split(r"\s*&&\s*", line):
                if part.startswith("querygym "):
                    lines.append(part)
    return lines


def _subparsers(parser):
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if action.__class__.__name__ == "_SubParsersAction":
            return action.choices
    return {}


def _options(parser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings}


def test_every_command_line_of_the_readme_parses():
    parser = build_parser()
    lines = _command_lines()
    assert len(lines) >= 15
    for line in lines:
        words = shlex.split(line)[1:]
        if any(w.startswith("[") or w.isupper() and len(w) > 1 or "|" in w for w in words):
            # the reference's synopsis form: the sub-command exists and takes every option named
            sub, rest = parser, list(words)
            while rest and rest[0] in _subparsers(sub):
                sub = _subparsers(sub)[rest.pop(0)]
            assert sub is not parser, f"no such command: {line}"
            named = {w.strip("[]").split("=")[0] for w in rest if w.strip("[]").startswith("--")}
            unknown = named - _options(sub)
            assert not unknown, f"{line}: the parser has no {sorted(unknown)}"
        else:
            env = dict(os.environ)
            try:
                parser.parse_args(words)
            except SystemExit as exc:
                raise AssertionError(f"README command does not parse: {line}") from exc
            finally:
                os.environ.clear()
                os.environ.update(env)
