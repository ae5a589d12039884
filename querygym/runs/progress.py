"""Progress of a long command (a run, an analysis) on a terminal or in a log."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """A progress bar with the live success rate on a terminal; off a terminal (a log file, a pipe),
    about ten lines with the elapsed time and an estimate of the time left, and one at least
    every minute.  ``label`` names what is counted (``solved`` episodes, ``correct`` predictions)."""

    def __init__(self, stream: TextIO | None, total: int, *, already: int = 0, solved: int = 0,
                 label: str = "solved"):
        self.stream, self.total, self.done, self.solved = stream, total, already, solved
        self.already, self.label = already, label
        self.tty = stream is not None and hasattr(stream, "isatty") and stream.isatty()
        self.started = self.last_line = time.perf_counter()

    def update(self, solved: bool) -> None:
        """Count one more finished item (``solved``: whether it counts as a success)."""
        self.done += 1
        self.solved += bool(solved)
        if self.stream is None:
            return
        rate = self.solved / self.done
        now = time.perf_counter()
        elapsed = now - self.started
        played_now = self.done - self.already
        left = elapsed / played_now * (self.total - self.done) if played_now else 0.0
        timing = f"elapsed {_clock(elapsed)}, eta {_clock(left)}"
        if self.tty:
            filled = int(30 * self.done / max(1, self.total))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} "
                              f"{self.label} {self.solved} ({rate:.0%}) {timing}")
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0 or now - self.last_line >= 60:
            self.stream.write(f"[{self.done}/{self.total}] {self.label} {self.solved} ({rate:.0%}); {timing}\n")
            self.last_line = now
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line on a terminal."""
        if self.stream is not None and self.tty:
            self.stream.write("\n")


def _clock(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour)."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
