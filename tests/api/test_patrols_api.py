"""The patrol API: units reserve tasks, the volunteers' app grabs, cancels, checks in and out;
figures, leaderboards and the hours layer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from api.main import create_app
from gridgis.auth import create_api_key
from gridgis.settings import Settings, resolve_secret_key
from gridgis.workflows import patrols, units
from gridgis.workflows.patrols import PatrolRules, PatrolSpec

CST = timezone(timedelta(hours=8))


def grid(conn: Connection, offset: int = 0) -> tuple[str, float, float]:
    row = conn.execute(
        text(
            "SELECT a.code, ST_X(ST_PointOnSurface(a.geom)), ST_Y(ST_PointOnSurface(a.geom)) "
            "FROM areas a JOIN generations g ON g.id = a.generation_id AND g.active "
            "WHERE a.level = 'grid' ORDER BY a.code OFFSET :o LIMIT 1"
        ),
        {"o": offset},
    ).one()
    return str(row[0]), float(row[1]), float(row[2])


def volunteers(conn: Connection, n: int, offset: int = 0) -> list[int]:
    rows = conn.execute(
        text("SELECT id FROM responders WHERE role = 'volunteer' ORDER BY id OFFSET :o LIMIT :n"),
        {"n": n, "o": offset},
    )
    return [int(r[0]) for r in rows]


@pytest.fixture()
def unit(client: TestClient, conn: Connection) -> dict[str, Any]:
    code, _, _ = grid(conn)
    answer = client.post(
        "/v1/units", json={"name": "芗城区第一中学", "contact": "林老师", "grid_code": code}
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


@pytest.fixture()
def unit_key(conn: Connection, settings: Settings, unit: dict[str, Any]) -> str:
    _, key = create_api_key(
        conn, resolve_secret_key(settings), name="school app", role="system", unit_id=unit["id"]
    )
    return key


def body(unit_id: int, code: str, *, hours_ahead: float = 24, length_h: float = 2, **extra: Any):  # type: ignore[no-untyped-def]
    start = (datetime.now(CST) + timedelta(hours=hours_ahead)).replace(microsecond=0)
    return {
        "unit_id": unit_id,
        "grid_codes": [code],
        "start": start.isoformat(),
        "end": (start + timedelta(hours=length_h)).isoformat(),
        "slots": 3,
        **extra,
    }


def test_units_are_created_by_admins_and_listed(
    client: TestClient, conn: Connection, unit: dict[str, Any], api_keys: dict[str, str]
) -> None:
    assert unit["created_at"].endswith("Z")
    listed = client.get("/v1/units", params={"grid": unit["grid_code"]}).json()["units"]
    assert [u["id"] for u in listed] == [unit["id"]]
    assert client.get(f"/v1/units/{unit['id']}").json()["name"] == "芗城区第一中学"
    bad = client.post("/v1/units", json={"name": "x", "contact": "y", "grid_code": "350600999999"})
    assert bad.status_code == 422 and bad.json()["field"] == "grid_code"
    again = client.post("/v1/units", json={**unit, "id": None} | {"grid_code": unit["grid_code"]})
    assert again.status_code == 422  # unknown fields are refused
    dup = client.post(
        "/v1/units", json={"name": unit["name"], "contact": "z", "grid_code": unit["grid_code"]}
    )
    assert dup.status_code == 409 and dup.json()["field"] == "name"
    system = client.post(
        "/v1/units",
        json={"name": "a", "contact": "b", "grid_code": unit["grid_code"]},
        headers={"X-API-Key": api_keys["system"]},
    )
    assert system.status_code == 403


def test_a_task_answers_in_utc_with_its_claims(
    client: TestClient, conn: Connection, unit: dict[str, Any], unit_key: str
) -> None:
    code, _, _ = grid(conn)
    request = body(unit["id"], code)
    answer = client.post("/v1/patrols", json=request, headers={"X-API-Key": unit_key})
    assert answer.status_code == 201, answer.text
    task = answer.json()
    assert task["start"].endswith("Z") and task["end"].endswith("Z")
    assert datetime.fromisoformat(task["start"]) == datetime.fromisoformat(request["start"])
    assert task["claims"] == [] and task["free"] == 3 and task["status"] == "open"
    assert task["unit"] == {"id": unit["id"], "name": unit["name"]}
    assert task["area"]["type"] == "MultiPolygon" and task["grid_codes"] == [code]
    assert client.get(f"/v1/patrols/{task['id']}").json() == task
    assert client.get("/v1/patrols/999999999").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slots": 0}, "slots"),
        ({"slots": 101}, "slots"),
        ({"start": "2020-01-01T08:00:00+08:00", "end": "2020-01-01T09:00:00+08:00"}, "start"),
        ({"start": "2030-01-01T08:00:00"}, "start"),
        ({"grid_codes": ["350600999999"]}, "grid_codes"),
        ({"grid_codes": None}, "area"),
        ({"area": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}, "area"),
        ({"unit_id": 999999999}, "unit_id"),
        ({"colour": "red"}, "colour"),
        ({"title": "night\x00round"}, "title"),
        ({"length": 13}, "end"),
    ],
)
def test_bad_input_names_the_field(
    client: TestClient, conn: Connection, unit: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    code, _, _ = grid(conn)
    request = body(unit["id"], code, length_h=change.pop("length", 2))
    if "area" in change:
        request.pop("grid_codes")
    request.update(change)
    if request.get("grid_codes") is None:
        request.pop("grid_codes", None)
    answer = client.post("/v1/patrols", json=request)
    assert answer.status_code in (404, 422), answer.text
    assert answer.json()["field"] == field
    assert conn.execute(text("SELECT COUNT(*) FROM patrol_tasks")).scalar_one() == 0


def test_keys_act_within_their_scope(
    client: TestClient,
    conn: Connection,
    unit: dict[str, Any],
    unit_key: str,
    api_keys: dict[str, str],
) -> None:
    code, _, _ = grid(conn, 5)
    other = units.create_unit(conn, "volunteer team", "Mr Chen", code)
    mine = client.post("/v1/patrols", json=body(unit["id"], code), headers={"X-API-Key": unit_key})
    assert mine.status_code == 201
    theirs = client.post("/v1/patrols", json=body(other["id"], code))  # admin: any unit
    assert theirs.status_code == 201
    forbidden = client.post(
        "/v1/patrols", json=body(other["id"], code), headers={"X-API-Key": unit_key}
    )
    assert forbidden.status_code == 403 and forbidden.json()["field"] == "unit_id"
    app_key = {"X-API-Key": api_keys["system"]}  # the volunteers' app: grabs, never reserves
    assert (
        client.post("/v1/patrols", json=body(unit["id"], code), headers=app_key).status_code == 403
    )
    cancel = client.delete(f"/v1/patrols/{theirs.json()['id']}", headers={"X-API-Key": unit_key})
    assert cancel.status_code == 403
    (v,) = volunteers(conn, 1)
    grab = client.post(
        f"/v1/patrols/{mine.json()['id']}/claims", json={"responder_id": v}, headers=app_key
    )
    assert grab.status_code == 201
    dispatcher = {"X-API-Key": api_keys["dispatcher"]}
    assert (
        client.post(
            f"/v1/patrols/{mine.json()['id']}/claims", json={"responder_id": v}, headers=dispatcher
        ).status_code
        == 403
    )
    assert client.get(f"/v1/patrols/{mine.json()['id']}", headers=dispatcher).status_code == 200
    audit = client.get(
        "/v1/audit", params={"entity": "patrol_task", "entity_id": str(mine.json()["id"])}
    ).json()
    # The actor names the key (possibly with a "key:" prefix).
    entries = {(e["action"], e["actor"].removeprefix("key:")) for e in audit["entries"]}
    assert ("patrol.create", "school app") in entries and ("patrol.claim", "test-system") in entries
    claim_entry = next(e for e in audit["entries"] if e["action"] == "patrol.claim")
    assert claim_entry["after"]["responder_id"] == v


def test_near_lists_open_tasks_by_geodesic_distance(
    client: TestClient, conn: Connection, unit: dict[str, Any]
) -> None:
    _, lon, lat = grid(conn, 100)
    made = []
    for offset in (100, 101, 103, 1500):
        code, _, _ = grid(conn, offset)
        made.append(client.post("/v1/patrols", json={**body(unit["id"], code), "slots": 1}).json())
    (v,) = volunteers(conn, 1)
    client.post(f"/v1/patrols/{made[1]['id']}/claims", json={"responder_id": v})  # now full
    answer = client.get(
        "/v1/patrols", params={"near": f"{lon},{lat}", "radius_m": 20000, "status": "open"}
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()["patrols"]
    ids = [t["id"] for t in found]
    assert made[0]["id"] == ids[0] and made[1]["id"] not in ids and made[3]["id"] not in ids
    distances = [t["distance_m"] for t in found]
    assert distances == sorted(distances) and distances[0] == 0
    everything = client.get("/v1/patrols", params={"near": f"{lon},{lat}", "radius_m": 20000})
    assert made[1]["id"] in [t["id"] for t in everything.json()["patrols"]]
    by_grid = client.get("/v1/patrols", params={"grid": made[3]["grid_code"]}).json()["patrols"]
    assert [t["id"] for t in by_grid] == [made[3]["id"]]
    bad = client.get("/v1/patrols", params={"near": "117.6.1,24.5"})
    assert bad.status_code == 422 and bad.json()["field"] == "near"
    bad = client.get("/v1/patrols", params={"near": "117.6"})
    assert bad.status_code == 422 and bad.json()["field"] == "near"
    bad = client.get("/v1/patrols", params={"status": "sleeping"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"


def test_grab_cancel_and_refusals(
    client: TestClient, conn: Connection, unit: dict[str, Any]
) -> None:
    code, _, _ = grid(conn)
    task = client.post("/v1/patrols", json={**body(unit["id"], code), "slots": 2}).json()
    overlapping = client.post("/v1/patrols", json=body(unit["id"], code, hours_ahead=25)).json()
    a, b, c = volunteers(conn, 3)
    url = f"/v1/patrols/{task['id']}/claims"
    first = client.post(url, json={"responder_id": a})
    assert first.status_code == 201 and first.json()["slot_no"] == 1
    again = client.post(url, json={"responder_id": a})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert client.post(url, json={"responder_id": b}).status_code == 201
    full = client.post(url, json={"responder_id": c})
    assert full.status_code == 409 and full.json()["error"] == "full"
    overlap = client.post(f"/v1/patrols/{overlapping['id']}/claims", json={"responder_id": a})
    assert overlap.status_code == 409 and overlap.json()["error"] == "overlap"
    assert overlap.json()["field"] == "responder_id"
    cancelled = client.delete(f"{url}/{b}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(url, json={"responder_id": c}).status_code == 201
    assert client.delete(f"{url}/{b}").status_code == 404
    unknown = client.post(url, json={"responder_id": 10**15})
    assert unknown.status_code == 404 and unknown.json()["field"] == "responder_id"
    shown = client.get(f"/v1/patrols/{task['id']}").json()
    assert [(x["responder_id"], x["status"]) for x in shown["claims"]] == [
        (a, "active"),
        (c, "active"),
        (b, "cancelled"),
    ]
    assert client.delete(f"/v1/patrols/{task['id']}").json()["status"] == "cancelled"
    closed = client.post(url, json={"responder_id": b})
    assert closed.status_code == 409 and closed.json()["error"] == "closed"


def test_a_late_cancellation_is_a_no_show(
    client: TestClient, conn: Connection, unit: dict[str, Any]
) -> None:
    code, _, _ = grid(conn)
    task = client.post("/v1/patrols", json=body(unit["id"], code, hours_ahead=1)).json()
    (v,) = volunteers(conn, 1)
    client.post(f"/v1/patrols/{task['id']}/claims", json={"responder_id": v})
    late = client.delete(f"/v1/patrols/{task['id']}/claims/{v}")
    assert late.status_code == 200 and late.json()["status"] == "no_show"


def test_check_in_puts_the_volunteer_live_and_available_for_dispatch(
    client: TestClient, conn: Connection, unit: dict[str, Any]
) -> None:
    code, lon, lat = grid(conn, 200)
    task = client.post("/v1/patrols", json=body(unit["id"], code, hours_ahead=0.2)).json()
    (v,) = volunteers(conn, 1, offset=17)
    conn.execute(text("UPDATE responders SET status = 'off_duty' WHERE id = :v"), {"v": v})
    client.post(f"/v1/patrols/{task['id']}/claims", json={"responder_id": v})
    url = f"/v1/patrols/{task['id']}/claims/{v}"
    away = client.post(f"{url}/check-in", json={"lon": lon + 0.05, "lat": lat})
    assert away.status_code == 409 and away.json()["error"] == "outside_area"
    assert "m from the patrol area" in away.json()["message"]
    bad = client.post(f"{url}/check-in", json={"lon": 200, "lat": lat})
    assert bad.status_code == 422 and bad.json()["field"] == "lon"
    checked = client.post(f"{url}/check-in", json={"lon": lon, "lat": lat})
    assert checked.status_code == 200, checked.text
    assert checked.json()["check_in"] == {
        "lon": pytest.approx(lon),
        "lat": pytest.approx(lat),
        "crs": "wgs84",
    }
    assert checked.json()["checked_in_at"].endswith("Z")
    nearest = client.get(
        "/v1/responders/nearest", params={"lon": lon, "lat": lat, "roles": "volunteer", "n": 1}
    ).json()["results"]
    assert nearest[0]["responder_id"] == v
    assert nearest[0]["status"] == "available" and nearest[0]["position"]["source"] == "live"
    out = client.post(f"{url}/check-out", json={"lon": lon, "lat": lat})
    assert out.status_code == 200 and out.json()["checked_out_at"] is not None
    early = client.post("/v1/patrols", json=body(unit["id"], code, hours_ahead=5)).json()
    (w,) = volunteers(conn, 1, offset=18)
    client.post(f"/v1/patrols/{early['id']}/claims", json={"responder_id": w})
    too_early = client.post(
        f"/v1/patrols/{early['id']}/claims/{w}/check-in", json={"lon": lon, "lat": lat}
    )
    assert too_early.status_code == 409 and too_early.json()["error"] == "outside_window"


def test_figures_leaderboard_and_hours_layer(
    client: TestClient, conn: Connection, unit: dict[str, Any]
) -> None:
    code, lon, lat = grid(conn)
    past = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Zhangzhou
    rules = PatrolRules()
    spec = PatrolSpec(
        unit_id=unit["id"],
        start=past + timedelta(hours=1),
        end=past + timedelta(hours=4),
        slots=2,
        grid_codes=[code],
    )
    task = patrols.create_patrol(conn, spec, rules, now=past)
    a, b = volunteers(conn, 2)
    for v in (a, b):
        patrols.grab(conn, task["id"], v, now=past)
    patrols.check_in(
        conn, task["id"], a, lon, lat, rules, now=past + timedelta(hours=1), live_fix=False
    )
    patrols.check_out(
        conn,
        task["id"],
        a,
        lon,
        lat,
        rules,
        now=past + timedelta(hours=3, minutes=30),
        live_fix=False,
    )
    window = {"from": "2026-11-01T00:00:00+08:00", "to": "2026-11-30T00:00:00+08:00"}
    stats = client.get("/v1/patrols/stats", params={**window, "level": "township"})
    assert stats.status_code == 200, stats.text
    assert stats.json()["from"] == "2026-10-31T16:00:00Z"
    (row,) = [r for r in stats.json()["rows"] if r["area_code"] == code[:9]]
    assert row["week"] == "2026-W45" and row["patrol_hours"] == 2.5
    assert row["slots_offered"] == 2 and row["slots_filled"] == 2 and row["fill_rate"] == 1.0
    assert row["volunteers"] == 1 and row["no_shows"] == 1
    leaders = client.get("/v1/patrols/leaderboard", params={**window, "by": "unit"}).json()
    assert leaders["leaders"][0]["id"] == unit["id"]
    assert leaders["leaders"][0]["patrol_hours"] == 2.5
    people = client.get("/v1/patrols/leaderboard", params=window).json()["leaders"]
    assert [(p["rank"], p["id"]) for p in people] == [(1, a)]
    layer = client.get("/v1/patrols/hours.geojson", params=window)
    assert layer.headers["content-type"].startswith("application/geo+json")
    features = {f["id"]: f for f in layer.json()["features"]}
    assert features[code]["properties"]["patrol_hours"] == 2.5
    assert features[code]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    bad = client.get("/v1/patrols/stats", params={**window, "level": "planet"})
    assert bad.status_code == 422 and bad.json()["field"] == "level"
    naive = client.get(
        "/v1/patrols/stats", params={"from": "2026-11-01T00:00:00", "to": window["to"]}
    )
    assert naive.status_code == 422 and naive.json()["field"] == "from"


def test_openapi_documents_every_patrol_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in [
        ("/v1/units", "post"),
        ("/v1/units", "get"),
        ("/v1/patrols", "post"),
        ("/v1/patrols", "get"),
        ("/v1/patrols/{task_id}", "delete"),
        ("/v1/patrols/{task_id}/claims", "post"),
        ("/v1/patrols/{task_id}/claims/{responder_id}", "delete"),
        ("/v1/patrols/{task_id}/claims/{responder_id}/check-in", "post"),
        ("/v1/patrols/{task_id}/claims/{responder_id}/check-out", "post"),
        ("/v1/patrols/stats", "get"),
        ("/v1/patrols/leaderboard", "get"),
        ("/v1/patrols/hours.geojson", "get"),
    ]:
        assert method in paths[path], (path, method)
    assert "409" in paths["/v1/patrols/{task_id}/claims"]["post"]["responses"]


# -- real concurrency over HTTP ------------------------------------------------------------------
@pytest.fixture()
def committed_task(engine: Engine) -> Iterator[dict[str, Any]]:
    """A committed unit with a 5-slot task and 50 volunteers; all removed afterwards."""
    with engine.begin() as c:
        code, _, _ = grid(c)  # type: ignore[arg-type]
        unit = units.create_unit(c, "http race unit", "nobody", code, actor="http-race")
        start = datetime.now(UTC) + timedelta(days=3)
        spec = PatrolSpec(
            unit_id=unit["id"],
            start=start,
            end=start + timedelta(hours=2),
            slots=5,
            grid_codes=[code],
        )
        task = patrols.create_patrol(c, spec, PatrolRules(), acting=patrols.Acting("http-race"))
        ids = volunteers(c, 50)  # type: ignore[arg-type]
    try:
        yield {"task": task["id"], "volunteers": ids}
    finally:
        with engine.begin() as c:
            c.execute(text("DELETE FROM patrol_tasks WHERE unit_id = :u"), {"u": unit["id"]})
            c.execute(text("DELETE FROM units WHERE id = :u"), {"u": unit["id"]})
            c.execute(
                text(
                    "DELETE FROM audit_log WHERE (entity = 'unit' AND entity_id = :u) "
                    "OR (entity = 'patrol_task' AND entity_id = :t)"
                ),
                {"u": str(unit["id"]), "t": str(task["id"])},
            )


def test_fifty_concurrent_grabs_over_http_fill_five_slots(
    engine: Engine,
    settings: Settings,
    test_database_url: str,
    api_keys: dict[str, str],
    committed_task: dict[str, Any],
) -> None:
    app = create_app(
        settings.model_copy(update={"database_url": test_database_url, "pool_size": 20})
    )
    task = committed_task["task"]
    barrier = threading.Barrier(50)
    answers: dict[int, Any] = {}
    with TestClient(app, headers={"X-API-Key": api_keys["system"]}) as client:
        client.get(f"/v1/patrols/{task}")  # authenticate once

        def grab(v: int) -> None:
            barrier.wait()
            answers[v] = client.post(f"/v1/patrols/{task}/claims", json={"responder_id": v})

        threads = [threading.Thread(target=grab, args=(v,)) for v in committed_task["volunteers"]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    codes = sorted(r.status_code for r in answers.values())
    assert codes == [201] * 5 + [409] * 45
    assert {r.json()["error"] for r in answers.values() if r.status_code == 409} == {"full"}
    with engine.connect() as c:
        count = c.execute(
            text("SELECT COUNT(*) FROM patrol_claims WHERE task_id = :t AND status = 'active'"),
            {"t": task},
        ).scalar_one()
    assert count == 5


def test_filters_naming_nothing_are_404_and_ids_are_strict(
    client: TestClient, conn: Connection, unit: dict[str, Any]
) -> None:
    for url, params, field in [
        ("/v1/patrols", {"grid": "350600999999"}, "grid"),
        ("/v1/patrols", {"unit_id": 999999999}, "unit_id"),
        ("/v1/units", {"grid": "350600999999"}, "grid"),
        ("/v1/service-posts", {"grid": "350600999999"}, "grid"),
        ("/v1/service-posts", {"area": "350699"}, "area"),
        ("/v1/service-posts", {"cadre_id": 10**15}, "cadre_id"),
    ]:
        answer = client.get(url, params=params)
        assert answer.status_code == 404, (url, params, answer.text)
        assert answer.json()["field"] == field
    code, _, _ = grid(conn)
    assert client.get("/v1/patrols", params={"grid": code}).json() == {"patrols": []}
    task = client.post("/v1/patrols", json=body(unit["id"], code)).json()
    for bad in ("7", True, 1.0):
        answer = client.post(f"/v1/patrols/{task['id']}/claims", json={"responder_id": bad})
        assert answer.status_code == 422 and answer.json()["field"] == "responder_id", bad
    answer = client.post("/v1/patrols", json={**body(unit["id"], code), "slots": "3"})
    assert answer.status_code == 422 and answer.json()["field"] == "slots"
