"""End-to-end comparison of websocket_ref with ``websockets``; writes a Markdown table.

Usage (from the repository root; ``make bench`` runs it in a tox env)::

    python bench/compare.py [--quick] [--rounds N] [--output bench/results.md]

Every measurement runs a server and a client in two separate processes over
127.0.0.1 (see ``peer.py``), for each implementation — websocket_ref's asyncio and
threading APIs, and the same two APIs of ``websockets`` — with permessage-deflate on
and off. Absolute numbers on a shared machine drift, so each row is reported as a
ratio, websocket_ref against ``websockets`` measured in pairs: in every round, each row
runs for both libraries back to back (a few seconds apart, alternating which goes
first), which gives that round's ratio; the table shows the median of the rounds'
ratios, so that a slow spell of the machine (frequent on shared VMs, and lasting
seconds) moves one round's pair, not the result. Ratios are oriented so that **above
1.0 means websocket_ref is better**: a rate divided by a rate, or, for memory,
``websockets``' memory divided by websocket_ref's.

Run as a script, not with ``-m``: then ``websocket_ref`` is imported from where it's
installed, with its C accelerator, rather than from the source tree.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import importlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
PEER = HERE / "peer.py"
LIBRARIES = ("websocket_ref", "websockets")
APIS = ("asyncio", "sync")

# (workload, message size, iterations at full scale). --quick divides iterations by 5.
WORKLOADS: list[tuple[str, int, int]] = [
    ("echo", 32, 5000),
    ("stream", 32, 20000),
    ("stream", 1024, 20000),
    ("stream", 65536, 2000),
    ("stream", 2**20, 100),
    ("handshake", 0, 300),
]
#: Rows where the target is 1.2x rather than 1.0x: small-message echo and streaming.
SMALL = {("echo", 32), ("stream", 32), ("stream", 1024)}

CLIENT_TIMEOUT = 180.0  # seconds for one client process (all workloads of one cell)

#: ``--pin-malloc``: glibc's heap thresholds, fixed at what its own dynamic rule would set
#: after freeing a 4 MiB block. By default glibc raises them as large blocks get freed,
#: so how often a process hands memory back to the OS (and faults it in again) depends
#: on the largest block it happened to free; with messages of 1 MiB that decides several
#: percent. Pinned, both libraries run under the same allocator settings.
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(2**22), "MALLOC_TRIM_THRESHOLD_": str(2**23)}

#: Extra environment of every peer process (set by ``--pin-malloc``).
PEER_ENV: dict[str, str] = {}
SERVER_START_TIMEOUT = 30.0


# Processes


class Peers:
    """Every process started, so that all of them are stopped, whatever happens."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[str]] = []

    def start_server(self, impl: str, compression: str) -> tuple[subprocess.Popen[str], int]:
        """Start a server of implementation ``impl`` (see ``peer.py``); return it and its port."""
        process = subprocess.Popen(
            [sys.executable, str(PEER), "server", impl, compression],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **PEER_ENV},
        )
        self.processes.append(process)
        assert process.stdout is not None
        line = _readline(process.stdout, SERVER_START_TIMEOUT)
        if not line.startswith("PORT "):
            self.stop(process)
            raise RuntimeError(f"{impl} server didn't start: {line!r}")
        return process, int(line.split()[1])

    def run_client(
        self, impl: str, compression: str, port: int, server_pid: int, workloads: list[str]
    ) -> list[dict[str, Any]]:
        process = subprocess.Popen(
            [
                sys.executable,
                str(PEER),
                "client",
                impl,
                compression,
                str(port),
                f"--server-pid={server_pid}",
                *workloads,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **PEER_ENV},
        )
        self.processes.append(process)
        try:
            out, _ = process.communicate(timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"  ! {impl} client timed out", file=sys.stderr)
            self.stop(process)
            out = ""
        finally:
            self.stop(process)
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def stop(self, process: subprocess.Popen[str]) -> None:
        """Stop a process: close its stdin (servers exit), then terminate, then kill."""
        if process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in list(self.processes):
            self.stop(process)

    @contextlib.contextmanager
    def server(self, impl: str, compression: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
        process, port = self.start_server(impl, compression)
        try:
            yield process, port
        finally:
            self.stop(process)


def _readline(stream: IO[str], timeout: float) -> str:
    """A line from a child's stdout, or "" after ``timeout`` seconds."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return stream.readline().strip()


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc (psutil isn't a dependency)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


# Idle connections, for the memory row: a minimal raw client, the same for every server.


async def _open_raw(port: int, compression: str) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET / HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if compression == "on":
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        raise RuntimeError(f"handshake refused: {head[:40]!r}")
    if compression == "on" and b"permessage-deflate" not in head.lower():
        writer.close()
        raise RuntimeError("permessage-deflate wasn't negotiated")
    return writer


async def _idle_connections(pid: int, port: int, compression: str, count: int) -> float:
    """Open ``count`` idle connections; return the server's RSS growth per connection."""
    writers: list[asyncio.StreamWriter] = []
    try:
        # One connection first, so lazy imports and first allocations aren't counted.
        warm = await _open_raw(port, compression)
        warm.close()
        await asyncio.sleep(0.5)
        before = rss_kib(pid)
        for start in range(0, count, 50):  # in batches: the listen backlog is finite
            batch = min(50, count - start)
            writers += await asyncio.gather(*[_open_raw(port, compression) for _ in range(batch)])
        await asyncio.sleep(1.0)
        after = rss_kib(pid)
    finally:
        for writer in writers:
            writer.transport.abort()
    return (after - before) / count


# Measurements


@dataclass
class Results:
    #: (library, api, compression, workload, size) -> best seconds for `count` items
    seconds: dict[tuple[str, str, str, str, int], float] = field(default_factory=dict)
    counts: dict[tuple[str, int], int] = field(default_factory=dict)
    #: the same key -> {round: (seconds, CPU seconds or None)}, to pair the libraries
    rounds: dict[tuple[str, str, str, str, int], dict[int, tuple[float, float | None]]] = field(
        default_factory=dict
    )
    #: (library, api, compression) -> KiB per idle connection
    memory: dict[tuple[str, str, str], float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def run_cell(
    peers: Peers,
    results: Results,
    library: str,
    api: str,
    compression: str,
    scale: float,
    round_: int,
    rows: list[tuple[str, int, int]],
) -> None:
    """Run the workloads ``rows`` on a fresh server and client of one implementation."""
    impl = f"{library}-{api}"
    workloads = [f"{name}:{size}:{max(1, int(n * scale))}" for name, size, n in rows]
    with peers.server(impl, compression) as (server, port):
        records = peers.run_client(impl, compression, port, server.pid, workloads)
    negotiated = [r["extensions"] for r in records if "extensions" in r]
    records = [r for r in records if "workload" in r]
    if negotiated and ("permessage-deflate" in negotiated[0]) != (compression == "on"):
        results.failures.append(f"{impl} compression={compression}: negotiated {negotiated[0]!r}")
    if len(records) < len(workloads):
        results.failures.append(f"{impl} compression={compression}: {len(records)} results")
    for record in records:
        key = (library, api, compression, record["workload"], record["size"])
        results.counts[(record["workload"], record["size"])] = record["count"]
        best = results.seconds.get(key)
        if best is None or record["seconds"] < best:
            results.seconds[key] = record["seconds"]
        cpu = None
        if "server_cpu" in record:
            cpu = record["client_cpu"] + record["server_cpu"]
        results.rounds.setdefault(key, {})[round_] = (record["seconds"], cpu)


# CPU per message, one side at a time, against picows (--picows)

#: The implementations whose CPU per message is compared, side by side; the first is ours.
SIDE_IMPLS = ("websocket_ref-asyncio", "picows.websockets-asyncio", "picows-asyncio")
#: The peer on the other end of every side-by-side measurement.
FIXED_PEER = "websockets-asyncio"
#: Rows of the side-by-side table (compression off): (workload, size, iterations).
SIDE_WORKLOADS: list[tuple[str, int, int]] = [
    ("echo", 32, 5000),
    ("stream", 32, 20000),
    ("stream", 1024, 20000),
    ("stream", 65536, 2000),
]


@dataclass
class SideResults:
    #: (impl, side, workload, size) -> {round: CPU seconds per message of that side}
    cpu: dict[tuple[str, str, str, int], dict[int, float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def run_side_cell(
    peers: Peers,
    results: SideResults,
    impl: str,
    side: str,
    scale: float,
    round_: int,
    row: tuple[str, int, int],
) -> None:
    """Measure ``impl`` on one ``side`` (server or client), with FIXED_PEER on the other."""
    name, size, n = row
    server_impl, client_impl = (impl, FIXED_PEER) if side == "server" else (FIXED_PEER, impl)
    workload = f"{name}:{size}:{max(1, int(n * scale))}"
    with peers.server(server_impl, "off") as (server, port):
        records = peers.run_client(client_impl, "off", port, server.pid, [workload])
    records = [r for r in records if "workload" in r]
    if not records:
        results.failures.append(f"{impl} as {side}: no result for {workload}")
        return
    record = records[0]
    cpu = record["server_cpu"] if side == "server" else record["client_cpu"]
    results.cpu.setdefault((impl, side, name, size), {})[round_] = cpu / record["count"]


def side_report(results: SideResults, rounds: int) -> str:
    ours, rival, *others = SIDE_IMPLS
    lines = [
        "## CPU per message against picows (asyncio, compression off)",
        "",
        f"Each side measured alone: the implementation under test as the server with a "
        f"`{FIXED_PEER.replace('-asyncio', '')}` client, or as the client with a "
        f"`{FIXED_PEER.replace('-asyncio', '')}` server; CPU time of that side's process per "
        f"message (µs, median of {rounds} rounds; the rounds run the implementations back to "
        "back). The ratio is picows.websockets' CPU per message over websocket_ref's, "
        "paired by round: **above 1.0× means websocket_ref uses less CPU**. picows is its "
        "own callback API (no `recv()`), for reference.",
        "",
        "| workload | side | websocket_ref | picows.websockets | picows | ratio | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]

    def median_us(impl: str, key: tuple[str, str, int]) -> str:
        values = list(results.cpu.get((impl, *key), {}).values())
        return f"{statistics.median(values) * 1e6:.1f} µs" if values else "n/a"

    for name, size, _ in SIDE_WORKLOADS:
        for side in ("server", "client"):
            key = (side, name, size)
            ref = results.cpu.get((ours, *key), {})
            riv = results.cpu.get((rival, *key), {})
            ratios = [riv[r] / ref[r] for r in ref.keys() & riv.keys() if ref[r] > 0]
            ratio = statistics.median(ratios) if ratios else None
            lines.append(
                f"| {_label(name, size)} | {side} | {median_us(ours, key)} "
                f"| {median_us(rival, key)} | {median_us(others[0], key)} "
                f"| {'n/a' if ratio is None else f'{ratio:.2f}×'} | {_verdict(ratio, 1.0)} |"
            )
    if results.failures:
        lines += ["", "Failures:", ""] + [f"- {failure}" for failure in results.failures]
    return "\n".join(lines) + "\n"


def _compiled() -> bool:
    try:
        from websocket_ref._mypyc import compiled
    except ImportError:  # before mypyc support
        return False
    return compiled()


def _picows_available() -> bool:
    try:
        importlib.import_module("picows.websockets")
    except ImportError:
        return False
    return True


def paired_ratios(
    results: Results, api: str, compression: str, name: str, size: int
) -> tuple[float | None, float | None]:
    """Median over rounds of websocket_ref's rate / websockets' rate, and of the CPU
    ratio (websockets' CPU time / websocket_ref's), each from the two runs of a round."""
    ref = results.rounds.get(("websocket_ref", api, compression, name, size), {})
    ws = results.rounds.get(("websockets", api, compression, name, size), {})
    rates = [ws[r][0] / ref[r][0] for r in ref.keys() & ws.keys() if ref[r][0] > 0]
    cpus: list[float] = []
    for r in ref.keys() & ws.keys():
        ref_cpu, ws_cpu = ref[r][1], ws[r][1]
        if ref_cpu and ws_cpu is not None:
            cpus.append(ws_cpu / ref_cpu)
    return (
        statistics.median(rates) if rates else None,
        statistics.median(cpus) if cpus else None,
    )


def run_memory(
    peers: Peers, results: Results, library: str, api: str, compression: str, count: int
) -> None:
    impl = f"{library}-{api}"
    with peers.server(impl, compression) as (process, port):
        try:
            per_connection = asyncio.run(_idle_connections(process.pid, port, compression, count))
        except (OSError, RuntimeError, asyncio.TimeoutError) as exc:
            results.failures.append(f"{impl} memory compression={compression}: {exc!r}")
            return
    results.memory[(library, api, compression)] = per_connection


def masking_vs_copy() -> tuple[float, float, bool]:
    """Seconds to mask 1 MiB and to copy 1 MiB (best of several), and whether C was used."""
    from websocket_ref import masking

    data = bytearray(os.urandom(2**20))
    mask = os.urandom(4)
    number = 200
    mask_s = min(timeit.repeat(lambda: masking.apply_mask(data, mask), number=number, repeat=7))
    copy_s = min(timeit.repeat(lambda: bytes(data), number=number, repeat=7))
    return mask_s / number, copy_s / number, masking.ACCELERATED


# Report


def _rate(seconds: float | None, count: int) -> float | None:
    return None if seconds is None else count / seconds


def _fmt_rate(rate: float | None, size: int) -> str:
    if rate is None:
        return "n/a"
    text = f"{rate:,.0f}/s"
    if size >= 1024:
        text += f" ({rate * size / 1e6:,.0f} MB/s)"
    return text


def _verdict(ratio: float | None, target: float) -> str:
    if ratio is None:
        return "n/a"
    return f"{'✅' if ratio >= target else '❌'} ≥ {target:.1f}×"


def _label(name: str, size: int) -> str:
    if name == "echo":
        return f"echo round trips, {size} B text"
    if name == "stream":
        unit = (
            f"{size // 2**20} MiB"
            if size >= 2**20
            else (f"{size // 1024} KiB" if size >= 1024 else f"{size} B")
        )
        return f"streaming, {unit} messages (pipelined)"
    return "handshakes (open + close)"


def report(
    results: Results,
    masking: tuple[float, float, bool],
    meta: dict[str, str],
    compressions: list[str],
    apis: list[str],
    connections: int,
) -> str:
    lines = ["# websocket_ref vs websockets: end-to-end benchmarks", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    lines += [
        "",
        "Ratio: websocket_ref / websockets for rates, websockets / websocket_ref for "
        "memory — **above 1.0× means websocket_ref is better**. Rates are the best of the "
        "rounds; the ratio is the median of the rounds' ratios, each round running the row "
        "for both libraries back to back.",
        "",
        "The CPU column compares the CPU time (client + server processes) per message, or per",
        "handshake: `websockets`' over websocket_ref's, paired and summarized the same way.",
        "",
        "| workload | compression | API | websocket_ref | websockets | ratio | target | CPU |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for name, size, _ in WORKLOADS:
        count = results.counts.get((name, size), 0)
        target = 1.2 if (name, size) in SMALL else 1.0
        for compression in compressions:
            for api in apis:
                ref = _rate(
                    results.seconds.get(("websocket_ref", api, compression, name, size)), count
                )
                ws = _rate(results.seconds.get(("websockets", api, compression, name, size)), count)
                ratio, cpu_ratio = paired_ratios(results, api, compression, name, size)
                cpu = "n/a" if cpu_ratio is None else f"{cpu_ratio:.2f}×"
                lines.append(
                    f"| {_label(name, size)} | {compression} | {api} | {_fmt_rate(ref, size)} "
                    f"| {_fmt_rate(ws, size)} | {'n/a' if ratio is None else f'{ratio:.2f}×'} "
                    f"| {_verdict(ratio, target)} | {cpu} |"
                )
    for compression in compressions if results.memory else []:
        for api in apis:
            ref_m = results.memory.get(("websocket_ref", api, compression))
            ws_m = results.memory.get(("websockets", api, compression))
            ratio = None if not ref_m or ws_m is None or ref_m <= 0 else ws_m / ref_m
            lines.append(
                f"| server memory per idle connection ({connections:,} open) | {compression} "
                f"| {api} | {'n/a' if ref_m is None else f'{ref_m:.1f} KiB'} "
                f"| {'n/a' if ws_m is None else f'{ws_m:.1f} KiB'} "
                f"| {'n/a' if ratio is None else f'{ratio:.2f}×'} | {_verdict(ratio, 1.0)} | |"
            )
    mask_s, copy_s, accelerated = masking
    share = copy_s / mask_s
    lines += [
        "",
        "| micro | time | memory copy of the same size | mask speed / copy speed | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| masking 1 MiB ({'C accelerator' if accelerated else 'pure Python'}) "
        f"| {mask_s * 1e6:,.1f} µs | {copy_s * 1e6:,.1f} µs | {share:.0%} "
        f"| {'✅' if share >= 0.5 else '❌'} ≥ 50% |",
    ]
    if results.failures:
        lines += ["", "Failures:", ""] + [f"- {failure}" for failure in results.failures]
    return "\n".join(lines) + "\n"


def _deflate_available() -> bool:
    try:
        importlib.import_module("websocket_ref.extensions.permessage_deflate")
    except ImportError:
        return False
    return True


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations, one round")
    parser.add_argument("--rounds", type=int, help="rounds per cell (default 3, 1 with --quick)")
    parser.add_argument("--connections", type=int, help="idle connections for the memory row")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory row")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument(
        "--only", help="comma-separated subset of rows, e.g. echo:32,stream:65536,handshake:0"
    )
    parser.add_argument("--api", choices=APIS, help="only this API")
    parser.add_argument("--compression", choices=("off", "on"), help="only this setting")
    parser.add_argument(
        "--picows",
        choices=("auto", "no", "only"),
        default="auto",
        help="the table of CPU per message against picows: when picows is installed "
        "(auto), never, or only that table",
    )
    parser.add_argument(
        "--pin-malloc",
        action="store_true",
        help="run every peer with the same fixed glibc heap thresholds (see PINNED_MALLOC)",
    )
    args = parser.parse_args(argv)
    if args.pin_malloc:
        PEER_ENV.update(PINNED_MALLOC)
    if args.only:
        wanted = {tuple(item.split(":")) for item in args.only.split(",")}
        WORKLOADS[:] = [w for w in WORKLOADS if (w[0], str(w[1])) in wanted]
        SIDE_WORKLOADS[:] = [w for w in SIDE_WORKLOADS if (w[0], str(w[1])) in wanted]
    with_picows = args.picows == "only" or (args.picows == "auto" and _picows_available())
    if args.picows == "only":
        WORKLOADS.clear()
        args.no_memory = True
    apis = [args.api] if args.api else list(APIS)
    rounds = args.rounds or (1 if args.quick else 3)
    scale = 0.2 if args.quick else 1.0
    connections = args.connections or (200 if args.quick else 1000)

    import websockets

    from websocket_ref import masking as ref_masking

    compressions = [args.compression] if args.compression else ["off", "on"]
    notes: list[str] = []
    if not _deflate_available():
        compressions = [c for c in compressions if c == "off"]
        notes.append(
            "compression-on rows skipped: websocket_ref.extensions.permessage_deflate "
            "isn't available in this build"
        )
    if not ref_masking.ACCELERATED:
        notes.append("websocket_ref runs WITHOUT its C accelerator (pure-Python masking)")
    load_before = _load()
    started = time.monotonic()

    peers = Peers()
    # SIGTERM (e.g. tox or CI stopping us) must run the cleanup below too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    results = Results()
    side_results = SideResults()
    try:
        for round_ in range(rounds):
            for index, row in enumerate(SIDE_WORKLOADS if with_picows else []):
                for side in ("server", "client"):
                    impls = SIDE_IMPLS[::-1] if (round_ + index) % 2 else SIDE_IMPLS
                    for impl in impls:
                        print(
                            f"round {round_ + 1}/{rounds}: {impl} as {side} {row[0]}:{row[1]}",
                            file=sys.stderr,
                            flush=True,
                        )
                        run_side_cell(peers, side_results, impl, side, scale, round_, row)
            for compression in compressions:
                for api in apis:
                    for index, row in enumerate(WORKLOADS):
                        # Both libraries back to back for each row: a pair for this round.
                        flip = (round_ + index) % 2
                        for library in LIBRARIES[::-1] if flip else LIBRARIES:
                            print(
                                f"round {round_ + 1}/{rounds}: {library} {api} "
                                f"compression={compression} {row[0]}:{row[1]}",
                                file=sys.stderr,
                                flush=True,
                            )
                            run_cell(
                                peers, results, library, api, compression, scale, round_, [row]
                            )
        if not args.no_memory:
            for compression in compressions:
                for api in apis:
                    for library in LIBRARIES:
                        print(
                            f"memory: {library} {api} compression={compression}",
                            file=sys.stderr,
                            flush=True,
                        )
                        run_memory(peers, results, library, api, compression, connections)
        masking = masking_vs_copy()
    finally:
        peers.stop_all()

    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "Python": platform.python_version(),
        "websockets": websockets.version.version,
        "websocket_ref C accelerator": "yes" if ref_masking.ACCELERATED else "no",
        "websocket_ref core compiled with mypyc": "yes" if _compiled() else "no",
        "load average before / after": f"{load_before} / {_load()}",
        "rounds": f"{rounds}{' (quick)' if args.quick else ''}",
        "duration": f"{time.monotonic() - started:.0f} s",
        "glibc malloc thresholds": (
            "pinned for every peer: " + ", ".join(f"{k}={v}" for k, v in PINNED_MALLOC.items())
            if args.pin_malloc
            else "glibc's defaults (dynamic)"
        ),
    }
    if notes:
        meta["notes"] = "; ".join(notes)
    text = report(results, masking, meta, compressions, apis, connections)
    if with_picows:
        import picows  # type: ignore[import-not-found]

        meta["picows"] = getattr(picows, "__version__", "?")
        text = report(results, masking, meta, compressions, apis, connections)
        text += "\n" + side_report(side_results, rounds)
    args.output.write_text(text)
    print(text)
    print(f"written to {args.output}", file=sys.stderr)
    return 1 if results.failures or side_results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
