"""Live changes (incidents, responder statuses) from PostgreSQL LISTEN/NOTIFY, fanned out to
many in-process subscribers through one listening connection.

The notifications come from triggers (migration 0014_console) on channel `gridgis_live`; this
module only listens. One `LiveHub` per process holds a single LISTEN connection while anyone is
subscribed, reconnects after a lost connection (telling subscribers with a `reconnected` event,
since notifications sent meanwhile are gone: they must re-read what they show), and closes it
when the last subscriber leaves."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

CHANNEL = "gridgis_live"
# Bounded per subscriber: a client that stops reading loses old events (it is told to re-read),
# it never grows the server's memory.
QUEUE_SIZE = 1000
RECONNECT_S = 1.0

log = logging.getLogger(__name__)


def conninfo(database_url: str) -> str:
    """A libpq connection string for a SQLAlchemy URL (postgresql+psycopg://...)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class LiveHub:
    """One LISTEN connection shared by every subscriber of this process."""

    def __init__(self, database_url: str, *, connect_timeout_s: float = 5.0) -> None:
        self._conninfo = conninfo(database_url)
        self._connect_timeout_s = connect_timeout_s
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _publish(self, event: dict[str, Any]) -> None:
        for queue in self._subscribers:
            if queue.full():
                # Drop its backlog and tell it to re-read: stale events are worth less than
                # a fresh read, and memory stays bounded.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait({"kind": "reconnected"})
            else:
                queue.put_nowait(event)

    async def _listen_forever(self) -> None:
        first = True
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=max(1, round(self._connect_timeout_s)),
                )
            except (psycopg.Error, OSError) as exc:
                log.warning("live channel: cannot connect (%s); retrying", exc)
                self.connected.clear()
                self._publish({"kind": "offline"})
                await asyncio.sleep(RECONNECT_S)
                continue
            try:
                async with connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    if not first:
                        self._publish({"kind": "reconnected"})
                    first = False
                    async for notify in connection.notifies():
                        try:
                            payload = json.loads(notify.payload)
                        except ValueError:
                            continue
                        if isinstance(payload, dict):
                            self._publish(payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("live channel: connection lost (%s); reconnecting", exc)
            self.connected.clear()
            self._publish({"kind": "offline"})
            await asyncio.sleep(RECONNECT_S)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of live events for as long as the context lasts."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen_forever())
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
            if not self._subscribers and self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
                self._task = None
                self.connected.clear()

    async def close(self) -> None:
        """Stop listening (the subscribers' queues stay open until they leave)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
