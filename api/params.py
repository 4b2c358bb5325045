"""The shared parameter types of every route: points with `crs`, bounded ids, NUL-free text."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StrictInt

from gridgis import crs as crs_mod
from gridgis.crs import CrsName
from gridgis.errors import InvalidInput

# PostgreSQL's integer and bigint ranges: a larger value can name no row, and the driver
# would raise on it (a 500) instead of a 422.
INT4_MAX = 2_147_483_647
INT8_MAX = 2**63 - 1

CRS_DESCRIPTION = (
    "The coordinate system of lon/lat: wgs84 (GPS), gcj02 (Amap/Tencent) or bd09 (Baidu). "
    "The point is converted to WGS84 before use; answers are in WGS84."
)
Crs = Annotated[CrsName, Query(description=CRS_DESCRIPTION)]
# The same type inside request bodies.
BodyCrs = Annotated[CrsName, Field(description=CRS_DESCRIPTION)]


@dataclass(frozen=True)
class QueryPoint:
    """A point from the query string, as sent and converted to WGS84."""

    lon: float
    lat: float
    crs: CrsName
    wgs_lon: float
    wgs_lat: float

    def echo(self) -> dict[str, Any]:
        """The point as answers echo it: WGS84, with the CRS it was received in."""
        return {
            "lon": round(self.wgs_lon, 7),
            "lat": round(self.wgs_lat, 7),
            "crs": "wgs84",
            "received_crs": self.crs,
        }


async def _query_point(
    lon: Annotated[
        float, Query(ge=-180, le=180, allow_inf_nan=False, description="Longitude in `crs`")
    ],
    lat: Annotated[
        float, Query(ge=-90, le=90, allow_inf_nan=False, description="Latitude in `crs`")
    ],
    crs: Crs = "wgs84",
) -> QueryPoint:
    wgs_lon, wgs_lat = crs_mod.to_wgs84(lon, lat, crs)
    return QueryPoint(lon, lat, crs, float(wgs_lon), float(wgs_lat))


# Every operation that takes a point in its query string takes it through this.
PointQuery = Annotated[QueryPoint, Depends(_query_point)]


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL: refused here with the field named, not a driver 500.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _no_nul_list(value: list[str] | None) -> list[str] | None:
    for item in value or ():
        _no_nul(item)
    return value


NoNul = AfterValidator(_no_nul)
NoNulList = AfterValidator(_no_nul_list)

# Identifiers are strict integers (a JSON `true` is not responder 1) within the column's range.
BigId = Annotated[StrictInt, Field(ge=1, le=INT8_MAX)]
SmallId = Annotated[StrictInt, Field(ge=1, le=INT4_MAX)]

Generation = Annotated[
    int | None,
    Query(ge=1, le=INT4_MAX, description="Boundary generation (default: the active one)"),
]


_SPACE_FOR_PLUS = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$"
)


def _plus_from_space(value: Any) -> Any:
    # An unencoded `+08:00` in a query string arrives as ` 08:00`. Right after a time of day a
    # space can only have been a plus, so it is read as one; anything else stays an error that
    # says to encode `+` as `%2B`.
    if isinstance(value, str) and (match := _SPACE_FOR_PLUS.match(value)):
        return f"{match.group(1)}+{match.group(2)}"
    return value


_SPACE_AFTER_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)? ")


def _needs_zone(value: Any) -> Any:
    if isinstance(value, str) and _SPACE_AFTER_TIME.search(value):
        raise ValueError(
            "not an RFC 3339 time with a zone; in a query string encode `+` as `%2B` "
            "(e.g. 2026-03-10T21:00:00%2B08:00) or use `Z`"
        )
    return value


# A time in a query string: RFC 3339 with any offset (or Z), converted to UTC by the library.
QueryTime = Annotated[
    AwareDatetime,
    BeforeValidator(_needs_zone),
    BeforeValidator(_plus_from_space),
]


# -- paging: `limit` + an opaque `cursor` from the previous page's `next` link -------------------
CURSOR_DESCRIPTION = "Opaque position from the previous page's `next` link (omit for page one)"
Cursor = Annotated[
    str | None,
    Query(max_length=200, pattern=r"^[A-Za-z0-9_=-]+$", description=CURSOR_DESCRIPTION),
]
# The names lists paged by before the one convention: accepted for one more release.
DEPRECATED_CURSORS = ("after", "before")


def encode_id_cursor(last_id: int) -> str:
    """An opaque cursor for lists paged by id."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_id_cursor(cursor: str) -> int:
    """The id inside a cursor of `encode_id_cursor`, or InvalidInput naming `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = raw.partition(":")
        value = int(number)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        value, kind = -1, ""
    if kind != "id" or not 0 <= value <= INT8_MAX:
        raise InvalidInput(
            "cursor is not one this list gave out (use its `next` link).", field="cursor"
        )
    return value


def page_position(cursor: str | None, deprecated: int | None, default: int = 0) -> int:
    """Where a page starts: the cursor, else the deprecated numeric alias, else `default`."""
    if cursor is not None:
        return decode_id_cursor(cursor)
    return default if deprecated is None else deprecated


def next_link(request: Request, cursor: str) -> str:
    """The next page as a path relative to this server (never built from the Host header):
    the same query with `cursor` set and the deprecated aliases dropped."""
    params = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k != "cursor" and k not in DEPRECATED_CURSORS
    ]
    params.append(("cursor", cursor))
    return f"{request.url.path}?{urlencode(params)}"


# Text in bodies, queries and forms: PostgreSQL text cannot hold NUL, so it is a 422 here.
Text = Annotated[str, NoNul]
TextList = Annotated[list[str], NoNulList]
