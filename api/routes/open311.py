"""Open311 GeoReport v2 at /open311/v2: services, service requests, JSON and XML."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep, SettingsDep
from api.open311_http import MAX_FORM_BYTES, check_format, read_form, render
from api.open311_schemas import (
    Open311ErrorPublic,
    RequestCreatedPublic,
    ServiceDefinitionPublic,
    ServicePublic,
    ServiceRequestPublic,
)
from api.security import actor
from gridgis.open311 import service_requests as o311


async def spend_budget(request: Request) -> None:
    """Each request spends one of its key's and one of its client address's budget."""
    limiter = request.app.state.open311_limiter
    key = getattr(request.state, "api_key", None)
    if key is not None:
        limiter.take(f"key:{key.id}")
    limiter.take(f"address:{request.client.host if request.client else 'unknown'}")


router = APIRouter(tags=["open311"], dependencies=[Depends(spend_budget)])

FormatPath = Annotated[str, Path(max_length=10, description="json or xml")]
Jurisdiction = Annotated[
    str | None,
    Query(max_length=100, description="The city served (optional: this endpoint serves one)"),
]
ApiKeyQuery = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern=r"^[!-~]+$",
        description="An API key, as the specification sends it (or the X-API-Key header); "
        "needed to read requests only when the city requires keys for reading",
    ),
]


def _content(model: Any, description: str) -> dict[str, Any]:
    return {"model": model, "description": description, "content": {"text/xml": {}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _content(list[Open311ErrorPublic], "Invalid input; the description names the field"),
    404: _content(list[Open311ErrorPublic], "No such service, request or jurisdiction"),
    429: _content(
        list[Open311ErrorPublic], "Over the per-key or per-address budget; see Retry-After"
    ),
}


@router.get(
    "/services.{format}",
    response_class=Response,
    responses={200: _content(list[ServicePublic], "The services"), **ERRORS},
)
def get_services(
    db: SessionDep, settings: SettingsDep, format: FormatPath, jurisdiction_id: Jurisdiction = None
) -> Response:
    """GET services: the incident categories (the routing table) as Open311 services."""
    fmt = check_format(format)
    o311.check_jurisdiction(jurisdiction_id, settings.open311_jurisdiction_id)
    return render(fmt, o311.services(db), root="services", item="service")


@router.get(
    "/services/{service_code}.{format}",
    response_class=Response,
    responses={200: _content(ServiceDefinitionPublic, "The service definition"), **ERRORS},
)
def get_service_definition(
    db: SessionDep,
    settings: SettingsDep,
    service_code: Annotated[str, Path(max_length=32)],
    format: FormatPath,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """GET service definition: no service asks for extra attributes (metadata false)."""
    fmt = check_format(format)
    o311.check_jurisdiction(jurisdiction_id, settings.open311_jurisdiction_id)
    definition = o311.service_definition(db, service_code)
    return render(fmt, definition, root="service_definition", item="attribute")


POST_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["service_code", "lat", "long", "api_key"],
                    "properties": {
                        "api_key": {"type": "string", "description": "A key of the system role"},
                        "service_code": {"type": "string", "maxLength": 32},
                        "lat": {"type": "number", "minimum": -90, "maximum": 90},
                        "long": {"type": "number", "minimum": -180, "maximum": 180},
                        "crs": {
                            "type": "string",
                            "enum": ["WGS84", "GCJ-02", "BD-09"],
                            "default": "WGS84",
                            "description": "Extension: the datum of lat/long (Chinese apps send "
                            "GCJ-02 or BD-09); stored and published as WGS84",
                        },
                        "description": {"type": "string", "maxLength": o311.MAX_DESCRIPTION},
                        "media_url": {
                            "type": "string",
                            "format": "uri",
                            "maxLength": o311.MAX_MEDIA_URL,
                        },
                        "email": {"type": "string", "maxLength": o311.MAX_EMAIL},
                        "device_id": {"type": "string", "maxLength": o311.MAX_DEVICE_ID},
                        "first_name": {"type": "string", "maxLength": o311.MAX_NAME},
                        "last_name": {"type": "string", "maxLength": o311.MAX_NAME},
                        "phone": {"type": "string", "maxLength": o311.MAX_PHONE},
                        "address_string": {"type": "string", "maxLength": o311.MAX_ADDRESS},
                        "jurisdiction_id": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/requests.{format}",
    response_class=Response,
    status_code=201,
    openapi_extra=POST_FORM,
    responses={
        201: _content(list[RequestCreatedPublic], "The new request's id and where it went"),
        401: _content(list[Open311ErrorPublic], "No valid api_key"),
        403: _content(list[Open311ErrorPublic], "The key is not of the system role"),
        413: _content(list[Open311ErrorPublic], f"The form is over {MAX_FORM_BYTES} bytes"),
        **ERRORS,
    },
)
async def post_request(
    request: Request, db: SessionDep, settings: SettingsDep, format: FormatPath
) -> Response:
    """POST a service request: it becomes an incident (source `open311`), located to its grid
    and routed like any other. The reporter's email, phone, device id and name are kept
    privately and never published."""
    fmt = check_format(format)
    form = await read_form(request)
    o311.check_jurisdiction(form.get("jurisdiction_id"), settings.open311_jurisdiction_id)
    report = o311.CitizenReport(
        service_code=form.get("service_code"),
        lat=form.get("lat"),
        long=form.get("long"),
        description=form.get("description"),
        crs=form.get("crs"),
        email=form.get("email"),
        device_id=form.get("device_id"),
        first_name=form.get("first_name"),
        last_name=form.get("last_name"),
        phone=form.get("phone"),
        media_url=form.get("media_url"),
        address_string=form.get("address_string"),
    )
    key = getattr(request.state, "api_key", None)  # a signed-in user has no key
    model = await run_in_threadpool(request.app.state.eta_provider.model, db)
    answer = await run_in_threadpool(
        o311.submit_request,
        db,
        report,
        model,
        api_key_id=key.id if key is not None else None,
        stale_after_s=settings.stale_after_s,
        actor=actor(request),
    )
    return render(fmt, [answer], root="service_requests", item="request", status_code=201)


@router.get(
    "/requests.{format}",
    response_class=Response,
    responses={200: _content(list[ServiceRequestPublic], "Requests, newest first"), **ERRORS},
)
def get_requests(
    db: SessionDep,
    settings: SettingsDep,
    format: FormatPath,
    service_request_id: Annotated[
        str | None,
        Query(max_length=2000, description="Ids, comma delimited; overrides every other filter"),
    ] = None,
    service_code: Annotated[
        str | None, Query(max_length=1000, description="Service codes, comma delimited")
    ] = None,
    start_date: Annotated[
        str | None, Query(max_length=40, description="Requested at or after (W3C date-time)")
    ] = None,
    end_date: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Requested at or before; the window is 90 days at most (and by default)",
        ),
    ] = None,
    status: Annotated[
        str | None, Query(max_length=20, description="open, closed or both, comma delimited")
    ] = None,
    jurisdiction_id: Jurisdiction = None,
    api_key: ApiKeyQuery = None,
) -> Response:
    """GET requests reported through Open311 (at most 1,000, newest first). Each one's
    status, notes, agency and times come from the incident's timeline."""
    fmt = check_format(format)
    o311.check_jurisdiction(jurisdiction_id, settings.open311_jurisdiction_id)
    found = o311.get_requests(
        db,
        service_request_id=service_request_id,
        service_code=service_code,
        start_date=start_date,
        end_date=end_date,
        status=status,
    )
    return render(fmt, found, root="service_requests", item="request")


@router.get(
    "/requests/{service_request_id}.{format}",
    response_class=Response,
    responses={200: _content(list[ServiceRequestPublic], "The request (a list of one)"), **ERRORS},
)
def get_request(
    db: SessionDep,
    settings: SettingsDep,
    service_request_id: Annotated[str, Path(max_length=20)],
    format: FormatPath,
    jurisdiction_id: Jurisdiction = None,
    api_key: ApiKeyQuery = None,
) -> Response:
    """GET one service request."""
    fmt = check_format(format)
    o311.check_jurisdiction(jurisdiction_id, settings.open311_jurisdiction_id)
    found = o311.get_request(db, service_request_id)
    return render(fmt, [found], root="service_requests", item="request")
