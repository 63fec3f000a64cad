"""Pieces of the opening handshake shared by both sides (RFC 6455 §4)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from .datastructures import Headers, MultipleValuesError
from .exceptions import InvalidHeader, InvalidHeaderValue, InvalidUpgrade
from .headers import parse_connection, parse_upgrade

__all__ = [
    "GUID",
    "generate_key",
    "accept_key",
    "check_key",
    "check_request_upgrade",
    "check_response_upgrade",
    "single_header",
]

# The GUID that the server's handshake (step 5.4 of §4.2.2) concatenates to the key to
# compute Sec-WebSocket-Accept; RFC 6455 §4.2.2 [R6455-4.2.2-16]
#: The GUID appended to ``Sec-WebSocket-Key`` before hashing it into the accept key.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def generate_key() -> str:
    """A random Sec-WebSocket-Key: 16 random bytes, base64-encoded (RFC 6455 §4.1)."""
    # RFC 6455 §4.1 [R6455-4.1-26]: a nonce of 16 randomly selected bytes, base64-encoded
    # (os.urandom: the operating system's cryptographic random source)
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for ``key``: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2)."""
    # RFC 6455 §4.2.2 [R6455-4.2.2-16]: the key as sent (not decoded) followed by the
    # GUID, hashed with SHA-1, base64-encoded; the client computes the same to check it
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def check_key(key: str) -> None:
    """Check that a Sec-WebSocket-Key decodes to 16 bytes (RFC 6455 §4.2.1 item 5)."""
    # RFC 6455 §4.2.1 [R6455-4.2.1-7]: a base64-encoded value (§4.3: with its padding)
    # that, when decoded, is 16 bytes in length
    try:
        raw = base64.b64decode(key.encode(), validate=True)
    except binascii.Error as exc:
        # The decoder's reason as the cause, as websockets chains it
        raise InvalidHeaderValue("Sec-WebSocket-Key", key) from exc
    if len(raw) != 16:
        raise InvalidHeaderValue("Sec-WebSocket-Key", key)


def single_header(headers: Headers, name: str) -> str:
    """The value of a header that must appear exactly once."""
    try:
        return headers[name]
    except KeyError:
        raise InvalidHeader(name) from None
    except MultipleValuesError:
        raise InvalidHeader(name, "multiple values") from None


def _check_connection(headers: Headers) -> None:
    connection = [o for value in headers.get_all("Connection") for o in parse_connection(value)]
    if not any(option.lower() == "upgrade" for option in connection):
        raise InvalidUpgrade("Connection", ", ".join(connection) if connection else None)


def check_request_upgrade(headers: Headers) -> None:
    """Check that a request's Connection and Upgrade headers ask for a WebSocket upgrade.

    Both are comma lists matched case-insensitively: ``Connection: keep-alive, Upgrade``
    and ``Upgrade: h2c, websocket`` are valid.
    """
    # RFC 6455 §4.2.1 [R6455-4.2.1-6]: Connection includes the token "Upgrade", treated
    # as an ASCII case-insensitive value; RFC 7230 §6.1: it's a list, in one or more lines
    _check_connection(headers)
    upgrade = [p for value in headers.get_all("Upgrade") for p in parse_upgrade(value)]
    # RFC 6455 §4.2.1 [R6455-4.2.1-5]: Upgrade contains the value "websocket", treated as
    # an ASCII case-insensitive value; RFC 7230 §6.7: it's a list of protocols
    if not any(protocol.lower() == "websocket" for protocol in upgrade):
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade) if upgrade else None)


def check_response_upgrade(headers: Headers) -> None:
    """Check that a 101 response's Connection and Upgrade headers complete the upgrade.

    Connection is a list that must contain ``Upgrade``; Upgrade must *be* ``websocket``.
    """
    # RFC 6455 §4.1 [R6455-4.1-40]: fail if Connection lacks a token that is an ASCII
    # case-insensitive match for "Upgrade"
    _check_connection(headers)
    upgrade = headers.get_all("Upgrade")
    # RFC 6455 §4.1 [R6455-4.1-39]: fail if Upgrade is missing or its value is not an
    # ASCII case-insensitive match for "websocket": a list such as "h2c, websocket",
    # or two Upgrade lines, is not a match
    if len(upgrade) != 1 or not upgrade[0].isascii() or upgrade[0].lower() != "websocket":
        raise InvalidUpgrade("Upgrade", ", ".join(upgrade) if upgrade else None)
