"""The API contract, checked over the whole OpenAPI document: points take `crs`, every time in
every answer is RFC 3339 UTC with `Z`, lists page one way, unknown filters answer one way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gridgis.times import RFC3339_UTC

CRS_VALUES = {"wgs84", "gcj02", "bd09"}
LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
# Text the caller chose: echoed as sent, whatever it looks like.
FREE_TEXT = {"description", "note", "external_id", "name", "label", "message", "ref", "source"}


def _operations(client: TestClient) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, operation in operations.items():
            yield method.upper(), path, operation


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _object_schemas(spec: dict[str, Any], schema: dict[str, Any], seen: set[str]) -> Iterator[Any]:
    """Every object schema reachable from `schema` (each named one once)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return
        seen.add(name)
    schema = _resolve(spec, schema)
    if "properties" in schema:
        yield schema
        for prop in schema["properties"].values():
            yield from _object_schemas(spec, prop, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            yield from _object_schemas(spec, part, seen)
    if "items" in schema:
        yield from _object_schemas(spec, schema["items"], seen)


def _crs_enum(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    schema = _resolve(spec, schema)
    return set(schema.get("enum", [])) | {
        v for part in schema.get("anyOf", []) for v in _resolve(spec, part).get("enum", [])
    }


def test_every_operation_taking_a_point_takes_crs(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    point_operations = []
    for method, path, operation in _operations(client):
        query = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        if {"lon", "lat"} <= set(query):
            point_operations.append((method, path))
            assert "crs" in query, (method, path)
            assert _crs_enum(spec, query["crs"]["schema"]) == CRS_VALUES, (method, path)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is None:
            continue
        for schema in _object_schemas(spec, body["schema"], set()):
            props = schema["properties"]
            takes_point = {"lon", "lat"} <= set(props) or any(
                "[lon, lat]" in p.get("description", "") for p in props.values()
            )
            if takes_point:
                point_operations.append((method, path))
                assert "crs" in props, (method, path, sorted(props))
                assert _crs_enum(spec, props["crs"]) == CRS_VALUES, (method, path)
    assert {("GET", "/v1/locate"), ("GET", "/maps/nearest.html")} <= set(point_operations)
    assert ("POST", "/v1/incidents") in point_operations


def times_in(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, text) of every string in a JSON answer that looks like a time."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from times_in(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from times_in(v, key)
    elif isinstance(value, str) and key not in FREE_TEXT and LOOKS_LIKE_TIME.match(value):
        yield key, value


def assert_times_are_rfc3339_utc(body: Any) -> int:
    found = list(times_in(body))
    bad = [(k, v) for k, v in found if not RFC3339_UTC.match(v)]
    assert not bad, bad
    return len(found)


def test_every_time_in_every_answer_is_rfc3339_utc(client: TestClient) -> None:
    now = datetime.now(UTC)
    local = (now - timedelta(minutes=10)).astimezone(datetime.now().astimezone().tzinfo)
    created = client.post(
        "/v1/incidents",
        json={
            "external_id": "times-1",
            "category": "theft",
            "lon": 117.65,
            "lat": 24.51,
            "reported_at": (now - timedelta(minutes=10)).isoformat().replace("+00:00", "+08:00"),
        },
    )
    assert created.status_code == 201, created.text
    incident = created.json()
    officer = incident["recommendation"]["responders"][0]["responder_id"]
    client.post(
        f"/v1/incidents/{incident['id']}/events",
        json={"type": "dispatched", "responder_id": officer, "at": now.isoformat()},
    )
    client.put(
        f"/v1/responders/{officer}/position",
        json={"lon": 117.651, "lat": 24.511, "recorded_at": local.isoformat()},
    )
    client.post("/v1/coverage/runs", json={"roles": ["community_police"], "resolution": 7})
    week = {
        "from": (now - timedelta(days=7)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(),
    }
    counted = 0
    for url, params in [
        (f"/v1/incidents/{incident['id']}", {}),
        ("/v1/incidents", week),
        ("/v1/kpis", week),
        ("/v1/audit", {}),
        ("/v1/responders", {"format": "json", "grid": "350602002005"}),
        (f"/v1/responders/{officer}", {}),
        ("/v1/responders/nearest", {"lon": 117.65, "lat": 24.51, "status": "available,busy"}),
        ("/v1/coverage/runs", {}),
        ("/v1/generations", {}),
        ("/v1/generations/1", {}),
        ("/v1/assignments", {"grid": "350602002005"}),
    ]:
        response = client.get(url, params=params)
        assert response.status_code == 200, (url, response.text)
        counted += assert_times_are_rfc3339_utc(response.json())
    assert counted > 20


@pytest.mark.parametrize(
    "value", ["2026-03-10T21:00:00 08:00", "2026-03-10T21:00:00%2B08:00", "2026-03-10T13:00:00Z"]
)
def test_query_times_accept_any_offset_and_an_unencoded_plus(
    client: TestClient, value: str
) -> None:
    response = client.get(f"/v1/kpis?from={value.replace(' ', '+')}&level=city")
    assert response.status_code == 200, response.text
    assert response.json()["from"] == "2026-03-10T13:00:00Z"


def test_an_ambiguous_space_in_a_query_time_says_to_encode_plus(client: TestClient) -> None:
    response = client.get("/v1/incidents?from=2026-03-10T21:00 08:00 x")
    assert response.status_code == 422
    assert response.json()["field"] == "from"
    assert "%2B" in response.json()["message"]


def test_error_messages_show_times_in_the_same_format(client: TestClient) -> None:
    now = datetime.now(UTC)
    created = client.post(
        "/v1/incidents",
        json={
            "external_id": "times-2",
            "category": "theft",
            "lon": 117.65,
            "lat": 24.51,
            "reported_at": now.isoformat(),
        },
    ).json()
    early = client.post(
        f"/v1/incidents/{created['id']}/events",
        json={"type": "referred", "at": (now - timedelta(hours=1)).isoformat()},
    )
    assert early.status_code == 409
    shown = re.findall(r"\d{4}-\d{2}-\d{2}T[^ )]+", early.json()["message"])
    assert len(shown) == 2 and all(RFC3339_UTC.match(t) for t in shown), shown


def _list_operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    """Operations whose answer has a `next` link: the paged lists."""
    spec = client.app.openapi()  # type: ignore[attr-defined]
    found = []
    for method, path, operation in _operations(client):
        content = operation.get("responses", {}).get("200", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            continue
        if any("next" in s["properties"] for s in _object_schemas(spec, schema, set())):
            found.append((method, path, operation))
    return found


def test_every_list_pages_the_same_way(client: TestClient) -> None:
    lists = _list_operations(client)
    assert {p for _, p, _ in lists} >= {
        "/v1/responders",
        "/v1/assignments",
        "/v1/audit",
        "/v1/incidents",
        "/v1/coverage/runs",
        "/v1/coverage/runs/{run_id}/cells",
    }
    cursor_schemas = []
    for method, path, operation in lists:
        query = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        assert {"limit", "cursor"} <= set(query), (method, path)
        assert query["limit"]["schema"]["type"] == "integer" and query["limit"]["schema"]["minimum"]
        cursor_schemas.append(query["cursor"]["schema"])
        for old in ("after", "before"):
            if old in query:
                assert query[old].get("deprecated") is True, (method, path, old)
    assert all(schema == cursor_schemas[0] for schema in cursor_schemas)


@pytest.mark.parametrize(
    ("url", "items"),
    [
        ("/v1/responders?format=json&limit=2", "responders"),
        ("/v1/assignments?limit=2", "assignments"),
        ("/v1/audit?limit=1", "entries"),
        ("/v1/incidents?limit=1&from=2000-01-01T00:00:00Z", "incidents"),
    ],
)
def test_next_links_are_relative_whatever_the_host_header(
    client: TestClient, url: str, items: str
) -> None:
    if items in ("entries", "incidents"):  # make sure there are two pages
        for i in range(2):
            client.post(
                "/v1/incidents",
                json={
                    "external_id": f"paging-{i}",
                    "category": "theft",
                    "lon": 117.65,
                    "lat": 24.51,
                    "reported_at": datetime.now(UTC).isoformat(),
                },
            )
    first = client.get(url, headers={"Host": "evil.example"})
    assert first.status_code == 200, first.text
    link = first.json()["next"]
    assert link is not None and link.startswith("/v1/"), link
    assert "evil" not in link and "after=" not in link
    second = client.get(link)
    assert second.status_code == 200, second.text
    seen = {json_id(r) for r in first.json()[items]}
    assert not seen & {json_id(r) for r in second.json()[items]}


def json_id(row: dict[str, Any]) -> Any:
    return row.get("id", row.get("responder_id"))


def test_deprecated_after_still_pages_and_bad_cursors_are_422(client: TestClient) -> None:
    first = client.get("/v1/responders", params={"format": "json", "limit": 2}).json()
    last = first["responders"][-1]["responder_id"]
    old = client.get("/v1/responders", params={"format": "json", "limit": 2, "after": last})
    new = client.get(first["next"])
    assert old.json()["responders"] == new.json()["responders"]
    for bad in ("nope", "aWQ6LTE", "x" * 201, "a b"):
        response = client.get("/v1/responders", params={"cursor": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["field"] == "cursor"


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/v1/areas", {"parent": "999999"}, "parent"),
        ("/v1/areas", {"parent": "999999", "format": "json"}, "parent"),
        ("/v1/kpis", {"area": "999999"}, "area"),
        ("/v1/incidents", {"area": "999999"}, "area"),
        ("/v1/responders", {"grid": "999999999999"}, "grid"),
        ("/v1/assignments", {"grid": "999999999999"}, "grid"),
        ("/v1/assignments", {"responder_id": 999_999_999}, "responder_id"),
        ("/v1/locate", {"lon": 117.65, "lat": 24.51, "generation": 999_999}, "generation"),
        ("/v1/areas", {"generation": 999_999}, "generation"),
    ],
)
def test_a_filter_naming_nothing_is_404(
    client: TestClient, url: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(url, params=params)
    assert response.status_code == 404, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("url", "params", "items"),
    [
        ("/v1/areas", {"parent": "350602002005", "format": "json"}, "areas"),  # a grid: no children
        ("/v1/incidents", {"area": "350602002005", "from": "2000-01-01T00:00:00Z",
                           "to": "2000-01-02T00:00:00Z"}, "incidents"),
        ("/v1/responders", {"grid": "350602002005", "role": "police_unit",
                            "status": "off_duty", "format": "json"}, "responders"),
        ("/v1/audit", {"entity": "incident", "entity_id": "no-such-id"}, "entries"),
    ],
)  # fmt: skip
def test_a_valid_filter_without_matches_is_an_empty_list(
    client: TestClient, url: str, params: dict[str, Any], items: str
) -> None:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.json()[items] == []


def test_one_name_for_a_responders_home_grid(client: TestClient) -> None:
    rows = client.get(
        "/v1/responders/nearest", params={"lon": 117.65, "lat": 24.51, "n": 3}
    ).json()["results"]
    for row in rows:
        responder = client.get(f"/v1/responders/{row['responder_id']}").json()
        assert row["home_grid_code"] == responder["home_grid_code"]
        assert row["grid_code"] == row["home_grid_code"]  # the deprecated alias, still sent
        assert row["position"]["source"] == responder["position"]["source"]


def _all_features(client: TestClient, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = []
    page = client.get(url, params=params).json()
    while True:
        features += page["features"]
        if page["next"] is None:
            return features
        page = client.get(page["next"]).json()


def test_coverage_cells_one_feature_per_h3_cell_when_asked(client: TestClient) -> None:
    run = client.post("/v1/coverage/runs", json={"roles": ["volunteer"], "resolution": 8})
    assert run.status_code == 201, run.text
    url = f"/v1/coverage/runs/{run.json()['id']}/cells"
    bbox = "117.55,24.45,117.75,24.6"  # the city centre: small community grids
    pieces = _all_features(client, url, {"bbox": bbox, "limit": 500})
    cells = _all_features(client, url, {"bbox": bbox, "limit": 500, "per": "cell"})
    tokens = [f["properties"]["h3"] for f in cells]
    assert len(tokens) == len(set(tokens)) == len({f["properties"]["h3"] for f in pieces})
    assert [f["id"] for f in cells] == tokens
    assert len(pieces) > len(cells)  # some cells carry people of grids holding no centre
    by_cell = {f["properties"]["h3"]: f["properties"] for f in cells}
    for piece in pieces:
        props = piece["properties"]
        assert props["grid_code"] in by_cell[props["h3"]]["grid_codes"]
    assert sum(f["properties"]["population"] for f in cells) == pytest.approx(
        sum(f["properties"]["population"] for f in pieces), rel=1e-6
    )
