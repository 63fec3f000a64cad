"""One thread that runs the timers of every connection in the process (keepalive pings).

Why not a keepalive thread per connection: an idle thread costs about 16 KiB of memory
(its stack pages and thread state), as much as the rest of an idle connection's
objects, and a server holds thousands of idle connections. Keepalive work is a few
microseconds every ``ping_interval`` seconds, so one thread does it for all of them.

The rule that makes sharing safe: a callback must never wait on the network or on a
peer. Connections queue their ping and write it only if that can't block; a timeout
fails the connection without waiting for the closing handshake, and schedules the
abort that bounds it (see ``Connection._keepalive_tick()``).

The thread starts with the first timer and ends when no timer is left, so a process
without keepalive has no such thread. It's a daemon: a pending ping doesn't keep the
interpreter alive. After ``fork()`` the child starts its own thread when it needs one.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

__all__ = ["Timer", "Scheduler", "scheduler"]

logger = logging.getLogger(__name__)

# Heap size below which cancelled entries are left to expire rather than compacted.
_MIN_COMPACT = 64


class Timer:
    """A scheduled call; :meth:`cancel` drops it (and its reference to the callback)."""

    __slots__ = ("when", "callback", "_scheduler")

    def __init__(self, when: float, callback: Callable[[], object], scheduler: Scheduler) -> None:
        self.when = when
        self.callback: Callable[[], object] | None = callback
        self._scheduler = scheduler

    def cancel(self) -> None:
        """Don't call the callback; nothing happens if it's already running or done."""
        self._scheduler._cancel(self)

    @property
    def cancelled(self) -> bool:
        return self.callback is None


class Scheduler:
    """Calls callbacks at given :func:`time.monotonic` times, from one thread."""

    def __init__(self, name: str = "websocket_ref-timers") -> None:
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        # Entries: (when, sequence number for FIFO order among equal times, timer).
        self._heap: list[tuple[float, int, Timer]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self._compact_at = _MIN_COMPACT

    def call_at(self, when: float, callback: Callable[[], object]) -> Timer:
        """Call ``callback()`` in the scheduler thread at ``when`` (monotonic clock)."""
        timer = Timer(when, callback, self)
        with self._cond:
            heap = self._heap
            if len(heap) >= self._compact_at:
                # Drop the entries of cancelled timers (connections that closed), once
                # the heap has doubled since the last time: amortized O(1) per timer.
                heap[:] = [entry for entry in heap if not entry[2].cancelled]
                heapq.heapify(heap)
                self._compact_at = max(_MIN_COMPACT, 2 * len(heap))
            heapq.heappush(heap, (when, next(self._counter), timer))
            if self._thread is None:
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                thread.start()  # may raise RuntimeError at shutdown; the timer stays queued
                self._thread = thread
            elif heap[0][2] is timer:
                self._cond.notify()  # earlier than what the thread waits for
        return timer

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Call ``callback()`` in the scheduler thread after ``delay`` seconds."""
        return self.call_at(time.monotonic() + delay, callback)

    def _cancel(self, timer: Timer) -> None:
        with self._cond:
            # Dropping the callback releases what it's bound to (a connection) at once.
            timer.callback = None
            if self._heap and self._heap[0][2] is timer:
                # The thread may be waiting for this one: let it drop it (and end, if it
                # was the last), rather than linger until the time it was due.
                self._cond.notify()

    def _run(self) -> None:
        heap = self._heap
        cond = self._cond
        while True:
            with cond:
                while True:
                    while heap and heap[0][2].cancelled:
                        heapq.heappop(heap)
                    if not heap:
                        # Nothing left to do: end; call_at() starts a new thread.
                        self._thread = None
                        return
                    delay = heap[0][0] - time.monotonic()
                    if delay <= 0:
                        break
                    cond.wait(delay)
                timer = heapq.heappop(heap)[2]
                callback = timer.callback
                timer.callback = None
            if callback is None:
                continue
            try:
                callback()
            except Exception:  # a bug in a callback mustn't stop every other timer
                logger.error("unexpected error in a timer callback", exc_info=True)

    def _after_fork(self) -> None:
        # The thread didn't survive the fork; neither do the parent's timers.
        self._cond = threading.Condition(threading.Lock())
        self._heap = []
        self._thread = None
        self._compact_at = _MIN_COMPACT


#: The process-wide scheduler used by connections.
scheduler = Scheduler()

if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=scheduler._after_fork)
