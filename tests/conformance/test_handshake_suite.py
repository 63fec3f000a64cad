"""The handshake suite itself: its registry, its wire helpers, and that its cases can fail.

The suite runs against websocket_ref in CI (``python3 -m conformance run --suite
handshake``); these tests check the suite, on purpose-built broken peers, without wstest.
"""

from __future__ import annotations

import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance import report, runner
from conformance.handshake import suite, wire
from conformance.handshake.model import REGISTRY, SECTIONS
from conformance.rfc import registry


def test_at_least_150_cases_each_tied_to_registered_requirements() -> None:
    cases = REGISTRY.cases
    assert len(cases) >= 150
    assert len({c.id for c in cases}) == len(cases)
    known = registry.by_id()
    for case in cases:
        assert case.requirements, case.id
        unknown = [r for r in case.requirements if r not in known]
        assert not unknown, (case.id, unknown)
        assert case.section in SECTIONS
        assert case.title and case.expectation
    roles = {c.role for c in cases}
    assert roles == {"server", "client"}


def test_case_selection_by_pattern_and_role() -> None:
    assert suite.select(["1.1.1"]) == ["1.1.1"]
    server = suite.select(["*"], role="server")
    client = suite.select(["*"], role="client")
    assert len(server) + len(client) == len(REGISTRY.cases)
    assert all(suite.BY_ID[c].role == "client" for c in client)
    assert suite.select(["5.*"], exclude=["5.2.*"]) == suite.select(["5.1.*"])


def test_accept_key_of_rfc_6455_section_1_3() -> None:
    assert wire.accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_frames_round_trip_masked_and_not() -> None:
    a, b = socket.socketpair()
    with a, b:
        sender, receiver = wire.Peer(a, client=True), wire.Peer(b, client=False)
        for payload in (b"", b"x" * 125, b"y" * 126, b"z" * 70000):
            sender.send_frame(wire.Frame(wire.BINARY, payload, rsv1=True))
            frame = receiver.read_frame(5)
            assert frame is not None and frame.masked and frame.rsv1
            assert frame.payload == payload
        receiver.send_frame(wire.close_frame(1000, b"bye"))
        frame = sender.read_frame(5)
        assert frame is not None and not frame.masked
        assert wire.close_payload(frame.payload) == (1000, "bye")


def test_deflate_helpers_follow_rfc_7692() -> None:
    data = b"Hello, Hello, Hello" * 10
    payload = wire.deflate_message(data)
    assert not payload.endswith(wire.TAIL)
    assert wire.inflate_message(payload) == data
    # RFC 7692 §7.2.3.1: "Hello" compressed
    assert wire.inflate_message(bytes.fromhex("f248cdc9c90700")) == b"Hello"
    assert zlib.decompressobj(-15).decompress(wire.deflate_message(b"") + wire.TAIL) == b""


# Broken peers: the cases must notice.


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[wire.Peer], None]], str]]:
    """A loopback server running ``handler`` for every connection; yields its URL."""
    sockets: list[socket.socket] = []

    def start(handler: Callable[[wire.Peer], None]) -> str:
        server = socket.create_server(("127.0.0.1", 0))
        sockets.append(server)

        def loop() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                threading.Thread(
                    target=handler, args=(wire.Peer(conn, client=False),), daemon=True
                ).start()

        threading.Thread(target=loop, daemon=True).start()
        return f"ws://127.0.0.1:{server.getsockname()[1]}/"

    yield start
    for s in sockets:
        s.close()


def accept_everything(accept: Callable[[str], str]) -> Callable[[wire.Peer], None]:
    """A 'server' that answers any request with 101 and echoes frames unmasked."""

    def handler(peer: wire.Peer) -> None:
        head = peer.read_head(5)
        if head is None:
            peer.close()
            return
        key = head.get("Sec-WebSocket-Key") or ""
        peer.send(
            f"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept(key)}\r\n\r\n".encode()
        )
        while (frame := peer.read_frame(5)) is not None:
            if frame.opcode == wire.CLOSE:
                peer.send_frame(wire.close_frame(1000))
                break
            peer.send_frame(wire.Frame(frame.opcode, frame.payload, fin=frame.fin))
        peer.close()

    return handler


def run_cases(url: str, ids: list[str], tmp_path: Path) -> dict[str, str]:
    with (tmp_path / "suite.log").open("w") as log:
        reports = suite.Reports(tmp_path, "broken", log)
        suite.run_server_suite(url, ids, reports, threading.Event())
    return {cid: e["behavior"] for cid, e in reports.index.items()}


def test_a_server_that_accepts_anything_fails_the_refusal_cases(
    serve: Callable[[Callable[[wire.Peer], None]], str], tmp_path: Path
) -> None:
    url = serve(accept_everything(wire.accept_for))
    ids = ["1.1.1", "2.1.1", "2.2.1", "2.3.1", "2.4.1", "8.2.1"]
    results = run_cases(url, ids, tmp_path)
    assert results["1.1.1"] == "OK"  # a valid handshake with a working echo
    for case_id in ids[1:5]:
        assert results[case_id] == "FAILED", case_id
    # It echoes a 1-byte Close payload's reply as a plain 1000 Close: not the required 1002.
    assert results["8.2.1"] == "FAILED"
    summary_index = (tmp_path / "index.json").read_text()
    assert "2.1.1" in summary_index


def test_a_wrong_accept_value_fails_the_valid_handshake_cases(
    serve: Callable[[Callable[[wire.Peer], None]], str], tmp_path: Path
) -> None:
    url = serve(accept_everything(lambda key: wire.accept_for(key + "x")))
    results = run_cases(url, ["1.1.1", "1.2.1"], tmp_path)
    assert results == {"1.1.1": "FAILED", "1.2.1": "FAILED"}


def test_client_cases_on_a_client_that_accepts_any_response(tmp_path: Path) -> None:
    """A 'client' that ignores the response and echoes: every rejection case fails."""
    ids = suite.select(["3.1.1", "4.1.1", "4.1.5"], role="client")
    with (tmp_path / "suite.log").open("w") as log:
        reports = suite.Reports(tmp_path, "naive", log)
        server = suite.ScriptedServer(ids, reports)
        try:
            for n in range(1, len(ids) + 1):
                peer = wire.Peer.connect("127.0.0.1", server.port)
                key = wire.new_key()
                peer.send(
                    f"GET /runCase?case={n}&agent=naive HTTP/1.1\r\nHost: x\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
                )
                peer.read_head(5)
                while (frame := peer.read_frame(5)) is not None:
                    if frame.opcode == wire.CLOSE:
                        peer.send_frame(wire.close_frame(1000))
                        break
                    peer.send_frame(wire.Frame(frame.opcode, frame.payload))
                peer.close()
        finally:
            server.close()
    results = {cid: e["behavior"] for cid, e in reports.index.items()}
    assert results == {"3.1.1": "OK", "4.1.1": "FAILED", "4.1.5": "FAILED"}


def test_runner_runs_the_handshake_suite_and_the_gate_reads_it(
    serve: Callable[[Callable[[wire.Peer], None]], str], tmp_path: Path
) -> None:
    url = serve(accept_everything(wire.accept_for))
    target = runner.Target("broken", "server", server_url=url)
    options = runner.Options(reports_dir=tmp_path, progress_interval=0)
    data = runner.run([target], cases=["1.1.1", "2.1.1"], options=options, suite="handshake")
    assert data["suite"] == "handshake"
    assert data["testees"]["broken"]["expected_cases"] == ["1.1.1", "2.1.1"]
    summary = report.build_summary(tmp_path)
    problems = report.gate_problems(summary, ["broken"], allow_partial=True)
    assert problems == ["broken: 1 case(s) with behavior FAILED, close OK: 2.1.1"]
    text = report.render_markdown(summary, problems)
    assert text.startswith("# Handshake suite") and "Sec-WebSocket-Key" in text


def test_a_selection_with_no_case_for_a_role_skips_that_target(tmp_path: Path) -> None:
    """`--cases '1.*'` has only server cases: a client target is skipped, not failed."""
    target = runner.Target("some_client", "client", client_cmd="never-run {url}")
    options = runner.Options(reports_dir=tmp_path, progress_interval=0)
    data = runner.run([target], cases=["1.*"], options=options, suite="handshake")
    info = data["testees"]["some_client"]
    assert info["status"] == "ok" and info["expected_cases"] == [] and "applies" in info["detail"]
    summary = report.build_summary(tmp_path)
    assert report.gate_problems(summary, ["some_client"], allow_partial=True) == []
