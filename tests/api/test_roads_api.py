"""HTTP with the road model in force: answers say which model priced each result, and a newly
activated network is picked up by the worker."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text

from gridgis.roads.networks import RoadImport, activate_network, import_network
from gridgis.roads.provider import EtaProvider
from gridgis.settings import Settings
from tests.roads_data import helsinki_pbf

ROLE = "zz_road_api"


def add_responders(conn: Connection) -> None:
    conn.execute(
        text("INSERT INTO roles (code, name_zh, name_en) VALUES (:c, '测试', 'test')"),
        {"c": ROLE},
    )
    places = [(24.9405, 60.1690), (24.9470, 60.1720), (24.9500, 60.1760), (24.9200, 60.1500)]
    for k, (lon, lat) in enumerate(places):
        conn.execute(
            text(
                "INSERT INTO responders (ref, name, role, skills, status, home) VALUES "
                "(:ref, :ref, :role, '{}', 'available', ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            {"ref": f"road-api-{k}", "role": ROLE, "x": lon, "y": lat},
        )


def test_nearest_by_road_through_the_api(
    client: TestClient, conn: Connection, settings: Settings
) -> None:
    add_responders(conn)
    params = {"lon": 24.9445, "lat": 60.1700, "n": 4, "roles": ROLE}
    # The straight-line model is in force by default.
    before = client.get("/v1/responders/nearest", params=params).json()
    assert {r["priced_by"] for r in before["results"]} == {"straight_line_v1"}
    client.app.state.eta_provider = EtaProvider(  # type: ignore[attr-defined]
        settings.model_copy(update={"eta_model": "road", "road_max_snap_m": 200.0})
    )
    # No active network yet: still the straight-line model.
    same = client.get("/v1/responders/nearest", params=params).json()
    assert same["query"]["eta_model"]["name"] == "straight_line_v1"
    first = import_network(
        conn, helsinki_pbf(), RoadImport(profile="car", activate=True, force=True)
    )
    body = client.get("/v1/responders/nearest", params=params).json()
    assert body["query"]["eta_model"]["name"] == "road_v1"
    assert body["query"]["eta_model"]["network_id"] == first["network_id"]
    priced = {r["responder_id"]: r["priced_by"] for r in body["results"]}
    assert sorted(priced.values()).count("road_v1") == 3  # the fourth is at sea: fallback
    assert "straight_line_v1" in priced.values()
    etas = [r["eta_s"] for r in body["results"]]
    assert etas == sorted(etas)
    # A new network activated elsewhere is loaded on the next answer.
    second = import_network(
        conn, helsinki_pbf(), RoadImport(profile="foot", label="walk", activate=True, force=True)
    )
    walk = client.get("/v1/responders/nearest", params=params).json()
    assert walk["query"]["eta_model"]["network_id"] == second["network_id"]
    assert walk["query"]["eta_model"]["profile"] == "foot"
    walked = {r["responder_id"]: r["eta_s"] for r in walk["results"]}
    driven = {r["responder_id"]: r["eta_s"] for r in body["results"]}
    # Walking ignores one-way streets but moves at 5 km/h: the answers differ.
    assert any(walked[i] != driven[i] for i in driven if priced[i] == "road_v1")
    activate_network(conn, first["network_id"], actor="test", force=True)
    back = client.get("/v1/responders/nearest", params=params).json()
    assert back["query"]["eta_model"]["network_id"] == first["network_id"]


def test_isochrones_and_service_areas(client: TestClient, conn: Connection) -> None:
    import shapely
    from shapely.geometry import shape

    params = {"lon": 24.9445, "lat": 60.1700, "minutes": "1,3,2"}
    none = client.get("/v1/isochrones", params=params)
    assert none.status_code == 409 and none.json()["field"] == "network"
    network = import_network(
        conn, helsinki_pbf(), RoadImport(profile="car", activate=True, force=True)
    )
    body = client.get("/v1/isochrones", params=params).json()
    assert body["type"] == "FeatureCollection"
    assert body["query"]["network_id"] == network["network_id"]
    polygons = [shape(f["geometry"]) for f in body["features"]]
    assert [f["properties"]["minutes"] for f in body["features"]] == [1, 2, 3]
    assert all(p.is_valid and not p.is_empty for p in polygons)
    assert polygons[0].difference(polygons[1]).area < 1e-10
    assert polygons[1].difference(polygons[2]).area < 1e-10
    assert shapely.area(polygons[2]) > shapely.area(polygons[0])
    for bad, field in (({"minutes": "5,x"}, "minutes"), ({"minutes": "500"}, "minutes")):
        answer = client.get("/v1/isochrones", params={**params, **bad})
        assert answer.status_code == 422 and answer.json()["field"] == field
    at_sea = client.get("/v1/isochrones", params={"lon": 24.90, "lat": 60.14})
    assert at_sea.status_code == 404
    add_responders(conn)
    rid = conn.execute(text("SELECT id FROM responders WHERE ref = 'road-api-0'")).scalar_one()
    area = client.get(f"/v1/responders/{rid}/service-area", params={"minutes": "2,4"}).json()
    sizes = [shape(f["geometry"]).area for f in area["features"]]
    assert area["query"]["responder_id"] == rid and sizes[0] < sizes[1]
    # Turnout (60 s) comes first: a responder's 2-minute area is smaller than the point's.
    point = client.get(
        "/v1/isochrones", params={"lon": 24.9405, "lat": 60.1690, "minutes": "2"}
    ).json()
    assert sizes[0] < shape(point["features"][0]["geometry"]).area
    missing = client.get("/v1/responders/999999999/service-area")
    assert missing.status_code == 404
    planner = client.get("/v1/isochrones", params=params, headers={"X-API-Key": "nonsense"})
    assert planner.status_code == 401


def test_coverage_run_by_road(client: TestClient, conn: Connection) -> None:
    import numpy as np

    from gridgis.roads.model import RoadEta
    from tests.db.test_roads_networks import helsinki_generation

    body = {"roles": [ROLE], "eta_model": "road", "k": 2, "resolution": 9}
    add_responders(conn)
    refused = client.post("/v1/coverage/runs", json=body)
    assert refused.status_code == 409 and refused.json()["field"] == "eta_model", refused.text
    bad = client.post("/v1/coverage/runs", json={**body, "eta_model": "crow"})
    assert bad.status_code == 422
    generation = helsinki_generation(conn)
    network = import_network(conn, helsinki_pbf(), RoadImport(profile="car", activate=True))
    assert network["errors"] == []
    created = client.post("/v1/coverage/runs", json={**body, "generation": generation})
    assert created.status_code == 201, created.text
    run = created.json()
    parameters = conn.execute(
        text("SELECT parameters FROM coverage_runs WHERE id = :r"), {"r": run["id"]}
    ).scalar_one()
    assert parameters["eta_model"]["name"] == "road_v1"
    assert parameters["eta_model"]["network_id"] == network["network_id"]
    cells = conn.execute(
        text(
            "SELECT lon, lat, eta_s, eta_k_s, responders_within_target FROM coverage_cells "
            "WHERE run_id = :r ORDER BY seq"
        ),
        {"r": run["id"]},
    ).all()
    assert len(cells) > 10
    model = client.app.state.eta_provider.coverage_model(conn, "road")  # type: ignore[attr-defined]
    assert isinstance(model, RoadEta)
    roster = conn.execute(
        text("SELECT ST_X(home), ST_Y(home) FROM responders WHERE role = :r ORDER BY id"),
        {"r": ROLE},
    ).all()
    lons = np.array([r[0] for r in roster])
    lats = np.array([r[1] for r in roster])
    for lon, lat, eta, eta_k, within in cells:
        # The stored centre is rounded to 1e-7 degrees; the grids are community (urban).
        priced = np.sort(model.etas_to(lon, lat, lons, lats, "urban").eta_s)
        assert eta == pytest.approx(priced[0], abs=0.05)
        assert eta_k == pytest.approx(priced[1], abs=0.05)
        assert within == int((priced <= 300).sum())
    straight = client.post(
        "/v1/coverage/runs", json={**body, "generation": generation, "eta_model": "straight_line"}
    ).json()
    assert straight["id"] != run["id"]

    # A run by road is planned by road: each candidate's gain is the population of the cells
    # with nobody within the target that road_v1 says it reaches.
    sites = [[24.9420, 60.1690], [24.9480, 60.1740], [24.9300, 60.1600], [24.9445, 60.1700]]
    plan_body = {
        "add": 1, "candidates": sites, "role": ROLE, "roles": [ROLE], "eta_model": "road",
        "k": 1, "target_s": 150, "resolution": 9,
    }  # fmt: skip
    conn.execute(
        text("UPDATE areas SET population = 5000 WHERE generation_id = :g"), {"g": generation}
    )
    planned = client.post("/v1/coverage/plan", json=plan_body)
    assert planned.status_code == 200, planned.text
    plan_run = planned.json()["run_id"]
    rows = conn.execute(
        text(
            "SELECT lon, lat, population, responders_within_target FROM coverage_cells "
            "WHERE run_id = :r"
        ),
        {"r": plan_run},
    ).all()
    gains = []
    for site in sites:
        gain = 0.0
        for lon, lat, population, within in rows:  # community grids: urban
            eta = model.etas_to(lon, lat, np.array([site[0]]), np.array([site[1]]), "urban")
            if within == 0 and eta.eta_s[0] <= 150:
                gain += float(population)
        gains.append(gain)
    assert max(gains) > 0
    best = planned.json()["sites"][0]
    assert best["population_gained"] == pytest.approx(max(gains), abs=0.2)
    again = client.post(
        "/v1/coverage/plan",
        json={"run_id": plan_run, "add": 1, "candidates": sites, "role": ROLE},
    )
    assert again.json()["sites"][0]["population_gained"] == best["population_gained"]
    # The straight-line run is planned by the straight line: another answer.
    line = client.post(
        "/v1/coverage/plan",
        json={"run_id": straight["id"], "add": 1, "candidates": sites, "role": ROLE},
    )
    assert line.status_code == 200, line.text


def test_road_imports_and_networks_over_http(
    client: TestClient, conn: Connection, api_keys: dict[str, str]
) -> None:
    data = helsinki_pbf().read_bytes()
    staged = client.post(
        "/v1/imports",
        data={"kind": "roads", "profile": "car", "activate": "true"},
        files={"file": ("Helsinki.osm.pbf", data, "application/octet-stream")},
    )
    assert staged.status_code == 201, staged.text
    report = staged.json()
    assert report["checks"]["edges"] == 1000 and report["activation_refused"]
    assert any("does not overlap" in e for e in report["errors"])
    listed = client.get("/v1/road-networks").json()["networks"]
    assert [n["status"] for n in listed] == ["staged"]
    assert listed[0]["created_at"].endswith("Z")
    network = report["network_id"]
    refused = client.post(f"/v1/road-networks/{network}/activate")
    assert refused.status_code == 409 and refused.json()["field"] == "force"
    forced = client.post(f"/v1/road-networks/{network}/activate", params={"force": "true"})
    assert forced.status_code == 200 and forced.json()["changed"] is True
    assert client.get("/v1/road-networks").json()["networks"][0]["status"] == "active"
    dispatcher = client.post(
        f"/v1/road-networks/{network}/activate",
        params={"force": "true"},
        headers={"X-API-Key": api_keys["dispatcher"]},
    )
    assert dispatcher.status_code == 403
    for files, field in (
        ({"file": ("roads.geojson", b"{}", "application/json")}, "file"),
        ({"file": ("empty.osm.pbf", b"", "application/octet-stream")}, "file"),
        ({"file": ("junk.osm.pbf", b"junk", "application/octet-stream")}, "file"),
    ):
        bad = client.post("/v1/imports", data={"kind": "roads"}, files=files)
        assert bad.status_code == 422 and bad.json()["field"] == field, bad.text
    no_level = client.post(
        "/v1/imports", files={"file": ("grids.geojson", b"{}", "application/json")}
    )
    assert no_level.status_code == 422 and no_level.json()["field"] == "level"
    missing = client.post("/v1/road-networks/999999/activate")
    assert missing.status_code == 404


def test_boundaries_that_change_the_roads_setting_say_so_and_reprice_over_http(
    client: TestClient, conn: Connection, api_keys: dict[str, str]
) -> None:
    from tests.db.test_roads_networks import helsinki_generation

    urban = helsinki_generation(conn, kind="community")
    first = import_network(conn, helsinki_pbf(), RoadImport(profile="car", activate=True))
    rural = helsinki_generation(conn, kind="village")
    back = client.post(f"/v1/generations/{urban}/activate")
    assert back.status_code == 200 and back.json()["road_pricing"] is None
    moved = client.post(f"/v1/generations/{rural}/activate").json()
    assert moved["changed"] is True
    assert f"/v1/road-networks/{first['network_id']}/reprice" in moved["road_pricing"]
    [listed] = client.get("/v1/road-networks").json()["networks"]
    assert listed["pricing"] == "stale" and listed["priced_with_generation"] == urban
    dispatcher = client.post(
        f"/v1/road-networks/{first['network_id']}/reprice",
        headers={"X-API-Key": api_keys["dispatcher"]},
    )
    assert dispatcher.status_code == 403
    copy = client.post(
        f"/v1/road-networks/{first['network_id']}/reprice", params={"activate": "true"}
    )
    assert copy.status_code == 201, copy.text
    body = copy.json()
    assert body["repriced_from"] == first["network_id"] and body["priced_with_generation"] == rural
    assert body["activation"]["changed"] is True and body["checks"]["urban_edges"] == 0
    pricing = {n["id"]: n["pricing"] for n in client.get("/v1/road-networks").json()["networks"]}
    assert pricing == {first["network_id"]: "stale", body["network_id"]: "current"}
    for bad, status in (("999999", 404), ("0", 422), ("x", 422)):
        answer = client.post(f"/v1/road-networks/{bad}/reprice")
        assert answer.status_code == status, answer.text
    taken = client.post(
        f"/v1/road-networks/{first['network_id']}/reprice", params={"label": body["label"]}
    )
    assert taken.status_code == 409 and taken.json()["field"] == "label"


def test_dispatch_map_draws_road_routes(
    client: TestClient, conn: Connection, settings: Settings
) -> None:
    from gridgis.mapping.dispatch_map import ROAD_LAYER

    add_responders(conn)
    params = {"lon": 24.9445, "lat": 60.1700, "n": 4, "roles": ROLE}
    straight = client.get("/maps/nearest.html", params=params)
    assert straight.status_code == 200 and ROAD_LAYER not in straight.text
    client.app.state.eta_provider = EtaProvider(  # type: ignore[attr-defined]
        settings.model_copy(update={"eta_model": "road", "road_max_snap_m": 200.0})
    )
    import_network(conn, helsinki_pbf(), RoadImport(profile="car", activate=True, force=True))
    page = client.get("/maps/nearest.html", params=params)
    assert page.status_code == 200
    assert ROAD_LAYER in page.text and "road_v1" in page.text
    # Three responders are priced by road: three road polylines beside the four straight ones.
    assert page.text.count("L.polyline(") == 4 + 3


def test_the_road_graph_is_loaded_before_the_first_call(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """With the road model, the app reads the active network's graph at start (seconds for a
    city) rather than in the first dispatcher's answer; a database that is away only logs."""
    from api.main import _load_road_graph

    with engine.begin() as setup:
        network = import_network(
            setup, helsinki_pbf(), RoadImport(profile="car", label="preload", force=True)
        )["network_id"]
        activate_network(setup, network, actor="test", force=True)
    try:
        road = EtaProvider(settings.model_copy(update={"eta_model": "road"}))
        _load_road_graph(road, engine)
        assert road._engine is not None and road._engine.network_id == network
        straight = EtaProvider(settings)
        _load_road_graph(straight, engine)
        assert straight._engine is None
        away = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
        _load_road_graph(EtaProvider(settings.model_copy(update={"eta_model": "road"})), away)
        assert "could not load the road network" in caplog.text
    finally:
        with engine.begin() as cleanup:
            cleanup.execute(text("DELETE FROM road_networks WHERE id = :n"), {"n": network})


def test_each_graph_loaded_is_settled_out_of_the_collectors_reach(
    conn: Connection, settings: Settings
) -> None:
    """A served worker freezes its heap after start and after each graph it loads: full
    garbage collections then skip the graph (they paused answers for 70-150 ms on the city)."""
    import gc

    from api.main import settle_heap

    loaded: list[int] = []
    provider = EtaProvider(
        settings.model_copy(update={"eta_model": "road"}),
        on_load=lambda engine: loaded.append(engine.network_id),
    )
    first = import_network(
        conn, helsinki_pbf(), RoadImport(profile="car", activate=True, force=True)
    )
    provider.model(conn)
    provider.model(conn)
    second = import_network(
        conn, helsinki_pbf(), RoadImport(profile="foot", label="walk", activate=True, force=True)
    )
    provider.model(conn)
    assert loaded == [first["network_id"], second["network_id"]]
    before = gc.get_freeze_count()
    try:
        settle_heap()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
