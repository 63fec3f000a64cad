"""Run wstest against the testees, several at once, and record how each run ended.

Each testee gets its own wstest process and its own report folder, so runs are independent
and can overlap (the machine has 2 cores; wstest and a testee each use about one while a case
runs, and much of the suite is spent waiting on timers). The harness records in ``run.json``
which case ids were expected and how each run ended, so the summary and the gate can tell a
clean run from a crashed, missing or truncated one.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import REPORTS_DIR, ROOT
from . import _setup as setup
from .testees import EXIT_MISSING, Testee

#: Seconds a server testee may take to print its PORT line, and wstest to start listening.
STARTUP_TIMEOUT = 60.0
#: Default seconds one testee's whole run may take before it is killed and marked "timeout".
DEFAULT_TIMEOUT = 25 * 60.0

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


def resolve_cases(cases: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """Case ids wstest will run for these patterns, computed by wstest's own code.

    The gate compares every report with this list, so a run that stopped early is caught.
    """
    spec = json.dumps({"cases": list(cases), "exclude-cases": list(exclude)})
    proc = subprocess.run(
        [str(setup.VENV27 / "bin" / "python"), "-c", _RESOLVE_CASES, spec],
        capture_output=True,
        text=True,
        env=_wstest_env(),
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


def _start_wstest(cmd: list[str], outdir: Path, log: Any) -> subprocess.Popen[str]:
    """Start wstest in ``outdir`` (where it finds spec.json), logging to ``log``."""
    return subprocess.Popen(
        cmd,
        cwd=outdir,
        env=_wstest_env(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wstest_env() -> dict[str, str]:
    """Environment for Python 2.7: none of the Python 3 paths may leak into it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONUNBUFFERED"] = "1"
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


def _wait_listening(port: int, proc: subprocess.Popen[Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
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


def _stop(proc: subprocess.Popen[Any] | None) -> None:
    """Stop a process the harness started (its own process group), politely then firmly."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
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
    """Ask wstest's fuzzingserver for the reports with a raw WebSocket handshake.

    Used only when a client testee died before doing it, so the cases it did run are still
    reported (the gate then fails on the missing ones, with a useful report to read).
    """
    request = (
        f"GET /updateReports?agent={agent} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request.encode())
        while sock.recv(65536):  # wstest writes the reports, then closes the connection
            pass


def _spec(testee: Testee, outdir: Path, url: str, cases: Sequence[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"outdir": str(outdir), "cases": list(cases), "exclude-cases": []}
    if testee.kind == "server":
        spec["servers"] = [{"agent": testee.name, "url": url}]
    else:
        spec["url"] = url
    return spec


def run_testee(testee: Testee, cases: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run wstest against one testee; return how it went (the report is on disk)."""
    outdir = REPORTS_DIR / testee.name
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    testee_log = outdir / "testee.log"
    wstest_log = outdir / "wstest.log"
    info: dict[str, Any] = {"kind": testee.kind, "status": "ok", "detail": "", "notes": []}
    started = time.monotonic()
    deadline = started + timeout
    testee_proc: subprocess.Popen[str] | None = None
    wstest_proc: subprocess.Popen[str] | None = None
    with testee_log.open("w") as tlog, wstest_log.open("w") as wlog:
        try:
            wstest_cmd = [
                str(setup.WSTEST),
                "-m",
                testee.wstest_mode,
                "-s",
                str(outdir / "spec.json"),
            ]
            if testee.kind == "server":
                testee_proc = subprocess.Popen(
                    [sys.executable, str(testee.script)],
                    cwd=ROOT,
                    env=_testee_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=tlog,
                    text=True,
                    start_new_session=True,
                )
                port = _read_port(testee_proc, STARTUP_TIMEOUT)
                if port is None:
                    _stop(testee_proc)
                    raise _TesteeDidNotStart(testee_proc.returncode)
                spec = _spec(testee, outdir, f"ws://127.0.0.1:{port}", cases)
                (outdir / "spec.json").write_text(json.dumps(spec, indent=2))
                wstest_proc = _start_wstest(wstest_cmd, outdir, wlog)
                remaining = max(1.0, deadline - time.monotonic())
                info["wstest_exit"] = wstest_proc.wait(timeout=remaining)
                if testee_proc.poll() is not None:
                    info["status"] = "error"
                    info["detail"] = f"testee exited with {testee_proc.returncode} during the run"
            else:
                port = free_port()
                spec = _spec(testee, outdir, f"ws://127.0.0.1:{port}", cases)
                (outdir / "spec.json").write_text(json.dumps(spec, indent=2))
                wstest_proc = _start_wstest([*wstest_cmd, "--webport", "0"], outdir, wlog)
                if not _wait_listening(port, wstest_proc, STARTUP_TIMEOUT):
                    raise HarnessError(f"wstest fuzzingserver did not listen on {port}")
                testee_proc = subprocess.Popen(
                    [
                        sys.executable,
                        str(testee.script),
                        "--url",
                        f"ws://127.0.0.1:{port}",
                        "--agent",
                        testee.name,
                    ],
                    cwd=ROOT,
                    env=_testee_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=tlog,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
                code = testee_proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                info["testee_exit"] = code
                if code == EXIT_MISSING:
                    raise _TesteeDidNotStart(code)
                if code != 0:
                    info["status"] = "error"
                    info["detail"] = f"testee exited with {code}"
                if not (outdir / "index.json").exists():
                    update_reports(port, testee.name)
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
        except subprocess.TimeoutExpired:
            info["status"], info["detail"] = "timeout", f"killed after {timeout:.0f}s"
        except (HarnessError, OSError) as exc:
            info["status"], info["detail"] = "error", f"{type(exc).__name__}: {exc}"
        finally:
            _stop(testee_proc)
            _stop(wstest_proc)
    info["wall_time"] = round(time.monotonic() - started, 1)
    info["notes"] = _log_lines(testee_log, "NOTE:")
    _progress(f"{testee.name}: {info['status']} in {info['wall_time']:.0f}s {info['detail']}")
    return info


class _TesteeDidNotStart(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


def _progress(message: str) -> None:
    print(f"[conformance] {message}", file=sys.stderr, flush=True)


def run(
    testees: Sequence[Testee],
    cases: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    jobs: int = 2,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """Set up wstest, run every testee (``jobs`` at a time), write run.json; return it.

    Results of testees not run this time are kept from the previous run.json when it
    expected the same cases, so one testee can be re-run after a fix.
    """
    setup.ensure_wstest()
    expected = resolve_cases(cases, exclude)
    _progress(f"{len(expected)} cases per testee, {len(testees)} testee(s), {jobs} at a time")
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = dict(
            zip(
                [t.name for t in testees],
                pool.map(lambda t: run_testee(t, expected, timeout), testees),
                strict=True,
            )
        )
    wall = round(time.monotonic() - t0, 1)

    previous: dict[str, Any] = {}
    run_file = REPORTS_DIR / "run.json"
    try:
        old = json.loads(run_file.read_text())
        if old.get("expected_cases") == expected:
            previous = {k: v for k, v in old.get("testees", {}).items() if k not in results}
    except (OSError, ValueError):
        pass
    data: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "wall_time": wall,
        "jobs": jobs,
        "wstest": setup.wstest_version(),
        "python": sys.version.split()[0],
        "cases": list(cases),
        "exclude_cases": list(exclude),
        "full_suite": list(cases) == ["*"] and not exclude,
        "expected_cases": expected,
        "testees": {**previous, **results},
    }
    REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(data, indent=2) + "\n")
    _merge_indexes(list(data["testees"]))
    return data


def _merge_indexes(names: Sequence[str]) -> None:
    """One index.json with every testee's results, as a single wstest run would write."""
    merged: dict[str, Any] = {}
    for name in names:
        try:
            index = json.loads((REPORTS_DIR / name / "index.json").read_text())
        except (OSError, ValueError):
            continue
        for agent, cases in index.items():
            merged[agent] = {
                case: {**entry, "reportfile": f"{name}/{entry.get('reportfile', '')}"}
                for case, entry in cases.items()
            }
    (REPORTS_DIR / "index.json").write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
