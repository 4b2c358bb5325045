"""Patrol tasks: units reserve them, volunteers grab a slot, cancel, check in and out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from gridgis.audit import LIBRARY_ACTOR, record
from gridgis.db import Executor
from gridgis.dispatch.positions import PositionFix, update_position
from gridgis.dispatch.sql.responders import known_roles
from gridgis.errors import Forbidden, InvalidInput, NotFound, Refused
from gridgis.filters import require_area
from gridgis.settings import Settings
from gridgis.validation import check_lon_lat
from gridgis.vocabulary import PATROL_TASK_STATES, PatrolAreaKind
from gridgis.workflows import sql
from gridgis.workflows.claims import ClaimResult, SlotStatements, claim_slot
from gridgis.workflows.units import check_grid, clean_text, get_unit

TASK_STATES = PATROL_TASK_STATES
AREA_TYPES: dict[str, PatrolAreaKind] = {
    "Polygon": "polygon",
    "MultiPolygon": "polygon",
    "LineString": "route",
    "MultiLineString": "route",
}
MAX_GRIDS = 50
MAX_SLOTS = 100
MAX_VERTICES = 5_000
MAX_PAGE = 500

PATROL_SLOTS = SlotStatements(
    entity="patrol_task",
    lock_target=sql.LOCK_TASK_FOR_CLAIM,
    active_claim=sql.ACTIVE_PATROL_CLAIM,
    taken_slots=sql.TAKEN_PATROL_SLOTS,
    insert_claim=sql.INSERT_PATROL_CLAIM,
    lock_claimant=sql.LOCK_VOLUNTEER,
    violations={
        "ex_patrol_claims_overlap": (
            "overlap",
            "The volunteer already holds a patrol task that overlaps this one in time.",
        ),
        "uq_patrol_claims_slot": ("full", "Every slot of this patrol task is taken."),
    },
)


@dataclass(frozen=True)
class PatrolRules:
    """The configurable rules (GRIDGIS_PATROL_*)."""

    max_duration: timedelta = timedelta(hours=12)
    max_advance: timedelta = timedelta(days=90)
    cancel_deadline: timedelta = timedelta(hours=2)
    checkin_tolerance_m: float = 200.0
    checkin_tolerance: timedelta = timedelta(minutes=30)
    stale_after_s: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PatrolRules:
        return cls(
            max_duration=timedelta(hours=settings.patrol_max_duration_h),
            max_advance=timedelta(days=settings.patrol_max_advance_days),
            cancel_deadline=timedelta(hours=settings.patrol_cancel_deadline_h),
            checkin_tolerance_m=settings.patrol_checkin_tolerance_m,
            checkin_tolerance=timedelta(minutes=settings.patrol_checkin_tolerance_min),
            stale_after_s=settings.stale_after_s,
        )


@dataclass(frozen=True)
class Acting:
    """Who acts: the key's name (for the audit trail) and the unit a unit's key is scoped to.
    `any_unit` is for admins; a key with neither may grab for volunteers but not reserve."""

    actor: str = LIBRARY_ACTOR
    unit_id: int | None = None
    any_unit: bool = True

    def require_unit(self, unit_id: int) -> None:
        """Forbidden unless this caller may act for `unit_id`."""
        if self.any_unit or self.unit_id == unit_id:
            return
        if self.unit_id is None:
            raise Forbidden(
                "Only a unit's key (or an admin) may reserve or cancel patrol tasks.",
                field="X-API-Key",
            )
        raise Forbidden(
            f"This key acts for unit {self.unit_id}, not unit {unit_id}.", field="unit_id"
        )


@dataclass(frozen=True)
class PatrolSpec:
    """A patrol task as a unit asks for it: grid codes or a GeoJSON area (polygon or route)."""

    unit_id: int
    start: datetime
    end: datetime
    slots: int
    grid_codes: list[str] | None = None
    area: dict[str, Any] | None = None
    title: str = ""
    required_role: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _aware(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be an RFC 3339 timestamp.", field=name)
    if value.tzinfo is None:
        raise InvalidInput(
            f"{name} needs a time zone offset (e.g. 2026-12-05T19:00:00+08:00).", field=name
        )
    return value.astimezone(UTC)


def _lon_lat(lon: Any, lat: Any, field: str) -> tuple[float, float]:
    try:
        return check_lon_lat(lon, lat)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc.message}", field=field) from None


def _check_positions(coords: Any, depth: int, counter: list[int]) -> None:
    """GeoJSON coordinates nested `depth` lists deep around [lon, lat] pairs."""
    if not isinstance(coords, list) or not coords:
        raise InvalidInput("area.coordinates must be non-empty nested lists.", field="area")
    if depth == 0:
        if len(coords) < 2 or len(coords) > 3:
            raise InvalidInput("area positions are [lon, lat].", field="area")
        _lon_lat(coords[0], coords[1], "area")
        counter[0] += 1
        if counter[0] > MAX_VERTICES:
            raise InvalidInput(f"area has more than {MAX_VERTICES} vertices.", field="area")
        return
    for item in coords:
        _check_positions(item, depth - 1, counter)


def _drawn_area(db: Executor, area: Any) -> tuple[str, str, str, list[str]]:
    """(area kind, EWKT, centre grid, touched grids) of a drawn GeoJSON polygon or route."""
    import json

    if not isinstance(area, dict) or area.get("type") not in AREA_TYPES:
        raise InvalidInput(
            "area must be a GeoJSON geometry: Polygon, MultiPolygon, LineString or "
            "MultiLineString (WGS84).",
            field="area",
        )
    depth = {"Polygon": 2, "MultiPolygon": 3, "LineString": 1, "MultiLineString": 2}[area["type"]]
    _check_positions(area.get("coordinates"), depth, [0])
    try:
        with db.begin_nested():
            row = (
                db.execute(
                    sql.CHECK_DRAWN_AREA,
                    {
                        "geojson": json.dumps(
                            {"type": area["type"], "coordinates": area["coordinates"]}
                        )
                    },
                )
                .mappings()
                .one()
            )
    except DBAPIError as exc:
        raise InvalidInput(
            f"area is not a valid geometry: {exc.orig}".splitlines()[0], field="area"
        ) from None
    if row["empty"] or not row["valid"]:
        raise InvalidInput(f"area is not a valid geometry ({row['reason']}).", field="area")
    if not row["inside"]:
        raise InvalidInput("area must lie within the city.", field="area")
    grids = list(row["grid_codes"])
    centre = row["centre_grid"] or (grids[0] if grids else None)
    if centre is None:
        raise InvalidInput("area touches no grid of the active generation.", field="area")
    return AREA_TYPES[area["type"]], row["ewkt"], centre, grids


def _check_role(db: Executor, role: Any) -> str | None:
    if role is None:
        return None
    if not isinstance(role, str) or role not in known_roles(db):
        raise InvalidInput(
            f"required_role must be one of {', '.join(sorted(known_roles(db)))}.",
            field="required_role",
        )
    return role


def create_patrol(
    db: Executor,
    spec: PatrolSpec,
    rules: PatrolRules,
    *,
    acting: Acting = Acting(),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Reserve a patrol task for a unit; InvalidInput names the field at fault."""
    now = now or datetime.now(UTC)
    if isinstance(spec.unit_id, bool) or not isinstance(spec.unit_id, int):
        raise InvalidInput("unit_id must be an integer.", field="unit_id")
    unit = get_unit(db, spec.unit_id)
    acting.require_unit(unit["id"])
    start, end = _aware(spec.start, "start"), _aware(spec.end, "end")
    if start <= now:
        raise InvalidInput("start must be in the future.", field="start")
    if start > now + rules.max_advance:
        raise InvalidInput(
            f"start may be at most {rules.max_advance.days} days ahead.", field="start"
        )
    if end <= start:
        raise InvalidInput("end must be after start.", field="end")
    if end - start > rules.max_duration:
        hours = rules.max_duration.total_seconds() / 3600
        raise InvalidInput(f"A patrol lasts at most {hours:g} hours.", field="end")
    if isinstance(spec.slots, bool) or not isinstance(spec.slots, int):
        raise InvalidInput("slots must be an integer.", field="slots")
    if not 1 <= spec.slots <= MAX_SLOTS:
        raise InvalidInput(f"slots must be between 1 and {MAX_SLOTS}.", field="slots")
    title = clean_text(spec.title, "title", 200, required=False)
    role = _check_role(db, spec.required_role)
    if (spec.grid_codes is None) == (spec.area is None):
        raise InvalidInput("Give either grid_codes or area (not both).", field="area")
    if spec.grid_codes is not None:
        codes = spec.grid_codes
        if not isinstance(codes, list) or not 1 <= len(codes) <= MAX_GRIDS:
            raise InvalidInput(f"grid_codes must list 1-{MAX_GRIDS} grids.", field="grid_codes")
        for code in codes:
            check_grid(db, code, field="grid_codes")
        codes = list(dict.fromkeys(codes))
        area_kind, centre, grids = "grids", codes[0], sorted(codes)
        ewkt = db.execute(sql.AREA_OF_GRIDS, {"codes": codes}).scalar_one()
    else:
        area_kind, ewkt, centre, grids = _drawn_area(db, spec.area)
    task_id = db.execute(
        sql.INSERT_TASK,
        {
            "unit_id": unit["id"],
            "title": title,
            "area_kind": area_kind,
            "grid_code": centre,
            "grid_codes": grids,
            "area": ewkt,
            "starts_at": start,
            "ends_at": end,
            "slots": spec.slots,
            "required_role": role,
            "created_by": acting.actor,
        },
    ).scalar_one()
    record(
        db,
        actor=acting.actor,
        action="patrol.create",
        entity="patrol_task",
        entity_id=str(task_id),
        after={
            "unit_id": unit["id"],
            "start": start,
            "end": end,
            "slots": spec.slots,
            "grid_codes": grids,
            "area_kind": area_kind,
        },
    )
    return get_patrol(db, int(task_id), now=now)


def get_patrol(db: Executor, task_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """A task with its claims (active first), or NotFound."""
    now = now or datetime.now(UTC)
    row = db.execute(sql.GET_TASK, {"id": task_id, "now": now}).mappings().first()
    if row is None:
        raise NotFound(f"No patrol task {task_id}.", field="id")
    task = dict(row)
    task["claims"] = [dict(r._mapping) for r in db.execute(sql.TASK_CLAIMS, {"id": task_id})]
    return task


def list_patrols(
    db: Executor,
    *,
    near: tuple[float, float] | None = None,
    radius_m: float = 5_000.0,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    statuses: list[str] | None = None,
    grid: str | None = None,
    unit_id: int | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Tasks overlapping [from, to), near a point (geodesic distance to the area, nearest
    first) or in a grid, by state."""
    now = now or datetime.now(UTC)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    if not (math.isfinite(radius_m) and 0 < radius_m <= 100_000):
        raise InvalidInput("radius_m must be between 0 and 100,000 metres.", field="radius_m")
    for state in statuses or ():
        if state not in TASK_STATES:
            raise InvalidInput(f"status must be some of {', '.join(TASK_STATES)}.", field="status")
    lon, lat = _lon_lat(*near, "near") if near is not None else (None, None)
    if grid is not None:
        require_area(db, grid, field="grid", level="grid")
    if unit_id is not None:
        get_unit(db, unit_id)
    rows = db.execute(
        sql.LIST_TASKS,
        {
            "now": now,
            "lon": lon,
            "lat": lat,
            "radius_m": radius_m,
            "from": start_from,
            "to": start_to,
            "grid": grid,
            "unit_id": unit_id,
            "statuses": statuses or None,
            "limit": limit,
        },
    )
    return [dict(r._mapping) for r in rows]


def cancel_patrol(
    db: Executor, task_id: int, *, acting: Acting = Acting(), now: datetime | None = None
) -> dict[str, Any]:
    """Cancel a task (its unit or an admin): every held slot is released."""
    now = now or datetime.now(UTC)
    task = db.execute(sql.LOCK_TASK, {"id": task_id}).mappings().first()
    if task is None:
        raise NotFound(f"No patrol task {task_id}.", field="id")
    acting.require_unit(int(task["unit_id"]))
    if task["status"] == "cancelled":
        return get_patrol(db, task_id, now=now)
    if now >= task["ends_at"]:
        raise Refused("closed", f"Patrol task {task_id} has ended.", field="id")
    db.execute(sql.CANCEL_TASK, {"id": task_id, "now": now})
    released = [int(r[0]) for r in db.execute(sql.RELEASE_TASK_CLAIMS, {"id": task_id, "now": now})]
    record(
        db,
        actor=acting.actor,
        action="patrol.cancel",
        entity="patrol_task",
        entity_id=str(task_id),
        after={"released": released},
    )
    return get_patrol(db, task_id, now=now)


def _responder(db: Executor, responder_id: Any) -> dict[str, Any]:
    if isinstance(responder_id, bool) or not isinstance(responder_id, int):
        raise InvalidInput("responder_id must be an integer.", field="responder_id")
    row = db.execute(sql.RESPONDER, {"id": responder_id}).mappings().first()
    if row is None:
        raise NotFound(f"No responder with id {responder_id}.", field="responder_id")
    return dict(row)


def grab(
    db: Executor,
    task_id: int,
    responder_id: int,
    *,
    acting: Acting = Acting(),
    now: datetime | None = None,
) -> ClaimResult:
    """A volunteer takes a slot: Refused full / overlap / closed; idempotent per volunteer."""
    now = now or datetime.now(UTC)
    volunteer = _responder(db, responder_id)

    def check(task: dict[str, Any]) -> None:
        if task["status"] == "cancelled":
            raise Refused("closed", f"Patrol task {task_id} was cancelled.", field="id")
        if now >= task["starts_at"]:
            raise Refused("closed", f"Patrol task {task_id} has started.", field="id")
        role = task["required_role"]
        if role is not None and volunteer["role"] != role:
            raise Refused(
                "role",
                f"Patrol task {task_id} takes {role}s only; responder {responder_id} is a "
                f"{volunteer['role']}.",
                field="responder_id",
            )
        other = db.execute(
            sql.OVERLAPPING_CLAIM,
            {
                "responder_id": responder_id,
                "task_id": task_id,
                "starts_at": task["starts_at"],
                "ends_at": task["ends_at"],
            },
        ).scalar()
        if other is not None:
            raise Refused(
                "overlap",
                f"Responder {responder_id} already holds patrol task {other}, which overlaps "
                "this one in time.",
                field="responder_id",
            )

    result = claim_slot(db, PATROL_SLOTS, task_id, responder_id, check=check, params={"now": now})
    if result.created:
        record(
            db,
            actor=acting.actor,
            action="patrol.claim",
            entity="patrol_task",
            entity_id=str(task_id),
            after={"responder_id": responder_id, "slot_no": result.claim["slot_no"]},
        )
    return result


def _held_claim(
    db: Executor, task_id: int, responder_id: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(locked task, the volunteer's active claim on it) or NotFound."""
    task = db.execute(sql.LOCK_TASK, {"id": task_id}).mappings().first()
    if task is None:
        raise NotFound(f"No patrol task {task_id}.", field="id")
    claim = (
        db.execute(sql.ACTIVE_PATROL_CLAIM, {"target_id": task_id, "claimant_id": responder_id})
        .mappings()
        .first()
    )
    if claim is None:
        raise NotFound(
            f"Responder {responder_id} holds no slot of patrol task {task_id}.",
            field="responder_id",
        )
    return dict(task), dict(claim)


def cancel_claim(
    db: Executor,
    task_id: int,
    responder_id: int,
    rules: PatrolRules,
    *,
    acting: Acting = Acting(),
    now: datetime | None = None,
) -> dict[str, Any]:
    """A volunteer gives up a slot: freed either way; after the cancellation deadline
    (GRIDGIS_PATROL_CANCEL_DEADLINE_H before the start) it counts as a no-show."""
    now = now or datetime.now(UTC)
    task, claim = _held_claim(db, task_id, responder_id)
    if claim["checked_in_at"] is not None:
        raise Refused(
            "checked_in", "The volunteer has checked in; check out instead.", field="responder_id"
        )
    if now >= task["ends_at"]:
        raise Refused("closed", f"Patrol task {task_id} has ended.", field="id")
    status = "no_show" if now > task["starts_at"] - rules.cancel_deadline else "cancelled"
    ended = (
        db.execute(sql.END_PATROL_CLAIM, {"claim_id": claim["id"], "status": status, "now": now})
        .mappings()
        .one()
    )
    record(
        db,
        actor=acting.actor,
        action=f"patrol.{status}",
        entity="patrol_task",
        entity_id=str(task_id),
        after={"responder_id": responder_id, "slot_no": claim["slot_no"]},
    )
    return dict(ended)


def _check_presence(
    db: Executor,
    task: dict[str, Any],
    lon: float,
    lat: float,
    rules: PatrolRules,
    now: datetime,
    what: str,
) -> None:
    if (
        not task["starts_at"] - rules.checkin_tolerance
        <= now
        <= task["ends_at"] + rules.checkin_tolerance
    ):
        minutes = rules.checkin_tolerance.total_seconds() / 60
        raise Refused(
            "outside_window",
            f"{what} is accepted from {minutes:g} minutes before the start to {minutes:g} "
            "minutes after the end.",
            field="at",
        )
    metres = float(
        db.execute(sql.DISTANCE_TO_TASK, {"id": task["id"], "lon": lon, "lat": lat}).scalar_one()
    )
    if metres > rules.checkin_tolerance_m:
        raise Refused(
            "outside_area",
            f"The position is {metres:,.0f} m from the patrol area; {what.lower()} is accepted "
            f"within {rules.checkin_tolerance_m:g} m.",
            field="lon",
        )


def _live_fix(
    db: Executor, responder_id: int, lon: float, lat: float, now: datetime, rules: PatrolRules
) -> None:
    """The check-in or check-out position as a live fix: dispatch sees the volunteer there."""
    update_position(
        db, PositionFix(responder_id, lon, lat, now), now, stale_after_s=rules.stale_after_s
    )


def check_in(
    db: Executor,
    task_id: int,
    responder_id: int,
    lon: float,
    lat: float,
    rules: PatrolRules,
    *,
    acting: Acting = Acting(),
    now: datetime | None = None,
    live_fix: bool = True,
) -> dict[str, Any]:
    """Check in at (lon, lat) WGS84: within the area plus tolerance and the window plus
    tolerance. Writes a live fix and makes an off-duty volunteer available for dispatch."""
    now = now or datetime.now(UTC)
    lon, lat = check_lon_lat(lon, lat)
    task, claim = _held_claim(db, task_id, responder_id)
    if claim["checked_in_at"] is not None:
        return claim
    _check_presence(db, task, lon, lat, rules, now, "Check-in")
    row = db.execute(sql.CHECK_IN, {"claim_id": claim["id"], "now": now, "lon": lon, "lat": lat})
    checked = dict(row.mappings().one())
    if live_fix:
        _live_fix(db, responder_id, lon, lat, now, rules)
        db.execute(sql.MAKE_AVAILABLE, {"id": responder_id})
    record(
        db,
        actor=acting.actor,
        action="patrol.check_in",
        entity="patrol_task",
        entity_id=str(task_id),
        after={"responder_id": responder_id, "lon": lon, "lat": lat},
    )
    return checked


def check_out(
    db: Executor,
    task_id: int,
    responder_id: int,
    lon: float,
    lat: float,
    rules: PatrolRules,
    *,
    acting: Acting = Acting(),
    now: datetime | None = None,
    live_fix: bool = True,
) -> dict[str, Any]:
    """Check out at (lon, lat) WGS84, under the same rules as check-in."""
    now = now or datetime.now(UTC)
    lon, lat = check_lon_lat(lon, lat)
    task, claim = _held_claim(db, task_id, responder_id)
    if claim["checked_in_at"] is None:
        raise Refused("not_checked_in", "Check in before checking out.", field="responder_id")
    if claim["checked_out_at"] is not None:
        return claim
    _check_presence(db, task, lon, lat, rules, now, "Check-out")
    row = db.execute(sql.CHECK_OUT, {"claim_id": claim["id"], "now": now, "lon": lon, "lat": lat})
    checked = dict(row.mappings().one())
    if live_fix:
        _live_fix(db, responder_id, lon, lat, now, rules)
    record(
        db,
        actor=acting.actor,
        action="patrol.check_out",
        entity="patrol_task",
        entity_id=str(task_id),
        after={"responder_id": responder_id, "lon": lon, "lat": lat},
    )
    return checked
