"""Reassembling incoming messages, with flow control on the number of queued frames.

The Sans-I/O core delivers data frames as they are parsed: a message is one TEXT or
BINARY frame with ``fin`` set, or such a frame without ``fin`` followed by CONT frames
up to one with ``fin``. The :class:`Assembler` queues them until the application reads
them, either whole (:meth:`Assembler.get`) or fragment by fragment
(:meth:`Assembler.next_fragment`).

Memory stays bounded because the queue is: when it holds ``high`` frames, the
assembler asks the connection to stop reading from the transport (``pause``), so TCP
flow control pushes back on the peer; when the application has drained it to ``low``
frames, reading resumes (``resume``). The size of each frame, and of each message, is
bounded by the core's ``max_size``, and the number of frames of a message by its
``max_fragments``. ``get()`` joins a message's fragments into one buffer as it takes
them (:class:`~websocket_ref.messages.MessageBuffer`): memory is the size of the message
plus a constant, however many fragments it came in.
"""

from __future__ import annotations

import asyncio
import codecs
from collections import deque
from collections.abc import Callable
from typing import Final

from ..exceptions import ConcurrencyError
from ..frames import Frame, Opcode
from ..messages import MessageBuffer

__all__ = ["Assembler", "Data", "MISSING"]

#: What a message is, once assembled: ``str`` for text, ``bytes`` for binary.
Data = str | bytes


class _Missing:
    """Type of :data:`MISSING`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: Returned by :meth:`Assembler.get_nowait` when no complete message is queued.
#: Final: a constant in the mypyc build, read without a lookup in the module's dict.
MISSING: Final = _Missing()

# What asyncio's own event loops do in create_future(): a plain Future.
_create_future = asyncio.BaseEventLoop.create_future
_Future: Final = asyncio.Future


class Assembler:
    """A bounded queue of data frames, read as messages or as fragments.

    Only one reader at a time: a second concurrent :meth:`get` or stream raises
    :class:`~websocket_ref.exceptions.ConcurrencyError`. Once :meth:`close` is called
    (no more frames will arrive), readers get what is still queued, then
    :exc:`EOFError`.
    """

    __slots__ = (
        "frames",
        "high",
        "low",
        "pause",
        "resume",
        "paused",
        "closed",
        "overflow_drop",
        "dropping",
        "reading",
        "skipping",
        "consumed",
        "stream_fin",
        "waiter",
        "on_starved",
        "loop",
        "plain_futures",
    )

    def __init__(
        self,
        high: int | None,
        low: int | None,
        pause: Callable[[], None],
        resume: Callable[[], None],
    ) -> None:
        if high is not None and low is None:
            low = high // 4
        if high is not None and low is not None and not 0 <= low <= high:
            raise ValueError("max_queue needs 0 <= low <= high")
        self.frames: deque[Frame] = deque()
        self.high = high
        self.low = low
        self.pause = pause
        self.resume = resume
        #: Whether the connection was asked to stop reading.
        self.paused = False
        #: Whether the stream of frames ended (close frame received or connection lost).
        self.closed = False
        #: Drop new messages instead of pausing (the connection is closing).
        self.overflow_drop = False
        self.dropping = False  # dropping the frames of the current message
        self.reading = False  # a reader is active (get() or a stream)
        self.skipping = False  # discard frames up to the end of an abandoned message
        self.consumed = 0  # fragments handed out by the current stream
        self.stream_fin = False  # the last fragment handed out ended its message
        self.waiter: asyncio.Future[None] | None = None
        #: Called once when a reader finds the queue empty and is about to wait.
        self.on_starved: Callable[[], None] | None = None
        # The event loop, once a reader waited: asyncio.get_running_loop() costs a
        # getpid() system call, too much for every message.
        self.loop: asyncio.AbstractEventLoop | None = None
        # Whether that loop's create_future() is asyncio's own, a plain Future: then
        # the Future is made here, without a call to a Python method.
        self.plain_futures = False

    # Producer side, called by the connection from protocol callbacks.

    def put(self, frame: Frame) -> None:
        """Queue a data frame received from the peer."""
        frames = self.frames
        high = self.high
        if high is not None and len(frames) >= high and (self.overflow_drop or self.dropping):
            # Closing: reading must go on to see the peer's close frame, but nobody
            # may read what follows; drop whole messages rather than queue without bound.
            if frame.opcode is not Opcode.CONT:
                self.dropping = True
            if self.dropping:
                if frame.fin:
                    self.dropping = False
                return
        frames.append(frame)
        if high is not None and len(frames) >= high and not self.paused:
            self._maybe_pause()
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _maybe_pause(self) -> None:
        high = self.high
        if high is None or self.paused or self.overflow_drop or len(self.frames) < high:
            return
        self.paused = True
        self.pause()

    def close(self) -> None:
        """No more frames will arrive: wake the reader so it can drain the queue."""
        self.closed = True
        self.overflow_drop = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def stop_pausing(self) -> None:
        """Keep reading from now on: the connection is closing and must see a close frame."""
        self.overflow_drop = True
        if self.paused:
            self.paused = False
            self.resume()

    # Consumer side, called by the application through the connection.

    def _popleft(self) -> Frame:
        frame = self.frames.popleft()
        if self.paused:
            low = self.low
            if low is not None and len(self.frames) <= low:
                self.paused = False
                self.resume()
        return frame

    def get_nowait(self, decode: bool | None) -> Data | _Missing:
        """Return the next message if it's queued in one frame, else :data:`MISSING`.

        The fast path of ``recv()``: no coroutine, no waiting, no copy.
        """
        frames = self.frames
        if frames and frames[0].fin and not self.reading and not self.skipping:
            frame = self._popleft()
            if decode is None:
                decode = frame.opcode is Opcode.TEXT
            return frame.data.decode() if decode else frame.data
        return MISSING

    def _starved(self) -> None:
        callback, self.on_starved = self.on_starved, None
        if callback is not None:
            callback()

    def _create_waiter(self) -> asyncio.Future[None]:
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
            self.plain_futures = type(loop).create_future is _create_future
        # With asyncio's own loops, the Future create_future() makes, without the Python
        # method. Not Future(): without loop=, its __init__ asks get_running_loop(), i.e. a
        # getpid() system call, which costs more than the keyword argument's parsing.
        waiter: asyncio.Future[None] = (
            _Future(loop=loop) if self.plain_futures else loop.create_future()
        )
        self.waiter = waiter
        return waiter

    async def _wait(self) -> None:
        waiter = self._create_waiter()
        if self.on_starved is not None:
            self._starved()
        try:
            await waiter
        finally:
            self.waiter = None

    async def _next(self) -> Frame:
        """The next frame for the reader, waiting for one; skip an abandoned message's end."""
        while True:
            while not self.frames:
                if self.closed:
                    raise EOFError("no more frames")
                await self._wait()
            frame = self._popleft()
            if self.skipping:
                if frame.fin:
                    self.skipping = False
                continue
            return frame

    def _enter(self, method: str = "recv") -> None:
        if self.reading:
            # websockets' words, which applications may match
            raise ConcurrencyError(
                f"cannot call {method} while another coroutine "
                "is already running recv or recv_streaming"
            )
        self.reading = True

    async def get(self, decode: bool | None) -> Data:
        """Wait for the next complete message and return it.

        Cancellation-safe: frames already taken from the queue are put back.
        Raise :exc:`EOFError` once the queue is empty and closed.
        """
        self._enter()
        # The fragments' payloads are joined as they're taken: one growing buffer, not a
        # list with an object per fragment (a peer may send a million of them). Created
        # for fragmented messages only: a message in one frame is returned as it is.
        message: MessageBuffer | None = None
        queue = self.frames
        try:
            # _next() inlined: this is the hot path of recv() when it has to wait.
            while True:
                if not queue:
                    if self.closed:
                        raise EOFError("no more frames")
                    waiter = self._create_waiter()
                    if self.on_starved is not None:
                        self._starved()
                    try:
                        await waiter
                    finally:
                        self.waiter = None
                    continue
                frame = self._popleft()
                if self.skipping:
                    if frame.fin:
                        self.skipping = False
                    continue
                if message is None:
                    if frame.fin:  # the whole message in one frame
                        if decode is None:
                            decode = frame.opcode is Opcode.TEXT
                        return frame.data.decode() if decode else frame.data
                    message = MessageBuffer()
                message.add(frame)
                if frame.fin:
                    break
        except BaseException:
            if message is not None and message.opcode is not None:
                # Put back what was taken so that a cancelled recv() loses nothing.
                self.frames.appendleft(message.as_frame())
                self._maybe_pause()
            raise
        finally:
            self.reading = False
        return message.message(decode)

    def begin_stream(self) -> None:
        """Start reading a message fragment by fragment."""
        self._enter("recv_streaming")
        self.consumed = 0
        self.stream_fin = False

    async def next_fragment(self) -> Frame:
        """The next fragment of the message being streamed."""
        frame = await self._next()
        self.consumed += 1
        self.stream_fin = frame.fin
        return frame

    def end_stream(self) -> None:
        """Stop streaming; if the message was left half-read, discard the rest of it."""
        if self.consumed and not self.stream_fin:
            self.skipping = True
        self.consumed = 0
        self.reading = False


def utf8_decoder() -> codecs.IncrementalDecoder:
    """A decoder for text fragments, which may split a character between them."""
    return codecs.getincrementaldecoder("utf-8")()
