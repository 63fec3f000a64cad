"""CPU per recipient of ``broadcast()`` with compression: websocket_ref against websockets.

``python bench/broadcast.py [--recipients 1000] [--messages 50] [--sizes 256,1024,4096,16384]
[--rounds 3]``

For each server below, in turn: the server runs in this process (asyncio API); a
client process opens ``--recipients`` connections to it, offering permessage-deflate,
and reads and discards everything; then the server broadcasts ``--messages`` JSON
messages of each size (realistic records, as in the other benchmarks) to every
connection, and the
CPU time (``time.process_time()``) spent inside the ``broadcast()`` calls is divided
by messages x recipients. The event loop runs between messages, so that transports
write what they buffered; that time isn't counted (it's the same for both). Every
write goes to a loopback socket: a ``send()`` system call per recipient, which includes
the kernel's delivery to the receiving socket, is the floor of the cost per recipient.

Servers, both configured alike: permessage-deflate with ``server_no_context_takeover``,
a 4 KiB window (``server_max_window_bits=12``) and ``memLevel=5``:

* ``websockets``: its ``broadcast()`` compresses the message once per connection;
* ``websocket_ref``: its ``broadcast()`` compresses and frames the message once and
  writes the same bytes to every connection (``websocket_ref.prepared``);
* ``websocket_ref, context takeover``: the default ``compression="deflate"`` (window
  shared across messages), where each connection's frame differs: compressed per
  connection, like websockets, for reference.

Run it as a script from the repository root (``python bench/broadcast.py``), so that
``websocket_ref`` is imported from where it's installed, with its C accelerator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from payloads import json_payload

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


# The clients: raw sockets, the same for every server.


async def run_clients(port: int, count: int) -> None:
    """Open ``count`` connections, print READY, read and discard until stdin closes."""
    request = (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    ).encode()

    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"server_no_context_takeover" in head.lower() or b"deflate" in head.lower()

        async def drain() -> None:
            with contextlib.suppress(OSError):
                while await reader.read(65536):
                    pass

        asyncio.get_running_loop().create_task(drain())
        return writer

    writers = []
    for start in range(0, count, 100):  # don't overflow the listen backlog
        writers += await asyncio.gather(*(one() for _ in range(start, min(count, start + 100))))
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for writer in writers:
        writer.transport.abort()


# The servers.


def websockets_server(handler: Any) -> Any:
    from websockets.asyncio.server import broadcast, serve
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    factory = ServerPerMessageDeflateFactory(
        server_no_context_takeover=True,
        server_max_window_bits=12,
        compress_settings={"memLevel": 5},
    )
    server = serve(
        handler, "127.0.0.1", 0, compression=None, extensions=[factory], ping_interval=None
    )
    return server, broadcast


def websocket_ref_server(handler: Any, context_takeover: bool = False) -> Any:
    from websocket_ref.asyncio.server import broadcast, serve
    from websocket_ref.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    if context_takeover:
        return serve(handler, "127.0.0.1", 0, ping_interval=None), broadcast
    factory = ServerPerMessageDeflateFactory(
        server_no_context_takeover=True,
        server_max_window_bits=12,
        compress_settings={"memLevel": 5},
    )
    server = serve(
        handler, "127.0.0.1", 0, compression=None, extensions=[factory], ping_interval=None
    )
    return server, broadcast


SERVERS = {
    "websockets": websockets_server,
    "websocket_ref": websocket_ref_server,
    "websocket_ref, context takeover": lambda h: websocket_ref_server(h, context_takeover=True),
}


async def measure(name: str, recipients: int, batches: list[list[str]]) -> list[float]:
    """CPU seconds per message per recipient spent in broadcast() by server ``name``,
    for each batch of messages (one batch per message size)."""

    async def handler(ws: Any) -> None:
        await ws.wait_closed()

    serving, broadcast = SERVERS[name](handler)
    async with serving as server:
        port = server.sockets[0].getsockname()[1]
        clients = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "clients",
            str(port),
            str(recipients),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert clients.stdout is not None and clients.stdin is not None
        try:
            line = await asyncio.wait_for(clients.stdout.readline(), 120)
            assert line.strip() == b"READY", line
            while len(server.connections) < recipients:
                await asyncio.sleep(0.01)
            connections = list(server.connections)
            results = []
            for messages in batches:
                cpu = 0.0
                for message in messages:
                    start = time.process_time()
                    broadcast(connections, message)
                    cpu += time.process_time() - start
                    # Let the transports write what they buffered; not counted.
                    while any(c.transport.get_write_buffer_size() for c in connections):
                        await asyncio.sleep(0.001)
                results.append(cpu / (len(messages) * recipients))
        finally:
            clients.stdin.close()
            await clients.wait()
        for connection in connections:
            connection.transport.abort()
    return results


async def main(args: argparse.Namespace) -> None:
    import websockets

    import websocket_ref

    sizes = [int(size) for size in args.sizes.split(",")]
    batches = [
        [json_payload(size, seed=index).decode() for index in range(args.messages)]
        for size in sizes
    ]
    speedups = "with" if _speedups() else "without"
    print(
        f"websocket_ref {websocket_ref.__version__} ({speedups} C accelerator), "
        f"websockets {websockets.__version__}, Python {sys.version.split()[0]}; "
        f"{args.recipients} recipients, {args.messages} JSON messages per size, "
        f"median of {args.rounds} rounds\n"
    )
    results: dict[str, list[list[float]]] = {name: [] for name in SERVERS}
    for _ in range(args.rounds):
        for name in SERVERS:
            results[name].append(await measure(name, args.recipients, batches))
    header = " | ".join(f"{size} B" for size in sizes)
    print(f"| CPU per message per recipient | {header} |")
    print("| --- |" + " --- |" * len(sizes))
    baseline = [statistics.median(r[i] for r in results["websockets"]) for i in range(len(sizes))]
    for name, rounds in results.items():
        cells = []
        for index in range(len(sizes)):
            median = statistics.median(r[index] for r in rounds)
            ratio = baseline[index] / median
            cells.append(
                f"{median * 1e6:.1f} µs" + ("" if name == "websockets" else f" ({ratio:.1f}x less)")
            )
        print(f"| {name} | " + " | ".join(cells) + " |")


def _speedups() -> bool:
    try:
        from websocket_ref import masking

        return masking.ACCELERATED is not None and bool(masking.ACCELERATED)
    except ImportError:  # pragma: no cover
        return False


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "clients":
        asyncio.run(run_clients(int(sys.argv[2]), int(sys.argv[3])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--sizes", default="256,1024,4096,16384")
    parser.add_argument("--rounds", type=int, default=3)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(main(parser.parse_args()))
