"""GET /v1/locate: the grid containing a point, with its hierarchy and team."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import ReaderDep, in_dispatch_thread
from api.responses import FastJSONResponse
from api.schemas import ErrorPublic, LocatePublic
from gridgis.boundaries.lookup import locate as locate_point

router = APIRouter(tags=["lookup"])

Longitude = Annotated[
    float, Query(ge=-180, le=180, allow_inf_nan=False, description="WGS84 longitude, degrees")
]
Latitude = Annotated[
    float, Query(ge=-90, le=90, allow_inf_nan=False, description="WGS84 latitude, degrees")
]


@router.get(
    "/locate",
    response_model=LocatePublic,
    responses={
        404: {"model": ErrorPublic, "description": "The point is outside every grid."},
        422: {"model": ErrorPublic, "description": "Missing or invalid coordinates."},
    },
)
async def locate(
    request: Request,
    db: ReaderDep,
    lon: Longitude,
    lat: Latitude,
    generation: Annotated[int | None, Query(ge=1, description="Boundary generation")] = None,
) -> FastJSONResponse:
    """Which grid is (lon, lat) in, what is above it, and who is its "2+N" team?"""

    def work() -> FastJSONResponse:
        with db() as conn:
            result = locate_point(conn, lon, lat, generation=generation)
        return FastJSONResponse(
            {
                "query": {"lon": lon, "lat": lat},
                "generation": result.generation,
                "grid": result.grid,
                "hierarchy": result.hierarchy,
                "team": result.team,
                "also": result.also,
            }
        )

    return await in_dispatch_thread(request, work)
