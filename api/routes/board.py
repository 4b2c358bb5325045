"""The dispatch board's reads: area search and outlines per zoom, the header summary, the
open-incident queue, responders in a map view, and the live stream of changes (SSE)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse

from api.board_schemas import (
    AreaSearchPublic,
    OutlineCollection,
    QueuePublic,
    ResponderViewPublic,
    SummaryPublic,
)
from api.deps import SessionDep, SettingsDep
from api.responses import FastJSONResponse
from api.routes.responders import known_roles, parse_list
from api.schemas import ErrorPublic
from gridgis.boundaries import search
from gridgis.dispatch import board
from gridgis.errors import InvalidInput
from gridgis.live import LiveHub
from gridgis.vocabulary import RESPONDER_STATUSES, AreaLevel

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": ErrorPublic}}
KEEPALIVE_S = 15.0
# How long a new stream waits for the shared LISTEN connection before saying it is ready.
READY_WAIT_S = 5.0

Bbox = Annotated[
    str | None,
    Query(
        max_length=200,
        description="west,south,east,north in WGS84 degrees",
        examples=["117.60,24.48,117.70,24.55"],
    ),
]


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """'west,south,east,north' as four floats (None when absent)."""
    if value is None:
        return None
    parts = value.split(",")
    try:
        numbers = tuple(float(p) for p in parts)
    except ValueError:
        numbers = ()
    if len(numbers) != 4:
        raise InvalidInput("bbox must be four numbers: west,south,east,north.", field="bbox")
    west, south, east, north = numbers
    return west, south, east, north


@router.get("/areas/search", response_model=AreaSearchPublic, tags=["areas"], responses=ERRORS)
def search_areas(
    db: SessionDep,
    q: Annotated[
        str, Query(min_length=1, max_length=50, description="Code prefix or part of a name")
    ],
    level: Annotated[AreaLevel | None, Query(description="Only this level")] = None,
    limit: Annotated[int, Query(ge=1, le=search.MAX_RESULTS)] = 10,
) -> AreaSearchPublic:
    """Areas of the active generation whose code starts with `q` or whose (Chinese) name
    contains it. Exact matches first, then prefixes, then substrings; within each, bigger
    areas first, then shorter names."""
    areas = search.search_areas(db, q, level=level, limit=limit)
    return AreaSearchPublic.model_validate({"query": q.strip(), "areas": areas})


@router.get("/areas/outlines", response_model=OutlineCollection, tags=["areas"], responses=ERRORS)
def area_outlines(
    db: SessionDep,
    level: Annotated[AreaLevel, Query(description="Which level's outlines")],
    zoom: Annotated[
        int, Query(ge=search.MIN_ZOOM, le=search.MAX_ZOOM, description="Web-map zoom level")
    ],
    bbox: Bbox = None,
) -> FastJSONResponse:
    """A level's boundaries simplified for a web map at `zoom` (one pixel of tolerance), for
    the whole city or only those meeting `bbox`. Meant for drawing, not for analysis: use
    `/v1/areas` for exact geometry."""
    collection = search.outlines(db, level, zoom, bbox=parse_bbox(bbox))
    # Built in the documented shape by the library: encoded in one pass, not validated again.
    # (The console keeps what it fetched per level and zoom; browsers store no /v1 answer.)
    return FastJSONResponse(collection)


@router.get("/summary", response_model=SummaryPublic, tags=["dispatch board"])
def get_summary(db: SessionDep) -> SummaryPublic:
    """Counts for a dispatch board's header: incidents not yet closed (by status) and
    responders by role and status."""
    return SummaryPublic.model_validate(board.summary(db))


@router.get("/incidents/queue", response_model=QueuePublic, tags=["incidents"], responses=ERRORS)
def get_queue(
    db: SessionDep,
    limit: Annotated[int, Query(ge=1, le=board.MAX_QUEUE)] = 200,
) -> QueuePublic:
    """Incidents not yet closed, oldest report first, each with its top recommendation and
    the responders dispatched to it so far."""
    return QueuePublic.model_validate(board.incident_queue(db, limit=limit))


@router.get(
    "/responders/in-view",
    response_model=ResponderViewPublic,
    tags=["responders"],
    responses=ERRORS,
)
def responders_in_view(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    bbox: Annotated[
        str, Query(max_length=200, description="west,south,east,north in WGS84 degrees")
    ],
    roles: Annotated[str | None, Query(max_length=500, description="Comma-separated")] = None,
    status: Annotated[
        str | None, Query(max_length=100, description="Comma-separated statuses")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=board.MAX_IN_VIEW)] = 2000,
) -> FastJSONResponse:
    """Responders placed inside a map view where dispatch would place them now (a fresh live
    fix, else home), in id order; `truncated` says the view holds more than `limit`."""
    box = parse_bbox(bbox)
    assert box is not None
    return FastJSONResponse(
        board.responders_in_view(
            db,
            box,
            roles=parse_list(roles, "roles", known_roles(request, db)),
            statuses=parse_list(status, "status", set(RESPONDER_STATUSES)),
            limit=limit,
            stale_after_s=settings.stale_after_s,
        )
    )


def _hub(request: Request) -> LiveHub:
    state = request.app.state
    hub: LiveHub | None = getattr(state, "live_hub", None)
    if hub is None:
        url = state.engine.url.render_as_string(hide_password=False)
        hub = LiveHub(url, connect_timeout_s=state.settings.connect_timeout_s)
        state.live_hub = hub
    return hub


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(jsonable_encoder(data), ensure_ascii=False)}\n\n"


@router.get(
    "/stream",
    tags=["dispatch board"],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "Server-sent events, one per committed change: `incident` "
            '(`{"kind", "id", "status", "op"}`), `responder` (`{"kind", "id", "status", '
            '"role", "before"}`); `ready` once listening (re-read what you show then: '
            "changes before it are not replayed), `offline` / `reconnected` when the "
            "server's own database connection drops and comes back.",
        },
        422: {"model": ErrorPublic, "description": "`Accept` lacks text/event-stream"},
    },
)
async def stream(request: Request) -> StreamingResponse:
    """Live changes of incidents and responder statuses as server-sent events, from
    PostgreSQL LISTEN/NOTIFY. A browser's EventSource reconnects by itself (`retry`).

    The request must accept `text/event-stream` (EventSource does): a plain HTTP client that
    would wait for the end of an endless body gets a 422 naming `Accept` instead."""
    if "text/event-stream" not in request.headers.get("accept", ""):
        raise InvalidInput(
            "This endpoint streams server-sent events: send Accept: text/event-stream.",
            field="Accept",
        )
    hub = _hub(request)

    async def events() -> AsyncIterator[str]:
        async with hub.subscribe() as queue:
            yield "retry: 2000\n\n"
            try:
                await asyncio.wait_for(hub.connected.wait(), READY_WAIT_S)
                yield _sse("ready", {"kind": "ready"})
            except TimeoutError:
                yield _sse("offline", {"kind": "offline"})
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                kind = str(event.get("kind", "message"))
                if kind == "reconnected":
                    yield _sse("ready", {"kind": "ready"})
                else:
                    yield _sse(kind, event)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
