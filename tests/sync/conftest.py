"""Every test of the threading API must stop the threads it starts."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import trustme


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    # Threads that were told to stop may need a moment to return.
    deadline = time.monotonic() + 5
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not left, f"threads left running: {left}"


@pytest.fixture(autouse=True, params=["recv_reads", "no_recv_reads"])
def recv_reads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every test runs both ways: the thread in ``recv()`` reading its socket itself
    where it can (``Connection._read_self()``), and the selector thread alone reading
    (``WEBSOCKET_REF_NO_RECV_READS=1``, the reference)."""
    if request.param == "no_recv_reads":
        monkeypatch.setenv("WEBSOCKET_REF_NO_RECV_READS", "1")
    else:
        monkeypatch.delenv("WEBSOCKET_REF_NO_RECV_READS", raising=False)
    return bool(request.param == "recv_reads")


@pytest.fixture(scope="session")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_context(certificate_authority: trustme.CA) -> ssl.SSLContext:
    """TLS context of a server whose certificate is valid for 127.0.0.1 and localhost."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_context(certificate_authority: trustme.CA) -> ssl.SSLContext:
    """TLS context of a client that trusts the test CA."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    certificate_authority.configure_trust(context)
    return context
