"""The timer thread shared by every connection's keepalive (websocket_ref.sync.scheduler)."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest

from websocket_ref import ConnectionClosedError, State
from websocket_ref.sync.client import connect
from websocket_ref.sync.scheduler import _MIN_COMPACT, Scheduler

from .utils import TIMEOUT, accept_handshake, client, raw_server, run_server


def wait_until(condition: object, timeout: float = TIMEOUT) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_calls_in_time_order_then_fifo() -> None:
    scheduler = Scheduler(name="test-timers")
    calls: list[str] = []
    done = threading.Event()
    now = time.monotonic()
    scheduler.call_at(now + 0.06, lambda: (calls.append("last"), done.set()))
    scheduler.call_at(now + 0.02, lambda: calls.append("first"))
    scheduler.call_at(now + 0.04, lambda: calls.append("second-a"))
    scheduler.call_at(now + 0.04, lambda: calls.append("second-b"))
    assert done.wait(TIMEOUT)
    assert calls == ["first", "second-a", "second-b", "last"]
    # No timer left: the thread ends by itself.
    assert wait_until(lambda: scheduler._thread is None)


def test_earlier_timer_wakes_the_thread() -> None:
    scheduler = Scheduler(name="test-timers")
    later = scheduler.call_later(60, lambda: None)
    fired = threading.Event()
    start = time.monotonic()
    scheduler.call_later(0.01, fired.set)
    assert fired.wait(TIMEOUT)
    # Woken up for the new timer, not at the one due in 60 s.
    assert time.monotonic() - start < 30
    later.cancel()
    assert wait_until(lambda: scheduler._thread is None)


def test_cancel() -> None:
    scheduler = Scheduler(name="test-timers")
    calls: list[int] = []
    timer = scheduler.call_later(0.01, lambda: calls.append(1))
    timer.cancel()
    assert timer.cancelled
    done = threading.Event()
    scheduler.call_later(0.05, done.set)
    assert done.wait(TIMEOUT)
    assert calls == []


def test_cancelling_the_last_timer_ends_the_thread_at_once() -> None:
    scheduler = Scheduler(name="test-timers")
    timer = scheduler.call_later(3600, lambda: None)
    thread = scheduler._thread
    assert thread is not None and thread.is_alive()
    timer.cancel()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert scheduler._thread is None


def test_thread_restarts_after_ending() -> None:
    scheduler = Scheduler(name="test-timers")
    for _ in range(2):
        fired = threading.Event()
        scheduler.call_later(0, fired.set)
        assert fired.wait(TIMEOUT)
        assert wait_until(lambda: scheduler._thread is None)


def test_failing_callback_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = Scheduler(name="test-timers")

    def broken() -> None:
        raise RuntimeError("boom")

    fired = threading.Event()
    with caplog.at_level(logging.ERROR, logger="websocket_ref.sync.scheduler"):
        scheduler.call_later(0, broken)
        scheduler.call_later(0.02, fired.set)
        assert fired.wait(TIMEOUT)
    assert any(record.exc_info and "boom" in str(record.exc_info[1]) for record in caplog.records)
    assert wait_until(lambda: scheduler._thread is None)


def test_cancelled_timers_are_compacted() -> None:
    scheduler = Scheduler(name="test-timers")
    # A timer due before all the others keeps the scheduler's thread waiting on it: the
    # thread drops cancelled entries only from the top of the heap, so the heap's size
    # depends on call_at()'s compaction alone, not on when the thread gets to run.
    keep = scheduler.call_later(3600, lambda: None)
    # Cancelled entries don't accumulate as connections come and go.
    for _ in range(10_000):
        scheduler.call_later(7200, lambda: None).cancel()
    assert len(scheduler._heap) <= 2 * _MIN_COMPACT
    # Many timers at once raise the compaction threshold; once they're cancelled, the
    # heap shrinks back at the next compaction, and stays small.
    timers = [scheduler.call_later(7200, lambda: None) for _ in range(1000)]
    for timer in timers:
        timer.cancel()
    for _ in range(10_000):
        scheduler.call_later(7200, lambda: None).cancel()
    assert len(scheduler._heap) <= 2 * _MIN_COMPACT
    keep.cancel()
    assert wait_until(lambda: scheduler._thread is None)


# Keepalive of connections, on the shared thread


def test_connections_share_one_timer_thread() -> None:
    with run_server() as server:
        clients = [client(server, ping_interval=0.02, ping_timeout=TIMEOUT) for _ in range(5)]
        try:
            assert wait_until(lambda: all(ws.latency > 0 for ws in clients))
            names = [thread.name for thread in threading.enumerate()]
            assert names.count("websocket_ref-timers") == 1
            assert not [name for name in names if "keepalive" in name]
        finally:
            for ws in clients:
                ws.close()


def test_stuck_connection_does_not_hold_up_other_keepalives() -> None:
    """A peer that stopped reading fills our socket; its keepalive fails it without the
    timer thread waiting on that socket, while another connection's pings go on."""
    release = threading.Event()

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        release.wait(TIMEOUT)  # never read

    with raw_server(respond) as ws_uri, run_server() as server:
        stuck = connect(ws_uri, ping_interval=0.05, ping_timeout=0.3, close_timeout=0.5)
        # Fill the send buffer behind the connection's back, so that nobody holds the
        # send lock while the socket can't take a single byte.
        stuck.socket.setblocking(False)
        try:
            while True:
                stuck.socket.send(bytes(65536))
        except BlockingIOError:
            pass
        finally:
            stuck.socket.setblocking(True)
        healthy = client(server, ping_interval=0.02, ping_timeout=TIMEOUT)
        try:
            with pytest.raises(ConnectionClosedError):
                stuck.recv(timeout=TIMEOUT)
            assert stuck.protocol.close_sent is not None
            assert stuck.protocol.close_sent.reason == "keepalive ping timeout"
            # The healthy connection's keepalive ran meanwhile and still runs.
            latency = healthy.latency
            assert latency > 0
            healthy.latency = 0.0
            assert wait_until(lambda: healthy.latency > 0)
            assert healthy.state is State.OPEN
        finally:
            release.set()
            stuck.close()
            healthy.close()


def test_closing_cancels_keepalive_timers() -> None:
    with run_server() as server:
        ws = client(server, ping_interval=3600)
        timer = ws._keepalive_timer
        assert timer is not None and not timer.cancelled
        ws.close()
        assert timer.cancelled
        assert ws._keepalive_timer is None
