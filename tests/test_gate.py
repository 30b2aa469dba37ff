"""The server's one answering limit (qa/serve/gate.py), shared by waiters on the event loop and in threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from qa.serve.gate import Busy, Gate


def _wait_for(cond, seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_slots_then_line_then_busy():
    gate = Gate(slots=1, waiting=1)
    gate.acquire_blocking()
    waiter = threading.Thread(target=gate.acquire_blocking)
    waiter.start()
    _wait_for(lambda: gate.waiting == 1)
    with pytest.raises(Busy):
        gate.acquire_blocking()  # one running, one waiting: the third is turned away at once
    assert (gate.running, gate.waiting) == (1, 1)
    gate.release()
    waiter.join(5)
    assert not waiter.is_alive() and (gate.running, gate.waiting) == (1, 0)
    gate.release()
    assert (gate.running, gate.waiting) == (0, 0)


def test_threads_start_in_arrival_order():
    gate = Gate(slots=1, waiting=8)
    gate.acquire_blocking()
    started: list[int] = []

    def one(i: int) -> None:
        with gate.hold():
            started.append(i)

    threads = []
    for i in range(5):
        t = threading.Thread(target=one, args=(i,))
        t.start()
        _wait_for(lambda i=i: gate.waiting == i + 1)  # each joins the line before the next arrives
        threads.append(t)
    gate.release()
    for t in threads:
        t.join(5)
    assert started == [0, 1, 2, 3, 4] and (gate.running, gate.waiting) == (0, 0)


def test_event_loop_and_threads_share_one_limit():
    """An API request (asyncio) waits behind a chat answer (thread) and vice versa; never more than `slots`."""
    gate = Gate(slots=1, waiting=4)
    peak, order = [0], []

    def work(name: str) -> None:
        peak[0] = max(peak[0], gate.running)
        order.append(name)
        time.sleep(0.05)

    def chat() -> None:
        with gate.hold():
            work("chat")

    async def api(name: str) -> None:
        async with gate.enter():
            work(name)

    async def main() -> None:
        gate.acquire_blocking()  # something is answering already
        t = threading.Thread(target=chat)
        t.start()
        _wait_for(lambda: gate.waiting == 1)
        first = asyncio.create_task(api("api1"))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(api("api2"))
        await asyncio.sleep(0.05)
        assert gate.waiting == 3
        gate.release()
        await asyncio.gather(first, second)
        await asyncio.to_thread(t.join, 5)

    asyncio.run(main())
    assert order == ["chat", "api1", "api2"] and peak[0] == 1 and (gate.running, gate.waiting) == (0, 0)


def test_a_waiter_that_goes_away_leaves_the_line():
    gate = Gate(slots=1, waiting=2)

    async def main() -> None:
        await gate.acquire()
        gone = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0.05)
        assert gate.waiting == 1
        gone.cancel()  # the client disconnected while waiting
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert gate.waiting == 0
        nxt = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0.05)
        gate.release()
        await asyncio.wait_for(nxt, 5)  # the cancelled ticket does not block the line
        gate.release()

    asyncio.run(main())
    assert (gate.running, gate.waiting) == (0, 0)
