"""Where the threads of both peers spend a workload: CPU, waits, system calls (Linux).

``python bench/threads.py IMPL WORKLOAD [--compression on]`` runs ``peer.py`` with IMPL
on both ends (e.g. ``websocket_ref-sync``, ``websockets-sync``) for WORKLOAD
(``NAME:SIZE:COUNT``, e.g. ``stream:65536:2000``) and prints, for each thread of the
server and of the client, its CPU time (``/proc/PID/task/TID/schedstat``), the time it
was runnable but waiting for a CPU (run-queue wait: the machine is saturated, by these
processes or by others), and its voluntary and involuntary context switches
(``/proc/PID/task/TID/status``), sampled every 20 ms while the client runs. The total
CPU over the wall time says how many of the machine's cores the two processes used:
when it's close to the number of cores, the rate can only follow the CPU per message.

``--kernel`` instead counts, per message and per process, the system calls, futex
calls, context switches, wake-ups and page faults (``perf stat`` software events and
tracepoints; needs ``perf`` and the right to trace), from two runs of COUNT and 2 x COUNT
messages: start-up and the handshake cancel out.

Threads show up as ``python`` (CPython doesn't name them in the OS): tell them apart by
their CPU per message (a deflating thread, an inflating one...). Counts include the
warmup (a tenth of COUNT, see ``peer.py``), and the client's main thread includes the
process's start-up (imports, handshake): compare it between implementations, or runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

KERNEL_EVENTS = [
    "task-clock",
    "context-switches",
    "page-faults",
    "raw_syscalls:sys_enter",
    "syscalls:sys_enter_futex",
    "syscalls:sys_enter_epoll_wait",
    "syscalls:sys_enter_recvfrom",
    "syscalls:sys_enter_sendto",
    "syscalls:sys_enter_madvise",
    "sched:sched_wakeup",
]

# (run ns, run-queue wait ns, voluntary switches, involuntary switches) per thread id.
_Threads = dict[str, tuple[int, int, int, int]]


def _sample(pid: int, into: _Threads) -> None:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as file:
                run, wait, _ = map(int, file.read().split())
            with open(f"/proc/{pid}/task/{tid}/status") as file:
                status = dict(line.split(":", 1) for line in file if ":" in line)
        except (OSError, ValueError):
            continue  # the thread ended meanwhile: its last sample stands
        voluntary = int(status["voluntary_ctxt_switches"])
        involuntary = int(status["nonvoluntary_ctxt_switches"])
        into[tid] = (run, wait, voluntary, involuntary)


def _start_server(
    impl: str, compression: str, wrapper: list[str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [*(wrapper or []), sys.executable, "peer.py", "server", impl, compression],
        cwd=BENCH,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().split()[1]


def _stop(server: subprocess.Popen[str]) -> None:
    assert server.stdin is not None
    server.stdin.close()
    server.wait(timeout=60)


def threads(impl: str, workload: str, compression: str) -> None:
    server, port = _start_server(impl, compression)
    try:
        before: _Threads = {}
        _sample(server.pid, before)
        started = time.perf_counter()
        client = subprocess.Popen(
            [sys.executable, "peer.py", "client", impl, compression, port, workload],
            cwd=BENCH,
            stdout=subprocess.PIPE,
            text=True,
        )
        samples: dict[str, _Threads] = {"server": {}, "client": {}}
        while client.poll() is None:
            _sample(server.pid, samples["server"])
            _sample(client.pid, samples["client"])
            time.sleep(0.02)
        wall = time.perf_counter() - started
        assert client.stdout is not None
        result = json.loads(client.stdout.read().strip().splitlines()[-1])
    finally:
        _stop(server)
    messages = result["count"] * 1.1  # peer.py's warmup: a tenth of the count
    print(
        f"{impl} {workload} compression {compression}: {result['seconds']:.3f} s timed, "
        f"{wall:.3f} s for the client process, {messages:.0f} messages with the warmup"
    )
    for side, sampled in samples.items():
        total_run = total_wait = 0.0
        for tid, (run, wait, voluntary, involuntary) in sorted(sampled.items()):
            base = before.get(tid, (0, 0, 0, 0)) if side == "server" else (0, 0, 0, 0)
            run_s, wait_s = (run - base[0]) / 1e9, (wait - base[1]) / 1e9
            total_run += run_s
            total_wait += wait_s
            if run_s > 0.01 * wall:
                print(
                    f"  {side} thread {tid}: CPU {run_s:.3f} s ({run_s / wall:.0%} of the wall "
                    f"time, {1e6 * run_s / messages:,.1f} us/message), run-queue wait "
                    f"{wait_s:.3f} s, switches {voluntary - base[2]} voluntary, "
                    f"{involuntary - base[3]} involuntary"
                )
        print(
            f"  {side}: CPU {total_run:.3f} s = {total_run / wall:.2f} cores, "
            f"run-queue wait {total_wait:.3f} s"
        )


def _perf_stat(path: str) -> dict[str, float]:
    counts = {}
    with open(path) as file:
        for line in file:
            fields = line.strip().split(",")
            if len(fields) > 3 and not line.startswith("#"):
                with contextlib.suppress(ValueError):  # <not counted>
                    counts[fields[2]] = float(fields[0])
    return counts


def _kernel_run(
    impl: str, name: str, size: str, count: int, compression: str
) -> tuple[dict[str, float], dict[str, float]]:
    fd, server_out = tempfile.mkstemp(prefix="perf-stat.")
    os.close(fd)
    fd, client_out = tempfile.mkstemp(prefix="perf-stat.")
    os.close(fd)
    perf = ["perf", "stat", "-x,", "-e", ",".join(KERNEL_EVENTS), "-o"]
    peer = [sys.executable, "peer.py", "client", impl, compression]
    try:
        server, port = _start_server(impl, compression, [*perf, server_out])
        try:
            client = subprocess.run(
                [*perf, client_out, *peer, port, f"{name}:{size}:{count}"],
                cwd=BENCH,
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            if client.returncode:
                raise SystemExit(f"the client failed:\n{client.stdout}{client.stderr}")
        finally:
            _stop(server)
        return _perf_stat(server_out), _perf_stat(client_out)
    finally:
        os.unlink(server_out)
        os.unlink(client_out)


def kernel(impl: str, workload: str, compression: str) -> None:
    name, size, count_text = workload.split(":")
    count = int(count_text)
    single = _kernel_run(impl, name, size, count, compression)
    double = _kernel_run(impl, name, size, 2 * count, compression)
    messages = 1.1 * count  # the difference, warmup included
    print(f"{impl} {name}:{size} compression {compression}, per message:")
    print(f"  {'':30} {'server':>10} {'client':>10}")
    for event in KERNEL_EVENTS:
        server, client = (
            (d.get(event, 0) - s.get(event, 0)) / messages
            for s, d in zip(single, double, strict=True)
        )
        label = event
        if event == "task-clock":  # milliseconds
            label, server, client = "CPU time (us)", server * 1e3, client * 1e3
        print(f"  {label:30} {server:10.2f} {client:10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl")
    parser.add_argument("workload", help="NAME:SIZE:COUNT, e.g. stream:65536:2000")
    parser.add_argument("--compression", choices=["on", "off"], default="off")
    parser.add_argument("--kernel", action="store_true", help="perf stat counts per message")
    args = parser.parse_args()
    if args.kernel:
        kernel(args.impl, args.workload, args.compression)
    else:
        threads(args.impl, args.workload, args.compression)


if __name__ == "__main__":
    main()
