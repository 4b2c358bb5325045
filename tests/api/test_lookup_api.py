"""HTTP: /v1/health, /v1/locate, /v1/areas, /v1/areas/{code} and the error contract."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_health(client: TestClient) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


def test_locate_central_zhangzhou(client: TestClient) -> None:
    response = client.get("/v1/locate", params={"lon": 117.65, "lat": 24.51})
    assert response.status_code == 200
    body = response.json()
    assert body["grid"]["code"].startswith("350602")
    assert body["grid"]["level"] == "grid"
    assert body["grid"]["kind"] in {"community", "village"}
    assert [h["level"] for h in body["hierarchy"]] == ["city", "county", "township", "grid"]
    assert body["hierarchy"][1]["name"] == "芗城区"
    assert body["team"], "every grid has a team"
    member = body["team"][0]
    assert set(member) >= {"responder_id", "name", "role", "duty"}
    assert body["also"] == []


def test_locate_outside_is_404_json(client: TestClient) -> None:
    response = client.get("/v1/locate", params={"lon": 121.47, "lat": 31.23})
    assert response.status_code == 404
    assert response.json()["error"] == "outside_coverage"
    assert "outside every grid" in response.json()["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": 24.5}, "lon"),
        ({"lon": 117.6}, "lat"),
        ({"lon": "nan", "lat": 24.5}, "lon"),
        ({"lon": 117.6, "lat": "inf"}, "lat"),
        ({"lon": 200, "lat": 24.5}, "lon"),
        ({"lon": 117.6, "lat": -95}, "lat"),
        ({"lon": "east", "lat": 24.5}, "lon"),
        ({"lon": 117.6, "lat": 24.5, "generation": 0}, "generation"),
    ],
)
def test_locate_bad_coordinates_are_422_naming_the_field(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    response = client.get("/v1/locate", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["field"] == field


def test_locate_unknown_generation_is_404(client: TestClient) -> None:
    response = client.get("/v1/locate", params={"lon": 117.65, "lat": 24.51, "generation": 999})
    assert response.status_code == 404
    assert response.json()["field"] == "generation"


def test_areas_counties_as_geojson(client: TestClient) -> None:
    response = client.get("/v1/areas", params={"level": "county", "format": "geojson"})
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 11
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert set(feature["properties"]) >= {
        "code",
        "name",
        "level",
        "parent_code",
        "kind",
        "population",
    }
    assert sum(f["properties"]["population"] for f in body["features"]) == 5_054_328


def test_areas_grid_listing_without_geometry(client: TestClient) -> None:
    response = client.get("/v1/areas", params={"level": "grid", "format": "json"})
    assert response.status_code == 200
    assert len(response.json()["areas"]) == 2080


def test_area_detail_with_children(client: TestClient) -> None:
    response = client.get("/v1/areas/350602")
    assert response.status_code == 200
    body = response.json()
    assert body["properties"]["name"] == "芗城区"
    assert body["properties"]["parent_code"] == "350600"
    assert "350602001" in body["children"]
    assert all(c.startswith("350602") for c in body["children"])


@pytest.mark.parametrize(
    ("path", "status"),
    [("/v1/areas/999999", 404), ("/v1/areas/12ab", 422), ("/v1/areas?level=planet", 422)],
)
def test_area_errors(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert "message" in response.json()


def test_openapi_documents_the_lookup_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/health", "/v1/locate", "/v1/areas", "/v1/areas/{code}"):
        assert path in spec["paths"]
    assert "422" in spec["paths"]["/v1/locate"]["get"]["responses"]
