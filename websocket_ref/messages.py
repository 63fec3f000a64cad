"""Joining the fragments of an incoming message, for whoever reassembles messages.

The Sans-I/O core delivers data frames (RFC 6455 §5.4: a TEXT or BINARY frame, then
CONT frames up to one with FIN set). Whoever turns them into messages — the asyncio and
threading assemblers, or an application on the core — joins their payloads here, in one
buffer that grows as fragments arrive: memory is the size of the message plus a
constant, never an object per fragment, however many fragments the peer cut the message
into. The core has already checked everything (order, size, count, UTF-8).
"""

from __future__ import annotations

from .frames import Frame, Opcode

__all__ = ["MessageBuffer"]


class MessageBuffer:
    """The payload of one message, joined fragment by fragment.

    A message in a single frame is never copied: its payload is returned as it is.
    """

    __slots__ = ("opcode", "_first", "_joined")

    def __init__(self) -> None:
        #: TEXT or BINARY once the first fragment is in; None while empty.
        self.opcode: Opcode | None = None
        self._first = b""
        self._joined: bytearray | None = None

    def __len__(self) -> int:
        """Bytes of payload so far."""
        return len(self._first) if self._joined is None else len(self._joined)

    def add(self, frame: Frame) -> None:
        """Append the payload of the next fragment (the first one sets :attr:`opcode`)."""
        if self.opcode is None:
            self.opcode = frame.opcode
            self._first = frame.data
        elif self._joined is None:
            if frame.data:
                self._joined = bytearray(self._first)
                self._joined += frame.data
                self._first = b""
        else:
            self._joined += frame.data

    def as_frame(self) -> Frame:
        """The fragments so far as one frame without FIN (to put an unfinished read back)."""
        assert self.opcode is not None
        return Frame(self.opcode, self.data(), fin=False)

    def data(self) -> bytes:
        """The payload so far (a copy, once fragments were joined)."""
        return self._first if self._joined is None else bytes(self._joined)

    def message(self, decode: bool | None) -> str | bytes:
        """The message: ``str`` for text, ``bytes`` for binary, unless ``decode`` says.

        The core validated text payloads as UTF-8 already, so decoding can't fail.
        """
        assert self.opcode is not None
        if decode is None:
            decode = self.opcode is Opcode.TEXT
        if decode:
            # A bytearray decodes without being copied to bytes first.
            return (self._first if self._joined is None else self._joined).decode()
        return self.data()
