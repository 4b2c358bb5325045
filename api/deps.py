"""Annotated dependency aliases for routes.

The dependencies every request runs are `async` and do no I/O until they must: a sync
dependency costs a hop through the thread pool each (measured in docs/PERFORMANCE.md), and
the session is only created, not connected, until a query needs it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Annotated, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from gridgis.settings import Settings

OpenReader = Callable[[], AbstractContextManager[Connection]]
T = TypeVar("T")


def _once_more_on_disconnect(work: Callable[[], T]) -> Callable[[], T]:
    """`work` run again, once, when its connection turned out dead (the pool has then been
    reset, so the second run connects afresh). Only for reads: running them twice is harmless."""

    def run() -> T:
        try:
            return work()
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return work()

    return run


async def in_dispatch_thread(request: Request, work: Callable[[], T]) -> T:
    """Run a hot path's read-only blocking work in the dispatch threads
    (GRIDGIS_DISPATCH_THREADS per process); work whose connection was found dead runs once
    more. Waiting requests queue in order on the event loop instead of contending for the GIL
    in forty threads, which is what made the 99th percentile ten times the median.

    When this is the only request the process is serving, the work runs right here: nobody
    waits behind it, and the hop to a thread and back was a fifth of an idle answer (1 client:
    p50 1.76 -> 1.56 ms). Under load (any other request in flight) it always takes the
    thread, which keeps the queue in arrival order (inline under load: p99 x1.5)."""
    state = request.app.state
    work = _once_more_on_disconnect(work)
    limiter: anyio.CapacityLimiter = state.dispatch_limiter
    if state.in_flight.count == 1 and limiter.borrowed_tokens == 0:
        return work()
    return await anyio.to_thread.run_sync(work, limiter=limiter)


LONG_LIVED_PATHS = frozenset({"/v1/stream"})


class InFlightCounter:
    """How many HTTP requests this process is serving (one event loop: a plain counter)."""

    def __init__(self) -> None:
        self.count = 0


class CountInFlight:
    """ASGI middleware keeping an InFlightCounter."""

    def __init__(self, app: ASGIApp, counter: InFlightCounter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A live stream stays open for hours without work: counted, it would keep every hot
        # path off its idle fast path for as long as a console is connected.
        if scope["type"] != "http" or scope["path"] in LONG_LIVED_PATHS:
            await self.app(scope, receive, send)
            return
        self.counter.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.counter.count -= 1


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session per request from the pool the lifespan owns; committed on success.

    Creating a session touches no connection; commit and close run in the thread pool only
    when the request actually used the database."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        if session.in_transaction():
            await run_in_threadpool(session.commit)
    finally:
        if session.in_transaction():
            # Shielded: a request cancelled here must still hand its connection back.
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(session.close)
        else:
            session.close()


async def get_reader(request: Request) -> OpenReader:
    """Opens a pooled connection in autocommit for the read-only hot paths (locate, nearest):
    no ORM session and no BEGIN/COMMIT round trips. Opened inside the route, which already
    runs in the dispatch threads, so that checking a connection out never blocks the event
    loop."""

    @contextmanager
    def open_reader() -> Iterator[Connection]:
        with request.app.state.read_engine.connect() as connection:
            yield connection

    return open_reader


SettingsDep = Annotated[Settings, Depends(get_settings)]
# Read-only routes only: every statement is its own transaction.
ReaderDep = Annotated[OpenReader, Depends(get_reader)]
# scope="function": the commit runs before the response is sent, so a failed commit is an
# error response (503 when the database is gone), never a success for a write that was lost.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
