"""Responders: create, update status and profile, read and list where dispatch would place them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridgis import audit
from gridgis import crs as crs_mod
from gridgis.db.models import Responder
from gridgis.dispatch.sql import responders as responders_sql
from gridgis.errors import Conflict, InvalidInput, NotFound, OutsideCoverage
from gridgis.validation import check_limit, check_lon_lat
from gridgis.vocabulary import AVAILABLE, RESPONDER_STATUSES

MAX_PAGE = 1_000
MAX_SKILLS = 32
# What the audit trail compares before and after a change of profile or status.
AUDITED_FIELDS = (
    "name",
    "role",
    "status",
    "skills",
    "home_lon",
    "home_lat",
    "home_grid_code",
    "station_code",
)


@dataclass(frozen=True)
class ResponderPage:
    """One page of responders and the cursor of the next page (None at the end)."""

    items: list[dict[str, Any]]
    next_after: int | None


def _point(lon: Any, lat: Any, crs: str) -> tuple[float, float]:
    lon, lat = check_lon_lat(lon, lat)
    if crs not in ("wgs84", "gcj02", "bd09"):
        raise InvalidInput("crs must be wgs84, gcj02 or bd09.", field="crs")
    x, y = crs_mod.to_wgs84(lon, lat, crs)  # type: ignore[arg-type]
    return float(x), float(y)


def _check_role(db: Session, role: str) -> None:
    roles = responders_sql.known_roles(db)
    if role not in roles:
        raise InvalidInput(f"role must be one of {', '.join(sorted(roles))}.", field="role")


def _check_status(status: str) -> None:
    if status not in RESPONDER_STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(RESPONDER_STATUSES)}.", field="status"
        )


def _check_skills(skills: Sequence[str]) -> list[str]:
    if len(skills) > MAX_SKILLS:
        raise InvalidInput(f"at most {MAX_SKILLS} skills.", field="skills")
    cleaned = []
    for skill in skills:
        if not isinstance(skill, str) or not skill.strip() or len(skill) > 64:
            raise InvalidInput(
                "each skill is a non-empty text of at most 64 characters.", field="skills"
            )
        cleaned.append(skill.strip())
    return sorted(set(cleaned))


def _home_grid(db: Session, lon: float, lat: float) -> str | None:
    from gridgis.boundaries.lookup import locate

    try:
        return str(locate(db, lon, lat, with_team=False).grid["code"])
    except (OutsideCoverage, NotFound):
        return None


def _check_station(db: Session, station_code: str | None) -> None:
    if station_code is not None and not responders_sql.facility_exists(
        db, station_code, "police_station"
    ):
        raise InvalidInput(f"No police station with code {station_code!r}.", field="station_code")


def create_responder(
    db: Session,
    *,
    name: str,
    role: str,
    home_lon: float,
    home_lat: float,
    crs: str = "wgs84",
    skills: Sequence[str] = (),
    status: str = AVAILABLE,
    ref: str | None = None,
    station_code: str | None = None,
    stale_after_s: float = 900.0,
    actor: str = audit.LIBRARY_ACTOR,
) -> dict[str, Any]:
    """Add a responder; the home grid is found from the home base. Conflict on a taken ref."""
    if not name.strip():
        raise InvalidInput("name must not be empty.", field="name")
    _check_role(db, role)
    _check_status(status)
    lon, lat = _point(home_lon, home_lat, crs)
    _check_station(db, station_code)
    responder = Responder(
        ref=ref or f"api-{uuid.uuid4().hex[:16]}",
        name=name.strip(),
        role=role,
        skills=_check_skills(skills),
        status=status,
        home=from_shape(Point(lon, lat), srid=4326),
        home_grid_code=_home_grid(db, lon, lat),
        station_code=station_code,
        source="api",
    )
    try:
        with db.begin_nested():
            db.add(responder)
            db.flush()
    except IntegrityError as exc:
        raise Conflict(f"A responder with ref {responder.ref!r} exists.", field="ref") from exc
    created = get_responder(db, responder.id, stale_after_s=stale_after_s)
    audit.record(
        db,
        actor=actor,
        action="responder.create",
        entity="responder",
        entity_id=str(responder.id),
        after={"ref": created["ref"]} | {key: created[key] for key in AUDITED_FIELDS},
    )
    return created


def update_responder(
    db: Session,
    responder_id: int,
    changes: dict[str, Any],
    *,
    stale_after_s: float = 900.0,
    actor: str = audit.LIBRARY_ACTOR,
) -> dict[str, Any]:
    """Change status and profile fields (name, role, skills, status, home, station_code).

    The fields that changed are written to the audit trail (`responder.update`, before and
    after) in the same transaction; a change that changes nothing leaves no entry."""
    responder = db.execute(
        select(Responder).where(Responder.id == responder_id).with_for_update()
    ).scalar_one_or_none()
    if responder is None:
        raise NotFound(f"No responder with id {responder_id}.", field="responder_id")
    before = get_responder(db, responder_id, stale_after_s=stale_after_s)
    if "name" in changes:
        if not str(changes["name"]).strip():
            raise InvalidInput("name must not be empty.", field="name")
        responder.name = str(changes["name"]).strip()
    if "role" in changes:
        _check_role(db, changes["role"])
        responder.role = changes["role"]
    if "status" in changes:
        _check_status(changes["status"])
        responder.status = changes["status"]
    if "skills" in changes:
        responder.skills = _check_skills(changes["skills"])
    if "station_code" in changes:
        _check_station(db, changes["station_code"])
        responder.station_code = changes["station_code"]
    if "home" in changes:
        home = changes["home"]
        lon, lat = _point(home.get("lon"), home.get("lat"), home.get("crs", "wgs84"))
        responder.home = from_shape(Point(lon, lat), srid=4326)
        responder.home_grid_code = _home_grid(db, lon, lat)
    db.flush()
    after = get_responder(db, responder_id, stale_after_s=stale_after_s)
    changed = [key for key in AUDITED_FIELDS if before[key] != after[key]]
    if changed:
        audit.record(
            db,
            actor=actor,
            action="responder.update",
            entity="responder",
            entity_id=str(responder_id),
            before={key: before[key] for key in changed},
            after={key: after[key] for key in changed},
        )
    return after


def get_responder(
    db: Session, responder_id: int, *, stale_after_s: float = 900.0
) -> dict[str, Any]:
    """One responder with the position dispatch would use now and their grid assignments."""
    page = list_responders(db, ids=[responder_id], limit=1, stale_after_s=stale_after_s)
    if not page.items:
        raise NotFound(f"No responder with id {responder_id}.", field="responder_id")
    return page.items[0]


def list_responders(
    db: Session,
    *,
    roles: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
    grid: str | None = None,
    ids: Sequence[int] | None = None,
    after: int = 0,
    limit: int = 100,
    stale_after_s: float = 900.0,
    now: datetime | None = None,
) -> ResponderPage:
    """A keyset page of responders (id order) with their dispatch position and assignments."""
    check_limit(limit, MAX_PAGE)
    for status in statuses or ():
        _check_status(status)
    fresh_since = (now or datetime.now(UTC)) - timedelta(seconds=stale_after_s)
    rows = responders_sql.responders_page(
        db,
        fresh_since=fresh_since,
        after=after,
        limit=limit + 1,
        roles=roles,
        statuses=statuses,
        grid=grid,
        ids=ids,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    teams = responders_sql.responder_teams(db, [int(r["id"]) for r in rows])
    for row in rows:
        row["assignments"] = teams.get(int(row["id"]), [])
        row["skills"] = list(row["skills"] or [])
    return ResponderPage(items=rows, next_after=int(rows[-1]["id"]) if more and rows else None)
