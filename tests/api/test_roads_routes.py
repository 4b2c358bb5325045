"""`GET /v1/routes` on the Helsinki network: each route runs from the responder to the call, its
travel time along the network's edges adds up to the ETA nearest gives, one-way streets are
respected, and a responder the road model cannot price gets the straight line."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.ops import substring
from sqlalchemy import Connection, text

from gridgis.dispatch.eta import StraightLineEta
from gridgis.roads.engine import RoadEngine
from gridgis.roads.networks import RoadImport, import_network
from gridgis.roads.provider import EtaProvider
from gridgis.roads.routes import MAX_ROUTES
from gridgis.settings import Settings
from tests.roads_data import helsinki_pbf

ROLE = "zz_road_routes"
GEOD = Geod(ellps="WGS84")
CALL = (24.9445, 60.1700)
# Three in the city centre (on or near streets), one at sea (no road within the snap limit).
PLACES = [(24.9405, 60.1690), (24.9470, 60.1720), (24.9500, 60.1760), (24.9200, 60.1500)]


def add_role(conn: Connection) -> None:
    conn.execute(
        text(
            "INSERT INTO roles (code, name_zh, name_en) VALUES (:c, '测试', 'test') "
            "ON CONFLICT DO NOTHING"
        ),
        {"c": ROLE},
    )


def add_responder(conn: Connection, ref: str, lon: float, lat: float) -> int:
    add_role(conn)
    return int(
        conn.execute(
            text(
                "INSERT INTO responders (ref, name, role, skills, status, home) VALUES "
                "(:ref, :ref, :role, '{}', 'available', ST_SetSRID(ST_MakePoint(:x, :y), 4326)) "
                "RETURNING id"
            ),
            {"ref": ref, "role": ROLE, "x": lon, "y": lat},
        ).scalar_one()
    )


def use_roads(client: TestClient, settings: Settings, conn: Connection) -> tuple[int, RoadEngine]:
    """The road model in force on the Helsinki car network (activated); its engine."""
    provider = EtaProvider(
        settings.model_copy(update={"eta_model": "road", "road_max_snap_m": 200.0})
    )
    client.app.state.eta_provider = provider  # type: ignore[attr-defined]
    network = import_network(
        conn, helsinki_pbf(), RoadImport(profile="car", activate=True, force=True)
    )
    engine = provider.active_engine(conn)
    assert engine is not None
    return int(network["network_id"]), engine


def segment_seconds(engine: RoadEngine, a: np.ndarray, b: np.ndarray) -> float:
    """Seconds to drive from a to b on the edge the segment lies on (the cheapest such edge
    allowing that direction; inf when the segment runs against a one-way edge)."""
    (ax, bx), (ay, by) = engine.to_metric(np.array([a[0], b[0]]), np.array([a[1], b[1]]))
    middle = shapely.Point((ax + bx) / 2, (ay + by) / 2)
    lines = engine.projected_lines
    near = np.flatnonzero(shapely.dwithin(lines, middle, 0.05))
    assert len(near), f"segment {a} -> {b} lies on no edge"
    metres = GEOD.inv(a[0], a[1], b[0], b[1])[2]
    best = np.inf
    for e in near.tolist():
        start = shapely.line_locate_point(lines[e], shapely.Point(ax, ay))
        end = shapely.line_locate_point(lines[e], shapely.Point(bx, by))
        cost = engine.edge_cost[e] if end >= start else engine.edge_reverse_cost[e]
        best = min(best, metres * cost / engine.edge_length_m[e])
    return float(best)


def network_seconds(engine: RoadEngine, coordinates: list[list[float]]) -> float:
    """Travel time along a route's road part (between its first and last legs)."""
    points = np.asarray(coordinates)[1:-1]
    total = 0.0
    for a, b in itertools.pairwise(points):
        if GEOD.inv(a[0], a[1], b[0], b[1])[2] > 0.01:
            total += segment_seconds(engine, a, b)
    return total


def leg_seconds(fallback: StraightLineEta, a: list[float], b: list[float], setting: Any) -> float:
    return float(fallback.leg_s(np.array([GEOD.inv(a[0], a[1], b[0], b[1])[2]]), setting)[0])


def test_routes_follow_the_road_and_add_up_to_the_eta(
    client: TestClient, conn: Connection, settings: Settings
) -> None:
    ids = [add_responder(conn, f"route-{k}", x, y) for k, (x, y) in enumerate(PLACES)]
    network_id, engine = use_roads(client, settings, conn)
    call = {"lon": CALL[0], "lat": CALL[1]}
    nearest = client.get("/v1/responders/nearest", params={**call, "n": 4, "roles": ROLE}).json()
    assert nearest["query"]["eta_model"]["name"] == "road_v1"
    order = [r["responder_id"] for r in nearest["results"]]
    assert sorted(order) == sorted(ids)
    answer = client.get("/v1/routes", params={**call, "responder_ids": ",".join(map(str, order))})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["type"] == "FeatureCollection"
    assert body["query"]["responder_ids"] == order
    assert body["query"]["eta_model"]["network_id"] == network_id
    assert [f["id"] for f in body["features"]] == order
    fallback = client.app.state.eta_provider.straight_line  # type: ignore[attr-defined]
    setting = body["query"]["setting"]
    assert setting == nearest["query"]["setting"]
    roads = 0
    for result, feature in zip(nearest["results"], body["features"], strict=True):
        props, line = feature["properties"], feature["geometry"]["coordinates"]
        assert feature["geometry"]["type"] == "LineString"
        # The ETA and the model that priced it are the ones dispatch gives.
        assert props["eta_s"] == result["eta_s"] and props["priced_by"] == result["priced_by"]
        assert props["within_target"] == result["within_target"]
        # From where dispatch places the responder to the call.
        assert line[0] == pytest.approx([result["position"]["lon"], result["position"]["lat"]])
        assert line[-1] == pytest.approx([CALL[0], CALL[1]])
        assert props["distance_m"] == pytest.approx(result["distance_m"], abs=0.1)
        assert props["length_m"] >= props["distance_m"] - 0.1
        if props["priced_by"] == "straight_line_v1":
            assert props["path"] == "straight_line" and props["network_id"] is None
            assert len(line) == 2
            continue
        roads += 1
        assert props["path"] == "road" and props["network_id"] == network_id
        assert len(line) > 4
        # Turnout + the legs to and from the road (straight-line model) + the time each piece
        # of the road part takes on its edge = the ETA.
        total = (
            fallback.turnout_s
            + leg_seconds(fallback, line[0], line[1], setting)
            + network_seconds(engine, line)
            + leg_seconds(fallback, line[-2], line[-1], setting)
        )
        assert total == pytest.approx(props["eta_s"], abs=0.5), feature
        # No road is faster than the network's top speed.
        road_m = (
            props["length_m"] - GEOD.inv(*line[0], *line[1])[2] - GEOD.inv(*line[-2], *line[-1])[2]
        )
        assert road_m / engine.top_speed_ms <= props["eta_s"]
    assert roads == 3


def test_routes_respect_one_way_streets(
    client: TestClient, conn: Connection, settings: Settings
) -> None:
    _, engine = use_roads(client, settings, conn)
    one_way = np.flatnonzero(~np.isfinite(engine.edge_reverse_cost))
    snappable = set(engine.snappable.tolist())
    e = next(int(x) for x in one_way if int(x) in snappable and engine.edge_length_m[x] > 80)
    edge = shapely.LineString(engine.edge_geometry(e))
    quarter, three_quarters = (edge.interpolate(f, normalized=True) for f in (0.25, 0.75))
    upstream = add_responder(conn, "one-way-up", quarter.x, quarter.y)
    downstream = add_responder(conn, "one-way-down", three_quarters.x, three_quarters.y)
    piece = substring(edge, 0.25, 0.75, normalized=True)
    piece_m = GEOD.line_length(*np.asarray(piece.coords).T)

    # Call at three quarters: the responder upstream drives straight along the one-way edge.
    along = client.get(
        "/v1/routes",
        params={"lon": three_quarters.x, "lat": three_quarters.y, "responder_ids": upstream},
    ).json()["features"][0]
    assert along["properties"]["path"] == "road"
    assert along["properties"]["length_m"] == pytest.approx(piece_m, rel=0.01)
    # Call at a quarter: the responder downstream may not reverse up the one-way street; the
    # route goes round, and every piece of it runs the way its edge allows.
    around = client.get(
        "/v1/routes",
        params={"lon": quarter.x, "lat": quarter.y, "responder_ids": downstream},
    ).json()["features"][0]
    line = around["geometry"]["coordinates"]
    assert around["properties"]["path"] == "road"
    assert around["properties"]["length_m"] > 2 * piece_m
    assert np.isfinite(network_seconds(engine, line))
    assert around["properties"]["eta_s"] > along["properties"]["eta_s"]


def test_routes_under_the_straight_line_model(client: TestClient, conn: Connection) -> None:
    ids = [add_responder(conn, f"line-{k}", x, y) for k, (x, y) in enumerate(PLACES[:2])]
    nearest = client.get(
        "/v1/responders/nearest",
        params={"lon": CALL[0], "lat": CALL[1], "n": 2, "roles": ROLE},
    ).json()
    body = client.get(
        "/v1/routes",
        params={"lon": CALL[0], "lat": CALL[1], "responder_ids": f"{ids[1]},{ids[0]},{ids[1]}"},
    ).json()
    assert body["query"]["eta_model"]["name"] == "straight_line_v1"
    assert [f["id"] for f in body["features"]] == [ids[1], ids[0]]  # repeats answered once
    etas = {r["responder_id"]: r["eta_s"] for r in nearest["results"]}
    for feature in body["features"]:
        props = feature["properties"]
        assert props["priced_by"] == "straight_line_v1" and props["path"] == "straight_line"
        assert props["network_id"] is None and props["eta_s"] == etas[feature["id"]]
        assert feature["geometry"]["coordinates"][-1] == pytest.approx(list(CALL))
        assert props["length_m"] == pytest.approx(props["distance_m"], abs=0.1)
        assert props["position_source"] == "home" and props["recorded_at"] is None


def test_routes_take_crs_and_refuse_bad_input(
    client: TestClient, conn: Connection, api_keys: dict[str, str]
) -> None:
    from gridgis.crs import to_wgs84

    rid = add_responder(conn, "crs-0", *PLACES[0])
    # A GCJ-02 point (as Amap sends it) is answered in WGS84.
    gcj = client.get(
        "/v1/routes",
        params={"lon": 117.655, "lat": 24.515, "crs": "gcj02", "responder_ids": rid},
    ).json()
    assert gcj["query"]["received_crs"] == "gcj02" and gcj["query"]["crs"] == "wgs84"
    wgs = to_wgs84(117.655, 24.515, "gcj02")
    assert gcj["features"][0]["geometry"]["coordinates"][-1] == pytest.approx(
        [float(wgs[0]), float(wgs[1])], abs=1e-7
    )
    assert gcj["query"]["setting"] in ("urban", "rural")
    base = {"lon": CALL[0], "lat": CALL[1]}
    too_many = ",".join(str(rid + k) for k in range(MAX_ROUTES + 1))
    for params, status, field in (
        ({"responder_ids": "999999999"}, 404, "responder_ids"),
        ({"responder_ids": f"{rid},999999999"}, 404, "responder_ids"),
        ({"responder_ids": "1.0"}, 422, "responder_ids"),
        ({"responder_ids": "true"}, 422, "responder_ids"),
        ({"responder_ids": "-3"}, 422, "responder_ids"),
        ({"responder_ids": "0"}, 422, "responder_ids"),
        ({"responder_ids": "9" * 20}, 422, "responder_ids"),
        ({"responder_ids": " , "}, 422, "responder_ids"),
        ({"responder_ids": too_many}, 422, "responder_ids"),
        ({}, 422, "responder_ids"),
        ({"responder_ids": rid, "crs": "wgs"}, 422, "crs"),
        ({"responder_ids": rid, "lat": "nan"}, 422, "lat"),
    ):
        answer = client.get("/v1/routes", params={**base, **params})
        assert answer.status_code == status, (params, answer.text)
        assert answer.json()["field"] == field, (params, answer.json())
    # The read permission: every role may ask, nobody without a key.
    params = {**base, "responder_ids": rid}
    for role, key in api_keys.items():
        answer = client.get("/v1/routes", params=params, headers={"X-API-Key": key})
        assert answer.status_code == 200, (role, answer.text)
    assert client.get("/v1/routes", params=params, headers={"X-API-Key": ""}).status_code == 401
