"""Every public function, class and method of the package says what it is for (a docstring), and
the environment's reset and step document their arguments and returns as Gymnasium's core does."""

from __future__ import annotations

import ast
from pathlib import Path

import querygym
from querygym.env.environment import QueryGymEnv

PACKAGE = Path(__file__).resolve().parents[2] / "querygym"


def _undocumented() -> list[str]:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                if not ast.get_docstring(node):
                    missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
                if isinstance(node, ast.ClassDef):
                    missing += [f"{path.relative_to(PACKAGE.parent)}:{sub.lineno} {node.name}.{sub.name}"
                                for sub in node.body
                                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef))
                                and not sub.name.startswith("_") and not ast.get_docstring(sub)]
    return missing


def test_every_public_function_and_class_has_a_docstring():
    missing = _undocumented()
    assert not missing, f"{len(missing)} without a docstring:\n" + "\n".join(missing)


def test_reset_and_step_document_their_arguments_and_returns():
    for method, words in ((QueryGymEnv.reset, ("seed", "options", "task_id", "initial_sql", "Returns", "info")),
                          (QueryGymEnv.step, ("action", "Returns", "observation", "reward", "terminated",
                                              "truncated", "info", "solved"))):
        doc = method.__doc__ or ""
        assert all(word in doc for word in words), (method.__name__, [w for w in words if w not in doc])


def test_the_public_namespace_is_complete_and_lazy():
    for name in querygym.__all__:
        assert getattr(querygym, name) is not None, name
    assert callable(querygym.decompose) and callable(querygym.agents.get) and callable(querygym.dialects.get)
