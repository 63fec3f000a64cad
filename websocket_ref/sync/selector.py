"""One thread that reads the sockets of every connection in the process.

Why not a reader thread per connection: a server holds thousands of mostly idle
connections, and each thread costs memory (its stack pages and thread state, about as
much as the rest of an idle connection) and a context switch per message on top of the
application's own thread. One thread waiting in epoll (or a :mod:`selectors` selector) reads
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
import select
import selectors
import socket
import threading
from collections.abc import Callable

__all__ = ["SelectorThread", "Reactor", "selector_thread"]

logger = logging.getLogger(__name__)


_Callback = Callable[[int], None]


class Poller:
    """Which watched sockets are ready: :mod:`selectors`, the reference.

    ``watch(sock, events, callback)`` with ``selectors.EVENT_READ``/``EVENT_WRITE``
    (0: stop watching), ``forget(sock)``, and ``ready()``: the ``(callback, events)``
    pairs of the sockets ready now, waiting until there is one. Only the selector thread
    calls them; ``suspend_reading()``/``resume_reading()`` are for other threads.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()

    def watch(self, sock: socket.socket, events: int, callback: _Callback | None) -> None:
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
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def watches(self, fd: int) -> bool:
        return any(key.fd == fd for key in self._selector.get_map().values())

    def suspend_reading(self, sock: socket.socket) -> bool:
        """Lend ``sock``'s reading to another thread (see :class:`EpollPoller`): False,
        not done here. The reference poller always reads in the selector thread."""
        return False

    def resume_reading(self, sock: socket.socket) -> None:
        """Undo :meth:`suspend_reading`."""

    def suspend_while(self, sock: socket.socket, lock: threading.Lock) -> None:
        """See :meth:`EpollPoller.suspend_while`."""

    def ready(self) -> list[tuple[_Callback | None, int]]:
        return [(key.data, mask) for key, mask in self._selector.select()]

    def close(self) -> None:
        self._selector.close()


class EpollPoller(Poller):
    """:class:`Poller` on ``select.epoll`` directly (Linux), for the cost per wake-up.

    ``selectors``' ``select()`` runs about 80 bytecodes per ready socket (timeout
    arithmetic, a key object looked up by method call); this is the same
    ``epoll_wait`` with a dictionary lookup. Events are reported as
    ``selectors.EpollSelector`` reports them: an error or hang-up makes a socket
    both readable and writable, filtered by what it's watched for.

    It also lends a socket's reading to another thread (:meth:`suspend_reading`): the
    thread waiting in a connection's ``recv()`` reads that socket itself meanwhile, and
    the selector thread mustn't be woken by the bytes it reads.
    """

    def __init__(self) -> None:
        self._epoll = select.epoll()
        # fd -> (events, callback, socket): what the selector thread watches for.
        self._watched: dict[int, tuple[int, _Callback | None, socket.socket]] = {}
        # fd -> the epoll mask registered (absent: not registered): the watched events,
        # without reading while another thread reads the socket (fd in _suspended).
        self._masks: dict[int, int] = {}
        self._suspended: dict[int, socket.socket] = {}
        # The selector thread changes what it watches; another thread suspends and
        # resumes reading: the registered mask is computed from both under this lock.
        self._lock = threading.Lock()

    @staticmethod
    def _epoll_events(events: int) -> int:
        return (select.EPOLLIN if events & selectors.EVENT_READ else 0) | (
            select.EPOLLOUT if events & selectors.EVENT_WRITE else 0
        )

    def _register(self, fd: int) -> None:
        """Bring epoll in line with ``_watched`` and ``_suspended``. Under ``_lock``."""
        watched = self._watched.get(fd)
        mask = 0 if watched is None else self._epoll_events(watched[0])
        if fd in self._suspended:
            mask &= ~select.EPOLLIN
        registered = self._masks.get(fd)
        if registered == mask or (registered is None and not mask):
            return
        if registered is None:
            self._epoll.register(fd, mask)
            self._masks[fd] = mask
        elif not mask:
            del self._masks[fd]
            with contextlib.suppress(OSError):  # a closed descriptor left epoll itself
                self._epoll.unregister(fd)
        else:
            self._epoll.modify(fd, mask)
            self._masks[fd] = mask

    def watch(self, sock: socket.socket, events: int, callback: _Callback | None) -> None:
        fd = sock.fileno()
        with self._lock:
            watched = self._watched.get(fd)
            if watched is not None and watched[0] == events:
                return
            if events:
                self._watched[fd] = (events, callback, sock)
            elif watched is None:
                return
            else:
                del self._watched[fd]
                self._suspended.pop(fd, None)
            self._register(fd)

    def forget(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        with self._lock:
            if fd < 0:  # closed already: find it by identity, as selectors does
                fd = next((k for k, v in self._watched.items() if v[2] is sock), -1)
            self._suspended.pop(fd, None)
            if self._watched.pop(fd, None) is not None:
                self._register(fd)

    def watches(self, fd: int) -> bool:
        return fd in self._watched

    def suspend_reading(self, sock: socket.socket) -> bool:
        """Stop reporting ``sock`` readable: another thread reads it until
        :meth:`resume_reading`. False (nothing changed) unless it's watched for reading.

        What the selector thread asks meanwhile (:meth:`watch`) is kept, and applied
        without reading until reading resumes; :meth:`forget` ends the suspension.
        """
        fd = sock.fileno()
        with self._lock:
            watched = self._watched.get(fd)
            if watched is None or not watched[0] & selectors.EVENT_READ:
                return False
            if fd not in self._suspended:  # else suspend_while() did, for this caller
                self._suspended[fd] = sock
                self._register(fd)
            return True

    def suspend_while(self, sock: socket.socket, lock: threading.Lock) -> None:
        """For the selector thread, which found ``sock`` readable but another thread
        holding ``lock`` to read it: suspend reading now, if that thread still holds
        it. That thread calls :meth:`resume_reading` after releasing the lock, in any
        case; until then, an event that it's about to read would wake this thread
        again and again."""
        fd = sock.fileno()
        with self._lock:
            watched = self._watched.get(fd)
            if (
                lock.locked()
                and watched is not None
                and watched[0] & selectors.EVENT_READ
                and fd not in self._suspended
            ):
                self._suspended[fd] = sock
                self._register(fd)

    def resume_reading(self, sock: socket.socket) -> None:
        """Report ``sock`` readable again, if it's still watched for reading."""
        fd = sock.fileno()
        with self._lock:
            if self._suspended.get(fd) is sock:
                del self._suspended[fd]
                self._register(fd)

    def ready(self) -> list[tuple[_Callback | None, int]]:
        watched = self._watched
        ready: list[tuple[_Callback | None, int]] = []
        for fd, event in self._epoll.poll():
            entry = watched.get(fd)
            if entry is None:
                continue
            if event == _EPOLLIN:  # the common case
                mask = _EVENT_READ
            else:
                mask = (_EVENT_WRITE if event & ~_EPOLLIN else 0) | (
                    _EVENT_READ if event & ~_EPOLLOUT else 0
                )
            mask &= entry[0]
            if mask:
                ready.append((entry[1], mask))
        return ready

    def close(self) -> None:
        self._epoll.close()


_EPOLLIN = getattr(select, "EPOLLIN", 1)
_EPOLLOUT = getattr(select, "EPOLLOUT", 4)
_EVENT_READ = selectors.EVENT_READ
_EVENT_WRITE = selectors.EVENT_WRITE


def new_poller() -> Poller:
    """The fastest poller of the platform: epoll where there is one.

    ``WEBSOCKET_REF_NO_EPOLL`` set to anything but empty or ``0`` selects the reference
    poller (:mod:`selectors`), like the library's other ``WEBSOCKET_REF_NO_*`` switches.
    """
    if hasattr(select, "epoll") and os.environ.get("WEBSOCKET_REF_NO_EPOLL", "") in ("", "0"):
        return EpollPoller()
    return Poller()


class Reactor:
    """One run of the selector thread: its selector, wake-up socket pair and queued calls.

    Everything that touches the selector runs in the thread; other threads queue calls
    with :meth:`call_soon`.
    """

    def __init__(self, owner: SelectorThread, name: str) -> None:
        self._owner = owner
        self._poller = new_poller()
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._poller.watch(self._wakeup_r, selectors.EVENT_READ, None)
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

    def suspend_reading(self, sock: socket.socket) -> bool:
        """Stop reading ``sock`` in this thread while the caller reads it; False if
        that can't be done now (not watched for reading yet, or not by this poller).

        The caller reads only what it got the socket for, then :meth:`resume_reading`.
        """
        return self._poller.suspend_reading(sock)

    def resume_reading(self, sock: socket.socket) -> None:
        """Give ``sock``'s reading back to this thread."""
        self._poller.resume_reading(sock)

    def suspend_while(self, sock: socket.socket, lock: threading.Lock) -> None:
        """Selector thread: stop reading ``sock`` if another thread holds ``lock``
        to read it (it calls :meth:`resume_reading` once done)."""
        self._poller.suspend_while(sock, lock)

    @property
    def lends_reading(self) -> bool:
        """Whether :meth:`suspend_reading` can succeed: the epoll poller."""
        return isinstance(self._poller, EpollPoller)

    # Selector thread only

    def set_interest(
        self, sock: socket.socket, events: int, callback: Callable[[int], None]
    ) -> None:
        """Watch ``sock`` for ``events`` (0: stop watching it).

        ``callback`` gets the events that are ready (``selectors.EVENT_READ`` and/or
        ``selectors.EVENT_WRITE``).
        """
        self._poller.watch(sock, events, callback)

    def forget(self, sock: socket.socket) -> None:
        """Stop watching ``sock``, before it's closed (its descriptor may be reused)."""
        self._poller.forget(sock)

    def watches(self, sock: socket.socket) -> bool:
        """Whether ``sock`` is being watched (for tests)."""
        return self._poller.watches(sock.fileno())

    def _run(self) -> None:
        poller = self._poller
        calls = self._calls
        owner = self._owner
        try:
            while True:
                for callback, mask in poller.ready():
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
            poller.close()
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
