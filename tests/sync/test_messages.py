"""The assembler: frames in, messages out, flow control; no sockets involved."""

from __future__ import annotations

import threading

import pytest

from websocket_ref import ConcurrencyError, Frame, Opcode
from websocket_ref.sync.messages import Assembler

from .utils import TIMEOUT

TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT


def test_get_single_frame_messages() -> None:
    assembler = Assembler()
    assembler.put([Frame(TEXT, "café".encode()), Frame(BINARY, b"\x00\xff")])
    assert assembler.get() == "café"
    assert assembler.get() == b"\x00\xff"


def test_get_fragmented_message() -> None:
    assembler = Assembler()
    assembler.put([Frame(TEXT, b"ca", fin=False), Frame(CONT, b"f\xc3", fin=False)])
    assembler.put([Frame(CONT, b"\xa9", fin=True)])
    assert assembler.get() == "café"


@pytest.mark.parametrize(
    ("frame", "decode", "expected"),
    [
        (Frame(TEXT, b"abc"), False, b"abc"),
        (Frame(BINARY, b"abc"), True, "abc"),
        (Frame(TEXT, b"abc"), None, "abc"),
        (Frame(BINARY, b"abc"), None, b"abc"),
    ],
)
def test_get_decode(frame: Frame, decode: bool | None, expected: str | bytes) -> None:
    assembler = Assembler()
    assembler.put([frame])
    assert assembler.get(decode=decode) == expected


def test_get_timeout_keeps_partial_message() -> None:
    assembler = Assembler()
    assembler.put([Frame(BINARY, b"a", fin=False)])
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0.01)
    assembler.put([Frame(CONT, b"b", fin=True)])
    assert assembler.get(timeout=0) == b"ab"


def test_get_zero_timeout_returns_available_message() -> None:
    assembler = Assembler()
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0)
    assembler.put([Frame(TEXT, b"x")])
    assert assembler.get(timeout=0) == "x"


def test_get_waits_for_put_from_another_thread() -> None:
    assembler = Assembler()
    timer = threading.Timer(0.01, assembler.put, [[Frame(TEXT, b"late")]])
    timer.start()
    try:
        assert assembler.get(timeout=TIMEOUT) == "late"
    finally:
        timer.join()


@pytest.mark.parametrize("timeout", [None, 0.0005])
def test_get_from_a_producer_thread_loses_and_reorders_nothing(timeout: float | None) -> None:
    # The application thread waits on a lock that put() releases: every wake-up, even
    # one that comes as a short timeout expires, leaves the next get() working. Counts,
    # not timing: all messages arrive, in order, with timeouts retried.
    count = 3000
    assembler = Assembler(None, None)

    def produce() -> None:
        for index in range(0, count, 3):
            # Batches of one to three frames, the last fragmented in two.
            frames = [Frame(TEXT, f"{index + offset}".encode()) for offset in range(2)]
            frames += [Frame(TEXT, b"m", fin=False), Frame(CONT, f"{index + 2}".encode())]
            assembler.put(frames[: 1 + index % 2] if index % 9 == 0 else frames)
            if index % 9 == 0:
                assembler.put(frames[1 + index % 2 :])

    producer = threading.Thread(target=produce)
    producer.start()
    received: list[str | bytes] = []
    timeouts = 0
    try:
        while len(received) < count:
            try:
                received.append(assembler.get(timeout))
            except TimeoutError:
                timeouts += 1
    finally:
        producer.join(TIMEOUT)
    expected = [f"{n}" if n % 3 != 2 else f"m{n}" for n in range(count)]
    assert received == expected
    if timeout is None:
        assert timeouts == 0
    assembler.close()
    with pytest.raises(EOFError):
        assembler.get(timeout)


def test_wake_up_after_a_timed_out_wait_is_taken_back() -> None:
    # A put() that comes after get()'s wait timed out, before get() holds the mutex
    # again: the message is returned, and the wake-up lock is left as it must be
    # (locked), else the next put() would release an unlocked lock.
    assembler = Assembler()
    real = assembler._frames_available

    class RacingLock:
        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            if blocking and timeout >= 0:  # the application's timed wait
                assert not real.acquire(True, timeout)  # nobody puts: it times out
                assembler.put([Frame(TEXT, b"late")])  # ... then a frame lands
                return False
            return real.acquire(blocking, timeout)

        def release(self) -> None:
            real.release()

    assembler._frames_available = RacingLock()  # type: ignore[assignment]
    assert assembler.get(timeout=0.001) == "late"
    assert real.locked()
    assembler._frames_available = real
    timer = threading.Timer(0.01, assembler.put, [[Frame(TEXT, b"next")]])
    timer.start()
    try:
        assert assembler.get(timeout=TIMEOUT) == "next"
    finally:
        timer.join()


def test_close_wakes_a_waiting_get() -> None:
    assembler = Assembler()
    timer = threading.Timer(0.01, assembler.close)
    timer.start()
    try:
        with pytest.raises(EOFError):
            assembler.get(timeout=TIMEOUT)
    finally:
        timer.join()


def test_close_ends_get_after_queued_messages() -> None:
    assembler = Assembler()
    assembler.put([Frame(TEXT, b"one"), Frame(TEXT, b"tw", fin=False)])
    assembler.close()
    assert assembler.get() == "one"
    with pytest.raises(EOFError):
        assembler.get()  # the incomplete message never completes
    assembler.put([Frame(CONT, b"o")])  # ignored once closed
    with pytest.raises(EOFError):
        assembler.get()


def test_concurrent_get_raises_concurrency_error() -> None:
    assembler = Assembler()
    started = threading.Event()
    results: list[object] = []

    def reader() -> None:
        started.set()
        results.append(assembler.get(timeout=TIMEOUT))

    thread = threading.Thread(daemon=True, target=reader)
    thread.start()
    started.wait()
    try:
        # The other thread may not be inside get() yet: retry until it is.
        for _ in range(1000):
            try:
                assembler.get(timeout=0.001)
            except TimeoutError:
                continue
            except ConcurrencyError:
                break
        else:  # pragma: no cover
            pytest.fail("no ConcurrencyError")
    finally:
        assembler.put([Frame(TEXT, b"done")])
        thread.join(TIMEOUT)
    assert results == ["done"]


def test_get_iter_yields_fragments_decoding_split_utf8() -> None:
    assembler = Assembler()
    assembler.put([Frame(TEXT, b"caf\xc3", fin=False), Frame(CONT, b"\xa9!", fin=True)])
    assert list(assembler.get_iter()) == ["caf", "é!"]


def test_get_iter_binary_and_decode_false() -> None:
    assembler = Assembler()
    assembler.put([Frame(TEXT, b"a", fin=False), Frame(CONT, b"b")])
    assert list(assembler.get_iter(decode=False)) == [b"a", b"b"]


def test_get_iter_continues_after_get_timeout() -> None:
    assembler = Assembler()
    assembler.put([Frame(BINARY, b"a", fin=False)])
    with pytest.raises(TimeoutError):
        assembler.get(timeout=0)
    assembler.put([Frame(CONT, b"b", fin=False), Frame(CONT, b"c")])
    assert list(assembler.get_iter()) == [b"a", b"b", b"c"]


def test_abandoned_get_iter_drops_rest_of_message() -> None:
    assembler = Assembler()
    assembler.put([Frame(BINARY, b"a", fin=False), Frame(CONT, b"b", fin=False)])
    fragments = assembler.get_iter()
    assert next(fragments) == b"a"
    fragments.close()
    assembler.put([Frame(CONT, b"c", fin=False), Frame(CONT, b"d"), Frame(TEXT, b"next")])
    assert assembler.get() == "next"


def test_get_iter_while_get_runs_raises_concurrency_error() -> None:
    assembler = Assembler()
    fragments = assembler.get_iter()
    assembler.put([Frame(BINARY, b"a", fin=False)])
    assert next(fragments) == b"a"
    with pytest.raises(ConcurrencyError):
        assembler.get()
    with pytest.raises(ConcurrencyError):
        next(assembler.get_iter())
    assembler.put([Frame(CONT, b"b")])
    assert list(fragments) == [b"b"]


def test_flow_control_pauses_at_high_and_resumes_at_low() -> None:
    assembler = Assembler(high=4, low=1)
    assembler.put([Frame(BINARY, bytes([i])) for i in range(4)])
    resumed = threading.Event()

    def reader_thread() -> None:
        assembler.wait_for_room()
        resumed.set()

    thread = threading.Thread(daemon=True, target=reader_thread)
    thread.start()
    try:
        assert assembler.get() == b"\x00"
        assert assembler.get() == b"\x01"
        assert not resumed.wait(0.05)  # 2 frames left: above the low-water mark
        assert assembler.get() == b"\x02"
        assert resumed.wait(TIMEOUT)  # 1 frame left: at the low-water mark
    finally:
        assembler.close()
        thread.join(TIMEOUT)


def test_flow_control_below_high_doesnt_wait() -> None:
    assembler = Assembler(high=4, low=1)
    assembler.put([Frame(BINARY, b"x")] * 3)
    assembler.wait_for_room()  # returns at once


def test_stop_pausing_releases_reader_and_bounds_queue() -> None:
    assembler = Assembler(high=2, low=0)
    assembler.put([Frame(BINARY, b"1"), Frame(BINARY, b"2")])
    released = threading.Event()

    def reader_thread() -> None:
        assembler.wait_for_room()
        released.set()

    thread = threading.Thread(daemon=True, target=reader_thread)
    thread.start()
    try:
        assert not released.wait(0.02)
        assembler.stop_pausing()
        assert released.wait(TIMEOUT)
    finally:
        thread.join(TIMEOUT)
    # Closing and nobody reading: frames beyond the high-water mark are dropped.
    assembler.put([Frame(BINARY, b"3"), Frame(BINARY, b"4")])
    assembler.close()
    assert [assembler.get(), assembler.get()] == [b"1", b"2"]
    with pytest.raises(EOFError):
        assembler.get()


def test_unbounded_queue_never_pauses() -> None:
    assembler = Assembler(high=None)
    assembler.put([Frame(BINARY, b"x")] * 1000)
    assembler.wait_for_room()
