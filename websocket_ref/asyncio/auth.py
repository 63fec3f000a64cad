"""HTTP Basic Authentication (RFC 7617) for the opening handshake, as a ``process_request``.

Browsers can't add headers to a WebSocket handshake, but they send credentials from
the URI (``wss://user:pass@host/``) or from a previous 401 challenge, so Basic auth
is one of the few schemes that works everywhere — over TLS only, since the password
travels in clear.
"""

from __future__ import annotations

import hmac
import http
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from ..exceptions import InvalidHeader
from ..headers import build_www_authenticate_basic, parse_authorization_basic
from ..http11 import Request, Response

if TYPE_CHECKING:
    from .server import ServerConnection

__all__ = ["basic_auth"]

Credentials = tuple[str, str]
CheckCredentials = Callable[[str, str], "bool | Awaitable[bool]"]


def _is_credentials(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], str)
    )


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
    if (credentials is None) == (check_credentials is None):
        raise ValueError("give either credentials or check_credentials")
    if credentials is not None:
        pairs: list[Credentials]
        if _is_credentials(credentials):
            pairs = [credentials]  # type: ignore[list-item]
        elif isinstance(credentials, Iterable):
            pairs = list(credentials)  # type: ignore[arg-type]
            if not all(_is_credentials(pair) for pair in pairs):
                raise TypeError(f"invalid credentials argument: {credentials}")
        else:
            raise TypeError(f"invalid credentials argument: {credentials}")
        passwords: dict[str, str] = dict(pairs)

        def check(username: str, password: str) -> bool:
            expected = passwords.get(username)
            if expected is None:
                return False
            # Constant time, so that timing doesn't reveal how much of a guess was right.
            return hmac.compare_digest(expected.encode(), password.encode())

        check_credentials = check

    assert check_credentials is not None
    checker = check_credentials

    def challenge(connection: ServerConnection, text: str) -> Response:
        # RFC 7617 §2: a 401 response carries a challenge naming the realm
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
        response.headers["WWW-Authenticate"] = build_www_authenticate_basic(realm)
        return response

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        values = request.headers.get_all("Authorization")
        if not values:
            return challenge(connection, "Missing credentials\n")
        if len(values) > 1:
            return challenge(connection, "Unsupported credentials\n")
        try:
            username, password = parse_authorization_basic(values[0])
        except InvalidHeader:
            return challenge(connection, "Unsupported credentials\n")
        valid = checker(username, password)
        if inspect.isawaitable(valid):
            valid = await valid
        if not valid:
            return challenge(connection, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request
