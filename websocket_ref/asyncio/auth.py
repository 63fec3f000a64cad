"""HTTP Basic Authentication (RFC 7617) as an asyncio ``process_request`` hook.

The I/O-free parts (checking passwords, reading the header, the 401 challenge) are in
:mod:`websocket_ref.auth`, shared with the threading API.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from ..auth import (
    Credentials,
    MissingCredentials,
    challenge,
    password_checker,
    request_credentials,
)
from ..http11 import Request, Response

if TYPE_CHECKING:
    from .server import ServerConnection

__all__ = ["basic_auth", "CheckCredentials"]

#: ``check_credentials(username, password)``: returns or resolves to whether they are valid.
CheckCredentials = Callable[[str, str], "bool | Awaitable[bool]"]


def basic_auth(
    realm: str = "",
    credentials: Credentials | Iterable[Credentials] | None = None,
    check_credentials: CheckCredentials | None = None,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Build a ``process_request`` that requires HTTP Basic credentials.

    Give either ``credentials`` — a ``(username, password)`` pair or an iterable of
    pairs — or ``check_credentials(username, password)``, which returns (or
    resolves to) whether they are valid. A request without valid credentials gets a
    401 with a ``WWW-Authenticate`` challenge for ``realm``; an accepted one sets
    ``connection.username``.
    """
    checker = password_checker(credentials, check_credentials)

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        try:
            username, password = request_credentials(request)
        except MissingCredentials as exc:
            return challenge(connection, realm, str(exc))
        valid = checker(username, password)
        if inspect.isawaitable(valid):
            valid = await valid
        if not valid:
            return challenge(connection, realm, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request
