"""HTTP Basic Authentication (RFC 7617) for the opening handshake, without I/O.

Browsers can't add headers to a WebSocket handshake, but they send credentials from the
URI (``wss://user:pass@host/``) or from a previous 401 challenge, so Basic auth is one of
the few schemes that works everywhere — over TLS only, since the password travels in
clear. The asyncio and threading APIs wrap these pieces in their ``basic_auth()`` hooks.
"""

from __future__ import annotations

import hmac
import http
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from .exceptions import InvalidHeader
from .headers import build_www_authenticate_basic, parse_authorization_basic
from .http11 import Request, Response

__all__ = [
    "Credentials",
    "MissingCredentials",
    "password_checker",
    "request_credentials",
    "challenge",
]

#: A ``(username, password)`` pair.
Credentials = tuple[str, str]
_Check = TypeVar("_Check")


class _Responder(Protocol):
    def respond(self, status: http.HTTPStatus, text: str) -> Response: ...


def _is_credentials(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], str)
    )


def password_checker(
    credentials: Credentials | Iterable[Credentials] | None,
    check_credentials: _Check | None,
) -> Callable[[str, str], bool] | _Check:
    """The function that tells valid credentials: built from ``credentials``, or given.

    Exactly one of the two must be given (ValueError otherwise); ``credentials`` is one
    ``(username, password)`` pair or an iterable of pairs (TypeError otherwise).
    """
    if (credentials is None) == (check_credentials is None):
        # websockets' exception and message, for applications that catch it
        raise ValueError("provide either credentials or check_credentials")
    if check_credentials is not None:
        return check_credentials
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

    return check


class MissingCredentials(Exception):
    """The request carries no usable Basic credentials; the message is the 401's text."""


def request_credentials(request: Request) -> Credentials:
    """The ``(username, password)`` of the request's Authorization header.

    Raises :exc:`MissingCredentials` when there is none, several, or another scheme.
    """
    values = request.headers.get_all("Authorization")
    if not values:
        raise MissingCredentials("Missing credentials\n")
    if len(values) > 1:
        raise MissingCredentials("Unsupported credentials\n")
    try:
        return parse_authorization_basic(values[0])
    except InvalidHeader:
        raise MissingCredentials("Unsupported credentials\n") from None


def challenge(connection: _Responder, realm: str, text: str) -> Response:
    """A 401 response that asks for Basic credentials for ``realm``."""
    response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
    # RFC 7617 §2: a 401 response carries a challenge naming the realm
    response.headers["WWW-Authenticate"] = build_www_authenticate_basic(realm)
    return response
