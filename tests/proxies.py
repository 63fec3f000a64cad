"""A real proxy server for the tests: pproxy (HTTP CONNECT, SOCKS4, SOCKS5), in a subprocess.

Started on 127.0.0.1 and a free port, stopped (by its process id) when the test ends.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Bound for waits that only end on a bug.
TIMEOUT = 10.0


def free_port() -> int:
    """A port nobody listens on now (pproxy can't bind port 0 and tell which it got)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def pproxy(
    schemes: str = "http+socks4+socks5",
    *,
    auth: str | None = None,
    tls: Path | None = None,
) -> Iterator[str]:
    """Run pproxy listening with ``schemes``; yield ``host:port``.

    ``auth`` (``user:password``) makes it require credentials; ``tls`` (a PEM file with
    the key and the certificate chain) makes it speak TLS: an ``https://`` proxy.
    """
    pytest.importorskip("pproxy")
    for _ in range(3):  # another process may take the free port before pproxy does
        port = free_port()
        listen = f"{schemes}{'+ssl' if tls else ''}://127.0.0.1:{port}"
        if auth is not None:
            listen += f"#{auth}"
        command = [sys.executable, "-m", "pproxy", "-l", listen, "--auth", "0"]
        if tls is not None:
            command += ["--ssl", str(tls)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and process.poll() is None:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    break
                time.sleep(0.02)
            else:
                continue  # exited (port taken?) or never listened: try another port
            yield f"127.0.0.1:{port}"
            return
        finally:
            process.terminate()
            try:
                process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:  # pragma: no cover
                process.kill()
                process.wait(TIMEOUT)
            if process.stdout is not None:
                process.stdout.close()
    pytest.fail("pproxy didn't start")
