"""Run wstest against targets, several at once, watch them, and record how each run ended.

A *target* is what gets tested: one of websocket_ref's testees (started by the harness), a
server the harness did not start (``--server-url``), or a client given as a command
(``--client-cmd``). Each gets its own wstest process and report folder, so runs are
independent and can overlap.

A run is watched, not timed: the harness follows wstest's log (case started, case finished,
via ``_wstest_driver.py``), prints progress, and stops a run only when no case has finished
for ``stall_timeout`` seconds (or past an optional overall ``timeout``). wstest writes its
reports every few cases and again when it is stopped, so a stalled or killed run still
reports what it did; ``run.json`` records which case ids were expected and how each run
ended, so the summary and the gate tell a clean run from a stalled, crashed or partial one.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from . import REPORTS_DIR, ROOT
from . import _setup as setup
from .progress import CaseProgress, LogFollower, fmt_duration, suite_weight
from .testees import EXIT_MISSING, Testee

#: Seconds a server testee may take to print its PORT line, and wstest to start listening.
STARTUP_TIMEOUT = 60.0
#: Default seconds without a finished case before a run is declared stalled and stopped.
DEFAULT_STALL_TIMEOUT = 300.0
#: Default number of finished cases between two report writes by wstest.
DEFAULT_REPORT_EVERY = 25
#: Seconds wstest gets to write its reports after SIGTERM before it is killed.
WSTEST_STOP_GRACE = 120.0
DRIVER = Path(__file__).resolve().parent / "_wstest_driver.py"
#: The handshake suite's progress log, beside its reports (wstest's is wstest.log).
SUITE_LOG = "suite.log"
SUITES = ("handshake", "autobahn")
#: Default report folders of the two suites.
SUITE_REPORTS = {"autobahn": REPORTS_DIR, "handshake": REPORTS_DIR.parent / "handshake"}

_RESOLVE_CASES = r"""
import json, sys
from autobahntestsuite.case import Cases, CaseCategories, CaseSubCategories
from autobahntestsuite.case import CaseBasename, CaseSetname
from autobahntestsuite.caseset import CaseSet
cs = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)
spec = json.loads(sys.argv[1])
ids = cs.parseSpecCases(spec)
unknown = [i for i in ids if i not in cs.CasesById]
print(json.dumps({"cases": ids, "unknown": unknown}))
"""


class HarnessError(RuntimeError):
    """The harness itself could not proceed (as opposed to a testee failing)."""


@dataclass(frozen=True)
class Target:
    """One implementation under test and how to reach it.

    Exactly one of ``testee`` (ours), ``server_url`` (a server someone else started) or
    ``client_cmd`` (a client run as a command, see :func:`client_commands`) is set.
    """

    name: str
    kind: Literal["server", "client"]
    testee: Testee | None = None
    server_url: str | None = None
    client_cmd: str | None = None

    @classmethod
    def of(cls, testee: Testee) -> Target:
        return cls(testee.name, testee.kind, testee=testee)

    @property
    def wstest_mode(self) -> str:
        """wstest plays the other side: a fuzzing client for servers, and vice versa."""
        return "fuzzingclient" if self.kind == "server" else "fuzzingserver"

    @property
    def description(self) -> str:
        if self.testee is not None:
            return self.testee.description
        return self.server_url or self.client_cmd or "?"


@dataclass(frozen=True)
class Options:
    """How runs are watched; every limit is an argument with a default."""

    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    #: Overall seconds per target, 0 for none (the stall timeout is what normally stops).
    timeout: float = 0.0
    report_every: int = DEFAULT_REPORT_EVERY
    #: Seconds between progress lines; 0 prints only starts and ends.
    progress_interval: float = 30.0
    reports_dir: Path = REPORTS_DIR


@dataclass
class _Run:
    """The live state of one target's run, shared with the progress printer."""

    target: Target
    progress: CaseProgress
    outdir: Path
    wstest: subprocess.Popen[Any] | None = None
    #: The testee or client processes; stopped before wstest.
    procs: list[subprocess.Popen[Any]] = field(default_factory=list)


def resolve_cases(cases: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """Case ids wstest will run for these patterns, computed by wstest's own code.

    The gate compares every report with this list, so a run that stopped early is caught.
    """
    spec = json.dumps({"cases": list(cases), "exclude-cases": list(exclude)})
    proc = subprocess.run(
        [str(setup.VENV27 / "bin" / "python"), "-c", _RESOLVE_CASES, spec],
        capture_output=True,
        text=True,
        env=_wstest_env(0),
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        raise HarnessError(f"cannot resolve case patterns {list(cases)}:\n{proc.stderr[-2000:]}")
    data = json.loads(proc.stdout)
    if data["unknown"]:
        raise HarnessError(f"unknown case ids: {', '.join(data['unknown'])}")
    if not data["cases"]:
        raise HarnessError(f"no case matches {list(cases)} minus {list(exclude)}")
    return [str(c) for c in data["cases"]]


def _start_wstest(
    args: list[str], outdir: Path, log: Any, report_every: int
) -> subprocess.Popen[str]:
    """Start wstest through the driver in ``outdir`` (where its spec is), logging to ``log``."""
    return subprocess.Popen(
        [*wstest_command(), *args],
        cwd=outdir,
        env=_wstest_env(report_every),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wstest_command() -> list[str]:
    """argv prefix that runs wstest (through the driver) with the cached Python 2.7."""
    return [str(setup.VENV27 / "bin" / "python"), str(DRIVER)]


def _wstest_env(report_every: int) -> dict[str, str]:
    """Environment for Python 2.7: none of the Python 3 paths may leak into it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONUNBUFFERED"] = "1"
    env["CONFORMANCE_REPORT_EVERY"] = str(report_every)
    return env


def _testee_env() -> dict[str, str]:
    """Environment for testees: websocket_ref and conformance from this source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    """A loopback port free right now, for wstest's fuzzingserver (it cannot bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(
    host: str, port: int, proc: subprocess.Popen[Any] | None, timeout: float
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _read_port(proc: subprocess.Popen[str], timeout: float) -> int | None:
    """The port from the server testee's ``PORT <n>`` line, or None if it never came."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not sel.select(remaining):
                break
            line = proc.stdout.readline()
            if not line:
                return None  # EOF: the testee exited
            if line.startswith("PORT "):
                return int(line.split()[1])
    return None


def _stop(proc: subprocess.Popen[Any] | None, grace: float = 5.0) -> None:
    """Stop a process the harness started (its own process group), politely then firmly."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
        return
    except (OSError, subprocess.TimeoutExpired):
        pass
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _log_lines(path: Path, prefix: str) -> list[str]:
    """Deduplicated ``PREFIX: text`` lines from a testee log (NOTE:, MISSING:)."""
    seen: dict[str, None] = {}
    try:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                seen[line[len(prefix) :].strip()] = None
    except OSError:
        pass
    return list(seen)


def update_reports(port: int, agent: str) -> None:
    """Ask wstest's fuzzingserver to write the reports, with a raw WebSocket handshake.

    The same request a client makes after its last case; the harness makes it at the end
    of every client run, so a client that never asks still gets its reports.
    """
    query = urllib.parse.urlencode({"agent": agent})
    request = (
        f"GET /updateReports?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=WSTEST_STOP_GRACE) as sock:
        sock.sendall(request.encode())
        try:
            # wstest writes the reports, then sends a Close frame and drops the connection.
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            # The Close frame came after the reports were written: done.
            if not received.startswith(b"HTTP/1.1 101"):
                raise


def client_commands(template: str, base_url: str, agent: str, count: int) -> list[list[str]]:
    """The argv of each run of a ``--client-cmd`` template.

    The contract, for a client under test given as a command:

    - with ``{url}`` the command runs once and drives wstest's fuzzingserver itself: fetch
      ``{url}/getCaseCount`` (a text message), connect to
      ``{url}/runCase?case=N&agent={agent}`` for N = 1..count echoing every message until
      the server closes, then (optionally) ``{url}/updateReports?agent={agent}``;
    - with ``{case_url}`` the command runs once per case, and only has to connect to that
      URL and echo every message until the connection closes (any echo client will do);
      ``{case}`` is the case number.

    ``{agent}`` is the agent name in the reports in both forms. The template is split like
    a shell command line (quotes work) but not run by a shell.
    """
    base_url = base_url.rstrip("/")
    words = shlex.split(template)
    if "{case_url}" in template:
        return [
            [
                w.format(
                    case_url=f"{base_url}/runCase?case={n}&agent={agent}",
                    case=n,
                    url=base_url,
                    agent=agent,
                )
                for w in words
            ]
            for n in range(1, count + 1)
        ]
    if "{url}" not in template:
        raise HarnessError("--client-cmd needs {url} (run once) or {case_url} (once per case)")
    return [[w.format(url=base_url, agent=agent) for w in words]]


def _spec(target: Target, outdir: Path, url: str, cases: Sequence[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"outdir": str(outdir), "cases": list(cases), "exclude-cases": []}
    if target.kind == "server":
        spec["servers"] = [{"agent": target.name, "url": url}]
    else:
        spec["url"] = url
    return spec


class _Ended(Exception):
    """The watch loop ended the run for a reason recorded as a status and a detail."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


class _TesteeDidNotStart(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


class _Pollable(Protocol):
    returncode: int | None

    def poll(self) -> int | None: ...


def _watch(
    run: _Run,
    until: _Pollable,
    follower: LogFollower,
    options: Options,
    stop: threading.Event,
    alive: Sequence[tuple[subprocess.Popen[Any], str]] = (),
) -> int:
    """Follow the log until ``until`` exits (its code is returned); raise _Ended otherwise.

    The run is stopped when no case has started or finished for ``stall_timeout`` seconds,
    past the overall ``timeout`` if one is set, when the user interrupts, or when a process
    in ``alive`` (which must outlive ``until``) exits.
    """
    progress = run.progress
    while True:
        now = time.monotonic()
        progress.feed_all(follower.new_lines(), now)
        code = until.poll()
        if code is not None:
            progress.feed_all(follower.new_lines(), time.monotonic())
            return code
        for proc, what in alive:
            if proc.poll() is not None:
                raise _Ended("error", f"{what} exited with {proc.returncode} during the run")
        where = f"in case {progress.current}" if progress.current else "between cases"
        if stop.is_set():
            raise _Ended("interrupted", f"stopped by the user {where}")
        idle = progress.idle_for(now)
        if idle > options.stall_timeout:
            raise _Ended(
                "stalled",
                f"no case started or finished for {idle:.0f}s (--stall-timeout), stopped {where}",
            )
        if options.timeout and progress.elapsed(now) > options.timeout:
            raise _Ended("timeout", f"over the {options.timeout:.0f}s limit (--timeout), {where}")
        time.sleep(0.5)


def _server_url(run: _Run, tlog: Any) -> tuple[str, list[tuple[subprocess.Popen[Any], str]]]:
    """The URL of the server under test: ours, started here (then watched), or the user's."""
    target = run.target
    if target.testee is not None:
        testee_proc = subprocess.Popen(
            [sys.executable, str(target.testee.script)],
            cwd=ROOT,
            env=_testee_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=tlog,
            text=True,
            start_new_session=True,
        )
        run.procs.append(testee_proc)
        port = _read_port(testee_proc, STARTUP_TIMEOUT)
        if port is None:
            _stop(testee_proc)
            raise _TesteeDidNotStart(testee_proc.returncode)
        return f"ws://127.0.0.1:{port}", [(testee_proc, "testee")]
    assert target.server_url is not None
    url = target.server_url
    parsed = urllib.parse.urlsplit(url)
    default_port = 443 if parsed.scheme == "wss" else 80
    if not _wait_listening(parsed.hostname or "", parsed.port or default_port, None, 10):
        raise HarnessError(f"nothing listens at {url}")
    return url, []


def _run_server(
    run: _Run, cases: Sequence[str], options: Options, stop: threading.Event, tlog: Any, wlog: Any
) -> dict[str, Any]:
    """wstest's fuzzingclient against a server: ours (started here) or one at a URL."""
    target, outdir = run.target, run.outdir
    info: dict[str, Any] = {}
    url, alive = _server_url(run, tlog)
    (outdir / "spec.json").write_text(json.dumps(_spec(target, outdir, url, cases), indent=2))
    wstest = run.wstest = _start_wstest(
        ["-m", "fuzzingclient", "-s", str(outdir / "spec.json")], outdir, wlog, options.report_every
    )
    info["wstest_exit"] = _watch(
        run, wstest, LogFollower(outdir / "wstest.log"), options, stop, alive
    )
    return info


def _run_handshake_server(
    run: _Run, cases: Sequence[str], options: Options, stop: threading.Event, tlog: Any, wlog: Any
) -> dict[str, Any]:
    """The handshake suite's server cases, from a thread of this process, watched."""
    from .handshake import suite

    url, alive = _server_url(run, tlog)
    reports = suite.Reports(run.outdir, run.target.name, wlog)
    worker = threading.Thread(
        target=suite.run_server_suite, args=(url, cases, reports, stop), daemon=True
    )
    worker.start()
    _watch(run, _ThreadProc(worker), LogFollower(run.outdir / SUITE_LOG), options, stop, alive)
    return {}


class _ThreadProc:
    """A thread seen as a process by :func:`_watch` (poll() is None while it runs)."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return None if self.thread.is_alive() else 0


def _run_client(
    run: _Run, cases: Sequence[str], options: Options, stop: threading.Event, tlog: Any, wlog: Any
) -> dict[str, Any]:
    """wstest's fuzzingserver, and a client driving it: ours, or a user's command."""
    outdir = run.outdir
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    (outdir / "spec.json").write_text(json.dumps(_spec(run.target, outdir, url, cases), indent=2))
    wstest = run.wstest = _start_wstest(
        ["-m", "fuzzingserver", "-s", str(outdir / "spec.json"), "--webport", "0"],
        outdir,
        wlog,
        options.report_every,
    )
    if not _wait_listening("127.0.0.1", port, wstest, STARTUP_TIMEOUT):
        raise HarnessError(f"wstest fuzzingserver did not listen on {port}")
    info = _drive_client(
        run, url, len(cases), options, stop, tlog, "wstest.log", [(wstest, "wstest")]
    )
    update_reports(port, run.target.name)
    return info


def _run_handshake_client(
    run: _Run, cases: Sequence[str], options: Options, stop: threading.Event, tlog: Any, wlog: Any
) -> dict[str, Any]:
    """The handshake suite's scripted server, and the client driving it."""
    from .handshake import suite

    server = suite.ScriptedServer(cases, suite.Reports(run.outdir, run.target.name, wlog))
    try:
        return _drive_client(run, server.url, len(cases), options, stop, tlog, SUITE_LOG, [])
    finally:
        server.close()


def _drive_client(
    run: _Run,
    url: str,
    count: int,
    options: Options,
    stop: threading.Event,
    tlog: Any,
    log_name: str,
    alive: Sequence[tuple[subprocess.Popen[Any], str]],
) -> dict[str, Any]:
    """Run the client (our testee, or each command of a --client-cmd) against ``url``."""
    target = run.target
    info: dict[str, Any] = {}
    if target.testee is not None:
        commands = [
            [sys.executable, str(target.testee.script), "--url", url, "--agent", target.name]
        ]
    else:
        assert target.client_cmd is not None
        commands = client_commands(target.client_cmd, url, target.name, count)
    follower = LogFollower(run.outdir / log_name)
    for argv in commands:
        try:
            client = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=_testee_env(),
                stdin=subprocess.DEVNULL,
                stdout=tlog,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        except OSError as exc:
            raise HarnessError(f"cannot start the client {argv[0]!r}: {exc}") from exc
        run.procs.append(client)
        code = _watch(run, client, follower, options, stop, alive)
        run.procs.remove(client)
        info["testee_exit"] = code
        if code == EXIT_MISSING and target.testee is not None:
            raise _TesteeDidNotStart(code)
        if code != 0 and len(commands) == 1:
            info["status"], info["detail"] = "error", f"client exited with {code}"
    return info


def run_target(
    run: _Run,
    cases: Sequence[str],
    options: Options,
    stop: threading.Event,
    suite: str = "autobahn",
) -> dict[str, Any]:
    """Run wstest against one target; return how it went (the report is on disk)."""
    target, outdir = run.target, run.outdir
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    testee_log = outdir / "testee.log"
    info: dict[str, Any] = {
        "kind": target.kind,
        "description": target.description,
        "status": "ok",
        "detail": "",
        "notes": [],
    }
    started = time.monotonic()
    _progress(f"{target.name}: started ({target.kind}, {target.description})")
    log_name = "wstest.log" if suite == "autobahn" else SUITE_LOG
    with testee_log.open("w") as tlog, (outdir / log_name).open("w") as wlog:
        try:
            body = {
                ("autobahn", "server"): _run_server,
                ("autobahn", "client"): _run_client,
                ("handshake", "server"): _run_handshake_server,
                ("handshake", "client"): _run_handshake_client,
            }[suite, target.kind]
            info.update(body(run, cases, options, stop, tlog, wlog))
        except _Ended as exc:
            info["status"], info["detail"] = exc.status, exc.detail
        except _TesteeDidNotStart as exc:
            tlog.flush()
            reasons = _log_lines(testee_log, "MISSING:")
            if exc.code == EXIT_MISSING:
                info["status"], info["detail"] = "missing", "; ".join(reasons) or "API missing"
            else:
                info["status"] = "error"
                info["detail"] = f"testee did not start (exit {exc.code}): " + _log_tail(
                    testee_log, 3
                ).replace("\n", " | ")
        except (HarnessError, OSError) as exc:
            info["status"], info["detail"] = "error", f"{type(exc).__name__}: {exc}"
        finally:
            # wstest last, with time to write the reports of the cases it finished.
            for proc in run.procs:
                _stop(proc)
            _stop(run.wstest, WSTEST_STOP_GRACE)
    progress = run.progress
    progress.finished_at = time.monotonic()
    progress.status = info["status"]
    info["wall_time"] = round(time.monotonic() - started, 1)
    info["cases_done"] = len(progress.done)
    info["last_case"] = progress.current or (progress.done[-1] if progress.done else None)
    info["notes"] = _log_lines(testee_log, "NOTE:")
    _progress(progress.line(time.monotonic()) + (f" — {info['detail']}" if info["detail"] else ""))
    return info


_PRINT_LOCK = threading.Lock()


def _progress(message: str) -> None:
    with _PRINT_LOCK:
        print(f"[conformance] {message}", file=sys.stderr, flush=True)


def order_longest_first(
    targets: Sequence[Target], expected: Sequence[str], previous: dict[str, Any]
) -> list[Target]:
    """Targets in the order to start them: longest expected run first (LPT scheduling).

    A target's previous wall time for the same cases is the best guess; otherwise the
    reference weights of the cases, a little more for clients (they start a connection per
    case from Python and were slower in every measured run).
    """

    def expected_seconds(t: Target) -> float:
        old = previous.get(t.name, {})
        if old.get("status") == "ok" and isinstance(old.get("wall_time"), (int, float)):
            return float(old["wall_time"])
        return suite_weight(expected) * (1.2 if t.kind == "client" else 1.0)

    return sorted(targets, key=expected_seconds, reverse=True)


def _previous(reports_dir: Path, expected: Sequence[str]) -> dict[str, Any]:
    try:
        old = json.loads((reports_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    if old.get("expected_cases") != list(expected):
        return {}
    testees = old.get("testees", {})
    return testees if isinstance(testees, dict) else {}


def run(
    targets: Sequence[Target],
    cases: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    jobs: int = 2,
    options: Options | None = None,
    on_tick: Callable[[], None] | None = None,
    suite: str = "autobahn",
) -> dict[str, Any]:
    """Set up wstest, run every target (``jobs`` at a time), write run.json; return it.

    ``suite`` is ``autobahn`` (wstest) or ``handshake`` (conformance/handshake/, whose
    cases depend on the target's role). Results of targets not run this time are kept from
    the previous run.json when it expected the same cases, so one testee can be re-run.
    """
    options = options or Options()
    reports_dir = options.reports_dir
    per_target: dict[str, list[str]] = {}
    if suite == "autobahn":
        setup.ensure_wstest()
        expected = resolve_cases(cases, exclude)
        version = setup.wstest_version()
        interpreter = setup.wstest_python()
    else:
        from .handshake import suite as handshake

        expected = handshake.select(cases, exclude)
        if not expected:
            raise HarnessError(f"no handshake case matches {list(cases)} minus {list(exclude)}")
        per_target = {t.name: handshake.select(cases, exclude, role=t.kind) for t in targets}
        version, interpreter = handshake.VERSION, ""
    previous = _previous(reports_dir, expected)
    ordered = order_longest_first(targets, expected, previous)
    _progress(
        f"{suite}: {len(expected)} cases, {len(targets)} target(s), {jobs} at a time; "
        f"stall timeout {fmt_duration(options.stall_timeout)}; order: "
        + ", ".join(t.name for t in ordered)
    )
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    stop = threading.Event()
    runs = [
        _Run(
            t,
            CaseProgress(t.name, per_target.get(t.name, expected), started_at=t0),
            reports_dir / t.name,
        )
        for t in ordered
    ]

    def start(r: _Run) -> dict[str, Any]:
        now = time.monotonic()
        r.progress.started_at = r.progress.last_progress_at = now
        if not r.progress.expected:  # e.g. --cases '1.*' selects no client case
            r.progress.finished_at, r.progress.status = now, "ok"
            detail = f"no {suite} case in this selection applies to a {r.target.kind}"
            _progress(f"{r.target.name}: skipped: {detail}")
            return {
                "kind": r.target.kind,
                "status": "ok",
                "detail": detail,
                "notes": [],
                "wall_time": 0.0,
                "cases_done": 0,
                "expected_cases": [],
            }
        info = run_target(r, r.progress.expected, options, stop, suite)
        if per_target:
            info["expected_cases"] = list(r.progress.expected)
        return info

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    futures = [pool.submit(start, r) for r in runs]
    last_board = time.monotonic()
    try:
        while not all(f.done() for f in futures):
            time.sleep(0.5)
            if on_tick is not None:
                on_tick()
            interval = options.progress_interval
            if interval and time.monotonic() - last_board >= interval:
                last_board = time.monotonic()
                for r, f in zip(runs, futures, strict=True):
                    if f.running():
                        _progress(r.progress.line(last_board))
    except KeyboardInterrupt:
        _progress("interrupted: stopping the runs and saving what they did")
        stop.set()
        for f in futures:
            f.cancel()
    finally:
        pool.shutdown(wait=True)
    results: dict[str, Any] = {}
    for r, f in zip(runs, futures, strict=True):
        if f.cancelled():
            results[r.target.name] = {
                "kind": r.target.kind,
                "description": r.target.description,
                "status": "not-run",
                "detail": "interrupted before it started",
                "notes": [],
            }
        else:
            results[r.target.name] = f.result()
    results = {t.name: results[t.name] for t in targets}
    wall = round(time.monotonic() - t0, 1)

    data: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "wall_time": wall,
        "jobs": jobs,
        "suite": suite,
        "wstest": version,
        "wstest_python": interpreter,
        "python": sys.version.split()[0],
        "cases": list(cases),
        "exclude_cases": list(exclude),
        "full_suite": list(cases) == ["*"] and not exclude,
        "expected_cases": expected,
        "options": {
            "stall_timeout": options.stall_timeout,
            "timeout": options.timeout,
            "report_every": options.report_every,
        },
        "testees": {**{k: v for k, v in previous.items() if k not in results}, **results},
    }
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "run.json").write_text(json.dumps(data, indent=2) + "\n")
    _merge_indexes(reports_dir, list(data["testees"]))
    if stop.is_set():
        raise KeyboardInterrupt
    return data


def _merge_indexes(reports_dir: Path, names: Sequence[str]) -> None:
    """One index.json with every testee's results, as a single wstest run would write."""
    merged: dict[str, Any] = {}
    for name in names:
        try:
            index = json.loads((reports_dir / name / "index.json").read_text())
        except (OSError, ValueError):
            continue
        for agent, cases in index.items():
            merged[agent] = {
                case: {**entry, "reportfile": f"{name}/{entry.get('reportfile', '')}"}
                for case, entry in cases.items()
            }
    (reports_dir / "index.json").write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
