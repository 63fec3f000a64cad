"""Dispatching connections to handlers by URL, with werkzeug's routing (optional extra).

``route(url_map, host, port)`` (:mod:`websocket_ref.asyncio.router`,
:mod:`websocket_ref.sync.router`) starts a server whose ``process_request`` matches the
request's path against a :class:`werkzeug.routing.Map` whose endpoints are connection
handlers; the handler gets the connection and the path's parameters as keyword
arguments. An unknown path gets 404, a path werkzeug redirects (e.g. a missing
trailing slash) 302 with a ``Location``, before any WebSocket handshake happens.

This module holds what both APIs share: werkzeug's import, and the matching itself,
which is plain computation on the request. Install werkzeug with
``pip install websocket-ref[router]``.
"""

from __future__ import annotations

import http
import urllib.parse
from typing import TYPE_CHECKING, Any, Protocol

from .http11 import Request, Response

if TYPE_CHECKING:
    from werkzeug.routing import Map

__all__ = ["RouterBase", "require_werkzeug"]


def require_werkzeug() -> None:
    """Raise :exc:`ImportError` with the install command if werkzeug is missing."""
    try:
        import werkzeug.routing  # noqa: F401
    except ImportError as exc:  # pragma: no cover - werkzeug is a test dependency
        raise ImportError("route() needs werkzeug: pip install 'websocket-ref[router]'") from exc


class _Responder(Protocol):
    """What the router needs from a connection: build a plain HTTP response, and a
    place to keep the handler it selected."""

    handler: Any
    handler_kwargs: dict[str, Any]

    def respond(self, status: http.HTTPStatus | int, text: str) -> Response: ...


class RouterBase:
    """Matches handshake requests against ``url_map``; the APIs add ``handler``.

    ``server_name`` is the host the URL map's rules are matched against (default: the
    request's Host header); ``url_scheme`` is ``ws`` or ``wss``, for redirects.
    Subclass and override :meth:`redirect` or :meth:`not_found` to change the answers.
    """

    def __init__(
        self, url_map: Map, server_name: str | None = None, url_scheme: str = "ws"
    ) -> None:
        require_werkzeug()
        self.url_map = url_map
        self.server_name = server_name
        self.url_scheme = url_scheme
        for rule in url_map.iter_rules():
            # Rules of a WebSocket router match WebSocket requests (werkzeug tells
            # them apart from plain HTTP ones by this flag).
            rule.websocket = True

    def get_server_name(self, connection: _Responder, request: Request) -> str:
        """The host to match rules against: ``server_name``, or the Host header."""
        if self.server_name is not None:
            return self.server_name
        return request.headers.get("Host", "")

    def redirect(self, connection: _Responder, url: str) -> Response:
        """The answer when werkzeug redirects a path: 302 Found with a Location."""
        # RFC 6455 §4.2.2 [R6455-4.2.2-3]: the server MAY redirect with a 3xx
        response = connection.respond(http.HTTPStatus.FOUND, f"Found at {url}\n")
        response.headers["Location"] = url
        return response

    def not_found(self, connection: _Responder) -> Response:
        """The answer for a path no rule matches: 404 Not Found."""
        # RFC 6455 §4.2.2 [R6455-4.2.2-8]: a service that isn't available gets an error
        # code such as 404, and the handshake is aborted
        return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")

    def route_request(self, connection: _Responder, request: Request) -> Response | None:
        """A ``process_request`` hook: select the handler, or answer 404 or 302.

        The selected handler and the path's parameters are kept on the connection
        (``connection.handler``, ``connection.handler_kwargs``) for ``handler()``.
        """
        from werkzeug.exceptions import MethodNotAllowed, NotFound
        from werkzeug.routing import RequestRedirect

        adapter = self.url_map.bind(
            server_name=self.get_server_name(connection, request),
            url_scheme=self.url_scheme,
        )
        target = urllib.parse.urlsplit(request.path)
        try:
            handler, kwargs = adapter.match(
                path_info=urllib.parse.unquote(target.path),
                query_args=target.query,
                websocket=True,
            )
        except RequestRedirect as redirect:
            return self.redirect(connection, redirect.new_url)
        except (NotFound, MethodNotAllowed):
            return self.not_found(connection)
        connection.handler = handler
        connection.handler_kwargs = dict(kwargs)
        return None
