"""The server side of ``robustness.py``: a WebSocket server under attack, in its own process.

``python bench/robustness_server.py IMPL HANDLER`` starts a server on 127.0.0.1 with the
library's defaults (only ``ping_interval`` is off, so that keepalive doesn't end an
attack early), prints ``PORT <n>``, then answers commands read from its standard input,
one per line, with one JSON line each:

* ``stats`` — RSS and peak RSS (``VmRSS``/``VmHWM`` of ``/proc/self/status``, KiB), CPU
  seconds used so far, threads, open file descriptors, and what the handlers saw:
  connections handled, ``ConnectionClosed`` exceptions, other exceptions, messages
  received, sends that returned normally after the peer was gone, and log records of
  level WARNING or above (with the first few messages).
* ``reset`` — zero the counters and reset the peak RSS (``/proc/self/clear_refs``).

The server ends when its standard input closes. IMPL is ``websocket_ref-asyncio``,
``websocket_ref-sync``, ``websockets-asyncio`` or ``websockets-sync``; HANDLER is

* ``read`` — read messages until the connection closes;
* ``echo`` — send every message back;
* ``ticker`` — after the first message, send a message every millisecond until
  ``send()`` raises; sends that return after the peer reset the connection are counted.

Run as a script (``python bench/robustness_server.py``), not with ``-m``: websocket_ref
is then imported from where it's installed.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import threading
import time
from typing import Any


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.handled = 0
        self.closed = 0
        self.errors: list[str] = []
        self.messages = 0
        self.sends_after_close = 0
        self.warnings = 0
        self.warning_samples: list[str] = []

    def add(self, name: str, value: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + value)


COUNTERS = Counters()


class CountingHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        with COUNTERS.lock:
            COUNTERS.warnings += 1
            if len(COUNTERS.warning_samples) < 5:
                COUNTERS.warning_samples.append(record.getMessage()[:200])


def _status() -> dict[str, int]:
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                values[key] = int(rest.split()[0])
    return values


def stats() -> dict[str, Any]:
    gc.collect()
    status = _status()
    times = os.times()
    with COUNTERS.lock:
        return {
            "rss_kib": status["VmRSS"],
            "hwm_kib": status["VmHWM"],
            "threads": status["Threads"],
            "fds": len(os.listdir("/proc/self/fd")),
            "cpu_s": round(times.user + times.system, 3),
            "handled": COUNTERS.handled,
            "closed": COUNTERS.closed,
            "errors": len(COUNTERS.errors),
            "error_samples": COUNTERS.errors[:5],
            "messages": COUNTERS.messages,
            "sends_after_close": COUNTERS.sends_after_close,
            "warnings": COUNTERS.warnings,
            "warning_samples": COUNTERS.warning_samples,
        }


def reset() -> dict[str, Any]:
    with COUNTERS.lock:
        COUNTERS.reset()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset VmHWM to the current RSS
    return {"ok": True}


def _modules(impl: str) -> tuple[Any, Any]:
    library, api = impl.split("-")
    if library == "websocket_ref":
        if api == "asyncio":
            from websocket_ref.asyncio import server
            from websocket_ref.exceptions import ConnectionClosed
        else:
            from websocket_ref.exceptions import ConnectionClosed
            from websocket_ref.sync import server  # type: ignore[no-redef]
    else:
        from websockets.exceptions import ConnectionClosed  # type: ignore[assignment]

        if api == "asyncio":
            from websockets.asyncio import server  # type: ignore[no-redef]
        else:
            from websockets.sync import server  # type: ignore[no-redef]
    return server, ConnectionClosed


def _answer(line: str) -> str:
    command = line.strip()
    if command == "stats":
        return json.dumps(stats())
    if command == "reset":
        return json.dumps(reset())
    return json.dumps({"error": f"unknown command {command!r}"})


async def run_asyncio(impl: str, handler_name: str) -> None:
    server_module, ConnectionClosed = _modules(impl)

    async def handler(ws: Any) -> None:
        COUNTERS.add("handled")
        try:
            if handler_name == "read":
                async for _ in ws:
                    COUNTERS.add("messages")
                # A normal end: the peer closed properly.
                await ws.recv()
            elif handler_name == "echo":
                while True:
                    message = await ws.recv()
                    COUNTERS.add("messages")
                    await ws.send(message)
            else:  # ticker
                await ws.recv()
                COUNTERS.add("messages")
                gone_at: float | None = None
                while True:
                    await ws.send("tick")
                    if ws.transport.is_closing() if hasattr(ws, "transport") else False:
                        COUNTERS.add("sends_after_close")
                        gone_at = gone_at or time.monotonic()
                        if time.monotonic() - gone_at > 10:
                            raise RuntimeError("send() kept returning after the reset")
                    await asyncio.sleep(0.001)
        except ConnectionClosed:
            COUNTERS.add("closed")
        except Exception as exc:
            with COUNTERS.lock:
                COUNTERS.errors.append(repr(exc)[:200])

    kwargs: dict[str, Any] = {"ping_interval": None}
    async with server_module.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                break
            print(_answer(line.decode()), flush=True)
        server.close()


def run_sync(impl: str, handler_name: str) -> None:
    server_module, ConnectionClosed = _modules(impl)

    def handler(ws: Any) -> None:
        COUNTERS.add("handled")
        try:
            if handler_name == "read":
                for _ in ws:
                    COUNTERS.add("messages")
                ws.recv()
            elif handler_name == "echo":
                while True:
                    message = ws.recv()
                    COUNTERS.add("messages")
                    ws.send(message)
            else:
                ws.recv()
                COUNTERS.add("messages")
                while True:
                    ws.send("tick")
                    time.sleep(0.001)
        except ConnectionClosed:
            COUNTERS.add("closed")
        except Exception as exc:
            with COUNTERS.lock:
                COUNTERS.errors.append(repr(exc)[:200])

    server = server_module.serve(handler, "127.0.0.1", 0, ping_interval=None)
    port = server.socket.getsockname()[1]
    print(f"PORT {port}", flush=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for line in sys.stdin:
        print(_answer(line), flush=True)
    server.shutdown()


def main() -> None:
    impl, handler_name = sys.argv[1], sys.argv[2]
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    root.addHandler(CountingHandler(logging.WARNING))
    if impl.endswith("asyncio"):
        asyncio.run(run_asyncio(impl, handler_name))
    else:
        run_sync(impl, handler_name)


if __name__ == "__main__":
    main()
