"""The message assembler: reassembly, flow control, cancellation, concurrency."""

from __future__ import annotations

import asyncio

import pytest

from websocket_ref import ConcurrencyError, Frame, Opcode
from websocket_ref.asyncio.messages import MISSING, Assembler


class Flow:
    """Records the pause/resume calls of an assembler."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def make(high: int | None = None, low: int | None = None) -> tuple[Assembler, Flow]:
    flow = Flow()
    return Assembler(high, low, flow.pause, flow.resume), flow


def text(data: str, fin: bool = True) -> Frame:
    return Frame(Opcode.TEXT, data.encode(), fin)


def binary(data: bytes, fin: bool = True) -> Frame:
    return Frame(Opcode.BINARY, data, fin)


def cont(data: bytes, fin: bool = True) -> Frame:
    return Frame(Opcode.CONT, data, fin)


@pytest.mark.asyncio
async def test_get_nowait_returns_single_frame_messages() -> None:
    assembler, _ = make()
    assert assembler.get_nowait(None) is MISSING
    assembler.put(text("café"))
    assembler.put(binary(b"\x00\xff"))
    assert assembler.get_nowait(None) == "café"
    assert assembler.get_nowait(None) == b"\x00\xff"
    assert assembler.get_nowait(None) is MISSING


@pytest.mark.asyncio
async def test_get_nowait_leaves_fragmented_messages_to_get() -> None:
    assembler, _ = make()
    assembler.put(text("a", fin=False))
    assert assembler.get_nowait(None) is MISSING
    assembler.put(cont(b"b"))
    assert await assembler.get(None) == "ab"


@pytest.mark.asyncio
async def test_decode_overrides() -> None:
    assembler, _ = make()
    assembler.put(text("é"))
    assembler.put(binary("é".encode()))
    assembler.put(text("x", fin=False))
    assembler.put(cont(b"y"))
    assert assembler.get_nowait(False) == "é".encode()
    assert assembler.get_nowait(True) == "é"
    assert await assembler.get(False) == b"xy"


@pytest.mark.asyncio
async def test_get_waits_for_the_last_fragment() -> None:
    assembler, _ = make()
    task = asyncio.create_task(assembler.get(None))
    assembler.put(binary(b"a", fin=False))
    await asyncio.sleep(0)
    assert not task.done()
    assembler.put(cont(b"b", fin=False))
    assembler.put(cont(b"c"))
    assert await task == b"abc"


@pytest.mark.asyncio
async def test_cancelled_get_loses_nothing() -> None:
    assembler, _ = make()
    task = asyncio.create_task(assembler.get(None))
    assembler.put(text("a", fin=False))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assembler.put(cont(b"b"))
    assert await assembler.get(None) == "ab"


@pytest.mark.asyncio
async def test_concurrent_get_raises_concurrency_error() -> None:
    assembler, _ = make()
    task = asyncio.create_task(assembler.get(None))
    await asyncio.sleep(0)
    with pytest.raises(ConcurrencyError):
        await assembler.get(None)
    assembler.put(text("x"))
    assert await task == "x"


@pytest.mark.asyncio
async def test_close_drains_queue_then_raises_eof() -> None:
    assembler, _ = make()
    assembler.put(text("last"))
    assembler.put(text("partial", fin=False))
    assembler.close()
    assert await assembler.get(None) == "last"
    with pytest.raises(EOFError):
        await assembler.get(None)


@pytest.mark.asyncio
async def test_close_wakes_a_waiting_get() -> None:
    assembler, _ = make()
    task = asyncio.create_task(assembler.get(None))
    await asyncio.sleep(0)
    assembler.close()
    with pytest.raises(EOFError):
        await task


@pytest.mark.asyncio
async def test_pauses_at_high_and_resumes_at_low() -> None:
    assembler, flow = make(high=4, low=1)
    for i in range(3):
        assembler.put(text(str(i)))
    assert flow.calls == []
    assembler.put(text("3"))
    assert flow.calls == ["pause"]
    assembler.put(text("4"))  # data already in flight still arrives
    assert flow.calls == ["pause"]
    for expected in "012":
        assert assembler.get_nowait(None) == expected
    assert flow.calls == ["pause"]  # 2 frames left, low is 1
    assert assembler.get_nowait(None) == "3"
    assert flow.calls == ["pause", "resume"]


@pytest.mark.asyncio
async def test_default_low_is_a_quarter_of_high() -> None:
    assembler, _ = make(high=16)
    assert assembler.low == 4


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        make(high=2, low=3)


@pytest.mark.asyncio
async def test_no_limit_never_pauses() -> None:
    assembler, flow = make()
    for i in range(1000):
        assembler.put(text(str(i)))
    assert flow.calls == []


@pytest.mark.asyncio
async def test_stop_pausing_resumes_and_bounds_queue_by_dropping_messages() -> None:
    assembler, flow = make(high=2)
    assembler.put(text("a"))
    assembler.put(text("b"))
    assert flow.calls == ["pause"]
    assembler.stop_pausing()
    assert flow.calls == ["pause", "resume"]
    # Closing: queue full, so new messages are dropped whole, fragments included.
    assembler.put(text("c", fin=False))
    assembler.put(cont(b"d"))
    assert list(assembler.frames) == [text("a"), text("b")]
    assert flow.calls == ["pause", "resume"]
    assert assembler.get_nowait(None) == "a"
    assembler.put(text("e"))  # room again
    assert [f.data for f in assembler.frames] == [b"b", b"e"]


@pytest.mark.asyncio
async def test_stream_fragments() -> None:
    assembler, _ = make()
    assembler.put(text("a", fin=False))
    assembler.put(cont(b"b"))
    assembler.begin_stream()
    assert (await assembler.next_fragment()).data == b"a"
    assert (await assembler.next_fragment()).data == b"b"
    assembler.end_stream()
    assembler.put(text("next"))
    assert await assembler.get(None) == "next"


@pytest.mark.asyncio
async def test_abandoned_stream_skips_rest_of_message() -> None:
    assembler, _ = make()
    assembler.put(text("a", fin=False))
    assembler.put(cont(b"b", fin=False))
    assembler.begin_stream()
    assert (await assembler.next_fragment()).data == b"a"
    assembler.end_stream()  # abandoned after one fragment
    assembler.put(cont(b"c"))
    assembler.put(text("next"))
    assert assembler.get_nowait(None) is MISSING  # skipping isn't the fast path
    assert await assembler.get(None) == "next"


@pytest.mark.asyncio
async def test_stream_ended_on_last_fragment_skips_nothing() -> None:
    assembler, _ = make()
    assembler.put(text("whole"))
    assembler.put(text("next"))
    assembler.begin_stream()
    assert (await assembler.next_fragment()).data == b"whole"
    assembler.end_stream()
    assert assembler.get_nowait(None) == "next"


@pytest.mark.asyncio
async def test_stream_and_get_are_exclusive() -> None:
    assembler, _ = make()
    assembler.begin_stream()
    with pytest.raises(ConcurrencyError):
        await assembler.get(None)
    with pytest.raises(ConcurrencyError):
        assembler.begin_stream()
    assembler.end_stream()
    assembler.put(text("x"))
    assert await assembler.get(None) == "x"


def test_waiters_belong_to_the_assemblers_loop() -> None:
    # Waiters are made as Future(loop=loop) for the loop the assembler first waited in
    # (create_future()'s Future): read from another loop, the waiter is still the first's.
    first, other = asyncio.new_event_loop(), asyncio.new_event_loop()

    async def create_waiter(assembler: Assembler) -> asyncio.Future[None]:
        waiter = assembler._create_waiter()
        assembler.waiter = None
        return waiter

    try:
        assembler, _ = make()
        assert first.run_until_complete(create_waiter(assembler)).get_loop() is first
        assert first.run_until_complete(create_waiter(assembler)).get_loop() is first
        assert other.run_until_complete(create_waiter(assembler)).get_loop() is first
    finally:
        first.close()
        other.close()


def test_waiters_come_from_the_loops_create_future() -> None:
    # asyncio's own loops make plain Futures (made directly, without the Python call);
    # a loop with a create_future() of its own is asked for each waiter.
    made: list[asyncio.Future[None]] = []

    class Loop(asyncio.SelectorEventLoop):
        def create_future(self) -> asyncio.Future[None]:
            future: asyncio.Future[None] = super().create_future()
            made.append(future)
            return future

    async def wait_for_one(assembler: Assembler) -> object:
        get = asyncio.ensure_future(assembler.get(None))
        await asyncio.sleep(0)
        assembler.put(binary(b"x"))
        return await get

    for loop, plain in [(asyncio.SelectorEventLoop(), True), (Loop(), False)]:
        try:
            assembler, _ = make()
            assert loop.run_until_complete(wait_for_one(assembler)) == b"x"
            assert assembler.plain_futures is plain
        finally:
            loop.close()
    assert len(made) == 1
