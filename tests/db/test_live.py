"""The live channel: triggers NOTIFY committed incident and responder-status changes, and one
LiveHub connection fans them out to every subscriber (and says when it is ready again)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine, text

from gridgis.live import LiveHub


def _commit(engine: Engine, statement: str, **params: Any) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


async def _next(queue: asyncio.Queue[dict[str, Any]], kind: str) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(queue.get(), 10)
        if event.get("kind") == kind:
            return event


def test_status_changes_reach_every_subscriber_once_committed(
    engine: Engine, test_database_url: str
) -> None:
    with engine.connect() as connection:
        responder_id = int(
            connection.execute(
                text("SELECT id FROM responders WHERE status = 'available' ORDER BY id LIMIT 1")
            ).scalar_one()
        )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], int]:
        hub = LiveHub(test_database_url)
        async with hub.subscribe() as first, hub.subscribe() as second:
            await asyncio.wait_for(hub.connected.wait(), 10)
            # Rolled back: nothing is sent.
            with engine.connect() as connection:
                connection.execute(
                    text("UPDATE responders SET status = 'busy' WHERE id = :id"),
                    {"id": responder_id},
                )
                connection.rollback()
            await asyncio.sleep(0.3)
            assert first.empty()
            await asyncio.to_thread(
                _commit,
                engine,
                "UPDATE responders SET status = 'busy' WHERE id = :id",
                id=responder_id,
            )
            one = await _next(first, "responder")
            two = await _next(second, "responder")
            await asyncio.to_thread(
                _commit,
                engine,
                "UPDATE responders SET status = 'available' WHERE id = :id",
                id=responder_id,
            )
            back = await _next(first, "responder")
            assert back == {**one, "status": "available", "before": "busy"}
            subscribers = hub.subscribers
        assert hub.subscribers == 0
        return one, two, subscribers

    one, two, subscribers = asyncio.run(scenario())
    assert one == two
    assert one["id"] == responder_id and one["status"] == "busy" and one["before"] == "available"
    assert subscribers == 2


_INSERT = """
    INSERT INTO incidents (external_id, category, reported_at, received_at, input_crs,
                           input_lon, input_lat, geom, status, source)
    VALUES ('live-test', 'theft', now(), now(), 'wgs84', 117.65, 24.51,
            ST_SetSRID(ST_MakePoint(117.65, 24.51), 4326), 'open', 'test')
"""


def test_incident_intake_and_updates_are_notified(engine: Engine, test_database_url: str) -> None:
    async def scenario() -> list[dict[str, Any]]:
        hub = LiveHub(test_database_url)
        async with hub.subscribe() as queue:
            await asyncio.wait_for(hub.connected.wait(), 10)
            await asyncio.to_thread(_commit, engine, _INSERT)
            created = await _next(queue, "incident")
            await asyncio.to_thread(
                _commit,
                engine,
                "UPDATE incidents SET status = 'closed' WHERE external_id = 'live-test'",
            )
            return [created, await _next(queue, "incident")]

    try:
        created, closed = asyncio.run(scenario())
    finally:
        _commit(engine, "DELETE FROM incidents WHERE external_id = 'live-test'")
    assert created["op"] == "insert" and created["status"] == "open"
    assert closed == {**created, "op": "update", "status": "closed"}
