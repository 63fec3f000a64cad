"""One thread that reads the sockets of every connection in the process.

Why not a reader thread per connection: a server holds thousands of mostly idle
connections, and each thread costs memory (its stack pages and thread state, about as
much as the rest of an idle connection) and a context switch per message on top of the
application's own thread. One thread waiting in a :mod:`selectors` selector reads
whichever socket has data, feeds the connection's Sans-I/O core and wakes the
application thread waiting in ``recv()``.

The rule that makes sharing safe: nothing run in this thread may wait for long — not
on the network, not on a peer, not on an application thread. Connections read only what
a readable socket holds, write only what the socket takes at once (else they ask to be
called when it's writable), and instead of blocking while their message queue is full
(``max_queue``) they stop reading: the socket leaves the selector until the
application drains the queue. Application code never runs here; a ``trace`` hook and
log handlers do, for received frames, and mustn't block either.

Like the timer thread (:mod:`.scheduler`), the thread starts with the first
connection and ends when no connection is left, so a process without connections has
no such thread. It's a daemon. After ``fork()`` the child starts its own thread when it
needs one.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import selectors
import socket
import threading
from collections.abc import Callable

__all__ = ["SelectorThread", "Reactor", "selector_thread"]

logger = logging.getLogger(__name__)


class Reactor:
    """One run of the selector thread: its selector, wake-up socket pair and queued calls.

    Everything that touches the selector runs in the thread; other threads queue calls
    with :meth:`call_soon`.
    """

    def __init__(self, owner: SelectorThread, name: str) -> None:
        self._owner = owner
        self._selector = selectors.DefaultSelector()
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, None)
        self._calls: collections.deque[Callable[[], object]] = collections.deque()
        #: Connections attached (guarded by the owner's lock): the thread ends at zero.
        self.users = 0
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    # Any thread

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Run ``callback()`` in the selector thread, soon."""
        self._calls.append(callback)
        if threading.current_thread() is not self.thread:
            # BlockingIOError: wake-up bytes are waiting already; OSError: the thread
            # ended (only a connection that's done can still call: nothing to do).
            with contextlib.suppress(OSError):
                self._wakeup_w.send(b"\0")

    def in_thread(self) -> bool:
        """Whether the caller is the selector thread."""
        return threading.current_thread() is self.thread

    # Selector thread only

    def set_interest(
        self, sock: socket.socket, events: int, callback: Callable[[int], None]
    ) -> None:
        """Watch ``sock`` for ``events`` (0: stop watching it).

        ``callback`` gets the events that are ready (``selectors.EVENT_READ`` and/or
        ``selectors.EVENT_WRITE``).
        """
        selector = self._selector
        try:
            key = selector.get_key(sock)
        except KeyError:
            if events:
                selector.register(sock, events, callback)
            return
        if not events:
            selector.unregister(key.fileobj)
        elif key.events != events:
            selector.modify(key.fileobj, events, callback)

    def forget(self, sock: socket.socket) -> None:
        """Stop watching ``sock``, before it's closed (its descriptor may be reused)."""
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def _run(self) -> None:
        selector = self._selector
        calls = self._calls
        owner = self._owner
        try:
            while True:
                for key, mask in selector.select():
                    callback = key.data
                    if callback is None:
                        with contextlib.suppress(OSError):
                            while self._wakeup_r.recv(4096):
                                pass
                        continue
                    try:
                        callback(mask)
                    except Exception:  # a bug in one connection mustn't stop the others
                        logger.error("unexpected error in the selector thread", exc_info=True)
                while calls:
                    try:
                        calls.popleft()()
                    except Exception:
                        logger.error("unexpected error in the selector thread", exc_info=True)
                # Only this thread counts connections out (detach()): while users > 0,
                # the lock isn't needed to know the thread goes on.
                if self.users == 0 and not calls:
                    with owner._lock:
                        if self.users or calls:
                            continue  # a connection came in meanwhile
                        # Nothing left to read: end; the next connection starts a thread.
                        if owner._reactor is self:
                            owner._reactor = None
                        return
        finally:
            selector.close()
            self._wakeup_r.close()
            self._wakeup_w.close()


class SelectorThread:
    """Hands out the running :class:`Reactor`, starting one when none runs."""

    def __init__(self, name: str = "websocket_ref-selector") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._reactor: Reactor | None = None

    def attach(self) -> Reactor:
        """Count a connection in; return the reactor that will read for it.

        The connection calls :meth:`detach` from the selector thread once it's done.
        """
        with self._lock:
            reactor = self._reactor
            # Not alive: a fork() copied this object, but not the thread.
            if reactor is None or not reactor.thread.is_alive():
                reactor = Reactor(self, self._name)
                reactor.thread.start()
                self._reactor = reactor
            reactor.users += 1
            return reactor

    def detach(self, reactor: Reactor) -> None:
        """Count a connection out. Called in the selector thread."""
        with self._lock:
            reactor.users -= 1

    def _after_fork(self) -> None:
        # The thread didn't survive the fork; neither do the parent's connections.
        self._lock = threading.Lock()
        self._reactor = None


#: The process-wide selector thread used by client connections (a server has its own).
selector_thread = SelectorThread()

if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=selector_thread._after_fork)
