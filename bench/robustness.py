"""Attacks on a WebSocket server, measured: websocket_ref next to websockets, same defaults.

The full-size figures of the README's robustness section come from here; the tests in
``tests/robustness/`` run the same attacks scaled down, with bounds on memory and counts.
Each attack runs against a fresh server process (``robustness_server.py``) and reports
the server's peak RSS growth (``VmHWM`` after the attack minus ``VmRSS`` before it, KiB),
its RSS growth once the attack is over, its CPU time, and what its handlers saw.

Attacks:

* ``fragments`` — one message of 1,048,576 one-byte fragments (1 MiB, exactly the default
  ``max_size``): does the server stop it, with which close code, after how many bytes?
* ``pings`` — 400,000 pings from a client that never reads.
* ``rst`` — 1,000 connections, each sends a message and resets (``SO_LINGER`` 0):
  every handler should see ``ConnectionClosed``, and nothing should be logged.
* ``ticker`` — 100 connections whose handler sends every millisecond; the client resets:
  ``send()`` must raise, without log spam.
* ``heads`` — 100 connections that each send 840 KiB of a handshake head (120 header
  lines of 7 KB, within the line length and header count limits) and never finish it:
  how much does the server hold, and does it answer before ``open_timeout``?

Usage (from the repository root, in a virtualenv with websocket_ref and websockets)::

    python bench/robustness.py                      # everything, full size
    python bench/robustness.py --attack fragments --impl websocket_ref-asyncio
    python bench/robustness.py --scale 0.1          # a quick look
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

HERE = os.path.dirname(os.path.abspath(__file__))
IMPLS = ("websocket_ref-asyncio", "websocket_ref-sync", "websockets-asyncio", "websockets-sync")
ATTACKS = ("fragments", "pings", "rst", "ticker", "heads")


# A raw client: just enough of RFC 6455 to attack with.


def handshake(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET / HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(response.split(b"\r\n")[0].decode())
    return sock


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True) -> bytes:
    """A masked frame with a zero masking key (the payload goes as is)."""
    head = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", head, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", head, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", head, 0x80 | 127, length)
    return header + b"\0\0\0\0" + payload


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Drain(threading.Thread):
    """Read a server's frames in the background; remember the close code, if any."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.data = bytearray()
        self.start()

    def run(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := self.sock.recv(65536):
                self.data += chunk
                if len(self.data) > 2**20:  # keep the start: the close frame is early
                    break

    def close_code(self) -> int | None:
        data, pos = bytes(self.data), 0
        while pos + 2 <= len(data):
            opcode, length = data[pos] & 0x0F, data[pos + 1] & 0x7F
            pos += 2
            if length == 126:
                (length,) = struct.unpack_from("!H", data, pos)
                pos += 2
            elif length == 127:
                (length,) = struct.unpack_from("!Q", data, pos)
                pos += 8
            if opcode == 0x8:
                return int.from_bytes(data[pos : pos + 2], "big") if length >= 2 else 1005
            pos += length
        return None


def send_until_refused(sock: socket.socket, chunks: Iterator[bytes], stall: float) -> int:
    """Send chunks until the server stops reading for ``stall`` seconds or closes.

    Returns the bytes sent.
    """
    sent = 0
    sock.settimeout(stall)
    for chunk in chunks:
        try:
            sock.sendall(chunk)
        except TimeoutError:
            break
        except OSError:  # reset or broken pipe: the server closed
            break
        sent += len(chunk)
    return sent


# The server process.


class Server:
    def __init__(self, impl: str, handler: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "robustness_server.py"), impl, handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        self.stdin: IO[str] = self.process.stdin
        self.stdout: IO[str] = self.process.stdout
        line = self.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"server didn't start: {line!r}")
        self.port = int(line.split()[1])

    def command(self, name: str) -> dict[str, Any]:
        self.stdin.write(name + "\n")
        self.stdin.flush()
        result: dict[str, Any] = json.loads(self.stdout.readline())
        return result

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# Attacks: each returns what it observed from the client side.


def attack_fragments(server: Server, scale: float) -> dict[str, Any]:
    count = int(2**20 * scale)
    sock = handshake(server.port)
    drain = Drain(sock)
    one = frame(0x0, b"x", fin=False)
    batch = 9362  # about 64 KiB of 7-byte frames

    def chunks() -> Iterator[bytes]:
        yield frame(0x2, b"x", fin=False)
        remaining = count - 1
        while remaining > 1:
            n = min(batch, remaining - 1)
            yield one * n
            remaining -= n
        yield frame(0x0, b"x", fin=True)

    sent = send_until_refused(sock, chunks(), stall=10)
    drain.join(15)
    with contextlib.suppress(OSError):
        sock.close()
    return {"fragments": count, "sent_kib": sent // 1024, "close_code": drain.close_code()}


def attack_pings(server: Server, scale: float) -> dict[str, Any]:
    count = int(400_000 * scale)
    sock = handshake(server.port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # we never read
    ping = frame(0x9, b"ping")
    batch = 4096

    def chunks() -> Iterator[bytes]:
        for start in range(0, count, batch):
            yield ping * min(batch, count - start)

    sent = send_until_refused(sock, chunks(), stall=5)
    result = {"pings": count, "pings_sent": sent // len(ping)}
    time.sleep(0.5)
    result["server"] = server.command("stats")
    reset(sock)
    return result


def attack_rst(server: Server, scale: float) -> dict[str, Any]:
    count = max(1, int(1000 * scale))
    for _ in range(count):
        sock = handshake(server.port)
        sock.sendall(frame(0x1, b"hello"))
        reset(sock)
    wait_until(lambda: server.command("stats")["closed"] >= count, 30)
    return {"connections": count}


def attack_ticker(server: Server, scale: float) -> dict[str, Any]:
    count = max(1, int(100 * scale))
    socks = []
    for _ in range(count):
        sock = handshake(server.port)
        sock.sendall(frame(0x1, b"start"))
        socks.append(sock)
    time.sleep(0.5)
    for sock in socks:
        reset(sock)
    wait_until(
        lambda: server.command("stats")["closed"] + server.command("stats")["errors"] >= count, 30
    )
    return {"connections": count}


def attack_heads(server: Server, scale: float) -> dict[str, Any]:
    count = max(1, int(100 * scale))
    lines = b"".join(b"X-%03d: %s\r\n" % (i, b"a" * 7000) for i in range(120))
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines  # no empty line: never ends
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        with contextlib.suppress(OSError):  # the server answered and closed meanwhile
            sock.sendall(head)
        socks.append(sock)
    answers: dict[str, int] = {}
    for sock in socks:
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n" not in data and (chunk := sock.recv(4096)):
                data += chunk
        status = data.split(b"\r\n", 1)[0].decode("latin-1") if data else "closed, no answer"
        answers[status] = answers.get(status, 0) + 1
        with contextlib.suppress(OSError):
            sock.close()
    return {"connections": count, "head_kib": len(head) // 1024, "answers": answers}


ATTACK_FUNCTIONS: dict[str, tuple[str, Callable[[Server, float], dict[str, Any]]]] = {
    "fragments": ("read", attack_fragments),
    "pings": ("read", attack_pings),
    "rst": ("echo", attack_rst),
    "ticker": ("ticker", attack_ticker),
    "heads": ("read", attack_heads),
}


def run(impl: str, attack: str, scale: float) -> dict[str, Any]:
    handler, function = ATTACK_FUNCTIONS[attack]
    server = Server(impl, handler)
    try:
        server.command("reset")
        before = server.command("stats")
        observed = function(server, scale)
        time.sleep(0.5)
        after = server.command("stats")
    finally:
        server.stop()
    return {
        "impl": impl,
        "attack": attack,
        "peak_growth_kib": after["hwm_kib"] - before["rss_kib"],
        "rss_growth_kib": after["rss_kib"] - before["rss_kib"],
        "cpu_s": round(after["cpu_s"] - before["cpu_s"], 2),
        "closed": after["closed"],
        "handler_errors": after["errors"],
        "error_samples": after["error_samples"],
        "warnings": after["warnings"],
        "warning_samples": after["warning_samples"],
        **observed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attack", action="append", choices=ATTACKS)
    parser.add_argument("--impl", action="append", choices=IMPLS)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    args = parser.parse_args(argv)
    for attack in args.attack or ATTACKS:
        for impl in args.impl or IMPLS:
            result = run(impl, attack, args.scale)
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
