"""Stopping a query at its time limit: a guard per connection and one watchdog thread for all.

The guard is armed when a query starts and disarmed when it ends; if the deadline passes first,
the watchdog calls every interrupter the dialect registered for that connection (SQLite's
``Connection.interrupt``, DuckDB's ``interrupt``, PostgreSQL's cancel), so a runaway query stops
inside the engine and the connection stays usable.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import threading
import time
import weakref
from typing import Any


class QueryGuard:
    """Per-connection state the engine hooks read: the deadline of the running query.

    Engines that check the deadline themselves (SQLite's progress handler) read
    :meth:`expired`; engines that are told the limit up front (PostgreSQL's
    ``statement_timeout``) read ``timeout_s``; engines that can only be stopped from outside
    register an interrupter with :meth:`add_interrupter`, which a shared watchdog thread
    calls once the running query's deadline passes (DuckDB's ``Connection.interrupt``).
    """

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.timeout_s: float | None = None
        #: the one temporary table querygym's own statement may create, fill or drop right now
        #: (see ``Dialect.materialise``); None the rest of the time, when nothing may be written
        self.writable: str | None = None
        self._interrupters: list[Any] = []
        self._lock = threading.Lock()
        self._generation = 0  # which query an armed watchdog entry belongs to

    def add_interrupter(self, interrupt: Any) -> None:
        """Call ``interrupt()`` (from the watchdog thread) when a query outlives its limit."""
        self._interrupters.append(interrupt)

    def start(self, timeout_s: float | None) -> None:
        """Arm the guard for a query of at most ``timeout_s`` seconds (None: no limit)."""
        with self._lock:
            self._generation += 1
            self.timeout_s = timeout_s
            self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
            if self.deadline is not None and self._interrupters:
                _Watchdog.get().arm(self.deadline, self, self._generation)

    def stop(self) -> None:
        """Disarm the guard: the query ended, and its alarm must not hit the next one."""
        with self._lock:
            self._generation += 1
            self.deadline = None
            self.timeout_s = None

    def expired(self) -> bool:
        """Whether the armed query is past its deadline."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def _fire(self, generation: int) -> None:
        # Under the lock, so a query that has finished (stop) is never interrupted afterwards,
        # and the next query on the connection cannot be hit by its predecessor's alarm.
        with self._lock:
            if generation != self._generation or self.deadline is None:
                return
            for interrupt in self._interrupters:
                try:
                    interrupt()
                except Exception:  # a connection closed meanwhile has nothing left to stop
                    pass


class _Watchdog:
    """One daemon thread for the whole process, waking at the earliest armed deadline."""

    _instance: "_Watchdog | None" = None
    _create_lock = threading.Lock()

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Any, int]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="querygym-watchdog", daemon=True)
        self._thread.start()
        # Ended before the interpreter tears modules down: a thread still running then keeps
        # native extension objects alive (DuckDB's bindings report them as leaks).
        atexit.register(self.stop)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=1.0)

    @classmethod
    def get(cls) -> "_Watchdog":
        if cls._instance is None:
            with cls._create_lock:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance

    def arm(self, deadline: float, guard: QueryGuard, generation: int) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._counter), weakref.ref(guard), generation))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                deadline, _, ref, generation = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            guard = ref()
            if guard is not None:
                guard._fire(generation)
