"""The examples compile (they need a GPU and a model to run, so the suite does not run them)."""

import ast
import py_compile
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_example_compiles(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "example.pyc"), doraise=True)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{path.name} says in its docstring how to run it"


def test_the_grpo_example_trains_through_the_openenv_client():
    source = (Path(__file__).resolve().parents[2] / "examples" / "grpo_openenv.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}
    assert {"GRPOTrainer", "GRPOConfig", "QueryGymClient"} <= imported
    env = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "QueryGymToolEnv")
    methods = {f.name for f in env.body if isinstance(f, ast.FunctionDef)}
    assert {"reset", "act", "get_reward"} <= methods  # TRL's environment_factory contract
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "GRPOTrainer"]
    assert any(k.arg == "environment_factory" for k in calls[0].keywords)
