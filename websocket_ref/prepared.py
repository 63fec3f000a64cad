"""Prepared messages: one message, compressed and framed once for many connections.

``broadcast()`` sends the same message to many connections. Framing it for each of
them would compress it once per connection, which dominates the cost of a broadcast
with permessage-deflate. But a server's frames aren't masked (RFC 6455 §5.1), and
permessage-deflate without context takeover starts every message with an empty
window (RFC 7692 §7.1.1.1, §7.1.1.2): connections that negotiated the same window
size turn a message into the very same bytes. A :class:`PreparedMessage` keeps
those bytes, by what determines them, and
:meth:`~websocket_ref.protocol.Protocol.send_prepared` reuses them; the core decides
which connections can share (see ``Protocol._encoding_key``).
"""

from __future__ import annotations

from .frames import Opcode

__all__ = ["PreparedMessage", "prepare"]


class PreparedMessage:
    """A TEXT or BINARY message, and its serialized frame per way of encoding it."""

    __slots__ = ("opcode", "data", "compress", "frames")

    def __init__(
        self, opcode: Opcode, data: bytes, *, compress: bool = True, check_utf8: bool = True
    ) -> None:
        if opcode not in (Opcode.TEXT, Opcode.BINARY):
            raise ValueError("a prepared message is a TEXT or BINARY message")
        if opcode is Opcode.TEXT and check_utf8:
            try:
                data.decode()
            except UnicodeDecodeError as exc:
                # RFC 6455 §5.6 [R6455-5.6-1]: text MUST be valid UTF-8; refused before
                # anything is sent, as send_text() does
                raise ValueError(f"text isn't valid UTF-8 (RFC 6455 §5.6): {exc}") from None
        self.opcode = opcode
        self.data = data
        #: Whether to compress it where compression was negotiated.
        self.compress = compress
        #: Serialized frames, by the key of the encoding that produced them.
        self.frames: dict[tuple[object, ...], bytes] = {}

    def __repr__(self) -> str:
        return (
            f"PreparedMessage({self.opcode.name}, {len(self.data)} bytes, "
            f"{len(self.frames)} encodings)"
        )


def prepare(
    message: str | bytes | bytearray | memoryview,
    text: bool | None = None,
    compress: bool = True,
) -> PreparedMessage:
    """The message as ``broadcast()`` sends it: ``str`` as text, bytes as binary.

    ``text=True`` sends bytes (which must be UTF-8) as a text message, ``text=False``
    a ``str`` as a binary message; text is encoded to UTF-8 once for all connections.
    """
    if isinstance(message, str):
        opcode = Opcode.BINARY if text is False else Opcode.TEXT
        # Valid UTF-8 by construction: no need to check it again.
        return PreparedMessage(opcode, message.encode(), compress=compress, check_utf8=False)
    if isinstance(message, (bytes, bytearray, memoryview)):
        opcode = Opcode.TEXT if text else Opcode.BINARY
        # Text from bytes is checked by PreparedMessage.
        return PreparedMessage(opcode, bytes(message), compress=compress)
    raise TypeError(f"message has unsupported type {type(message).__name__}")
