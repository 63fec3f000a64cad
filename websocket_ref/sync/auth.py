"""HTTP Basic Authentication (RFC 7617) as a ``process_request`` hook of the threading API.

The I/O-free parts (checking passwords, reading the header, the 401 challenge) are in
:mod:`websocket_ref.auth`, shared with the asyncio API (:mod:`websocket_ref.asyncio.auth`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..auth import MissingCredentials, challenge, password_checker, request_credentials
from ..http11 import Request, Response

if TYPE_CHECKING:
    from .server import ServerConnection

__all__ = ["basic_auth"]


def basic_auth(
    realm: str = "",
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None = None,
    check_credentials: Callable[[str, str], bool] | None = None,
) -> Callable[[ServerConnection, Request], Response | None]:
    """A ``process_request`` hook enforcing HTTP Basic authentication (RFC 7617).

    Give either ``credentials`` (one ``(username, password)`` pair or several) or
    ``check_credentials(username, password) -> bool``. A request without valid
    credentials gets 401 with a ``WWW-Authenticate`` challenge; on success the
    connection's ``username`` is set.
    """
    checker = password_checker(credentials, check_credentials)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        try:
            username, password = request_credentials(request)
        except MissingCredentials as exc:
            return challenge(connection, realm, str(exc))
        if not checker(username, password):
            return challenge(connection, realm, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request
