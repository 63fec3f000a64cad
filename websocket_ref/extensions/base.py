"""The extension framework: what an extension and its negotiators provide (RFC 6455 §9).

Negotiation is split between two factories: a client factory builds an offer and
checks the server's answer; a server factory reads an offer and accepts it (with
response parameters) or declines it. Both produce an :class:`Extension`, which
transforms frames on their way out (:meth:`Extension.encode`) and in
(:meth:`Extension.decode`). The protocol applies extensions in the order they were
negotiated when sending and in reverse when receiving, and lets frames through with
a reserved bit set only if a negotiated extension claims that bit.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from ..frames import Frame, Opcode

# RFC 6455 §9.2 [R6455-9.2-1]: implementations MAY use extensions defined separately:
# the factories below plug one in; permessage-deflate (RFC 7692) is the library's own.
from ..headers import ExtensionName, ExtensionParameter

__all__ = ["Extension", "ClientExtensionFactory", "ServerExtensionFactory"]


class Extension:
    """A negotiated extension, active for the lifetime of one connection.

    Subclasses implement :meth:`decode` and :meth:`encode` (the base class raises
    :exc:`NotImplementedError`, as websockets' does).
    """

    #: Extension name, as in the Sec-WebSocket-Extensions header.
    name: ExtensionName

    #: Reserved bits this extension gives a meaning to (RFC 6455 §5.2 [R6455-5.2-1]):
    #: any of ``frames.RSV1 | frames.RSV2 | frames.RSV3``.
    reserved_bits: int = 0

    #: Whether this extension compresses messages, and so may be left out for a
    #: message sent with ``compress=False`` (permessage-deflate's RSV1 bit says whether
    #: each message is compressed: a sender may leave one uncompressed).
    compresses_messages: bool = False

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Transform a received frame; ``max_size`` bounds the data it may produce.

        Raise :class:`~websocket_ref.exceptions.PayloadTooBig` past ``max_size`` and a
        :class:`~websocket_ref.exceptions.ProtocolError` for a frame that breaks the
        extension's rules.
        """
        raise NotImplementedError

    def encode(self, frame: Frame) -> Frame:
        """Transform a frame about to be sent."""
        raise NotImplementedError

    def stateless_key(self) -> Hashable | None:
        """A key such that the next message this extension encodes only depends on it.

        Two connections whose extensions return equal keys turn a message into the same
        bytes: ``broadcast()`` then compresses and frames it once for both. None (the
        default) means the encoding depends on this connection's history. The core
        asks between messages only, and may keep the answer for the connection's life.
        """
        return None

    def decodes_unchanged(self, opcode: Opcode, rsv: int) -> bool:
        """Whether :meth:`decode` will pass the payload of the frame arriving now, with
        this opcode and these reserved bits, through unchanged.

        Asked while the frame's payload is still arriving: if every extension says yes,
        the core checks the size and the UTF-8 of what has arrived so far and fails fast
        (RFC 6455 §8.1, §10.4) instead of waiting for the end of the frame. The default,
        no, is always safe.
        """
        return False


class ClientExtensionFactory:
    """Offers an extension in a client's request and accepts the server's answer."""

    name: ExtensionName

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        """Parameters of the offer sent in the handshake request."""
        raise NotImplementedError

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        """Build the extension the server accepted with ``params``.

        Raise :class:`~websocket_ref.exceptions.NegotiationError` if the answer isn't
        acceptable; the client then fails the connection (RFC 6455 §9.1).
        """
        raise NotImplementedError


class ServerExtensionFactory:
    """Reads a client's offer of an extension and accepts or declines it."""

    name: ExtensionName

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Accept an offer: return the response parameters and the extension.

        Raise :class:`~websocket_ref.exceptions.NegotiationError` to decline this
        offer; the server then considers the client's next offer, if any.
        """
        raise NotImplementedError


class _DuckTypedExtension(Extension):
    """An extension object that doesn't inherit from :class:`Extension`.

    websockets accepts any object with ``name``, ``decode()`` and ``encode()``; the
    core here also asks extensions what :class:`Extension` defines (the reserved bits
    they claim, whether they compress...). This wrapper gives such an object the base
    class's answers for what it lacks; the application keeps seeing its own object
    (``protocol.extensions``).
    """

    def __init__(self, extension: Any) -> None:
        self.extension = extension
        self.name = extension.name
        self.reserved_bits = getattr(extension, "reserved_bits", 0)
        self.compresses_messages = getattr(extension, "compresses_messages", False)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        decoded: Frame = self.extension.decode(frame, max_size=max_size)
        return decoded

    def encode(self, frame: Frame) -> Frame:
        encoded: Frame = self.extension.encode(frame)
        return encoded

    def stateless_key(self) -> Hashable | None:
        method = getattr(self.extension, "stateless_key", None)
        key: Hashable | None = None if method is None else method()
        return key

    def decodes_unchanged(self, opcode: Opcode, rsv: int) -> bool:
        method = getattr(self.extension, "decodes_unchanged", None)
        return False if method is None else bool(method(opcode, rsv))


def as_extension(extension: Any) -> Extension:
    """``extension`` itself if it's an :class:`Extension`, else wrapped to behave like one."""
    if isinstance(extension, Extension):
        return extension
    return _DuckTypedExtension(extension)
