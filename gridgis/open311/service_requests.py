"""Citizen reports as Open311 GeoReport v2 service requests, and incidents read back as them.

A request is an incident (source "open311") taken in by the same intake as any other, so it
is located to its grid and routed by its category. Its published form is computed from the
incident's timeline; the reporter's contact details are stored beside it and never read back
by anything here.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from gridgis import audit
from gridgis.db import Executor
from gridgis.dispatch.eta import EtaModel
from gridgis.dispatch.incidents import (
    CategoryRoute,
    IncidentReport,
    categories,
    category_route,
    report_incident,
)
from gridgis.errors import InvalidInput, NotFound
from gridgis.open311 import sql
from gridgis.vocabulary import CrsName

MAX_DESCRIPTION = 4000
MAX_MEDIA_URL = 2048
MAX_EMAIL = 254
MAX_DEVICE_ID = 100
MAX_NAME = 100
MAX_PHONE = 32
MAX_ADDRESS = 500
MAX_IDS = 100
MAX_RESULTS = 1000
# The specification's default and widest window for GET requests.
WINDOW = timedelta(days=90)
STATUSES = ("open", "closed")

# Citizen apps in China send GCJ-02 (AutoNavi, Tencent) or BD-09 (Baidu); the spec's WGS84
# stays the default. Accepted spellings of the `crs` extension parameter:
CRS_NAMES: dict[str, CrsName] = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "epsg:4326": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
}

# Who answers for a request, by the role of the responder sent (or first recommended).
AGENCY_BY_ROLE = {
    "community_police": "公安派出所 (police station)",
    "police_unit": "公安巡逻警力 (police patrol)",
    "mediator": "人民调解委员会 (people's mediation committee)",
    "grid_worker": "网格服务站 (grid service station)",
    "party_cadre": "网格服务站 (grid service station)",
    "volunteer": "网格服务站 (grid service station)",
}
REFERRED_AGENCY = "相关职能部门 (the responsible bureau)"
POLICE_CASE_AGENCY = "公安机关 (police case team)"

# What a request's status_notes say when the last event carries no note of its own.
EVENT_NOTES = {
    None: "已受理 (received)",
    "dispatched": "已派员处置 (a responder is on the way)",
    "arrived": "处置人员已到场 (a responder is on scene)",
    "resolved": "已现场处置 (resolved on site)",
    "referred": "已移交办理 (referred on)",
    "mediated_success": "调解成功 (settled by mediation)",
    "mediated_failed": "调解未成功 (mediation did not settle it)",
    "closed": "已办结 (closed)",
}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+()\- ]+$")


# -- services ------------------------------------------------------------------------------------
def _group(route: CategoryRoute) -> str:
    if route.police_matter:
        return "police"
    return "mediation" if route.divert_to_mediation else "public_service"


def service(route: CategoryRoute) -> dict[str, Any]:
    """One incident category as an Open311 service."""
    return {
        "service_code": route.code,
        "service_name": route.name_zh,
        "description": route.name_en,
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join((route.name_en.lower(), *route.primary_roles)),
        "group": _group(route),
    }


def services(db: Executor) -> list[dict[str, Any]]:
    """The services: the incident categories (the one routing table), in code order."""
    return [service(route) for route in sorted(categories(db), key=lambda r: r.code)]


def service_definition(db: Executor, code: str) -> dict[str, Any]:
    """A service's definition: no extra attributes (every service has metadata false)."""
    route = _route(db, code, not_found=True)
    return {"service_code": route.code, "attributes": []}


def _route(db: Executor, code: Any, *, not_found: bool = False) -> CategoryRoute:
    try:
        return category_route(db, code)
    except InvalidInput as exc:
        message = exc.message.replace("category", "service_code")
        if not_found:
            raise NotFound(message, field="service_code") from None
        raise InvalidInput(message, field="service_code") from None


# -- checks --------------------------------------------------------------------------------------
def check_jurisdiction(value: str | None, served: str) -> None:
    """A jurisdiction_id, when given, must be the city this service answers for."""
    if value is not None and value != served:
        raise NotFound(
            f"jurisdiction_id {value[:60]!r} is not served here; this endpoint serves {served!r}.",
            field="jurisdiction_id",
        )


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text.", field=name)
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters.", field=name)
    if "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters.", field=name)
    return value


def _line(value: Any, name: str, limit: int) -> str | None:
    text = _text(value, name, limit)
    if text is not None and not text.isprintable():
        raise InvalidInput(f"{name} must be one line of printable text.", field=name)
    return text


def _coordinate(value: Any, name: str, limit: float) -> float:
    if value is None or value == "":
        raise InvalidInput(
            f"{name} is required (lat and long; this jurisdiction does not geocode "
            "address_string or address_id).",
            field=name,
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a decimal number.", field=name) from None
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise InvalidInput(f"{name} must be between {-limit:g} and {limit:g}.", field=name)
    return number


def _crs(value: Any) -> CrsName:
    if value is None or value == "":
        return "wgs84"
    name = CRS_NAMES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if name is None:
        raise InvalidInput("crs must be WGS84 (default), GCJ-02 or BD-09.", field="crs")
    return name


def _media_url(value: Any) -> str | None:
    url = _line(value, "media_url", MAX_MEDIA_URL)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("media_url must be an http or https URL.", field="media_url")
    return url


# -- intake --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CitizenReport:
    """The fields of an Open311 POST request (strings, as a form sends them)."""

    service_code: Any
    lat: Any
    long: Any
    description: Any = None
    crs: Any = None
    email: Any = None
    device_id: Any = None
    first_name: Any = None
    last_name: Any = None
    phone: Any = None
    media_url: Any = None
    address_string: Any = None


# Intake names its fields in the API's words; a citizen client sent Open311's.
_FIELD_NAMES = {"category": "service_code", "lon": "long", "lat": "lat"}


def submit_request(
    db: Executor,
    report: CitizenReport,
    model: EtaModel,
    *,
    api_key_id: int | None = None,
    now: datetime | None = None,
    stale_after_s: float = 900.0,
    actor: str = audit.LIBRARY_ACTOR,
) -> dict[str, Any]:
    """Take in a citizen report as an incident; returns the Open311 POST answer.

    Every field is checked before anything is written (InvalidInput naming it); the incident,
    its private contact row and the audit entry are written in the caller's transaction.
    """
    now = now or datetime.now(UTC)
    route = _route(db, report.service_code)
    lat = _coordinate(report.lat, "lat", 90.0)
    lon = _coordinate(report.long, "long", 180.0)
    crs = _crs(report.crs)
    description = _text(report.description, "description", MAX_DESCRIPTION) or ""
    _line(report.address_string, "address_string", MAX_ADDRESS)
    email = _line(report.email, "email", MAX_EMAIL)
    if email is not None and not _EMAIL.match(email):
        raise InvalidInput("email must be an e-mail address.", field="email")
    phone = _line(report.phone, "phone", MAX_PHONE)
    if phone is not None and not _PHONE.match(phone):
        raise InvalidInput("phone may hold digits, spaces, +, -, ( and ).", field="phone")
    contact = {
        "email": email,
        "device_id": _line(report.device_id, "device_id", MAX_DEVICE_ID),
        "first_name": _line(report.first_name, "first_name", MAX_NAME),
        "last_name": _line(report.last_name, "last_name", MAX_NAME),
        "phone": phone,
    }
    media_url = _media_url(report.media_url)
    try:
        result = report_incident(
            db,
            IncidentReport(
                external_id=f"open311-{uuid.uuid4().hex}",
                category=route.code,
                lon=lon,
                lat=lat,
                reported_at=now,
                crs=crs,
                description=description,
            ),
            model,
            now=now,
            stale_after_s=stale_after_s,
            source=sql.SOURCE,
            actor=actor,
        )
    except InvalidInput as exc:
        field = _FIELD_NAMES.get(exc.field or "", exc.field)
        raise InvalidInput(exc.message, field=field) from None
    incident = result.incident
    sql.insert_request(
        db,
        {"incident_id": incident["id"], "media_url": media_url, "api_key_id": api_key_id} | contact,
    )
    return {
        "service_request_id": str(incident["id"]),
        "service_notice": _notice(route, incident["grid"]),
        "account_id": None,
    }


def _notice(route: CategoryRoute, grid: Mapping[str, Any] | None) -> str:
    agency = AGENCY_BY_ROLE.get(route.primary_roles[0], REFERRED_AGENCY)
    where = f"{grid['name']} " if grid and grid.get("name") else ""
    return f"已受理，转{where}{agency}处置 (received; routed to {where}{agency})"


# -- reading -------------------------------------------------------------------------------------
def _agency(row: Mapping[str, Any]) -> str:
    grid = f"{row['grid_name']} " if row["grid_name"] else ""
    if row["last_type"] == "referred" or (
        row["last_type"] in ("closed", "mediated_failed") and row["dispatched_role"] is None
    ):
        if row["divert_to_mediation"]:
            return AGENCY_BY_ROLE["mediator"]
        if row["police_matter"]:
            return POLICE_CASE_AGENCY
        return REFERRED_AGENCY
    role = row["dispatched_role"] or row["primary_roles"][0]
    agency = AGENCY_BY_ROLE.get(role, REFERRED_AGENCY)
    return f"{grid}{agency}" if agency == AGENCY_BY_ROLE["grid_worker"] else agency


def _expected(row: Mapping[str, Any]) -> datetime | None:
    """The first responder's expected arrival: dispatch time plus their ETA at intake (the
    recommendation's target when they were not among those recommended)."""
    sent_at = row["first_dispatched_at"]
    if sent_at is None:
        return None
    recommendation = row["recommendation"] or {}
    eta = next(
        (
            r.get("eta_s")
            for r in recommendation.get("responders", [])
            if r.get("responder_id") == row["first_dispatched_id"]
        ),
        None,
    )
    if eta is None:
        eta = recommendation.get("target_s")
    return None if eta is None else sent_at + timedelta(seconds=float(eta))


def published(row: Mapping[str, Any]) -> dict[str, Any]:
    """The public form of one request (never the reporter's contact details)."""
    note = row["last_note"] or EVENT_NOTES.get(row["last_type"], "")
    return {
        "service_request_id": str(row["id"]),
        "status": "closed" if row["status"] == "closed" else "open",
        "status_notes": note,
        "service_name": row["name_zh"],
        "service_code": row["category"],
        "description": row["description"],
        "agency_responsible": _agency(row),
        "service_notice": None,
        "requested_datetime": row["reported_at"],
        "updated_datetime": row["last_at"] or row["reported_at"],
        "expected_datetime": _expected(row),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": float(row["lat"]),
        "long": float(row["lon"]),
        "media_url": row["media_url"],
    }


def _ids(value: str) -> list[int]:
    ids = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit() or not 0 < int(part) < 2**63:
            raise InvalidInput(
                "service_request_id must be request ids, comma delimited.",
                field="service_request_id",
            )
        ids.append(int(part))
    if len(ids) > MAX_IDS:
        raise InvalidInput(
            f"service_request_id may name at most {MAX_IDS} requests.", field="service_request_id"
        )
    return ids


def _date(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{name} must be a W3C date-time such as 2026-12-01T08:00:00+08:00.", field=name
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput(f"{name} needs a time zone (Z or +08:00).", field=name)
    return parsed


def _statuses(value: str) -> bool | None:
    wanted = {part.strip() for part in value.split(",") if part.strip()}
    if not wanted or not wanted <= set(STATUSES):
        raise InvalidInput("status must be open, closed or both (comma delimited).", field="status")
    return None if len(wanted) == 2 else wanted == {"closed"}


def get_requests(
    db: Executor,
    *,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """GET requests: by ids (which overrides every other filter), or by service codes, a
    window of requested_datetime (default and widest: 90 days) and status; newest first, at
    most MAX_RESULTS."""
    if service_request_id:
        ids = _ids(service_request_id)
        rows = sql.list_requests(
            db, ids=ids, codes=None, start=None, end=None, closed=None, limit=MAX_IDS
        )
        return [published(r) for r in rows]
    codes = None
    if service_code:
        codes = [_route(db, code.strip()).code for code in service_code.split(",")]
    start = _date(start_date, "start_date")
    end = _date(end_date, "end_date")
    if start is None and end is None:
        end = now or datetime.now(UTC)
    if start is None and end is not None:
        start = end - WINDOW
    if end is None and start is not None:
        end = start + WINDOW
    assert start is not None and end is not None
    if end < start:
        raise InvalidInput("end_date must not be before start_date.", field="end_date")
    if end - start > WINDOW:
        raise InvalidInput(
            "start_date to end_date may not span more than 90 days.", field="end_date"
        )
    closed = _statuses(status) if status else None
    rows = sql.list_requests(
        db, ids=None, codes=codes, start=start, end=end, closed=closed, limit=MAX_RESULTS
    )
    return [published(r) for r in rows]


def get_request(db: Executor, service_request_id: str) -> dict[str, Any]:
    """One request by its id; NotFound when there is no Open311 request with it."""
    ids = _ids(service_request_id)
    rows = sql.list_requests(
        db, ids=ids[:1], codes=None, start=None, end=None, closed=None, limit=1
    )
    if len(ids) != 1 or not rows:
        raise NotFound(
            f"No service request with id {service_request_id[:40]!r}.", field="service_request_id"
        )
    return published(rows[0])
