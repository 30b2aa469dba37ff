"""One limit on answering for the whole server: the chat, the REST API and the OpenAI endpoint share it.

At most `slots` answers run at once (they share the model; the generator batches the drafts of the answers
in flight) and at most `waiting` more wait for a slot, first come first served; the next one is turned away
at once (`Busy`: a 503 with Retry-After from the API, a one-line "busy" message in the chat), so nothing is
dropped silently and no request waits without bound. The API's handlers wait without holding a thread
(`acquire`); the chat's handlers run in Gradio's worker threads and wait in them (`hold`).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager

POLL_S = 0.02  # how often an asynchronous waiter looks again (an answer takes seconds)


class Busy(Exception):
    """Every slot is taken and the waiting line is full: retry in a few seconds."""


class Gate:
    def __init__(self, slots: int, waiting: int) -> None:
        self.slots, self.limit = slots, slots + waiting
        self._lock = threading.Condition()
        self._running = 0
        self._line: deque[int] = deque()  # tickets of the requests waiting, in arrival order
        self._tickets = itertools.count()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._line)

    def _join(self) -> int:
        with self._lock:
            if self._running + len(self._line) >= self.limit:
                raise Busy()
            ticket = next(self._tickets)
            self._line.append(ticket)
            return ticket

    def _try_start(self, ticket: int) -> bool:
        """Caller holds the lock. The head of the line starts when a slot is free."""
        if self._running < self.slots and self._line[0] == ticket:
            self._line.popleft()
            self._running += 1
            self._lock.notify_all()  # the next in line may start too
            return True
        return False

    def _leave(self, ticket: int) -> None:
        with self._lock:
            self._line.remove(ticket)
            self._lock.notify_all()

    async def acquire(self) -> None:
        """Wait (on the event loop, no thread held) for a slot; `Busy` at once when the line is full."""
        ticket = self._join()
        try:
            while True:
                with self._lock:
                    if self._try_start(ticket):
                        return
                await asyncio.sleep(POLL_S)
        except BaseException:  # the client went away while waiting
            self._leave(ticket)
            raise

    def acquire_blocking(self) -> None:
        """Wait in this thread for a slot; `Busy` at once when the line is full."""
        ticket = self._join()
        with self._lock:
            while not self._try_start(ticket):
                self._lock.wait(POLL_S)  # also woken when an asynchronous waiter ahead starts

    def release(self) -> None:
        with self._lock:
            self._running -= 1
            self._lock.notify_all()

    @asynccontextmanager
    async def enter(self):
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.acquire_blocking()
        try:
            yield
        finally:
            self.release()
