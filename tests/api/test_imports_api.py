"""POST /v1/imports, /v1/generations and GeoPackage/Shapefile exports over HTTP."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping
from sqlalchemy import Connection

from gridgis import crs
from gridgis.boundaries.export import export_areas

CITY = "990100"
CITY_BOX = (117.60, 24.50, 117.70, 24.60)
POINT = {"lon": 117.65, "lat": 24.51}


def geojson_bytes(features: list[tuple[dict[str, Any], Any]]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": p, "geometry": mapping(g)} for p, g in features
            ],
        },
        ensure_ascii=False,
    ).encode()


def post_import(client: TestClient, name: str, content: bytes, **form: Any) -> Any:
    data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in form.items()}
    return client.post("/v1/imports", files={"file": (name, content)}, data=data)


def city_generation(client: TestClient) -> int:
    response = post_import(
        client,
        "city.geojson",
        geojson_bytes([({"code": CITY, "name": "测试市"}, box(*CITY_BOX))]),
        level="city",
        base=0,
        activate=True,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["generation"])


def quarters() -> list[tuple[str, Any]]:
    x0, y0, x1, y1 = CITY_BOX
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    return [
        ("990101", box(x0, y0, xm, ym)),
        ("990102", box(xm, y0, x1, ym)),
        ("990103", box(x0, ym, xm, y1)),
        ("990104", box(xm, ym, x1, y1)),
    ]


def test_import_report_and_activation_flow(client: TestClient) -> None:
    demo = client.get("/v1/locate", params=POINT).json()["generation"]
    city_generation(client)
    _, y0, x1, _ = CITY_BOX
    broken = [({"code": c, "parent_code": CITY}, g) for c, g in quarters()]
    broken[1] = ({"code": "990102", "parent_code": CITY}, box(117.649, y0, x1, 24.55))
    response = post_import(
        client, "counties.geojson", geojson_bytes(broken), level="county", activate=True
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert not report["activated"]
    (overlap,) = [f for f in report["errors"] if f["check"] == "overlap"]
    assert overlap["codes"] == ["990101", "990102"] and overlap["area_m2"] > 500_000
    assert overlap["geometry"]["type"] == "Polygon" and len(overlap["point"]) == 2
    generation = report["generation"]
    detail = client.get(f"/v1/generations/{generation}").json()
    assert detail["status"] == "staged" and detail["errors"] == len(report["errors"])
    assert detail["report"]["errors"] == report["errors"]
    refused = client.post(f"/v1/generations/{generation}/activate")
    assert refused.status_code == 409 and refused.json()["field"] == "force"
    forced = client.post(f"/v1/generations/{generation}/activate", params={"force": "true"})
    assert forced.status_code == 200 and forced.json()["changed"]
    # The synthetic city has no grids: lookups now answer from it (404), and roll back.
    assert client.get("/v1/locate", params=POINT).status_code == 404
    assert client.get("/v1/locate", params={**POINT, "generation": demo}).status_code == 200
    back = client.post(f"/v1/generations/{demo}/activate")
    assert back.status_code == 200
    assert client.get("/v1/locate", params=POINT).json()["generation"] == demo
    listed = {g["id"]: g["status"] for g in client.get("/v1/generations").json()["generations"]}
    assert listed[demo] == "active" and listed[generation] == "retired"


def test_zipped_gbk_shapefile(client: TestClient, tmp_path: Path) -> None:
    city_generation(client)
    names = ["芗城区", "龙文区", "龍海區", "长泰区"]
    frame = gpd.GeoDataFrame(
        {"code": [c for c, _ in quarters()], "name": names, "parent_code": [CITY] * 4},
        geometry=[g for _, g in quarters()],
        crs=4326,
    )
    frame.to_file(tmp_path / "counties.shp", engine="pyogrio", encoding="GBK")
    (tmp_path / "counties.cpg").unlink()  # GBK with nothing saying so
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in tmp_path.glob("counties.*"):
            archive.write(path, f"folder/{path.name}")
    response = post_import(client, "counties.zip", buffer.getvalue(), level="county", activate=True)
    assert response.status_code == 201, response.text
    assert response.json()["activated"] and response.json()["errors"] == []
    areas = client.get("/v1/areas", params={"level": "county", "format": "json"}).json()
    assert [a["name"] for a in areas["areas"]] == names


def test_bad_uploads_are_422_naming_the_field(client: TestClient) -> None:
    metric = [({"code": c}, crs.geometry_to_metric(g)) for c, g in quarters()]
    response = post_import(client, "gk.geojson", geojson_bytes(metric), level="county")
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "crs" and body["report"]["errors"][0]["check"] == "crs"
    assert body["report"]["generation"] is None
    response = post_import(client, "x.kml", b"<kml/>", level="county")
    assert response.status_code == 422 and response.json()["field"] == "file"
    response = post_import(client, "x.geojson", b"{not json", level="county")
    assert response.status_code == 422 and response.json()["field"] == "file"
    response = post_import(client, "x.zip", b"PK nonsense", level="county")
    assert response.status_code == 422 and response.json()["field"] == "file"
    good = geojson_bytes([({"code": "990101"}, box(*CITY_BOX))])
    response = post_import(client, "x.geojson", good, level="region")
    assert response.status_code == 422 and response.json()["field"] == "level"
    response = post_import(client, "x.geojson", good, level="county", code_field="bianma")
    assert response.status_code == 422 and response.json()["field"] == "code_field"
    response = post_import(client, "x.geojson", good, level="county", crs="EPSG:999999")
    assert response.status_code == 422 and response.json()["field"] == "crs"
    assert client.post("/v1/generations/999999/activate").status_code == 404


def test_only_admins_import_and_activate(client: TestClient, api_keys: dict[str, str]) -> None:
    good = geojson_bytes([({"code": "990101"}, box(*CITY_BOX))])
    for role in ("dispatcher", "planner", "system"):
        headers = {"X-API-Key": api_keys[role]}
        response = client.post(
            "/v1/imports",
            files={"file": ("x.geojson", good)},
            data={"level": "county"},
            headers=headers,
        )
        assert response.status_code == 403
        assert client.post("/v1/generations/1/activate", headers=headers).status_code == 403
        assert client.get("/v1/generations", headers=headers).status_code == 200


def test_areas_as_geopackage(client: TestClient) -> None:
    response = client.get("/v1/areas", params={"level": "county", "format": "gpkg"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    frame = pyogrio.read_dataframe(io.BytesIO(response.content), layer="areas")
    assert len(frame) == 11
    assert set(frame.columns) >= {"code", "name", "level", "parent_code", "generation"}
    assert frame.crs.to_epsg() == 4326


def test_shapefile_export_has_utf8_cpg_and_prj(conn: Connection, tmp_path: Path) -> None:
    out = tmp_path / "counties.shp"
    assert export_areas(conn, out, fmt="shp", level="county") == 11
    assert out.with_suffix(".cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
    assert out.with_suffix(".prj").exists()
    frame = pyogrio.read_dataframe(out)
    assert "芗城区" in set(frame["name"]) and set(frame["parent"]) == {"350600"}
    gpkg = tmp_path / "all.gpkg"
    assert export_areas(conn, gpkg, fmt="gpkg") > 2000
    assert export_areas(conn, tmp_path / "grids.geojson", fmt="geojson", level="grid") > 2000
