"""Reassembling messages from frames, between the reader thread and the application.

The reader thread puts data frames (TEXT, BINARY, CONT) in a queue; ``recv`` takes the
frames of one message and joins them into one buffer as it takes them
(:class:`~websocket_ref.messages.MessageBuffer`: memory is the size of the message plus a
constant, however many fragments it came in); ``recv_streaming`` hands them over one by one.
Frames were already checked by the Sans-I/O core (fragmentation order, UTF-8 of text
messages, sizes), so this module only moves and joins them.

Flow control: when the queue reaches its high-water mark, the reader stops reading the
socket until the application brings it down to the low-water mark. TCP then pushes back
on the peer, so a fast sender can't fill this process's memory.

The reader is either a thread of the connection's own, which blocks in
:meth:`Assembler.wait_for_room` and :meth:`Assembler.wait_until_starved`, or the shared
selector thread (:mod:`.selector`), which mustn't block: it asks
:meth:`Assembler.pause_if_full` and :meth:`Assembler.starved_or_wait` instead, stops
reading when they say so, and the application thread that changes what they answer calls
``on_wake`` (which only queues a call to the selector thread).
"""

from __future__ import annotations

import codecs
import collections
import threading
from collections.abc import Callable, Iterator

from ..exceptions import ConcurrencyError
from ..frames import Frame, Opcode
from ..messages import MessageBuffer
from .utils import Deadline

__all__ = ["Assembler", "Data"]

_TEXT = Opcode.TEXT  # looked up once: reading an enum member costs more on Python 3.11

#: A message: ``str`` for text, ``bytes`` for binary (unless ``decode`` says otherwise).
Data = str | bytes


class Assembler:
    """The queue of received frames, with flow control and message reassembly.

    ``get`` and ``get_iter`` raise :class:`EOFError` once the queue is closed and no
    complete message is left, and :class:`~websocket_ref.exceptions.ConcurrencyError`
    if two threads read at once.
    """

    def __init__(self, high: int | None = None, low: int | None = None) -> None:
        self._mutex = threading.Lock()
        # The application thread waits for frames on a lock of its own, which the reader
        # releases to wake it up (at most one thread reads at a time): the same as a
        # threading.Condition, without Condition's Python code on both sides of every
        # message that finds the application waiting. Locked unless a wake-up is due.
        self._frames_available = threading.Lock()
        self._frames_available.acquire()
        # The reader thread waits for room.
        self._room_available = threading.Condition(self._mutex)
        # The reader thread waits for the application to want a message the queue lacks.
        self._starved = threading.Condition(self._mutex)
        self._app_waiting = False  # an application thread waits in _take()
        self._starved_waiting = False  # the reader thread waits in wait_until_starved()
        self._frames: collections.deque[Frame] = collections.deque()
        # The fragments of a message that a get() took before it timed out, joined as they
        # were taken (one growing buffer, not an object per fragment): kept for the next.
        self._partial = MessageBuffer()
        self._high = high
        self._low = low
        self._reading = False  # a thread is in get() or get_iter()
        self._closed = False
        self._paused_allowed = True  # cleared once this side is closing the connection
        self._discarding = False  # dropping frames: closing with a full queue
        self._skip_rest = False  # a streamed message was abandoned: drop its remaining frames
        #: Whether the reader thread is waiting for room (it doesn't read the socket).
        self.paused = False
        #: How many times the reader thread paused.
        self.pauses = 0
        #: Set by a reader that doesn't block (the selector thread): called, under the
        #: queue's mutex, when the queue has room again or the application starves,
        #: after :meth:`pause_if_full` or :meth:`starved_or_wait` said to wait.
        self.on_wake: Callable[[], None] | None = None
        #: Set by a connection whose application thread may read the socket itself
        #: while it waits for a frame (see ``Connection._read_self()``): called with
        #: the seconds left (None: no limit), without the mutex, by the one thread in
        #: :meth:`get` or :meth:`get_iter`. True: it read (look at the queue again);
        #: False: wait for the reader as usual.
        self.read_self: Callable[[float | None], bool] | None = None

    # Reader side

    def put(self, frames: list[Frame]) -> None:
        """Queue the data frames received in one read and wake up a waiting reader."""
        with self._mutex:
            if self._closed:
                return
            queue = self._frames
            for frame in frames:
                if self._skip_rest:
                    self._skip_rest = not frame.fin
                    continue
                if self._discarding:
                    continue
                if not self._paused_allowed and self._high is not None and len(queue) >= self._high:
                    # The application is closing and not reading: keep memory bounded.
                    self._discarding = True
                    continue
                queue.append(frame)
            if self._app_waiting:
                self._wake_app()

    def wait_for_room(self) -> None:
        """Block the reader thread while the queue is above its high-water mark."""
        high = self._high
        if high is None or len(self._frames) < high:
            return
        low = self._low if self._low is not None else 0
        with self._mutex:
            # Once paused, resume only at the low-water mark: reading restarts in batches.
            while self._paused_allowed and not self._closed and len(self._frames) > low:
                if not self.paused:
                    self.paused = True
                    self.pauses += 1
                self._room_available.wait()
            self.paused = False

    def pause_if_full(self) -> bool:
        """:meth:`wait_for_room` without blocking: True if the reader must stop reading.

        ``on_wake`` is called once the queue is down to its low-water mark (or reading
        must resume for closing); the reader then asks again.
        """
        high = self._high
        if high is None or len(self._frames) < high:
            return False
        with self._mutex:
            if self._paused_allowed and not self._closed and len(self._frames) >= high:
                if not self.paused:
                    self.paused = True
                    self.pauses += 1
                return True
            self.paused = False
            return False

    def _is_starved(self) -> bool:
        return self._closed or not self._paused_allowed or (self._app_waiting and not self._frames)

    def starved_or_wait(self) -> bool:
        """:meth:`wait_until_starved` without blocking: True if the application starves.

        Otherwise ``on_wake`` is called when it does (or the queue closes, or this side
        starts closing); the reader bounds the wait itself.
        """
        with self._mutex:
            if self._is_starved():
                self._starved_waiting = False
                return True
            self._starved_waiting = True
            return False

    def _wake_reader(self) -> None:
        """Tell a paused or waiting reader to look again. Called with the mutex held."""
        self._room_available.notify_all()
        self._starved.notify_all()
        on_wake = self.on_wake
        if on_wake is not None and (self.paused or self._starved_waiting):
            self.paused = False
            self._starved_waiting = False
            on_wake()

    def wait_until_starved(self, timeout: float) -> None:
        """Block until the application waits for a message that isn't queued.

        Used after the core held back a protocol failure: the application takes (and
        answers) the messages before the bad frame first. Returns early when this side
        starts closing or the queue closes, and after ``timeout`` seconds in any case,
        so an application that doesn't read can't keep a broken connection open.
        """
        deadline = Deadline(timeout)
        with self._mutex:
            while not self._is_starved():
                remaining = deadline.timeout(raise_if_elapsed=False)
                if remaining == 0:
                    return
                self._starved_waiting = True
                try:
                    if not self._starved.wait(remaining):
                        return
                finally:
                    self._starved_waiting = False

    def stop_pausing(self) -> None:
        """Let the reader run freely: this side is closing and must see the peer's reply."""
        with self._mutex:
            self._paused_allowed = False
            self._wake_reader()

    def close(self) -> None:
        """No more frames will come: wake up every waiting thread."""
        with self._mutex:
            self._closed = True
            if self._app_waiting:
                self._wake_app()
            self._wake_reader()

    # Application side

    def _wake_app(self) -> None:
        """Wake up the application thread waiting in :meth:`_take`. Called with the
        mutex held, when ``_app_waiting`` is set."""
        self._app_waiting = False
        self._frames_available.release()

    def _take(self, deadline: Deadline | None) -> Frame:
        """Pop the next frame, waiting for it. Called with the mutex held."""
        queue = self._frames
        while not queue:
            if self._closed:
                raise EOFError("stream of frames ended")
            timeout = None if deadline is None else deadline.timeout(raise_if_elapsed=False)
            if timeout == 0:
                raise TimeoutError("timed out while waiting for a message")
            read_self = self.read_self
            if read_self is not None:
                # Read the socket in this thread rather than wait for the reader to.
                self._mutex.release()
                try:
                    read = read_self(timeout)
                finally:
                    self._mutex.acquire()
                # It read, or the reader put frames meanwhile (it didn't wake this
                # thread, which wasn't waiting yet): look again. The deadline too.
                if read or queue or self._closed:
                    continue
            self._app_waiting = True
            if self._starved_waiting:
                self._wake_reader()
            mutex = self._mutex
            woken = False
            mutex.release()
            try:
                woken = self._frames_available.acquire(True, -1 if timeout is None else timeout)
            finally:
                mutex.acquire()
                if not woken:
                    if self._app_waiting:  # nobody woke us up
                        self._app_waiting = False
                    else:  # woken after the wait ended: take the wake-up back
                        self._frames_available.acquire(False)
            # Woken up or timed out: look at the queue again (an elapsed timeout raises).
        frame = queue.popleft()
        # The reader thread sets `paused` (under the mutex) before it waits for room.
        if self.paused and len(queue) <= (self._low or 0):
            self._wake_reader()
        return frame

    def get(self, timeout: float | None = None, decode: bool | None = None) -> Data:
        """Return the next message; wait ``timeout`` seconds at most (None: no limit).

        On timeout, frames of a partially received message are kept for the next call.
        """
        deadline = None if timeout is None else Deadline(timeout)
        with self._mutex:
            if self._reading:
                raise ConcurrencyError(
                    "cannot call recv while another thread "
                    "is already running recv or recv_streaming"
                )
            self._reading = True
            try:
                message = self._partial
                frame = self._take(deadline)
                if message.opcode is None and frame.fin:
                    # A message in one frame, the common case: its payload as it is,
                    # as MessageBuffer would return it, without building one.
                    data = frame.data
                    if decode is None:
                        decode = frame.opcode is _TEXT
                    return data.decode() if decode else data
                while True:
                    message.add(frame)
                    if frame.fin:
                        break
                    frame = self._take(deadline)
                self._partial = MessageBuffer()
            finally:
                self._reading = False
        return message.message(decode)

    def get_iter(self, decode: bool | None = None) -> Iterator[Data]:
        """Yield the fragments of the next message as they arrive.

        Text fragments are decoded incrementally (a UTF-8 sequence may be split across
        frames). If the caller abandons the iterator, the rest of the message is dropped.
        """
        with self._mutex:
            if self._reading:
                raise ConcurrencyError(
                    "cannot call recv_streaming while another thread "
                    "is already running recv or recv_streaming"
                )
            self._reading = True
        finished = False
        try:
            with self._mutex:
                partial, self._partial = self._partial, MessageBuffer()
                frame = partial.as_frame() if partial.opcode is not None else self._take(None)
            as_text = frame.opcode is Opcode.TEXT if decode is None else decode
            decoder = codecs.getincrementaldecoder("utf-8")() if as_text else None
            while True:
                if decoder is not None:
                    yield decoder.decode(frame.data, frame.fin)
                else:
                    yield frame.data
                if frame.fin:
                    finished = True
                    return
                with self._mutex:
                    frame = self._take(None)
        finally:
            with self._mutex:
                self._reading = False
                if not finished and not self._closed:
                    self._skip_rest = True
                    # Drop what's already queued of the abandoned message.
                    queue = self._frames
                    while queue and self._skip_rest:
                        self._skip_rest = not queue.popleft().fin
                    if len(queue) <= (self._low or 0):
                        self._wake_reader()
                    else:
                        self._room_available.notify()
