"""Live-fix SQL: one-statement batch ingest under an advisory lock, and expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from gridgis.db import Executor

# One statement for a whole batch: newest fix per responder within the batch, written only when
# newer than the stored one. ON CONFLICT locks the existing row and evaluates the WHERE against
# its latest version, so an older fix never overwrites a newer one, even concurrently. Unknown
# responders are filtered by the join (and reported) instead of failing the batch.
# responder_positions holds live fixes only: one older than `stale_after` can never place
# anyone (dispatch uses the home base then). Ingest ignores fixes that arrive already expired
# and deletes expired ones about once a minute (expire_positions), so the KNN index does not
# fill with dead fixes that a search would walk past (a volunteer force mostly off duty). The
# horizon only moves forward, so "an older fix never overwrites a newer one" still holds after
# a deletion.
#
# Fixes for responders that already have one are applied with a plain UPDATE ... FROM (a hash
# join): about a third cheaper than INSERT ... ON CONFLICT DO UPDATE, whose speculative insert
# probes the primary key per row. Only first fixes take the upsert path, which also settles a
# race with a concurrent first fix (a single PUT, or a writer that does not take the lock
# below). Under READ COMMITTED a row another transaction is writing is re-checked once its lock
# is released, so the newest fix wins whatever the arrival order.
# Batches take one transaction-level advisory lock first (_INGEST_LOCK), so they are applied
# one at a time, each statement with a snapshot that already holds the batches before it. Two
# batches that share responders can then neither deadlock nor make PostgreSQL re-check rows
# by re-running the join (seconds per batch). It replaced locking each batch's rows in id
# order, which cost ~35 ms per 10,000 fixes and, with batches sharing responders, queued them
# behind each other's commits anyway (two overlapping clients: 33,000-40,000 positions/s, now
# ~60,000; docs/PERFORMANCE.md). The price: one batch's write at a time, about one core of
# PostgreSQL for the feed.
_INGEST_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
# The key: "gridgis" in ASCII, distinct from other applications' advisory locks.
INGEST_LOCK_KEY = int.from_bytes(b"gridgis", "big")
_INGEST_POSITIONS = text(
    """
    WITH incoming AS (
        SELECT * FROM unnest(
            CAST(string_to_array(:idx, ',') AS int[]),
            CAST(string_to_array(:ids, ',') AS bigint[]),
            CAST(string_to_array(:lons, ',') AS float8[]),
            CAST(string_to_array(:lats, ',') AS float8[]),
            CAST(string_to_array(:ts, ',') AS timestamptz[])
        ) AS t(idx, id, lon, lat, ts)
    ),
    latest AS MATERIALIZED (
        SELECT DISTINCT ON (i.id) i.idx, i.id, i.lon, i.lat, i.ts
        FROM incoming i
        WHERE i.ts >= :expire_before
        ORDER BY i.id, i.ts DESC, i.idx
    ),
    updated AS (
        UPDATE responder_positions p
        SET position = ST_SetSRID(ST_MakePoint(l.lon, l.lat), 4326), recorded_at = l.ts
        FROM latest l
        WHERE p.responder_id = l.id AND p.recorded_at < l.ts
        RETURNING p.responder_id
    ),
    inserted AS (
        INSERT INTO responder_positions AS p (responder_id, role, lane, position, recorded_at)
        SELECT l.id, r.role, ro.lane, ST_SetSRID(ST_MakePoint(l.lon, l.lat), 4326), l.ts
        FROM latest l JOIN responders r ON r.id = l.id JOIN roles ro ON ro.code = r.role
        WHERE l.id NOT IN (SELECT responder_id FROM updated)
        ORDER BY l.id
        ON CONFLICT (responder_id) DO UPDATE
        SET position = EXCLUDED.position, recorded_at = EXCLUDED.recorded_at
        WHERE p.recorded_at < EXCLUDED.recorded_at
        RETURNING p.responder_id
    )
    SELECT
        (SELECT COUNT(*) FROM updated) + (SELECT COUNT(*) FROM inserted) AS accepted,
        (SELECT COALESCE(array_agg(i.idx ORDER BY i.idx), '{}') FROM incoming i
          WHERE i.id NOT IN (SELECT responder_id FROM updated)
            AND NOT EXISTS (SELECT 1 FROM responders r WHERE r.id = i.id)) AS unknown
    """
)


def ingest_positions(
    db: Executor,
    indexes: Sequence[int],
    responder_ids: Sequence[int],
    lons: Sequence[float],
    lats: Sequence[float],
    recorded_at: Sequence[Any],
    expire_before: datetime,
) -> tuple[int, list[int]]:
    """Apply position fixes set-wise; returns (rows written, indexes of unknown responders).
    Fixes recorded before `expire_before` are not stored."""
    # Arrays travel as comma-separated text: psycopg adapts a Python list element by element
    # (half the server's CPU for a 10,000-fix batch, measured); repr() keeps floats exact.
    db.execute(_INGEST_LOCK, {"key": INGEST_LOCK_KEY})
    row = db.execute(
        _INGEST_POSITIONS,
        {
            "idx": ",".join(map(str, indexes)),
            "ids": ",".join(map(str, responder_ids)),
            "lons": ",".join(map(repr, map(float, lons))),
            "lats": ",".join(map(repr, map(float, lats))),
            "ts": ",".join(t.isoformat() for t in recorded_at),
            "expire_before": expire_before,
        },
    ).one()
    return int(row.accepted), [int(i) for i in row.unknown]


def expire_positions(db: Executor, before: datetime) -> int:
    """Delete live fixes recorded before `before`; returns how many. A sequential scan of a
    narrow table (~30 ms for 320,000 fixes), cheaper run once a minute than an index on
    recorded_at maintained on every fix. Rows a batch is refreshing right now are skipped
    (and locks taken in id order), so expiry never deadlocks with ingest."""
    result = db.execute(
        text(
            """
            DELETE FROM responder_positions WHERE responder_id IN (
                SELECT responder_id FROM responder_positions WHERE recorded_at < :before
                ORDER BY responder_id
                FOR UPDATE SKIP LOCKED
            )
            """
        ),
        {"before": before},
    )
    return int(getattr(result, "rowcount", 0) or 0)
