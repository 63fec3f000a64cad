"""One side of an end-to-end benchmark, run in a process of its own by ``compare.py``.

``python bench/peer.py server IMPL COMPRESSION`` starts an echo server on 127.0.0.1,
prints ``PORT <n>`` and serves until its standard input closes (so it can't outlive
the process that started it). ``python bench/peer.py client IMPL COMPRESSION PORT
[--server-pid=PID] WORKLOAD...`` runs workloads against such a server and prints one
JSON line each: wall time, the client's CPU time and, given its PID, the server's.

IMPL is one of :data:`IMPLS`: the library and its API. The same workload code drives
every implementation: the asyncio and the threading APIs of ``websocket_ref`` and of
``websockets``, and ``picows.websockets`` (picows' websockets-compatible asyncio API)
have the same shape (``connect``, ``serve``, ``send``, ``recv``), so only the imports
differ. ``picows-asyncio`` is picows' own callback API (``WSListener``), driven by code of
its own below; it has no permessage-deflate. The client and the server may be different
implementations (``compare.py --vs-picows`` measures each side against a fixed peer).

Workloads, written ``NAME:SIZE:COUNT``:

* ``echo:32:N`` — N round trips of a SIZE-byte text message, one at a time.
* ``stream:SIZE:N`` — N binary messages of SIZE bytes sent back to back while the
  echoes are read concurrently (pipelined); time until the last echo is back. At
  most :func:`window` messages are in flight: ``websockets``' threading client holds
  a lock while it writes that its reader thread needs, so with megabytes in flight
  both directions fill up and it deadlocks; the same window applies to every
  implementation.
* ``handshake:0:N`` — N sequential connections: opening handshake, closing handshake.

Run from the repository root as a script (``python bench/peer.py``), not with ``-m``:
that way ``websocket_ref`` is imported from where it's installed (with its C
accelerator), not from the source tree.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from payloads import json_payload

IMPLS = (
    "websocket_ref-asyncio",
    "websocket_ref-sync",
    "websockets-asyncio",
    "websockets-sync",
    "picows.websockets-asyncio",
    "picows-asyncio",
)

#: Bytes of messages in flight at most when streaming (see the module docstring).
WINDOW_BYTES = 2**21


def window(size: int) -> int:
    """Messages in flight at most when streaming messages of ``size`` bytes."""
    return max(1, min(256, WINDOW_BYTES // max(size, 1)))


#: Largest message accepted by both sides: above the largest benchmark message.
MAX_SIZE = 2**22


def payload(size: int) -> bytes:
    """SIZE bytes of realistic JSON (ASCII), compressible like real API traffic."""
    return json_payload(size, seed=size)


def _modules(impl: str) -> tuple[Any, Any]:
    """The (client, server) modules of an implementation."""
    library, api = impl.split("-")
    if library == "websocket_ref":
        if api == "asyncio":
            from websocket_ref.asyncio import client, server
        else:
            from websocket_ref.sync import client, server  # type: ignore[no-redef]
    elif library == "picows.websockets":
        import picows.websockets as client  # type: ignore[import-not-found, no-redef]

        server = client
    elif api == "asyncio":
        from websockets.asyncio import client, server  # type: ignore[no-redef]
    else:
        from websockets.sync import client, server  # type: ignore[no-redef]
    return client, server


def _compression(value: str) -> str | None:
    return "deflate" if value == "on" else None


def _closed_exceptions(impl: str) -> tuple[type[BaseException], ...]:
    if impl.startswith("websocket_ref"):
        from websocket_ref.exceptions import ConnectionClosed
    elif impl.startswith("picows.websockets"):
        from picows.websockets.exceptions import (  # type: ignore[import-not-found, no-redef]
            ConnectionClosed,
        )
    else:
        from websockets.exceptions import ConnectionClosed  # type: ignore[assignment]
    return (ConnectionClosed, OSError)


# Servers


def run_server(impl: str, compression: str) -> None:
    if impl == "picows-asyncio":
        asyncio.run(_picows_server())
        return
    _, server_module = _modules(impl)
    closed = _closed_exceptions(impl)
    options: dict[str, Any] = {"compression": _compression(compression), "max_size": MAX_SIZE}
    if impl.endswith("asyncio"):
        asyncio.run(_async_server(server_module, closed, options))
    else:
        _sync_server(server_module, closed, options)


def _announce(port: int) -> None:
    print(f"PORT {port}", flush=True)


async def _async_server(module: Any, closed: tuple[type[BaseException], ...], options: Any) -> None:
    async def echo(websocket: Any) -> None:
        try:
            async for message in websocket:
                await websocket.send(message)
        except closed:
            pass

    async with module.serve(echo, "127.0.0.1", 0, **options) as server:
        _announce(server.sockets[0].getsockname()[1])
        # Serve until the parent closes our stdin (or dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        server.close()


async def _picows_server() -> None:
    from picows import WSListener, ws_create_server  # type: ignore[import-not-found]

    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            # Messages are sent unfragmented; control frames are answered by picows.
            if frame.msg_type.value in (1, 2):
                transport.send(frame.msg_type, frame.get_payload_as_bytes())
            elif frame.msg_type.value == 8:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    server = await ws_create_server(lambda _: Echo(), "127.0.0.1", 0, max_frame_size=MAX_SIZE)
    _announce(server.sockets[0].getsockname()[1])
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()


def _sync_server(module: Any, closed: tuple[type[BaseException], ...], options: Any) -> None:
    def echo(websocket: Any) -> None:
        try:
            for message in websocket:
                websocket.send(message)
        except closed:
            pass

    with module.serve(echo, "127.0.0.1", 0, **options) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        _announce(server.socket.getsockname()[1])
        sys.stdin.read()
        server.shutdown()
        thread.join(10)


# Clients


def _report_extensions(ws: Any) -> None:
    """What the handshake negotiated, so that the caller can check compression."""
    extensions = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
    print(json.dumps({"extensions": extensions}), flush=True)


def _process_cpu(pid: int) -> float:
    """CPU seconds used so far by process ``pid``, all threads: from the scheduler's
    nanosecond counts (``/proc/PID/task/*/schedstat``), else from ``/proc/PID/stat``'s
    clock ticks (10 ms: too coarse for short workloads)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as schedstat:
                total += int(schedstat.read().split()[0])
    except (OSError, ValueError):
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total / 1e9


class Timer:
    """Wall time, and CPU time of this process and of the server, over a workload.

    CPU time barely depends on what else the machine runs, unlike wall time: it's the
    robust measure of efficiency on a shared machine.
    """

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid

    def start(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.server_cpu = _process_cpu(self.server_pid) if self.server_pid else 0.0

    def report(self, workload: str, size: int, count: int) -> None:
        result = {
            "workload": workload,
            "size": size,
            "count": count,
            "seconds": time.perf_counter() - self.wall,
            "client_cpu": time.process_time() - self.cpu,
        }
        if self.server_pid:
            result["server_cpu"] = _process_cpu(self.server_pid) - self.server_cpu
        print(json.dumps(result), flush=True)


def _warmup(count: int) -> int:
    return max(1, count // 10)


async def _async_client(
    module: Any, uri: str, options: Any, workloads: list[str], timer: Timer
) -> None:
    async def echo(ws: Any, message: str, count: int) -> None:
        for _ in range(count):
            await ws.send(message)
            await ws.recv()

    async def stream(ws: Any, data: bytes, count: int) -> None:
        in_flight = asyncio.Semaphore(window(len(data)))

        async def read() -> None:
            for _ in range(count):
                await ws.recv()
                in_flight.release()

        reader = asyncio.create_task(read())
        for _ in range(count):
            await in_flight.acquire()
            await ws.send(data)
        await reader

    async def handshakes(count: int) -> None:
        for _ in range(count):
            async with module.connect(uri, **options):
                pass

    async with module.connect(uri, **options) as ws:
        _report_extensions(ws)
        for spec in workloads:
            name, size, count = _parse(spec)
            if name == "handshake":
                await handshakes(_warmup(count))
                timer.start()
                await handshakes(count)
            elif name == "echo":
                message = payload(size).decode()
                await echo(ws, message, _warmup(count))
                timer.start()
                await echo(ws, message, count)
            else:
                data = payload(size)
                await stream(ws, data, _warmup(count))
                timer.start()
                await stream(ws, data, count)
            timer.report(name, size, count)


async def _picows_client(uri: str, workloads: list[str], timer: Timer) -> None:
    """The workloads on picows' callback API: frames arrive in ``on_ws_frame``."""
    from picows import WSListener, WSMsgType, ws_connect  # type: ignore[import-not-found]

    loop = asyncio.get_running_loop()

    class Client(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.remaining = 0
            self.done: asyncio.Future[None] = loop.create_future()
            self.window: asyncio.Semaphore | None = None

        def expect(self, count: int, window: asyncio.Semaphore | None = None) -> None:
            self.remaining, self.window = count, window
            self.done = loop.create_future()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type.value not in (1, 2):
                return
            frame.get_payload_as_bytes()  # what an application would do with it
            if self.window is not None:
                self.window.release()
            self.remaining -= 1
            if self.remaining == 0:
                self.done.set_result(None)

    async def echo(transport: Any, client: Client, message: str, count: int) -> None:
        data = message.encode()
        for _ in range(count):
            client.expect(1)
            transport.send(WSMsgType.TEXT, data)
            await client.done

    async def stream(transport: Any, client: Client, data: bytes, count: int) -> None:
        in_flight = asyncio.Semaphore(window(len(data)))
        client.expect(count, in_flight)
        for _ in range(count):
            await in_flight.acquire()
            transport.send(WSMsgType.BINARY, data)
        await client.done

    async def handshakes(count: int) -> None:
        for _ in range(count):
            transport, _ = await ws_connect(Client, uri, max_frame_size=MAX_SIZE)
            transport.send_close()
            await transport.wait_disconnected()

    transport, client = await ws_connect(Client, uri, max_frame_size=MAX_SIZE)
    print(json.dumps({"extensions": ""}), flush=True)
    for spec in workloads:
        name, size, count = _parse(spec)
        if name == "handshake":
            await handshakes(_warmup(count))
            timer.start()
            await handshakes(count)
        elif name == "echo":
            message = payload(size).decode()
            await echo(transport, client, message, _warmup(count))
            timer.start()
            await echo(transport, client, message, count)
        else:
            data = payload(size)
            await stream(transport, client, data, _warmup(count))
            timer.start()
            await stream(transport, client, data, count)
        timer.report(name, size, count)
    transport.send_close()
    await transport.wait_disconnected()


def _sync_client(module: Any, uri: str, options: Any, workloads: list[str], timer: Timer) -> None:
    def echo(ws: Any, message: str, count: int) -> None:
        for _ in range(count):
            ws.send(message)
            ws.recv()

    def stream(ws: Any, data: bytes, count: int) -> None:
        in_flight = threading.Semaphore(window(len(data)))

        def write() -> None:
            for _ in range(count):
                in_flight.acquire()
                ws.send(data)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            for _ in range(count):
                ws.recv()
                in_flight.release()
        finally:
            writer.join()

    def handshakes(count: int) -> None:
        for _ in range(count):
            with module.connect(uri, **options):
                pass

    with module.connect(uri, **options) as ws:
        _report_extensions(ws)
        for spec in workloads:
            name, size, count = _parse(spec)
            run: Callable[[int], None]
            if name == "handshake":
                run = handshakes
            elif name == "echo":
                message = payload(size).decode()
                run = lambda n, m=message: echo(ws, m, n)  # noqa: E731
            else:
                data = payload(size)
                run = lambda n, d=data: stream(ws, d, n)  # noqa: E731
            run(_warmup(count))
            timer.start()
            run(count)
            timer.report(name, size, count)


def _parse(spec: str) -> tuple[str, int, int]:
    name, size, count = spec.split(":")
    if name not in ("echo", "stream", "handshake"):
        raise ValueError(f"unknown workload: {name}")
    return name, int(size), int(count)


def run_client(
    impl: str, compression: str, port: int, workloads: list[str], server_pid: int | None = None
) -> None:
    uri = f"ws://127.0.0.1:{port}/"
    if impl == "picows-asyncio":
        asyncio.run(_picows_client(uri, workloads, Timer(server_pid)))
        return
    client_module, _ = _modules(impl)
    options: dict[str, Any] = {"compression": _compression(compression), "max_size": MAX_SIZE}
    if impl.endswith("asyncio"):
        asyncio.run(_async_client(client_module, uri, options, workloads, Timer(server_pid)))
    else:
        _sync_client(client_module, uri, options, workloads, Timer(server_pid))


def main(argv: list[str]) -> None:
    # Both libraries log failed handshakes and handler errors; the benchmark doesn't care.
    logging.disable(logging.CRITICAL)
    role, impl, compression, *rest = argv
    if impl not in IMPLS or compression not in ("on", "off"):
        raise SystemExit(f"usage: peer.py server|client {'|'.join(IMPLS)} on|off ...")
    if role == "server":
        run_server(impl, compression)
    elif role == "client":
        port, *workloads = rest
        server_pid = None
        if workloads and workloads[0].startswith("--server-pid="):
            server_pid = int(workloads.pop(0).split("=", 1)[1])
        run_client(impl, compression, int(port), workloads, server_pid)
    else:
        raise SystemExit(f"unknown role: {role}")


if __name__ == "__main__":
    main(sys.argv[1:])
