"""All spatial SQL of gridgis, with bound parameters only."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, CursorResult, text
from sqlalchemy.orm import Session

from gridgis.db.models import LANE_PLANE
from gridgis.errors import NotFound

Executor = Session | Connection

# Point-in-polygon on the subdivided pieces: the GiST index narrows to a few small boxes, then
# ST_Intersects (boundary included) decides. Several grids may answer for a point on a shared
# edge or vertex; callers order them by code. With no generation given, the active one is
# found in the same round trip (locate and dispatch are hot paths).
_LOCATE_GRIDS = text(
    """
    SELECT DISTINCT a.id, a.code, a.name, a.level, a.kind, a.parent_code, a.population,
           a.generation_id
    FROM area_pieces p
    JOIN areas a ON a.id = p.area_id
    WHERE p.generation_id = COALESCE(
            CAST(:generation_id AS bigint), (SELECT id FROM generations WHERE active))
      AND ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    ORDER BY a.code
    """
)

_ANCESTORS = text(
    """
    WITH RECURSIVE chain AS (
        SELECT code, name, level, parent_code, 0 AS depth
        FROM areas WHERE generation_id = :generation_id AND code = :code
        UNION ALL
        SELECT a.code, a.name, a.level, a.parent_code, chain.depth + 1
        FROM areas a JOIN chain ON a.code = chain.parent_code
        WHERE a.generation_id = :generation_id AND chain.depth < 10
    )
    SELECT code, name, level FROM chain ORDER BY depth DESC
    """
)

_TEAM = text(
    """
    SELECT r.id AS responder_id, r.name, r.role, asg.duty, r.status
    FROM assignments asg
    JOIN responders r ON r.id = asg.responder_id
    JOIN roles ro ON ro.code = asg.duty
    WHERE asg.grid_code = :code
    ORDER BY array_position(
        ARRAY['grid_worker', 'community_police', 'mediator', 'party_cadre', 'police_unit',
              'volunteer']::varchar[], asg.duty::varchar), r.name, r.id
    """
)

_ACTIVE_GENERATION = text("SELECT id FROM generations WHERE active")

_GENERATION_BY_ID = text("SELECT id FROM generations WHERE id = :generation_id")


@dataclass(frozen=True)
class AreaRow:
    """One area as lookups return it."""

    code: str
    name: str
    level: str
    kind: str
    parent_code: str | None
    population: int
    generation_id: int


def active_generation_id(db: Executor) -> int:
    """The generation lookups use; NotFound when no boundaries have been loaded."""
    row = db.execute(_ACTIVE_GENERATION).first()
    if row is None:
        raise NotFound(
            "No boundary generation is active: load the demo or import boundaries first."
        )
    return int(row[0])


def resolve_generation_id(db: Executor, generation_id: int | None) -> int:
    """The generation asked for, or the active one."""
    if generation_id is None:
        return active_generation_id(db)
    if db.execute(_GENERATION_BY_ID, {"generation_id": generation_id}).first() is None:
        raise NotFound(f"Generation {generation_id} does not exist.", field="generation")
    return generation_id


def grids_at_point(
    db: Executor, generation_id: int | None, lon: float, lat: float
) -> list[AreaRow]:
    """Every grid whose polygon (boundary included) contains the point, ordered by code, in
    `generation_id` or (None) the active generation. Empty outside every grid."""
    rows = db.execute(_LOCATE_GRIDS, {"generation_id": generation_id, "lon": lon, "lat": lat})
    return [
        AreaRow(r.code, r.name, r.level, r.kind, r.parent_code, int(r.population), r.generation_id)
        for r in rows
    ]


def ancestors(db: Executor, generation_id: int, code: str) -> list[dict[str, str]]:
    """The chain city -> ... -> the area itself."""
    rows = db.execute(_ANCESTORS, {"generation_id": generation_id, "code": code})
    return [{"code": r.code, "name": r.name, "level": r.level} for r in rows]


def grid_team(db: Executor, code: str) -> list[dict[str, Any]]:
    """The grid's "2+N" team: its assigned responders with their duty."""
    rows = db.execute(_TEAM, {"code": code})
    return [
        {
            "responder_id": int(r.responder_id),
            "name": r.name,
            "role": r.role,
            "duty": r.duty,
            "status": r.status,
        }
        for r in rows
    ]


_AREA_PROPERTIES = "a.code, a.name, a.level, a.parent_code, a.kind, a.population, a.generation_id"
_AREA_COLUMNS = _AREA_PROPERTIES + ", ST_AsGeoJSON(a.geom, :precision) AS geometry"


def list_areas(
    db: Executor,
    generation_id: int,
    *,
    level: str | None = None,
    parent_code: str | None = None,
    with_geometry: bool = True,
    precision: int = 6,
) -> list[dict[str, Any]]:
    """Areas of a generation, optionally filtered by level and parent, ordered by code."""
    columns = _AREA_COLUMNS if with_geometry else _AREA_PROPERTIES
    statement = text(
        f"""
        SELECT {columns}
        FROM areas a
        WHERE a.generation_id = :generation_id
          AND (CAST(:level AS varchar) IS NULL OR a.level = :level)
          AND (CAST(:parent_code AS varchar) IS NULL OR a.parent_code = :parent_code)
        ORDER BY array_position(ARRAY['city','county','township','grid']::varchar[], a.level),
                 a.code
        """
    )
    rows = db.execute(
        statement,
        {
            "generation_id": generation_id,
            "level": level,
            "parent_code": parent_code,
            "precision": precision,
        },
    )
    return [_area_dict(r._mapping) for r in rows]


def get_area(db: Executor, generation_id: int, code: str, *, precision: int = 6) -> dict[str, Any]:
    """One area with its geometry and its children's codes."""
    statement = text(
        f"""
        SELECT {_AREA_COLUMNS},
               ARRAY(SELECT c.code FROM areas c
                     WHERE c.generation_id = a.generation_id AND c.parent_code = a.code
                     ORDER BY c.code) AS children
        FROM areas a
        WHERE a.generation_id = :generation_id AND a.code = :code
        """
    )
    row = db.execute(
        statement, {"generation_id": generation_id, "code": code, "precision": precision}
    ).first()
    if row is None:
        raise NotFound(f"No area with code {code!r} in generation {generation_id}.", field="code")
    area = _area_dict(row._mapping)
    area["children"] = list(row.children)
    return area


def _area_dict(mapping: Any) -> dict[str, Any]:
    area = {
        "code": mapping["code"],
        "name": mapping["name"],
        "level": mapping["level"],
        "parent_code": mapping["parent_code"],
        "kind": mapping["kind"],
        "population": int(mapping["population"]),
        "generation": int(mapping["generation_id"]),
    }
    if "geometry" in mapping:
        area["geometry"] = json.loads(mapping["geometry"])
    return area


def rebuild_area_pieces(db: Executor, generation_id: int, max_vertices: int = 64) -> int:
    """Refresh the subdivided copy of a generation's grid polygons; returns the piece count."""
    db.execute(text("DELETE FROM area_pieces WHERE generation_id = :g"), {"g": generation_id})
    result: CursorResult[Any] = db.execute(  # type: ignore[assignment]
        text(
            """
            INSERT INTO area_pieces (area_id, generation_id, geom)
            SELECT id, generation_id, ST_Subdivide(geom, :max_vertices)
            FROM areas WHERE generation_id = :g AND level = 'grid'
            """
        ),
        {"g": generation_id, "max_vertices": max_vertices},
    )
    return int(result.rowcount or 0)


def tiling_defects(
    db: Executor, generation_id: int, child_level: str, parent_level: str | None = None
) -> dict[str, float]:
    """Overlap between siblings and gap/overhang against their parent, in square metres.

    Measured on the WGS84 ellipsoid (geography). With parent_level None, siblings are all areas
    of child_level and the 'parent' is their union (used for counties vs the city outline).
    """
    overlap = db.execute(
        text(
            """
            SELECT COALESCE(SUM(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
            FROM areas a JOIN areas b
              ON a.generation_id = b.generation_id AND a.id < b.id
             AND a.parent_code IS NOT DISTINCT FROM b.parent_code
             AND ST_Intersects(a.geom, b.geom)
            WHERE a.generation_id = :g AND a.level = :child AND b.level = :child
            """
        ),
        {"g": generation_id, "child": child_level},
    ).scalar_one()
    result = {"overlap_m2": float(overlap)}
    if parent_level is not None:
        row = db.execute(
            text(
                """
                WITH kids AS (
                    SELECT parent_code, ST_Union(geom) AS geom
                    FROM areas WHERE generation_id = :g AND level = :child
                    GROUP BY parent_code
                )
                SELECT
                  COALESCE(SUM(ST_Area(ST_Difference(p.geom, k.geom)::geography)), 0) AS gap,
                  COALESCE(SUM(ST_Area(ST_Difference(k.geom, p.geom)::geography)), 0) AS outside,
                  COUNT(*) FILTER (WHERE k.geom IS NULL) AS childless
                FROM areas p LEFT JOIN kids k ON k.parent_code = p.code
                WHERE p.generation_id = :g AND p.level = :parent
                """
            ),
            {"g": generation_id, "child": child_level, "parent": parent_level},
        ).one()
        result.update(
            gap_m2=float(row.gap), outside_m2=float(row.outside), childless=float(row.childless)
        )
    return result


def counts_by_level(db: Executor, generation_id: int) -> dict[str, int]:
    """How many areas of each level a generation has."""
    rows = db.execute(
        text("SELECT level, COUNT(*) FROM areas WHERE generation_id = :g GROUP BY level"),
        {"g": generation_id},
    )
    return {r[0]: int(r[1]) for r in rows}


def area_codes(db: Executor, generation_id: int, level: str) -> Sequence[str]:
    """Codes of one level, sorted."""
    rows = db.execute(
        text("SELECT code FROM areas WHERE generation_id = :g AND level = :level ORDER BY code"),
        {"g": generation_id, "level": level},
    )
    return [r[0] for r in rows]


# -- dispatch ------------------------------------------------------------------------------------
# Where dispatch places a responder: at their live fix when it is fresh, else at home. Live
# fixes live in their own narrow table (responder_positions) so that a stream of fixes
# rewrites three small index entries per fix instead of every index on `responders`. Joined
# with this condition, `p` is NULL for responders without a fresh fix:
FRESH_FIX_JOIN = (
    "LEFT JOIN responder_positions p ON p.responder_id = r.id AND p.recorded_at >= :fresh_since"
)


def _by_lane_distance(point: str, lane: str) -> str:
    """ORDER BY for a KNN walk within the wanted role `w`: the distance in its lane's strip of
    the plane, which the lane-plane GiST index answers (and which equals the plain one)."""
    return (
        LANE_PLANE.format(point=point, lane=lane)
        + " <-> "
        + LANE_PLANE.format(point="(SELECT geom FROM pt)", lane="w.lane")
    )


# For each wanted role and each source, one KNN (<->) scan that only meets that role: home
# bases and live fixes each have a plain GiST over the point moved into its role's strip of
# the plane (LANE_PLANE, migration 0009). A rare role among 300,000 volunteers never means
# walking past the volunteers. Keys (role, lane) -> roles tie each row's lane to its role
# (migration 0010); the walks check the responder's role as well, a filter on rows the index
# already returned, so that no answer ever rests on the lane alone. The caller re-ranks the
# union by exact geodesic distance and widens the shortlist until the ranking is certified
# (see dispatch/nearest.py). The home scan does not skip responders who have a fresh fix
# (when most of the force is reporting, skipping them meant walking past nearly all of it); it
# marks them `superseded`: their home row only bounds the distance of the home-placed
# responders it left out.
_LIVE_BRANCH = f"""
            SELECT r.id, r.name, r.role, r.status, r.home_grid_code, 'live' AS source,
                   p.recorded_at, p.position AS geom,
                   p.position <-> (SELECT geom FROM pt) AS planar
            FROM responder_positions p JOIN responders r ON r.id = p.responder_id
            WHERE p.lane = w.lane
              AND r.role = w.role
              AND p.recorded_at >= :fresh_since
              AND r.status = ANY(CAST(:statuses AS varchar[]))
            ORDER BY {_by_lane_distance("p.position", "p.lane")}
            LIMIT :shortlist
"""
_HOME_BRANCH = f"""
            SELECT r.id, r.name, r.role, r.status, r.home_grid_code, 'home' AS source,
                   NULL::timestamptz AS recorded_at, r.home AS geom,
                   r.home <-> (SELECT geom FROM pt) AS planar
            FROM responders r
            WHERE r.lane = w.lane
              AND r.role = w.role
              AND r.status = ANY(CAST(:statuses AS varchar[]))
            ORDER BY {_by_lane_distance("r.home", "r.lane")}
            LIMIT :home_shortlist
"""
_NEAREST_BY_ROLE = text(
    """
    WITH pt AS MATERIALIZED (
        SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom,
               ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS geog
    ),
    wanted AS MATERIALIZED (
        SELECT code AS role, lane FROM roles
        WHERE CAST(:roles AS varchar[]) IS NULL OR code = ANY(CAST(:roles AS varchar[]))
    ),
    shortlist AS (
        SELECT c.* FROM wanted w CROSS JOIN LATERAL ("""
    + _LIVE_BRANCH
    + """) c
        UNION ALL
        SELECT c.* FROM wanted w CROSS JOIN LATERAL ("""
    + _HOME_BRANCH
    + """) c
    ),
    candidates AS MATERIALIZED (
        SELECT s.id, s.source, s.planar, f.live IS NOT NULL AS superseded, s.name, s.role,
               s.status, s.home_grid_code, s.recorded_at, ST_X(s.geom) AS lon,
               ST_Y(s.geom) AS lat,
               CASE WHEN f.live IS NULL
                    THEN ST_Distance(s.geom::geography, (SELECT geog FROM pt), true)
               END AS distance_m
        FROM shortlist s
        -- LATERAL ... LIMIT 1: one primary-key probe per home row (a plain EXISTS was planned
        -- as a hash of every fresh fix).
        LEFT JOIN LATERAL (
            SELECT true AS live FROM responder_positions p
            WHERE s.source = 'home' AND p.responder_id = s.id AND p.recorded_at >= :fresh_since
            LIMIT 1
        ) f ON true
    ),
    -- Each KNN walk's length and reach (farthest planar distance), superseded rows included:
    -- all that certification needs of the rows that are not sent.
    walks AS MATERIALIZED (
        SELECT json_agg(json_build_array(source, role, walked, reach)) AS walks
        FROM (
            SELECT source, role, count(*) AS walked, max(planar) AS reach
            FROM candidates GROUP BY source, role
        ) AS w
    ),
    -- The call's grid in the same round trip (first by code, as locate decides).
    at_grid AS MATERIALIZED (
        SELECT code, name, kind FROM ("""
    + _LOCATE_GRIDS.text
    + """) AS hits ORDER BY code LIMIT 1
    )
    -- Always at least one row, which carries the walks and the grid even when no responder
    -- matches. Superseded rows stay here: they only bounded the walks.
    SELECT c.id, c.source, c.planar, c.name, c.role, c.status, c.home_grid_code,
           c.recorded_at, c.lon, c.lat, c.distance_m,
           (SELECT walks FROM walks) AS walks,
           g.code AS at_grid_code, g.name AS at_grid_name, g.kind AS at_grid_kind
    FROM (SELECT 1) AS one
    LEFT JOIN candidates c ON NOT c.superseded
    LEFT JOIN at_grid g ON true
    """
)

_TEAM_CANDIDATES = text(
    f"""
    WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom),
    team AS (
        SELECT DISTINCT r.id FROM assignments a JOIN responders r ON r.id = a.responder_id
        WHERE a.grid_code = :grid_code
          AND (CAST(:roles AS varchar[]) IS NULL OR r.role = ANY(CAST(:roles AS varchar[])))
          AND r.status = ANY(CAST(:statuses AS varchar[]))
    ),
    placed AS (
        SELECT r.id, r.name, r.role, r.status, r.home_grid_code,
               CASE WHEN p.responder_id IS NULL THEN 'home' ELSE 'live' END AS source,
               COALESCE(p.position, r.home) AS geom, p.recorded_at
        FROM team JOIN responders r ON r.id = team.id
        {FRESH_FIX_JOIN}
    )
    SELECT id, source, NULL::float8 AS planar, name, role, status, home_grid_code, recorded_at,
           ST_X(geom) AS lon, ST_Y(geom) AS lat,
           ST_Distance(geom::geography, (SELECT geom FROM pt)::geography, true) AS distance_m
    FROM placed
    """
)


@dataclass(frozen=True)
class Candidate:
    """A responder placed where dispatch would use them, with the exact distance to the call."""

    responder_id: int
    name: str
    role: str
    status: str
    grid_code: str | None
    source: str
    recorded_at: Any
    lon: float
    lat: float
    distance_m: float
    planar: float | None


_CANDIDATE_COLUMNS = (
    "id", "name", "role", "status", "home_grid_code", "source", "recorded_at", "lon", "lat",
    "distance_m", "planar",
)  # fmt: skip


def candidates_from(rows: Iterable[Any], keys: Iterable[str]) -> list[Candidate]:
    """Candidates from rows with the shortlist's columns (`keys`: the result's column names).
    Columns are picked by position: on a hot path with ~100 rows per call, attribute access
    per field cost a third of a millisecond."""
    keys = list(keys)
    pick = itemgetter(*(keys.index(c) for c in _CANDIDATE_COLUMNS))
    found = []
    for row in rows:
        rid, name, role, status, grid, source, recorded, lon, lat, distance, planar = pick(row)
        found.append(
            Candidate(
                int(rid),
                name,
                role,
                status,
                grid,
                source,
                recorded,
                float(lon),
                float(lat),
                float(distance),
                None if planar is None else float(planar),
            )
        )
    return found


@dataclass(frozen=True)
class Shortlist:
    """One round of the nearest search: the candidates (responders as dispatch places them),
    what each KNN walk covered, and the call's grid."""

    candidates: list[Candidate]
    # (source, role) -> (rows the walk took, planar distance of the farthest): a walk cut at
    # its limit says nothing about what lies beyond its reach.
    walks: dict[tuple[str, str], tuple[int, float]]
    # The active generation's grid at the point ({"code", "name", "kind"}), None outside.
    grid: dict[str, Any] | None


def nearest_shortlist(
    db: Executor,
    lon: float,
    lat: float,
    *,
    roles: Sequence[str] | None,
    statuses: Sequence[str],
    fresh_since: Any,
    shortlist: int,
    home_shortlist: int | None = None,
) -> Shortlist:
    """The `shortlist` nearest (planar) live fixes and `home_shortlist` (default: the same)
    nearest home bases per role (every role when `roles` is None), each with its exact
    geodesic distance, and the active generation's grid at the point, in one round trip.
    Home rows of responders placed at a fresh fix are walked past (they count in `walks`) but
    not returned."""
    result = db.execute(
        _NEAREST_BY_ROLE,
        {
            "lon": lon,
            "lat": lat,
            "roles": list(roles) if roles else None,
            "statuses": list(statuses),
            "fresh_since": fresh_since,
            "shortlist": shortlist,
            "home_shortlist": home_shortlist or shortlist,
            "generation_id": None,
        },
    )
    rows = result.all()
    first = rows[0]
    grid = (
        {"code": first.at_grid_code, "name": first.at_grid_name, "kind": first.at_grid_kind}
        if first.at_grid_code is not None
        else None
    )
    walks = {
        (source, role): (int(walked), float(reach))
        for source, role, walked, reach in first.walks or ()
    }
    candidates = candidates_from((r for r in rows if r.id is not None), result.keys())
    return Shortlist(candidates, walks, grid)


def team_candidates(
    db: Executor,
    lon: float,
    lat: float,
    grid_code: str,
    *,
    roles: Sequence[str] | None,
    statuses: Sequence[str],
    fresh_since: Any,
) -> list[Candidate]:
    """The grid's assigned team members matching the filters, placed and measured."""
    rows = db.execute(
        _TEAM_CANDIDATES,
        {
            "lon": lon,
            "lat": lat,
            "grid_code": grid_code,
            "roles": list(roles) if roles else None,
            "statuses": list(statuses),
            "fresh_since": fresh_since,
        },
    )
    return candidates_from(rows, rows.keys())


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


# Where dispatch would place each responder right now (live fix if fresh, else home), keyset-paged.
_RESPONDERS_PAGE = text(
    f"""
    SELECT r.id, r.ref, r.name, r.role, r.status, r.skills, r.home_grid_code, r.station_code,
           CASE WHEN p.responder_id IS NULL THEN 'home' ELSE 'live' END AS position_source,
           p.recorded_at,
           ST_X(COALESCE(p.position, r.home)) AS lon, ST_Y(COALESCE(p.position, r.home)) AS lat,
           ST_X(r.home) AS home_lon, ST_Y(r.home) AS home_lat
    FROM responders r
    {FRESH_FIX_JOIN}
    WHERE r.id > :after
      AND (CAST(:roles AS varchar[]) IS NULL OR r.role = ANY(CAST(:roles AS varchar[])))
      AND (CAST(:statuses AS varchar[]) IS NULL OR r.status = ANY(CAST(:statuses AS varchar[])))
      AND (CAST(:ids AS bigint[]) IS NULL OR r.id = ANY(CAST(:ids AS bigint[])))
      AND (CAST(:grid AS varchar) IS NULL OR r.home_grid_code = :grid
           OR EXISTS (SELECT 1 FROM assignments a WHERE a.responder_id = r.id
                      AND a.grid_code = :grid))
    ORDER BY r.id
    LIMIT :limit
    """
)


def responders_page(
    db: Executor,
    *,
    fresh_since: Any,
    after: int = 0,
    limit: int = 100,
    roles: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    grid: str | None = None,
    ids: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Responders with id > `after`, in id order, each placed where dispatch would use them."""
    rows = db.execute(
        _RESPONDERS_PAGE,
        {
            "fresh_since": fresh_since,
            "after": after,
            "limit": limit,
            "roles": list(roles) if roles else None,
            "statuses": list(statuses) if statuses else None,
            "grid": grid,
            "ids": list(ids) if ids else None,
        },
    )
    return [dict(r._mapping) for r in rows]


def responder_teams(db: Executor, responder_ids: Sequence[int]) -> dict[int, list[dict[str, str]]]:
    """Grid assignments of the given responders."""
    rows = db.execute(
        text(
            """
            SELECT responder_id, grid_code, duty FROM assignments
            WHERE responder_id = ANY(CAST(:ids AS bigint[])) ORDER BY responder_id, grid_code
            """
        ),
        {"ids": list(responder_ids)},
    )
    teams: dict[int, list[dict[str, str]]] = {}
    for r in rows:
        teams.setdefault(int(r.responder_id), []).append({"grid_code": r.grid_code, "duty": r.duty})
    return teams


def known_roles(db: Executor) -> set[str]:
    """The role vocabulary (the roles table)."""
    return {r[0] for r in db.execute(text("SELECT code FROM roles"))}


def facility_exists(db: Executor, code: str, facility_type: str | None = None) -> bool:
    """Whether a facility (optionally of a type) exists."""
    row = db.execute(
        text(
            "SELECT 1 FROM facilities WHERE code = :code "
            "AND (CAST(:type AS varchar) IS NULL OR type = :type)"
        ),
        {"code": code, "type": facility_type},
    ).first()
    return row is not None
