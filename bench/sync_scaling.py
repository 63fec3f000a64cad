"""The threading server under many connections: threads, memory and round trips.

``python bench/sync_scaling.py [--connections 100 1000] [--impl websocket_ref-sync ...]
[--rounds 10] [--repeat 1]`` starts an echo server (``robustness_server.py``) per
implementation, opens N connections from one asyncio process (raw WebSocket, so the
client costs the same for every server), and reports the server's threads and RSS with N
connections open, then the time for every connection to do ``--rounds`` round trips at
once (a 32-byte message each): with ``--repeat``, the median of that many runs on the
same connections (a run lasts well under a second: on a loaded machine one run is noise),
and the server's CPU time per round trip over all runs, which load disturbs less.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from robustness import Server

ROUNDS = 10  # default of --rounds


async def open_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


MESSAGE = b"x" * 32
FRAME = struct.pack("!BB", 0x82, 0x80 | len(MESSAGE)) + b"\0\0\0\0" + MESSAGE


async def round_trips(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rounds: int
) -> None:
    for _ in range(rounds):
        writer.write(FRAME)
        header = await reader.readexactly(2)
        await reader.readexactly(header[1] & 0x7F)


async def measure(server: Server, count: int, rounds: int, repeat: int) -> dict[str, object]:
    before = server.command("stats")
    connections = []
    for start in range(0, count, 100):  # in batches: don't overflow the listen backlog
        batch = await asyncio.gather(
            *(open_connection(server.port) for _ in range(min(100, count - start)))
        )
        connections.extend(batch)
    await asyncio.sleep(1)
    opened = server.command("stats")
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        await asyncio.gather(*(round_trips(r, w, rounds) for r, w in connections))
        rates.append(count * rounds / (time.perf_counter() - started))
    done = server.command("stats")
    for _, writer in connections:
        writer.close()
    return {
        "connections": count,
        "threads": opened["threads"],
        "rss_per_connection_kib": round((opened["rss_kib"] - before["rss_kib"]) / count, 1),
        "round_trips_per_s": round(statistics.median(rates)),
        "server_cpu_s": round(opened["cpu_s"] - before["cpu_s"], 2),
        "server_cpu_us_per_round_trip": round(
            (done["cpu_s"] - opened["cpu_s"]) * 1e6 / (count * rounds * repeat), 1
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--impl", action="append", choices=("websocket_ref-sync", "websockets-sync")
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="round trips per connection")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the median is reported")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for impl in args.impl or ("websocket_ref-sync", "websockets-sync"):
        for count in args.connections:
            server = Server(impl, "echo")
            try:
                result = asyncio.run(measure(server, count, args.rounds, args.repeat))
            finally:
                server.stop()
            print(json.dumps({"impl": impl, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
