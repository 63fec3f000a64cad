"""The option shorthands shared by connect() and serve()."""

from __future__ import annotations

import logging

import pytest

from websocket_ref.asyncio.options import (
    client_extensions,
    queue_limits,
    resolve_logger,
    server_extensions,
    write_limits,
)

from ..utils import FakeClientFactory, FakeServerFactory


def test_queue_limits() -> None:
    assert queue_limits(None) == (None, None)
    assert queue_limits(16) == (16, 4)  # low defaults to high // 4
    assert queue_limits((16, None)) == (16, 4)
    assert queue_limits((8, 2)) == (8, 2)
    assert queue_limits((None, None)) == (None, None)
    with pytest.raises(ValueError):
        queue_limits(0)
    with pytest.raises(ValueError):
        queue_limits((None, 2))


def test_write_limits() -> None:
    assert write_limits(32768) == (32768, 8192)
    assert write_limits((1000, 10)) == (1000, 10)
    assert write_limits((1000, None)) == (1000, 250)
    with pytest.raises(ValueError):
        write_limits((10, 20))


def test_extensions_without_compression_are_kept() -> None:
    client = [FakeClientFactory()]
    server = [FakeServerFactory()]
    assert client_extensions(None, client) == client
    assert server_extensions(None, server) == server
    assert client_extensions(None, None) is None
    assert server_extensions(None, None) is None
    with pytest.raises(ValueError):
        client_extensions("gzip", None)
    with pytest.raises(ValueError):
        server_extensions("gzip", None)


def test_deflate_adds_permessage_deflate() -> None:
    client = client_extensions("deflate", [FakeClientFactory()])
    server = server_extensions("deflate", [FakeServerFactory()])
    assert client is not None and server is not None
    assert {f.name for f in client} == {"x-fake", "permessage-deflate"}
    assert {f.name for f in server} == {"x-fake", "permessage-deflate"}


def test_resolve_logger() -> None:
    assert resolve_logger(None, "websocket_ref.client") is logging.getLogger("websocket_ref.client")
    assert resolve_logger("custom", "x") is logging.getLogger("custom")
    logger = logging.getLogger("given")
    assert resolve_logger(logger, "x") is logger
