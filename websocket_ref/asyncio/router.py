"""``route()``: an asyncio server that dispatches connections to handlers by URL.

Usage (werkzeug is an optional extra: ``pip install websocket-ref[router]``)::

    from werkzeug.routing import Map, Rule
    from websocket_ref.asyncio.router import route

    async def room(websocket, name):
        ...

    url_map = Map([Rule("/rooms/<name>", endpoint=room)])
    async with route(url_map, "127.0.0.1", 8765) as server:
        await server.serve_forever()

The matching is :class:`websocket_ref.routing.RouterBase`'s, shared with the
threading API; this module runs the selected handler as a coroutine.
"""

from __future__ import annotations

import ssl as ssl_module
from typing import TYPE_CHECKING, Any, Literal

from ..http11 import Request, Response
from ..routing import RouterBase
from .server import ProcessRequestT, ServerConnection, _maybe_await, serve

if TYPE_CHECKING:
    from werkzeug.routing import Map

__all__ = ["route", "unix_route", "Router"]


class Router(RouterBase):
    """Selects a handler in ``process_request`` and runs it as the connection handler."""

    async def handler(self, connection: ServerConnection) -> None:
        """Run the handler selected for this connection, with the path's parameters."""
        await connection.handler(connection, **connection.handler_kwargs)


def route(
    url_map: Map,
    *args: Any,
    server_name: str | None = None,
    ssl: ssl_module.SSLContext | Literal[True] | None = None,
    create_router: type[Router] | None = None,
    **kwargs: Any,
) -> serve:
    """Start a server routing each connection to the handler ``url_map`` names for its path.

    Arguments are :func:`~websocket_ref.asyncio.server.serve`'s, except:

    * ``url_map``, a :class:`werkzeug.routing.Map` whose endpoints are handlers:
      ``handler(connection, **parameters)``, the parameters being the rule's
      variables (``/rooms/<name>`` → ``name=...``);
    * ``server_name``: the host rules match against (default: the Host header);
    * ``ssl=True`` says a reverse proxy terminates TLS: redirects then say ``wss``;
    * ``create_router``: a :class:`Router` subclass, to change the 404 or 302 answers.

    A ``process_request`` hook given too runs first; if it answers, no routing happens.
    """
    url_scheme = "ws" if ssl is None else "wss"
    if ssl is not None and ssl is not True:
        kwargs["ssl"] = ssl
    router = (create_router or Router)(url_map, server_name, url_scheme)
    user_hook: ProcessRequestT | None = kwargs.pop("process_request", None)

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if user_hook is not None:
            response = await _maybe_await(user_hook(connection, request))
            if response is not None:
                return response
        return router.route_request(connection, request)

    return serve(router.handler, *args, process_request=process_request, **kwargs)


def unix_route(url_map: Map, path: str | None = None, **kwargs: Any) -> serve:
    """:func:`route` on the Unix socket ``path``."""
    return route(url_map, unix=True, path=path, **kwargs)
