"""FastAPI application factory: create_app(settings) -> app; the lifespan owns the engine."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio
from fastapi import Depends, FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from api.deps import CountInFlight, InFlightCounter
from api.docs_page import install_docs_page
from api.errors import install_error_handlers
from api.gate import Gate
from api.headers import SecurityHeaders
from api.open311_http import PREFIX as OPEN311_PREFIX
from api.open311_http import Open311Errors
from api.quotas import HeavyQuota
from api.rate_limit import RateLimiter
from api.routes import (
    areas,
    assignments,
    audit,
    board,
    health,
    locate,
    positions,
    responders,
    roads,
)
from api.routes import auth as auth_routes
from api.routes import coverage as coverage_routes
from api.routes import follow_ups as follow_up_routes
from api.routes import imports as import_routes
from api.routes import incidents as incident_routes
from api.routes import maps as map_routes
from api.routes import open311 as open311_routes
from api.routes import patrols as patrol_routes
from api.routes import planner as planner_routes
from api.routes import service_posts as service_post_routes
from api.routes import units as unit_routes
from api.routes.console import install_console
from api.schemas import ErrorPublic
from api.security import document_public_routes, require_api_key
from gridgis import __version__
from gridgis.coverage.hexagons import HexagonCache
from gridgis.coverage.progress import ProgressWriter, delete_stale
from gridgis.coverage.runs import expire_runs
from gridgis.db.engine import (
    make_engine,
    make_session_factory,
    recover_together,
    resolve_app_database_url,
)
from gridgis.dispatch.eta import eta_model_from_settings
from gridgis.dispatch.kpi_series import SeriesCache
from gridgis.dispatch.positions import expire_due
from gridgis.roads.provider import EtaProvider
from gridgis.settings import Settings, get_settings, resolve_secret_key

DESCRIPTION = """
gridgis answers "which grid is this point in, and who is responsible?" for Zhangzhou's
2,080 community and village grids.

Authentication: send an API key in the `X-API-Key` header (`gridgis apikey create`). Roles:
`dispatcher` (read, locate, nearest, incidents), `system` (dispatcher + position ingest +
patrol grabs and service-post claims; a unit's system key also reserves its own patrols),
`planner` (read + coverage and maps), `admin` (everything). `/v1/health` is open, and so
are the Open311 GeoReport v2 reads under `/open311/v2` (its POST needs a `system` key, sent
as the `api_key` form field as the specification says). People
sign in with `POST /v1/auth/login` (a user account from `gridgis user create`): the session
cookie then acts with the user's role, and writes must send `X-CSRF-Token`.

Coordinates: every point the API takes or returns is **WGS84 (EPSG:4326)** longitude/latitude
in decimal degrees unless an endpoint says otherwise. Errors are JSON:
`{"error": code, "message": text, "field": name}`.
"""


log = logging.getLogger("gridgis.api")


def _expire_once(engine: Engine, settings: Settings) -> None:
    with engine.begin() as conn:
        expire_due(conn, stale_after_s=settings.stale_after_s, force=True)
    with engine.begin() as conn:
        expire_runs(conn, retention_days=settings.coverage_retention_days)
        delete_stale(conn)


async def _expire_positions_forever(engine: Engine, settings: Settings) -> None:
    """Delete expired live fixes on a timer, so a position feed that stops does not leave
    dead fixes for the nearest-responder search to walk past."""
    while True:
        await asyncio.sleep(settings.expire_positions_every_s)
        try:
            await run_in_threadpool(_expire_once, engine, settings)
        except SQLAlchemyError as exc:  # the database is away: try again next time
            log.warning("could not expire live positions: %s", exc)


def settle_heap(*_: object) -> None:
    """Move every object alive now out of the garbage collector's reach. What a worker loads
    at start (the app, a road graph: hundreds of thousands of objects) lives as long as it
    does; left in the oldest generation, each full collection walked it again, and on the
    city's road network those collections paused answers for 70-150 ms (measured in
    process: 9 in the first 1,500 nearest calls; none once frozen)."""
    gc.collect()
    gc.freeze()


def _load_road_graph(provider: EtaProvider, engine: Engine) -> None:
    if not provider.use_roads:
        return
    try:
        with engine.connect() as conn:
            provider.active_engine(conn)
    except SQLAlchemyError as exc:  # the database is away: the first answer will load it
        log.warning("could not load the road network at start: %s", exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for `settings` (from the environment when omitted)."""
    settings = settings or get_settings()
    # A test process builds hundreds of apps: nothing to settle there.
    settle = settle_heap if settings.env != "test" else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The API's own least-privilege role (gridgis/db/roles.py), never the owner's.
        url = resolve_app_database_url(settings)
        engine = make_engine(settings, url=url)
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        app.state.coverage_progress = ProgressWriter(engine)
        # Locate and nearest read through their own small pool: autocommit, generic plans.
        read_engine = make_engine(
            settings, url=url, pool_size=settings.dispatch_threads, generic_plans=True
        )
        app.state.read_engine = read_engine.execution_options(isolation_level="AUTOCOMMIT")
        recover_together([engine, read_engine])
        # With the road model, load the active network's graph before the first call needs it
        # (a city's graph takes seconds to read).
        await run_in_threadpool(_load_road_graph, app.state.eta_provider, read_engine)
        if settle is not None:
            settle()
        # Locate and nearest run in their own few threads (api/deps.py): on two cores more
        # threads only queue on the GIL, and slow admin routes cannot take their place.
        app.state.dispatch_limiter = anyio.CapacityLimiter(settings.dispatch_threads)
        expiry = None
        if settings.expire_positions_every_s > 0:
            expiry = asyncio.create_task(_expire_positions_forever(engine, settings))
        try:
            yield
        finally:
            if expiry is not None:
                expiry.cancel()
                with suppress(asyncio.CancelledError):
                    await expiry
            read_engine.dispose()
            engine.dispose()

    app = FastAPI(
        title="gridgis",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from local files by install_docs_page
        redoc_url=None,
        openapi_url="/openapi.json",
        # Every route needs an API key with the right role (api/security.py), except health.
        dependencies=[Depends(require_api_key)],
        responses={
            401: {"model": ErrorPublic, "description": "No valid API key (X-API-Key)."},
            403: {"model": ErrorPublic, "description": "The key's role may not do this."},
            413: {"model": ErrorPublic, "description": "The body is larger than the route takes."},
            422: {"model": ErrorPublic, "description": "Invalid input; `field` names it."},
            503: {
                "model": ErrorPublic,
                "description": "The database is unreachable; retry after `Retry-After` seconds.",
            },
        },
    )
    app.state.settings = settings
    # Refuses to build an app in production without a real secret (raises InvalidInput).
    app.state.secret_key = resolve_secret_key(settings)
    app.state.key_cache = {}
    app.state.key_touched = {}
    app.state.eta_model = eta_model_from_settings(settings)
    # Dispatch's model: straight line or road (a graph loaded later is settled like the rest).
    app.state.eta_provider = EtaProvider(settings, on_load=settle)
    app.state.in_flight = InFlightCounter()
    app.state.heavy_quota = HeavyQuota(settings)
    app.state.series_quota = HeavyQuota(settings, kind="series")
    app.state.kpi_series_cache = SeriesCache()
    app.state.hexagon_cache = HexagonCache(settings.hexagon_cache_mb * 1024 * 1024)
    app.add_middleware(CountInFlight, counter=app.state.in_flight)
    app.add_middleware(Gate)  # authenticates and caps the body before anything reads it
    app.add_middleware(Open311Errors)  # the gate's refusals too, in Open311's error format
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app)
    app.include_router(health.router, prefix="/v1")
    app.include_router(auth_routes.router, prefix="/v1")
    # Before areas, incidents and responders: its literal paths must win over their {id}s.
    app.include_router(board.router, prefix="/v1")
    app.include_router(locate.router, prefix="/v1")
    app.include_router(areas.router, prefix="/v1")
    app.include_router(incident_routes.router, prefix="/v1")
    app.include_router(follow_up_routes.router, prefix="/v1")
    app.include_router(responders.router, prefix="/v1")
    app.include_router(roads.router, prefix="/v1")
    app.include_router(positions.router, prefix="/v1")
    app.include_router(planner_routes.router, prefix="/v1")
    app.include_router(coverage_routes.router, prefix="/v1")
    app.include_router(import_routes.router, prefix="/v1")
    app.include_router(audit.router, prefix="/v1")
    app.include_router(assignments.router, prefix="/v1")
    app.include_router(unit_routes.router, prefix="/v1")
    app.include_router(patrol_routes.router, prefix="/v1")
    app.include_router(service_post_routes.router, prefix="/v1")
    app.include_router(map_routes.router)
    app.include_router(open311_routes.router, prefix=OPEN311_PREFIX)
    app.state.open311_limiter = RateLimiter(settings.open311_requests_per_minute)
    install_docs_page(app)
    install_console(app, settings.tiles, settings.eta_target_s)
    app.state.permissions = {}
    document_public_routes(app)
    return app
