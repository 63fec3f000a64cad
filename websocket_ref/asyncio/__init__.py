"""The asyncio API: ``connect()`` and ``serve()`` on top of the Sans-I/O core.

Modelled on ``websockets.asyncio``, so that moving an application over is mostly an
import change::

    from websocket_ref.asyncio import connect, serve
"""

from __future__ import annotations

from .client import ClientConnection, connect, process_exception, unix_connect
from .connection import Connection
from .router import Router, route, unix_route
from .server import Server, ServerConnection, basic_auth, broadcast, serve, unix_serve

__all__ = [
    "connect",
    "unix_connect",
    "process_exception",
    "ClientConnection",
    "serve",
    "unix_serve",
    "Server",
    "ServerConnection",
    "route",
    "unix_route",
    "Router",
    "basic_auth",
    "broadcast",
    "Connection",
]
