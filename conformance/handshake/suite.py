"""Run the handshake suite against a server URL or a client, and write its reports.

Reports use wstest's layout (``index.json`` mapping agent → case id → ``behavior``,
``behaviorClose``, ``duration``, ``reportfile``; one JSON file per case with
``description``, ``expectation``, ``result``), so the harness's summary and gate read both
suites alike. Progress goes to a log in wstest's words (``Running test case ID …``,
``CASE-DONE …``), which the harness follows as it follows wstest.
"""

from __future__ import annotations

import fnmatch
import json
import queue
import socket
import threading
import time
import traceback
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import both_cases, client_cases, server_cases
from .common import STEP_TIMEOUT
from .model import FAILED, REGISTRY, SECTIONS, Case, Outcome, Role
from .wire import TEXT, Frame, Peer, close_frame, encode_frame

both_cases.OPENERS["server"] = lambda t, d: (
    server_cases.connect_with_deflate(t) if d else server_cases.plain_connection(t)
)
both_cases.OPENERS["client"] = client_cases.open_client_conn

VERSION = f"websocket_ref handshake suite ({len(REGISTRY.cases)} cases)"
BY_ID: dict[str, Case] = {c.id: c for c in REGISTRY.cases}
#: Finished cases between two report writes.
REPORT_EVERY = 25


def select(
    patterns: Sequence[str], exclude: Sequence[str] = (), role: Role | None = None
) -> list[str]:
    """Case ids matching the patterns (``*``, ``5.*``, ``1.2.3``), in suite order."""

    def hit(case_id: str, pats: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(case_id, p) for p in pats)

    return [
        c.id
        for c in REGISTRY.cases
        if (role is None or c.role == role) and hit(c.id, patterns) and not hit(c.id, exclude)
    ]


class Reports:
    """index.json and per-case files for one agent, written as results come in."""

    def __init__(self, outdir: Path, agent: str, log: TextIO) -> None:
        self.outdir = outdir
        self.agent = agent
        self.log = log
        self.index: dict[str, Any] = {}
        self.lock = threading.Lock()

    def started(self, case: Case) -> None:
        with self.lock:
            self.log.write(f"Running test case ID {case.id} for agent {self.agent}\n")
            self.log.flush()

    def done(self, case: Case, outcome: Outcome, seconds: float) -> None:
        reportfile = f"{self.agent}_case_{case.id.replace('.', '_')}.json"
        detail = {
            "id": case.id,
            "agent": self.agent,
            "role": case.role,
            "description": case.title,
            "expectation": case.expectation,
            "result": outcome.observed,
            "behavior": outcome.behavior,
            "requirements": list(case.requirements),
            "section": SECTIONS.get(case.section, ""),
        }
        with self.lock:
            (self.outdir / reportfile).write_text(json.dumps(detail, indent=1))
            self.index[case.id] = {
                "behavior": outcome.behavior,
                "behaviorClose": "OK",
                "duration": round(seconds * 1000),
                "reportfile": reportfile,
                "requirements": list(case.requirements),
            }
            self.log.write(f"CASE-DONE {case.id} {outcome.behavior} OK {self.agent}\n")
            self.log.flush()
            if len(self.index) % REPORT_EVERY == 0:
                self.write()

    def write(self) -> None:
        (self.outdir / "index.json").write_text(json.dumps({self.agent: self.index}, indent=1))


def _run_case(case: Case, ctx: Any, reports: Reports) -> None:
    reports.started(case)
    t0 = time.monotonic()
    try:
        outcome = case.run(ctx)
    except OSError as exc:
        outcome = Outcome(FAILED, f"connection error: {type(exc).__name__}: {exc}")
    except Exception:  # a bug in the case, reported rather than hidden
        outcome = Outcome(FAILED, "suite error: " + traceback.format_exc(limit=3)[-600:])
    reports.done(case, outcome, time.monotonic() - t0)


def run_server_suite(url: str, ids: Sequence[str], reports: Reports, stop: threading.Event) -> None:
    """Every server case against the server at ``url``, one after the other."""
    parsed = urllib.parse.urlsplit(url)
    path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    target = server_cases.ServerTarget(parsed.hostname or "127.0.0.1", parsed.port or 80, path)
    try:
        for case_id in ids:
            if stop.is_set():
                break
            _run_case(BY_ID[case_id], target, reports)
    finally:
        reports.write()


class ScriptedServer:
    """The suite's server for client cases, speaking wstest fuzzingserver's URLs:
    ``/getCaseCount``, ``/runCase?case=N&agent=A``, ``/updateReports?agent=A``."""

    def __init__(self, ids: Sequence[str], reports: Reports) -> None:
        self.ids = list(ids)
        self.reports = reports
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.redirects: dict[int, queue.Queue[client_cases.ClientSession]] = {}
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.closed = False
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed:
            try:
                sock, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, sock: socket.socket) -> None:
        peer = Peer(sock, client=False)
        try:
            head = peer.read_head(STEP_TIMEOUT)
            if head is None:
                return
            target = head.start.split(" ")[1] if " " in head.start else "/"
            url = urllib.parse.urlsplit(target)
            query = urllib.parse.parse_qs(url.query)
            agent = query.get("agent", [self.reports.agent])[0]
            if url.path == "/getCaseCount":
                session = client_cases.ClientSession(peer, head, 0, agent)
                peer.send(
                    client_cases.response(
                        client_cases.SWITCHING, client_cases.accept_headers(session)
                    )
                )
                peer.send(encode_frame(Frame(TEXT, str(len(self.ids)).encode()), mask=False))
                peer.send(encode_frame(close_frame(1000), mask=False))
                peer.frames_until_close(STEP_TIMEOUT, stop_at_close=True)
            elif url.path == "/updateReports":
                self.reports.write()
                session = client_cases.ClientSession(peer, head, 0, agent)
                peer.send(
                    client_cases.response(
                        client_cases.SWITCHING, client_cases.accept_headers(session)
                    )
                )
                peer.send(encode_frame(close_frame(1000), mask=False))
                peer.frames_until_close(STEP_TIMEOUT, stop_at_close=True)
            elif url.path == "/runCase":
                number = int(query.get("case", ["0"])[0])
                if not 1 <= number <= len(self.ids):
                    return
                session = client_cases.ClientSession(peer, head, number, agent)
                if "redirected" in query:
                    with self.lock:
                        box = self.redirects.get(number)
                        if box is None:  # the case is over: nobody would answer
                            return
                        box.put(session)
                    peer = None  # type: ignore[assignment]  # the case owns it now
                    return
                with self.lock:
                    box = self.redirects[number] = queue.Queue()

                def next_connection(timeout: float) -> client_cases.ClientSession | None:
                    try:
                        return box.get(timeout=timeout)
                    except queue.Empty:
                        return None

                session.next_connection = next_connection
                try:
                    _run_case(BY_ID[self.ids[number - 1]], session, self.reports)
                finally:
                    with self.lock:
                        self.redirects.pop(number, None)
                    while not box.empty():  # a redirect followed too late
                        box.get().peer.close()
        finally:
            if peer is not None:
                peer.close()

    def close(self) -> None:
        self.closed = True
        self.sock.close()
        for t in self.threads:
            t.join(timeout=STEP_TIMEOUT * 3)
        self.reports.write()


def summary_sections() -> dict[str, str]:
    return dict(SECTIONS)
