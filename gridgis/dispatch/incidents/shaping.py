"""Incidents and their events as the library returns them (plain dicts, one shape everywhere)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridgis.db import Executor
from gridgis.dispatch.sql import incidents as incidents_sql
from gridgis.errors import NotFound


def event_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seq": int(row["seq"]),
        "type": row["type"],
        "responder_id": None if row["responder_id"] is None else int(row["responder_id"]),
        "responder_role": row["responder_role"],
        "at": row["at"],
        "note": row["note"],
        "recorded_at": row["recorded_at"],
    }


def incident_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    grid = None
    if row["grid_code"] is not None:
        grid = {"code": row["grid_code"], "name": row["grid_name"], "kind": row["grid_kind"]}
    return {
        "id": int(row["id"]),
        "external_id": row["external_id"],
        "category": {
            "code": row["category"],
            "name_zh": row["category_name_zh"],
            "name_en": row["category_name_en"],
            "police_matter": bool(row["police_matter"]),
        },
        "description": row["description"],
        "reported_at": row["reported_at"],
        "received_at": row["received_at"],
        "lon": float(row["lon"]),
        "lat": float(row["lat"]),
        "input": {
            "crs": row["input_crs"],
            "lon": float(row["input_lon"]),
            "lat": float(row["input_lat"]),
        },
        "grid": grid,
        "generation": row["generation_id"],
        "status": row["status"],
        "source": row["source"],
        "updated_at": row["updated_at"],
    }


def get_incident(db: Executor, incident_id: int) -> dict[str, Any]:
    """An incident with its recommendation snapshot and its full timeline, in order."""
    row = incidents_sql.incident_by_id(db, incident_id)
    if row is None:
        raise NotFound(f"No incident with id {incident_id}.", field="id")
    incident = incident_dict(row)
    incident["recommendation"] = row["recommendation"]
    incident["timeline"] = [event_dict(e) for e in incidents_sql.timeline(db, incident_id)]
    return incident
