"""Open311 GeoReport v2 documents as this API sends them (for the OpenAPI description)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ServicePublic(BaseModel):
    """An incident category as an Open311 service (`<services><service>` in XML)."""

    service_code: str
    service_name: str = Field(description="The category's Chinese name")
    description: str = Field(description="The category's English name")
    metadata: bool = Field(description="Always false: no extra attributes are asked for")
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str = Field(description="Comma-separated: the English name and primary roles")
    group: Literal["police", "mediation", "public_service"]


class ServiceDefinitionPublic(BaseModel):
    """`<service_definition>`: the service's extra attributes (none)."""

    service_code: str
    attributes: list[dict[str, str]]


class RequestCreatedPublic(BaseModel):
    """The answer to POST requests (`<service_requests><request>` in XML)."""

    service_request_id: str
    service_notice: str = Field(description="Where the request was routed")
    account_id: str | None


class ServiceRequestPublic(BaseModel):
    """A service request as published: never the reporter's contact details."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str = Field(description="The last event's note, or what the last event means")
    service_name: str
    service_code: str
    description: str
    agency_responsible: str = Field(
        description="From the timeline: who the matter was last sent or referred to"
    )
    service_notice: str | None
    requested_datetime: str = Field(description="ISO 8601 with the city's offset (+08:00)")
    updated_datetime: str = Field(description="The last event's time")
    expected_datetime: str | None = Field(
        description="Expected arrival of the first responder sent: dispatch time plus their ETA"
    )
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float = Field(description="WGS84")
    long: float = Field(description="WGS84")
    media_url: str | None


class Open311ErrorPublic(BaseModel):
    """One error (`<errors><error><code/><description/></error></errors>` in XML); the
    description starts with the field at fault."""

    code: int
    description: str
