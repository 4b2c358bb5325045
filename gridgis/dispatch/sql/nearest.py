"""Nearest-responder SQL: per-role KNN shortlists (live fixes and home bases), everyone in a box,
and team members."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import text

from gridgis.boundaries.sql import LOCATE_GRIDS
from gridgis.db import Executor
from gridgis.db.models import LANE_PLANE
from gridgis.dispatch.eta import geodesic_m
from gridgis.vocabulary import HOME, LIVE

# Where dispatch places a responder: at their live fix when it is fresh, else at home. Live
# fixes live in their own narrow table (responder_positions) so that a stream of fixes
# rewrites three small index entries per fix instead of every index on `responders`. Joined
# with this condition, `p` is NULL for responders without a fresh fix:
FRESH_FIX_JOIN = (
    "LEFT JOIN responder_positions p ON p.responder_id = r.id AND p.recorded_at >= :fresh_since"
)
# The source of a responder so placed; the statement needs SOURCE_PARAMS among its parameters.
PLACED_SOURCE = (
    "CASE WHEN p.responder_id IS NULL THEN CAST(:home AS text) ELSE CAST(:live AS text) END"
)
SOURCE_PARAMS = {"live": LIVE, "home": HOME}


def _by_lane_distance(point: str, lane: str) -> str:
    """ORDER BY for a KNN walk within the wanted role `w`: the distance in its lane's strip of
    the plane, which the lane-plane GiST index answers (and which equals the plain one)."""
    return (
        LANE_PLANE.format(point=point, lane=lane)
        + " <-> "
        + LANE_PLANE.format(point="(SELECT geom FROM pt)", lane="w.lane")
    )


def _in_lane_box(point: str, lane: str, box: str) -> str:
    """A condition the lane-plane GiST index answers: the row lies within `box` (degrees) in
    the wanted role `w`'s strip of the plane."""
    return (
        LANE_PLANE.format(point=point, lane=lane)
        + " && "
        + LANE_PLANE.format(point=box, lane="w.lane")
    )


def _in_lane_strip(point: str, lane: str) -> str:
    """The row lies in the wanted role's strip. It ends a KNN walk once the role is exhausted
    (the index would otherwise go on through every other role's rows, filtering each out)."""
    return _in_lane_box(point, lane, "ST_MakeEnvelope(-180, -90, 180, 90, 4326)")


# For each wanted role and each source, one KNN (<->) scan that only meets that role: home
# bases and live fixes each have a plain GiST over the point moved into its role's strip of
# the plane (LANE_PLANE, migration 0009), and the walk keeps to that strip (_in_lane_strip). A
# rare role among 300,000 volunteers never means walking past the volunteers, even when the
# walk is longer than the role. Keys (role, lane) -> roles tie each row's lane to its role
# (migration 0014_lane_integrity); the walks check the responder's role as well, a filter on
# rows the index already returned, so that no answer ever rests on the lane alone. The
# caller re-ranks the union by ETA and, when the walks cannot certify the ranking, reads
# everyone within the radius still open (_WITHIN_BOX; see dispatch/nearest.py). The home scan
# does not skip responders who have a fresh fix (when most of the force is reporting,
# skipping them meant walking past nearly all of it); it marks them `superseded`: their home
# row only bounds the distance of the home-placed responders it left out.
_LIVE_BRANCH = f"""
            SELECT r.id, r.name, r.role, r.status, r.home_grid_code, CAST(:live AS text) AS source,
                   p.recorded_at, p.position AS geom,
                   p.position <-> (SELECT geom FROM pt) AS planar
            FROM responder_positions p JOIN responders r ON r.id = p.responder_id
            WHERE p.lane = w.lane
              AND {_in_lane_strip("p.position", "p.lane")}
              AND r.role = w.role
              AND p.recorded_at >= :fresh_since
              AND r.status = ANY(CAST(:statuses AS varchar[]))
            ORDER BY {_by_lane_distance("p.position", "p.lane")}
            LIMIT :shortlist
"""
_HOME_BRANCH = f"""
            SELECT r.id, r.name, r.role, r.status, r.home_grid_code, CAST(:home AS text) AS source,
                   NULL::timestamptz AS recorded_at, r.home AS geom,
                   r.home <-> (SELECT geom FROM pt) AS planar
            FROM responders r
            WHERE r.lane = w.lane
              AND {_in_lane_strip("r.home", "r.lane")}
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
            WHERE s.source = :home AND p.responder_id = s.id AND p.recorded_at >= :fresh_since
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
    + LOCATE_GRIDS.text
    + """) AS hits ORDER BY code LIMIT 1
    )
    -- Always at least one row, which carries the walks and the grid even when no responder
    -- matches. Superseded rows stay here: they only bounded the walks.
    SELECT c.id, c.source, c.planar, c.name, c.role, c.status, c.home_grid_code,
           c.recorded_at, c.lon, c.lat, c.distance_m,
           -- As text: parsed once from the first row, not once per row.
           CAST((SELECT walks FROM walks) AS text) AS walks,
           g.code AS at_grid_code, g.name AS at_grid_name, g.kind AS at_grid_kind,
           EXISTS (
               SELECT 1 FROM assignments a WHERE a.responder_id = c.id AND a.grid_code = g.code
           ) AS in_team
    FROM (SELECT 1) AS one
    LEFT JOIN candidates c ON NOT c.superseded
    LEFT JOIN at_grid g ON true
    """
)

# The second round of a nearest search: everyone of the wanted roles placed inside a box (live
# at a fresh fix, else at home), less those already in hand. A range scan of the same
# lane-plane indexes, with no ordering: certification needs everyone within a radius, and the
# box holds that radius (dispatch/nearest.py, search_box).
_BOX = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
_WITHIN_BOX = text(
    f"""
    WITH wanted AS MATERIALIZED (
        SELECT code AS role, lane FROM roles
        WHERE CAST(:roles AS varchar[]) IS NULL OR code = ANY(CAST(:roles AS varchar[]))
    ),
    placed AS (
        SELECT c.* FROM wanted w CROSS JOIN LATERAL (
            SELECT r.id, r.name, r.role, r.status, r.home_grid_code,
                   CAST(:live AS text) AS source, p.recorded_at, p.position AS geom
            FROM responder_positions p JOIN responders r ON r.id = p.responder_id
            WHERE {_in_lane_box("p.position", "p.lane", _BOX)}
              AND p.lane = w.lane
              AND r.role = w.role
              AND p.recorded_at >= :fresh_since
              AND r.status = ANY(CAST(:statuses AS varchar[]))
              AND r.id <> ALL(CAST(:seen AS bigint[]))
        ) c
        UNION ALL
        SELECT c.* FROM wanted w CROSS JOIN LATERAL (
            SELECT r.id, r.name, r.role, r.status, r.home_grid_code,
                   CAST(:home AS text) AS source, NULL::timestamptz AS recorded_at,
                   r.home AS geom
            FROM responders r
            WHERE {_in_lane_box("r.home", "r.lane", _BOX)}
              AND r.lane = w.lane
              AND r.role = w.role
              AND r.status = ANY(CAST(:statuses AS varchar[]))
              AND r.id <> ALL(CAST(:seen AS bigint[]))
              AND NOT EXISTS (
                  SELECT 1 FROM responder_positions p
                  WHERE p.responder_id = r.id AND p.recorded_at >= :fresh_since
              )
        ) c
    )
    SELECT id, name, role, status, home_grid_code, source, recorded_at,
           ST_X(geom) AS lon, ST_Y(geom) AS lat,
           EXISTS (
               SELECT 1 FROM assignments a WHERE a.responder_id = placed.id
                 AND a.grid_code = CAST(:grid_code AS varchar)
           ) AS in_team
    FROM placed
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
               {PLACED_SOURCE} AS source,
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


class Candidate(NamedTuple):
    """A responder placed where dispatch would use them, with the exact distance to the call.
    (A named tuple: a dense roster's second round makes thousands per call.)"""

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
    # Candidates on that grid's team.
    team_ids: frozenset[int] = frozenset()


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
            **SOURCE_PARAMS,
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
        for source, role, walked, reach in (json.loads(first.walks) if first.walks else ())
    }
    candidates = candidates_from((r for r in rows if r.id is not None), result.keys())
    return Shortlist(candidates, walks, grid, frozenset(int(r.id) for r in rows if r.in_team))


def within_box(
    db: Executor,
    lon: float,
    lat: float,
    box: tuple[float, float, float, float],
    *,
    roles: Sequence[str] | None,
    statuses: Sequence[str],
    fresh_since: Any,
    seen: Iterable[int],
    grid_code: str | None,
) -> tuple[list[Candidate], frozenset[int]]:
    """Everyone matching the filters whom dispatch places inside `box` (west, south, east,
    north in degrees), except the `seen` ids, with their exact distance to (lon, lat) (on the
    ellipsoid, here: thousands of rows cost PostGIS milliseconds); and which of them are on
    the team of `grid_code`."""
    x0, y0, x1, y1 = box
    rows = db.execute(
        _WITHIN_BOX,
        {
            "x0": x0,
            "y0": y0,
            "x1": x1,
            "y1": y1,
            "roles": list(roles) if roles else None,
            "statuses": list(statuses),
            "fresh_since": fresh_since,
            "seen": sorted(seen),
            "grid_code": grid_code,
            **SOURCE_PARAMS,
        },
    ).all()
    distances = geodesic_m(
        lon, lat, np.array([r.lon for r in rows]), np.array([r.lat for r in rows])
    )
    found = [
        Candidate(int(rid), name, role, status, grid, source, recorded, x, y, float(d), None)
        for (rid, name, role, status, grid, source, recorded, x, y, _), d in zip(
            rows, distances.tolist(), strict=True
        )
    ]
    return found, frozenset(int(r.id) for r in rows if r.in_team)


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
            **SOURCE_PARAMS,
        },
    )
    return candidates_from(rows, rows.keys())
