"""Type aliases of the public API, in one place (as ``websockets.typing`` has them).

``Data`` is what ``recv()`` returns, ``Subprotocol``, ``ExtensionName`` and
``ExtensionParameter`` are the handshake's vocabulary, ``LoggerLike`` what ``logger=``
accepts besides a name, ``Origin`` an Origin header's value and ``StatusLike`` what
``respond()`` accepts as a status.
"""

from __future__ import annotations

import http

from .headers import ExtensionName, ExtensionParameter, Subprotocol
from .protocol import LoggerLike
from .server import Origin

__all__ = [
    "Data",
    "BytesLike",
    "DataLike",
    "LoggerLike",
    "StatusLike",
    "Origin",
    "Subprotocol",
    "ExtensionName",
    "ExtensionParameter",
]

#: A message as received: ``str`` for text, ``bytes`` for binary.
Data = str | bytes
#: Binary data accepted by ``send()``.
BytesLike = bytes | bytearray | memoryview
#: A message as accepted by ``send()``.
DataLike = str | BytesLike
#: An HTTP status, as a number or an :class:`http.HTTPStatus`.
StatusLike = http.HTTPStatus | int
