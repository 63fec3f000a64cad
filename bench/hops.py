"""What one thread-to-thread hand-off costs per received message on this machine.

``python bench/hops.py [N]`` times N round trips of a 32 B message over TCP loopback
against a minimal echo process (blocking ``recv``/``sendall`` in a loop), receiving on
the measured side in three ways:

* ``selector``: a selector thread waits in ``epoll``, reads, and hands the bytes to the
  application thread waiting on a lock, as the threading API of websocket_ref does (its
  shared selector thread) and as ``websockets``' does (a reader thread per connection,
  which also waits in a selector);
* ``handoff``: the application thread reads itself while it waits, after taking the
  socket out of an epoll set that an idle selector thread waits on, and puts it back
  after the read (two ``epoll_ctl`` calls per message): the selector thread would keep
  reading while nobody waits in ``recv()``;
* ``direct``: the application thread reads itself (a reader thread of its own).

It prints round trips per second and the CPU time of the measured process per round
trip: the difference between ``selector`` and the others is the cost of a wake-up and
a context switch more per message, the part of the threading API's echo round trip
that no change to its Python code removes.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time
from collections.abc import Callable

MESSAGE = b"x" * 32


def _echo(listener: socket.socket) -> None:
    peer, _ = listener.accept()
    peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
    while data := peer.recv(65536):
        peer.sendall(data)


def _receiver(mode: str, sock: socket.socket) -> Callable[[int], None]:
    if mode == "direct":

        def direct(count: int) -> None:
            for _ in range(count):
                sock.sendall(MESSAGE)
                sock.recv(65536)

        return direct

    epoll = select.epoll()
    epoll.register(sock.fileno(), select.EPOLLIN)
    if mode == "handoff":
        threading.Thread(target=epoll.poll, daemon=True).start()  # idle: never ready

        def handoff(count: int) -> None:
            for _ in range(count):
                sock.sendall(MESSAGE)
                epoll.modify(sock.fileno(), 0)
                sock.recv(65536)
                epoll.modify(sock.fileno(), select.EPOLLIN)

        return handoff

    sock.setblocking(False)
    received = threading.Lock()
    received.acquire()
    inbox: list[bytes] = []

    def read() -> None:
        while True:
            epoll.poll()
            data = sock.recv(65536)
            if not data:
                return
            inbox.append(data)
            received.release()

    threading.Thread(target=read, daemon=True).start()

    def selector(count: int) -> None:
        for _ in range(count):
            sock.sendall(MESSAGE)
            received.acquire()
            inbox.pop()

    return selector


def measure(mode: str, count: int) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:  # the echo process
        try:
            _echo(listener)
        finally:
            os._exit(0)
    listener.close()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
    run = _receiver(mode, sock)
    run(count // 10)
    wall, cpu = time.perf_counter(), time.process_time()
    run(count)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sock.close()
    os.waitpid(pid, 0)
    print(
        f"{mode:9} {count / wall:8,.0f} round trips/s, {1e6 * wall / count:6.1f} us wall, "
        f"{1e6 * cpu / count:6.1f} us CPU (measured process) per round trip"
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    for mode in ("selector", "handoff", "direct"):
        measure(mode, count)


if __name__ == "__main__":
    main()
