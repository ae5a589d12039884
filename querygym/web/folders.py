"""A folder of files written by a command (``querygym run`` or ``querygym analyze``): its summary,
settings and chart, read on demand, and its records cached until the folder changes."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar


class OutputFolder:
    """What a run folder and an analysis folder share: ``summary.json``, a settings file, a chart."""

    #: the settings file and the chart, named by each kind of folder
    CONFIG: ClassVar[str] = ""
    CHART: ClassVar[str] = ""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        self._records: list[dict[str, Any]] | None = None
        self._stamp: float | None = None
        self._lock = threading.Lock()

    def _json(self, name: str) -> dict[str, Any]:
        path = self.path / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    @property
    def summary(self) -> dict[str, Any]:
        """The folder's ``summary.json``, or ``{}`` when it has none."""
        return self._json("summary.json")

    @property
    def config(self) -> dict[str, Any]:
        """The folder's settings (``run.json`` or ``analysis.json``), or ``{}`` when it has none."""
        return self._json(self.CONFIG)

    def chart(self) -> Path | None:
        """The folder's chart (``scorecard.png`` or ``report.png``), or None when it has none."""
        path = self.path / self.CHART
        return path if path.is_file() else None
