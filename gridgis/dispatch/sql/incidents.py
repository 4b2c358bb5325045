"""Incident SQL: categories, intake, the timeline, listing and KPIs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from gridgis.db import Executor
from gridgis.vocabulary import (
    AREA_LEVELS,
    ARRIVED,
    CLOSED,
    DISPATCHED,
    MEDIATED_FAILED,
    MEDIATED_SUCCESS,
    MEDIATOR,
    OPEN,
    REFERRED,
    RESOLVED,
    URBAN_GRID_KIND,
)

# -- categories ----------------------------------------------------------------------------------
_CATEGORY_COLUMNS = (
    "code, name_zh, name_en, police_matter, primary_roles, fallback_roles, prefer_team, "
    "divert_to_mediation"
)


def categories(db: Executor) -> list[dict[str, Any]]:
    """Every routing category, ordered by code."""
    rows = db.execute(text(f"SELECT {_CATEGORY_COLUMNS} FROM incident_categories ORDER BY code"))
    return [dict(r._mapping) for r in rows]


def category(db: Executor, code: str) -> dict[str, Any] | None:
    """One routing category, or None."""
    row = db.execute(
        text(f"SELECT {_CATEGORY_COLUMNS} FROM incident_categories WHERE code = :code"),
        {"code": code},
    ).first()
    return None if row is None else dict(row._mapping)


def responder_role(db: Executor, responder_id: int) -> str | None:
    """The role of a responder, or None when there is no such responder."""
    row = db.execute(
        text("SELECT role FROM responders WHERE id = :id"), {"id": responder_id}
    ).first()
    return None if row is None else str(row[0])


# -- intake --------------------------------------------------------------------------------------
# DO NOTHING (not DO UPDATE) so a retry never rewrites the stored intake; when two identical
# requests race, the second waits for the first to commit, inserts nothing and reads its row.
_INSERT_INCIDENT = text(
    """
    INSERT INTO incidents (external_id, category, description, reported_at, input_crs,
                           input_lon, input_lat, geom, generation_id, grid_code, grid_kind,
                           status, recommendation, source)
    VALUES (:external_id, :category, :description, :reported_at, :input_crs,
            :input_lon, :input_lat, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :generation_id,
            :grid_code, :grid_kind, :open, CAST(:recommendation AS jsonb), :source)
    ON CONFLICT (external_id) DO NOTHING
    RETURNING id
    """
)


def insert_incident(db: Executor, values: Mapping[str, Any]) -> int | None:
    """Insert one incident; None when its external_id already exists."""
    row = db.execute(_INSERT_INCIDENT, {**values, "open": OPEN}).first()
    return None if row is None else int(row[0])


_INCIDENT_COLUMNS = """
    i.id, i.external_id, i.category, c.name_zh AS category_name_zh,
    c.name_en AS category_name_en, c.police_matter, i.description, i.reported_at,
    i.received_at, i.input_crs, i.input_lon, i.input_lat, ST_X(i.geom) AS lon,
    ST_Y(i.geom) AS lat, i.generation_id, i.grid_code, i.grid_kind, a.name AS grid_name,
    i.status, i.recommendation, i.source, i.updated_at
"""

_INCIDENT_FROM = """
    FROM incidents i
    JOIN incident_categories c ON c.code = i.category
    LEFT JOIN areas a ON a.generation_id = i.generation_id AND a.code = i.grid_code
"""


def incident_by_id(db: Executor, incident_id: int) -> dict[str, Any] | None:
    """One incident (without its timeline), or None."""
    row = db.execute(
        text(f"SELECT {_INCIDENT_COLUMNS} {_INCIDENT_FROM} WHERE i.id = :id"), {"id": incident_id}
    ).first()
    return None if row is None else dict(row._mapping)


def incident_by_external_id(db: Executor, external_id: str) -> dict[str, Any] | None:
    """The incident a caller registered under `external_id`, or None."""
    row = db.execute(
        text(f"SELECT {_INCIDENT_COLUMNS} {_INCIDENT_FROM} WHERE i.external_id = :external_id"),
        {"external_id": external_id},
    ).first()
    return None if row is None else dict(row._mapping)


# -- timeline ------------------------------------------------------------------------------------
def lock_incident(db: Executor, incident_id: int) -> dict[str, Any] | None:
    """Lock the incident row until the transaction ends; returns its status, report time and
    whether its category diverts to people's mediation.

    Every event append takes this lock first, so concurrent appends to one incident run one
    after the other and each sees the timeline the previous one left."""
    row = db.execute(
        text(
            """
            SELECT i.id, i.status, i.reported_at, c.divert_to_mediation
            FROM incidents i JOIN incident_categories c ON c.code = i.category
            WHERE i.id = :id FOR UPDATE OF i
            """
        ),
        {"id": incident_id},
    ).first()
    return None if row is None else dict(row._mapping)


def timeline(db: Executor, incident_id: int) -> list[dict[str, Any]]:
    """An incident's events in the order they were recorded."""
    rows = db.execute(
        text(
            """
            SELECT seq, type, responder_id, responder_role, at, note, recorded_at
            FROM incident_events WHERE incident_id = :id ORDER BY seq
            """
        ),
        {"id": incident_id},
    )
    return [dict(r._mapping) for r in rows]


def append_event(
    db: Executor,
    incident_id: int,
    *,
    seq: int,
    type_: str,
    responder_id: int | None,
    responder_role: str | None,
    at: datetime,
    note: str,
    status: str,
) -> None:
    """Append one event and move the incident to `status` (the caller holds the row lock)."""
    db.execute(
        text(
            """
            INSERT INTO incident_events (incident_id, seq, type, responder_id, responder_role,
                                         at, note)
            VALUES (:incident_id, :seq, :type, :responder_id, :responder_role, :at, :note)
            """
        ),
        {
            "incident_id": incident_id,
            "seq": seq,
            "type": type_,
            "responder_id": responder_id,
            "responder_role": responder_role,
            "at": at,
            "note": note,
        },
    )
    db.execute(
        text("UPDATE incidents SET status = :status, updated_at = now() WHERE id = :id"),
        {"status": status, "id": incident_id},
    )


# -- listing -------------------------------------------------------------------------------------
def area_level(db: Executor, generation_id: int, code: str) -> str | None:
    """The level of an area of the generation, or None when it has no such area."""
    row = db.execute(
        text("SELECT level FROM areas WHERE generation_id = :g AND code = :code"),
        {"g": generation_id, "code": code},
    ).first()
    return None if row is None else str(row[0])


def list_incidents(
    db: Executor,
    *,
    start: datetime | None,
    end: datetime | None,
    grid_prefix: str | None,
    status: str | None,
    category: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Incidents newest first (reported_at, then id, descending), after a keyset cursor."""
    statement = text(
        f"""
        SELECT {_INCIDENT_COLUMNS} {_INCIDENT_FROM}
        WHERE (CAST(:start AS timestamptz) IS NULL OR i.reported_at >= :start)
          AND (CAST(:end AS timestamptz) IS NULL OR i.reported_at < :end)
          AND (CAST(:prefix AS varchar) IS NULL
               OR i.grid_code LIKE CAST(:prefix AS varchar) || '%')
          AND (CAST(:status AS varchar) IS NULL OR i.status = :status)
          AND (CAST(:category AS varchar) IS NULL OR i.category = :category)
          AND (CAST(:after_at AS timestamptz) IS NULL
               OR (i.reported_at, i.id) < (CAST(:after_at AS timestamptz), :after_id))
        ORDER BY i.reported_at DESC, i.id DESC
        LIMIT :limit
        """
    )
    rows = db.execute(
        statement,
        {
            "start": start,
            "end": end,
            "prefix": grid_prefix,
            "status": status,
            "category": category,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else 0,
            "limit": limit,
        },
    )
    return [dict(r._mapping) for r in rows]


# -- KPIs ----------------------------------------------------------------------------------------
# One statement: per incident, its first arrival and what happened (one pass over its events);
# then each located incident is counted once at each level of its grid code's hierarchy
# (codes are hierarchical: city = first 4 digits + "00", county 6, township 9, grid 12) and
# aggregated per (level, code); the areas of the generation supply names and the empty rows.
_KPI_FACTS = """
    facts AS (
        SELECT i.id, i.reported_at, i.grid_code, i.grid_kind, c.police_matter,
               c.divert_to_mediation,
               CAST(EXTRACT(EPOCH FROM (MIN(e.at) FILTER (WHERE e.type = :arrived)
                                        - i.reported_at)) AS float8) AS response_s,
               COALESCE(BOOL_OR(e.type = :resolved), false) AS resolved,
               COALESCE(BOOL_OR(e.type = :referred), false) AS referred,
               COALESCE(BOOL_OR(e.type = :dispatched AND e.responder_role = :mediator), false)
                 AS mediator_dispatched,
               -- mediation outcomes: settled, failed, or passed on after a mediator was sent
               COALESCE(BOOL_OR(e.type = :mediated_success), false) AS mediated_success,
               COALESCE(BOOL_OR(e.type = :mediated_failed), false) AS mediated_failed,
               COALESCE(MIN(e.seq) FILTER (WHERE e.type = :referred)
                        > MIN(e.seq) FILTER (WHERE e.type = :dispatched
                                             AND e.responder_role = :mediator), false)
                 AS mediation_referred,
               -- settled on the spot: resolved on site, or settled by a mediator on scene
               COALESCE(BOOL_OR(e.type = :resolved), false)
                 OR COALESCE(MIN(e.seq) FILTER (WHERE e.type = :mediated_success)
                             > MIN(e.seq) FILTER (WHERE e.type = :arrived), false)
                 AS settled_on_spot,
               i.status = :closed AS closed, f.reached AS follow_up_reached,
               f.satisfied AS follow_up_satisfied
        FROM incidents i
        JOIN incident_categories c ON c.code = i.category
        LEFT JOIN incident_events e ON e.incident_id = i.id
        LEFT JOIN incident_follow_ups f ON f.incident_id = i.id
        WHERE i.reported_at >= :start AND i.reported_at < :end
          AND (CAST(:prefix AS varchar) IS NULL
               OR i.grid_code LIKE CAST(:prefix AS varchar) || '%')
        GROUP BY i.id, c.police_matter, c.divert_to_mediation, f.reached, f.satisfied
    )"""
_KPI_TAGGED = """
    tagged AS (
        SELECT f.*, lv.level, lv.code
        FROM facts f
        CROSS JOIN LATERAL (VALUES
            ((CAST(:levels AS varchar[]))[1], left(f.grid_code, 4) || '00'),
            ((CAST(:levels AS varchar[]))[2], left(f.grid_code, 6)),
            ((CAST(:levels AS varchar[]))[3], left(f.grid_code, 9)),
            ((CAST(:levels AS varchar[]))[4], f.grid_code)
        ) AS lv(level, code)
        WHERE f.grid_code IS NOT NULL
        UNION ALL
        SELECT f.*, 'outside', NULL FROM facts f WHERE f.grid_code IS NULL
    )"""
_KPI_AGGREGATES = """
               COUNT(*) AS incidents,
               COUNT(response_s) AS attended,
               COUNT(*) FILTER (WHERE response_s <= :target_s) AS within_target,
               COUNT(response_s) FILTER (WHERE grid_kind = :urban_kind) AS urban_attended,
               COUNT(*) FILTER (WHERE grid_kind = :urban_kind AND response_s <= :target_s)
                 AS urban_within_target,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY response_s) AS median_response_s,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY response_s) AS p90_response_s,
               COUNT(*) FILTER (WHERE NOT police_matter) AS non_police,
               COUNT(*) FILTER (WHERE NOT police_matter AND divert_to_mediation
                                  AND (mediator_dispatched OR referred)) AS diverted,
               COUNT(*) FILTER (WHERE resolved AND response_s IS NOT NULL) AS resolved_on_site,
               COUNT(*) FILTER (WHERE NOT police_matter AND divert_to_mediation
                                  AND (mediated_success OR mediated_failed
                                       OR mediation_referred)) AS mediation_outcomes,
               COUNT(*) FILTER (WHERE NOT police_matter AND divert_to_mediation
                                  AND mediated_success) AS mediated_success,
               COUNT(response_s) FILTER (WHERE NOT police_matter) AS non_police_attended,
               COUNT(*) FILTER (WHERE NOT police_matter AND response_s IS NOT NULL
                                  AND settled_on_spot) AS settled_on_spot,
               COUNT(*) FILTER (WHERE closed) AS closed,
               COUNT(*) FILTER (WHERE closed AND follow_up_reached IS NOT NULL)
                 AS followed_up,
               COUNT(*) FILTER (WHERE closed AND follow_up_reached) AS follow_up_reached,
               COUNT(follow_up_satisfied) FILTER (WHERE closed) AS follow_up_answered,
               COUNT(*) FILTER (WHERE closed AND follow_up_satisfied) AS follow_up_satisfied"""
_KPI_WANTED = """
    wanted AS (
        SELECT a.level, a.code, a.name, a.parent_code
        FROM areas a
        WHERE a.generation_id = :generation_id
          AND (CAST(:prefix AS varchar) IS NULL
               OR (a.code LIKE CAST(:prefix AS varchar) || '%'
                   AND array_position(CAST(:levels AS varchar[]), a.level::varchar)
                       >= :min_level))
          AND a.level = ANY(CAST(:levels_shown AS varchar[]))
        UNION ALL
        SELECT 'outside', NULL, NULL, NULL
        WHERE CAST(:prefix AS varchar) IS NULL AND :with_outside
    )"""
_KPI_FIGURES = """
           COALESCE(g.incidents, 0) AS incidents,
           COALESCE(g.attended, 0) AS attended,
           COALESCE(g.within_target, 0) AS within_target,
           COALESCE(g.urban_attended, 0) AS urban_attended,
           COALESCE(g.urban_within_target, 0) AS urban_within_target,
           g.median_response_s, g.p90_response_s,
           COALESCE(g.non_police, 0) AS non_police,
           COALESCE(g.diverted, 0) AS diverted,
           COALESCE(g.resolved_on_site, 0) AS resolved_on_site,
           COALESCE(g.mediation_outcomes, 0) AS mediation_outcomes,
           COALESCE(g.mediated_success, 0) AS mediated_success,
           COALESCE(g.non_police_attended, 0) AS non_police_attended,
           COALESCE(g.settled_on_spot, 0) AS settled_on_spot,
           COALESCE(g.closed, 0) AS closed,
           COALESCE(g.followed_up, 0) AS followed_up,
           COALESCE(g.follow_up_reached, 0) AS follow_up_reached,
           COALESCE(g.follow_up_answered, 0) AS follow_up_answered,
           COALESCE(g.follow_up_satisfied, 0) AS follow_up_satisfied"""
_KPIS = text(
    f"""
    WITH {_KPI_FACTS},
    {_KPI_TAGGED},
    agg AS (
        SELECT level, code, {_KPI_AGGREGATES}
        FROM tagged
        GROUP BY level, code
    ),
    {_KPI_WANTED}
    SELECT w.level, w.code, w.name, w.parent_code, {_KPI_FIGURES}
    FROM wanted w
    LEFT JOIN agg g ON g.level = w.level AND g.code IS NOT DISTINCT FROM w.code
    ORDER BY array_position(CAST(:levels_order AS varchar[]), w.level::varchar), w.code
    """
)
# The same figures per time bucket in one pass: each incident falls in bucket
# floor((reported_at - start) / step); every wanted area gets a row for every bucket.
_KPI_SERIES = text(
    f"""
    WITH {_KPI_FACTS},
    {_KPI_TAGGED},
    agg AS (
        SELECT bucket, level, code, {_KPI_AGGREGATES}
        FROM (
            SELECT t.*,
                   CAST(floor(EXTRACT(EPOCH FROM (t.reported_at - :start)) / :step_s) AS int)
                     AS bucket
            FROM tagged t
            WHERE t.level = ANY(CAST(:levels_shown AS varchar[]))
        ) AS bucketed
        GROUP BY bucket, level, code
    ),
    {_KPI_WANTED}
    SELECT b.bucket, w.level, w.code, w.name, w.parent_code, {_KPI_FIGURES}
    FROM wanted w
    CROSS JOIN generate_series(0, :buckets - 1) AS b(bucket)
    LEFT JOIN agg g
      ON g.bucket = b.bucket AND g.level = w.level AND g.code IS NOT DISTINCT FROM w.code
    ORDER BY b.bucket, array_position(CAST(:levels_order AS varchar[]), w.level::varchar), w.code
    """
)


def _kpi_parameters(
    *,
    generation_id: int,
    start: datetime,
    end: datetime,
    target_s: float,
    grid_prefix: str | None,
    min_level: str,
    levels: Sequence[str],
    with_outside: bool,
) -> dict[str, Any]:
    return {
        "generation_id": generation_id,
        "start": start,
        "end": end,
        "target_s": target_s,
        "prefix": grid_prefix,
        "levels": list(AREA_LEVELS),
        "min_level": AREA_LEVELS.index(min_level) + 1,
        "levels_shown": list(levels),
        "levels_order": [*AREA_LEVELS, "outside"],
        "with_outside": with_outside,
        "arrived": ARRIVED,
        "resolved": RESOLVED,
        "referred": REFERRED,
        "dispatched": DISPATCHED,
        "mediator": MEDIATOR,
        "mediated_success": MEDIATED_SUCCESS,
        "mediated_failed": MEDIATED_FAILED,
        "closed": CLOSED,
        "urban_kind": URBAN_GRID_KIND,
    }


def incident_kpis(
    db: Executor,
    *,
    generation_id: int,
    start: datetime,
    end: datetime,
    target_s: float,
    grid_prefix: str | None,
    min_level: str,
    levels: Sequence[str],
    with_outside: bool,
) -> list[dict[str, Any]]:
    """KPI counts and response-time percentiles per area; see gridgis/dispatch/kpis.py."""
    rows = db.execute(
        _KPIS,
        _kpi_parameters(
            generation_id=generation_id,
            start=start,
            end=end,
            target_s=target_s,
            grid_prefix=grid_prefix,
            min_level=min_level,
            levels=levels,
            with_outside=with_outside,
        ),
    )
    return [dict(r._mapping) for r in rows]


def incident_kpi_series(
    db: Executor,
    *,
    generation_id: int,
    start: datetime,
    end: datetime,
    step_s: float,
    buckets: int,
    target_s: float,
    grid_prefix: str | None,
    min_level: str,
    levels: Sequence[str],
) -> list[dict[str, Any]]:
    """The KPI rows of incident_kpis for each of `buckets` buckets of `step_s` seconds from
    `start` (the last one ends at `end`), in one statement: each row carries its `bucket`
    (0-based); rows ordered by bucket, then as incident_kpis orders them."""
    parameters = _kpi_parameters(
        generation_id=generation_id,
        start=start,
        end=end,
        target_s=target_s,
        grid_prefix=grid_prefix,
        min_level=min_level,
        levels=levels,
        with_outside=False,
    )
    rows = db.execute(_KPI_SERIES, {**parameters, "step_s": step_s, "buckets": buckets})
    return [dict(r._mapping) for r in rows]
