"""GET /v1/locate: the grid containing a point, with its hierarchy and team."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import ReaderDep, in_dispatch_thread
from api.params import Generation, PointQuery
from api.responses import FastJSONResponse
from api.schemas import ErrorPublic, LocatePublic
from gridgis.boundaries.lookup import locate as locate_point

router = APIRouter(tags=["lookup"])


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
    point: PointQuery,
    generation: Generation = None,
) -> FastJSONResponse:
    """Which grid is (lon, lat) in, what is above it, and who is its "2+N" team? The point may
    be sent in WGS84, GCJ-02 or BD-09 (`crs`); `query` echoes it converted to WGS84."""

    def work() -> FastJSONResponse:
        with db() as conn:
            result = locate_point(conn, point.wgs_lon, point.wgs_lat, generation=generation)
        return FastJSONResponse(
            {
                "query": point.echo(),
                "generation": result.generation,
                "grid": result.grid,
                "hierarchy": result.hierarchy,
                "team": result.team,
                "also": result.also,
            }
        )

    return await in_dispatch_thread(request, work)
