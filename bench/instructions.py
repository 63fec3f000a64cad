"""Instructions per message of one side of a connection, counted by valgrind (callgrind).

``python bench/instructions.py IMPL SIDE WORKLOAD N`` runs ``peer.py`` with IMPL (e.g.
``websocket_ref-asyncio``, ``picows.websockets-asyncio``) as SIDE (``server`` or
``client``) under ``valgrind --tool=callgrind``, a ``websockets`` asyncio peer on the other
end, for the workload ``NAME:SIZE`` (``echo:32``, ``stream:1024``) with N and with 2N
messages, and prints the difference in instructions over the difference in messages:
start-up, imports and the handshake cancel out.
``--compression on`` has both ends negotiate permessage-deflate.

Unlike CPU time, instruction counts don't move with the machine's load, so they compare
two versions of the code on a busy machine. They leave out the kernel's work (system
calls), which both libraries of a comparison share. Needs ``valgrind``; runs about 50
times slower than normal (N = 500 to 1,000 is enough).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def total_instructions(path: str) -> int:
    with open(path) as profile:
        for line in profile:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def run(impl: str, side: str, workload: str, count: int, compression: str = "off") -> int:
    """Instructions of the process under test for ``count`` messages (plus the warmup)."""
    fd, out = tempfile.mkstemp(prefix="callgrind.")
    os.close(fd)
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    peer = [sys.executable, "peer.py"]
    server_cmd = [*peer, "server", impl if side == "server" else "websockets-asyncio", compression]
    if side == "server":
        server_cmd = valgrind + server_cmd
    server = subprocess.Popen(
        server_cmd,
        cwd=BENCH,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().split()[1]
        client_impl = impl if side == "client" else "websockets-asyncio"
        client_cmd = [*peer, "client", client_impl, compression, port, f"{workload}:{count}"]
        if side == "client":
            client_cmd = valgrind + client_cmd
        subprocess.run(client_cmd, cwd=BENCH, check=True, capture_output=True, timeout=1800)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=300)
    try:
        return total_instructions(out)
    finally:
        os.unlink(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl")
    parser.add_argument("side", choices=["server", "client"])
    parser.add_argument("workload", help="NAME:SIZE, e.g. echo:32 or stream:1024")
    parser.add_argument("count", type=int, nargs="?", default=1000)
    parser.add_argument("--compression", choices=["on", "off"], default="off")
    args = parser.parse_args()
    single = run(args.impl, args.side, args.workload, args.count, args.compression)
    double = run(args.impl, args.side, args.workload, 2 * args.count, args.compression)
    # peer.py runs a tenth of the count as a warmup first: 1.1 x count more messages.
    per_message = (double - single) / (1.1 * args.count)
    print(f"{args.impl} {args.side} {args.workload}: {per_message:,.0f} instructions/message")


if __name__ == "__main__":
    main()
