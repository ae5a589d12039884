"""Importing querygym, its command line or an integration module imports no RL framework."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("openenv", "verifiers", "skyrl_gym", "trl", "fastapi", "uvicorn", "gradio")


def test_no_framework_is_imported_until_used():
    code = ("import sys, querygym, querygym.cli, querygym.integrations.openenv, querygym.integrations.skyrl\n"
            "querygym.cli.build_parser()\n"
            f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
