"""GET /v1/health: is the service up and can it reach PostGIS?"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.schemas import HealthPublic
from gridgis import __version__

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database is unreachable."}},
)
def health(request: Request) -> JSONResponse:
    """Report whether the database answers; 503 (with the same body shape) when it does not."""
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        database_ok = True
    except SQLAlchemyError:
        database_ok = False
    body = HealthPublic(
        status="ok" if database_ok else "degraded",
        database="ok" if database_ok else "unavailable",
        version=__version__,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database_ok else 503)
