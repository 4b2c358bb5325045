"""Hot-path work runs inline only when the process serves nothing else; else in its thread."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import anyio

from api.deps import InFlightCounter, in_dispatch_thread


def _request(in_flight: int) -> Any:
    counter = InFlightCounter()
    counter.count = in_flight
    limiter = anyio.CapacityLimiter(1)
    state = SimpleNamespace(in_flight=counter, dispatch_limiter=limiter)
    return SimpleNamespace(app=SimpleNamespace(state=state)), limiter


def _thread_of_work(in_flight: int, *, hold_limiter: bool = False) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        request, limiter = _request(in_flight)
        loop_thread = threading.get_ident()
        if hold_limiter:
            # Another request's work is running: this one must queue behind it.
            async with anyio.create_task_group() as tg:
                other = object()
                await limiter.acquire_on_behalf_of(other)
                result: list[int] = []

                async def call() -> None:
                    result.append(await in_dispatch_thread(request, threading.get_ident))

                tg.start_soon(call)
                await anyio.sleep(0.05)
                assert not result, "queued work must wait for the busy dispatch thread"
                limiter.release_on_behalf_of(other)
            return loop_thread, result[0]
        return loop_thread, await in_dispatch_thread(request, threading.get_ident)

    return anyio.run(main)


def test_alone_in_the_process_the_work_runs_inline() -> None:
    loop_thread, work_thread = _thread_of_work(1)
    assert work_thread == loop_thread


def test_with_other_requests_in_flight_the_work_takes_the_dispatch_thread() -> None:
    loop_thread, work_thread = _thread_of_work(3)
    assert work_thread != loop_thread


def test_work_queues_behind_a_busy_dispatch_thread() -> None:
    loop_thread, work_thread = _thread_of_work(1, hold_limiter=True)
    assert work_thread != loop_thread
