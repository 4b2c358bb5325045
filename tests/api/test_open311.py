"""Open311 GeoReport v2 at /open311/v2: raw JSON and XML, a real client library, privacy, the
error format, key rules, rate limits and the crs extension."""

from __future__ import annotations

import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gridgis.crs import wgs84_to_gcj02
from gridgis.settings import Settings

BASE = "/open311/v2"
CENTRAL = {"lat": "24.51", "long": "117.65"}  # central 芗城区, a community grid
PRIVATE = {
    "email": "reporter@example.cn",
    "device_id": "device-8d1f2a",
    "first_name": "Xiaoming",
    "last_name": "Chen",
    "phone": "+86 138 0000 0000",
}


def _app(settings: Settings, database_url: str, conn: Connection, **changes: Any) -> Any:
    """The app with its sessions inside the test's rolled-back transaction."""
    from api.deps import get_reader, get_session
    from api.main import create_app

    app = create_app(settings.model_copy(update={"database_url": database_url, **changes}))

    def session_in_test_transaction() -> Iterator[Session]:
        with Session(bind=conn, join_transaction_mode="create_savepoint") as db:
            yield db
            db.commit()

    @contextmanager
    def open_reader() -> Iterator[Connection]:
        savepoint = conn.begin_nested()
        try:
            yield conn
        except Exception:
            savepoint.rollback()
            raise
        savepoint.commit()

    def reader() -> Callable[[], AbstractContextManager[Connection]]:
        return open_reader

    app.dependency_overrides[get_session] = session_in_test_transaction
    app.dependency_overrides[get_reader] = reader
    return app


@pytest.fixture()
def make_client(
    settings: Settings, test_database_url: str, conn: Connection
) -> Iterator[Callable[..., TestClient]]:
    """TestClients with no key of their own and the given setting changes."""
    opened: list[TestClient] = []

    def make(**changes: Any) -> TestClient:
        client = TestClient(_app(settings, test_database_url, conn, **changes))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture()
def open311(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def _post(
    client: TestClient, key: str | None, fmt: str = "json", **fields: str
) -> Any:  # httpx.Response
    form = {"service_code": "sanitation", **CENTRAL, "description": "垃圾堆积", **fields}
    if key is not None:
        form["api_key"] = key
    return client.post(f"{BASE}/requests.{fmt}", data=form)


def _incident_count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM incidents")).scalar_one())


def _xml(response: Any) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def _w3c(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(hours=8), value
    return parsed


# -- services ------------------------------------------------------------------------------------
def test_services_are_the_incident_categories_in_json_and_xml(
    open311: TestClient, conn: Connection
) -> None:
    codes = sorted(conn.execute(text("SELECT code FROM incident_categories")).scalars())
    response = open311.get(f"{BASE}/services.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    services = response.json()
    assert [s["service_code"] for s in services] == codes
    noise = next(s for s in services if s["service_code"] == "noise")
    assert noise == {
        "service_code": "noise",
        "service_name": "噪音扰民",
        "description": "Noise nuisance",
        "metadata": False,
        "type": "realtime",
        "keywords": "noise nuisance,grid_worker",
        "group": "public_service",
    }
    root = _xml(open311.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == codes
    xml_noise = next(s for s in root if s.findtext("service_code") == "noise")
    assert xml_noise.findtext("metadata") == "false"
    assert xml_noise.findtext("service_name") == "噪音扰民"


def test_service_definition_and_unknown_service(open311: TestClient) -> None:
    assert open311.get(f"{BASE}/services/noise.json").json() == {
        "service_code": "noise",
        "attributes": [],
    }
    root = _xml(open311.get(f"{BASE}/services/noise.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "noise"
    missing = open311.get(f"{BASE}/services/no_such.json")
    assert missing.status_code == 404
    [error] = missing.json()
    assert error["code"] == 404 and error["description"].startswith("service_code:")
    missing_xml = _xml(open311.get(f"{BASE}/services/no_such.xml"))
    assert missing_xml.tag == "errors"
    assert missing_xml.findtext("error/code") == "404"


def test_jurisdiction_id(open311: TestClient, settings: Settings) -> None:
    ours = settings.open311_jurisdiction_id
    assert open311.get(f"{BASE}/services.json", params={"jurisdiction_id": ours}).status_code == 200
    other = open311.get(f"{BASE}/services.json", params={"jurisdiction_id": "sfgov.org"})
    assert other.status_code == 404
    assert other.json()[0]["description"].startswith("jurisdiction_id:")


# -- POST requests -------------------------------------------------------------------------------
def test_post_makes_a_located_routed_incident_and_keeps_contacts_private(
    open311: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    response = _post(open311, api_keys["system"], **PRIVATE, media_url="https://img.example/1.jpg")
    assert response.status_code == 201, response.text
    [answer] = response.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] is None
    assert "网格服务站" in answer["service_notice"]
    incident_id = int(answer["service_request_id"])

    row = conn.execute(
        text(
            "SELECT i.source, i.grid_code, i.category, i.recommendation, r.email, r.device_id, "
            "r.phone, r.first_name, r.media_url FROM incidents i "
            "JOIN open311_requests r ON r.incident_id = i.id WHERE i.id = :id"
        ),
        {"id": incident_id},
    ).one()
    assert row.source == "open311"
    assert row.grid_code.startswith("350602")
    assert row.category == "sanitation"
    # Routed like any other sanitation report: to grid workers.
    assert {r["role"] for r in row.recommendation["responders"]} == {"grid_worker"}
    assert (row.email, row.device_id, row.phone, row.first_name) == (
        PRIVATE["email"],
        PRIVATE["device_id"],
        PRIVATE["phone"],
        PRIVATE["first_name"],
    )
    audit = conn.execute(
        text("SELECT actor FROM audit_log WHERE action = 'incident.create' AND entity_id = :id"),
        {"id": str(incident_id)},
    ).scalar_one()
    assert audit == "key:test-system"

    for path in (
        f"{BASE}/requests.json",
        f"{BASE}/requests.xml",
        f"{BASE}/requests/{incident_id}.json",
        f"{BASE}/requests/{incident_id}.xml",
    ):
        published = open311.get(path)
        assert published.status_code == 200, path
        for secret in PRIVATE.values():
            assert secret not in published.text, (path, secret)
        for name in ("email", "device_id", "phone", "first_name", "last_name"):
            assert name not in published.text, (path, name)

    [request] = open311.get(f"{BASE}/requests/{incident_id}.json").json()
    assert request["service_request_id"] == str(incident_id)
    assert request["status"] == "open"
    assert request["service_code"] == "sanitation"
    assert request["media_url"] == "https://img.example/1.jpg"
    assert request["status_notes"] == "已受理 (received)"
    assert request["expected_datetime"] is None
    assert _w3c(request["requested_datetime"]) == _w3c(request["updated_datetime"])
    assert abs(request["lat"] - 24.51) < 1e-9 and abs(request["long"] - 117.65) < 1e-9


def test_post_in_xml(open311: TestClient, api_keys: dict[str, str]) -> None:
    response = _post(open311, api_keys["system"], "xml")
    assert response.status_code == 201
    root = _xml(response)
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request is not None
    assert request.findtext("service_request_id", "").isdigit()
    assert request.find("account_id") is not None
    assert request.findtext("service_notice")


def test_post_needs_a_system_key(
    open311: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    before = _incident_count(conn)
    anonymous = _post(open311, None)
    assert anonymous.status_code == 401
    assert anonymous.json()[0]["code"] == 401
    wrong = _post(open311, "ggk_not-a-key")
    assert wrong.status_code == 401
    dispatcher = _post(open311, api_keys["dispatcher"], "xml")
    assert dispatcher.status_code == 403
    assert _xml(dispatcher).findtext("error/code") == "403"
    assert _incident_count(conn) == before
    # The header works as well as the form field.
    by_header = open311.post(
        f"{BASE}/requests.json",
        data={"service_code": "noise", **CENTRAL},
        headers={"X-API-Key": api_keys["system"]},
    )
    assert by_header.status_code == 201


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"service_code": "no_such"}, "service_code"),
        ({"lat": ""}, "lat"),
        ({"long": "east"}, "long"),
        ({"lat": "91"}, "lat"),
        ({"long": "nan"}, "long"),
        ({"crs": "EPSG:3857"}, "crs"),
        ({"description": "x" * 4001}, "description"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"media_url": "https://img.example/" + "a" * 2048}, "media_url"),
        ({"email": "not-an-address"}, "email"),
        ({"device_id": "d" * 101}, "device_id"),
        ({"phone": "call me"}, "phone"),
        ({"first_name": "a\nb"}, "first_name"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    open311: TestClient,
    api_keys: dict[str, str],
    conn: Connection,
    fields: dict[str, str],
    field: str,
    fmt: str,
) -> None:
    before = _incident_count(conn)
    response = _post(open311, api_keys["system"], fmt, **fields)
    assert response.status_code == 400, response.text
    if fmt == "json":
        [error] = response.json()
        assert set(error) == {"code", "description"}
        code, description = error["code"], error["description"]
    else:
        root = _xml(response)
        assert root.tag == "errors"
        code, description = (
            int(root.findtext("error/code", "0")),
            root.findtext("error/description", ""),
        )
    assert code == 400
    assert description.startswith(f"{field}:"), description
    assert _incident_count(conn) == before


def test_oversized_form_is_refused_before_parsing(
    open311: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    before = _incident_count(conn)
    response = _post(open311, api_keys["system"], description="x" * 20_000)
    assert response.status_code == 413
    assert response.json()[0]["description"].startswith("body:")
    assert _incident_count(conn) == before


def test_file_uploads_are_refused(open311: TestClient, api_keys: dict[str, str]) -> None:
    response = open311.post(
        f"{BASE}/requests.json",
        data={"service_code": "noise", **CENTRAL, "api_key": api_keys["system"]},
        files={"media": ("p.png", b"\x89PNG", "image/png")},
    )
    assert response.status_code == 400
    assert response.json()[0]["description"].startswith("media:")


def test_crs_extension_converts_chinese_app_coordinates(
    open311: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    lon, lat = 117.65, 24.51
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    response = _post(
        open311,
        api_keys["system"],
        lat=repr(float(gcj_lat)),
        long=repr(float(gcj_lon)),
        crs="GCJ-02",
    )
    assert response.status_code == 201
    incident_id = int(response.json()[0]["service_request_id"])
    stored = conn.execute(
        text("SELECT input_crs, ST_X(geom), ST_Y(geom) FROM incidents WHERE id = :id"),
        {"id": incident_id},
    ).one()
    assert stored[0] == "gcj02"
    assert abs(stored[1] - lon) < 1e-5 and abs(stored[2] - lat) < 1e-5
    [published] = open311.get(f"{BASE}/requests/{incident_id}.json").json()
    assert abs(published["long"] - lon) < 1e-5  # published in WGS84, as the spec says


# -- GET requests --------------------------------------------------------------------------------
def test_request_fields_follow_the_timeline(
    open311: TestClient, client: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    [answer] = _post(open311, api_keys["system"], service_code="neighbour_dispute").json()
    incident_id = int(answer["service_request_id"])
    incident = client.get(f"/v1/incidents/{incident_id}").json()
    top = incident["recommendation"]["responders"][0]
    assert top["role"] == "mediator"
    # The request was reported just now; the events follow it (within the clock tolerance).
    sent_at = datetime.now(UTC) + timedelta(seconds=1)
    arrived_at = sent_at + timedelta(minutes=1)
    events = [
        {"type": "dispatched", "responder_id": top["responder_id"], "at": sent_at.isoformat()},
        {"type": "arrived", "responder_id": top["responder_id"], "at": arrived_at.isoformat()},
    ]
    for event in events:
        assert client.post(f"/v1/incidents/{incident_id}/events", json=event).status_code == 201
    [request] = open311.get(f"{BASE}/requests/{incident_id}.json").json()
    assert request["agency_responsible"] == "人民调解委员会 (people's mediation committee)"
    assert request["status_notes"] == "处置人员已到场 (a responder is on scene)"
    assert request["status"] == "open"
    expected = _w3c(request["expected_datetime"])
    assert abs((expected - sent_at).total_seconds() - top["eta_s"]) < 1.0
    assert abs((_w3c(request["updated_datetime"]) - arrived_at).total_seconds()) < 1

    for event in (
        {
            "type": "mediated_success",
            "at": (arrived_at + timedelta(seconds=30)).isoformat(),
            "note": "双方达成调解协议",
        },
        {"type": "closed", "at": (arrived_at + timedelta(seconds=60)).isoformat()},
    ):
        assert client.post(f"/v1/incidents/{incident_id}/events", json=event).status_code == 201
    [request] = open311.get(f"{BASE}/requests/{incident_id}.json").json()
    assert request["status"] == "closed"
    assert request["status_notes"] == "已办结 (closed)"
    root = _xml(open311.get(f"{BASE}/requests/{incident_id}.xml"))
    assert root.findtext("request/status") == "closed"
    assert root.findtext("request/agency_responsible") == request["agency_responsible"]


def test_get_requests_filters(
    open311: TestClient, client: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    ids = [
        _post(open311, api_keys["system"], service_code=code).json()[0]["service_request_id"]
        for code in ("noise", "sanitation", "noise")
    ]
    # Incidents that did not come through Open311 are never listed.
    other = client.post(
        "/v1/incidents",
        json={
            "external_id": "not-open311",
            "category": "noise",
            "lon": 117.65,
            "lat": 24.51,
            "reported_at": datetime.now(UTC).isoformat(),
        },
    ).json()["id"]

    listed = [r["service_request_id"] for r in open311.get(f"{BASE}/requests.json").json()]
    assert set(ids) <= set(listed) and str(other) not in listed
    assert listed == sorted(listed, key=int, reverse=True)
    noise = open311.get(f"{BASE}/requests.json", params={"service_code": "noise"}).json()
    assert {r["service_request_id"] for r in noise} >= {ids[0], ids[2]}
    assert all(r["service_code"] == "noise" for r in noise)
    both = open311.get(f"{BASE}/requests.json", params={"service_request_id": f"{ids[0]},{ids[1]}"})
    assert {r["service_request_id"] for r in both.json()} == {ids[0], ids[1]}
    assert open311.get(f"{BASE}/requests.json", params={"status": "closed"}).json() == []
    assert len(open311.get(f"{BASE}/requests.json", params={"status": "open,closed"}).json()) >= 3
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert open311.get(f"{BASE}/requests.json", params={"start_date": future}).json() == []
    xml_ids = [
        r.findtext("service_request_id")
        for r in _xml(open311.get(f"{BASE}/requests.xml", params={"service_code": "noise"}))
    ]
    assert xml_ids == [r["service_request_id"] for r in noise]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "end_date"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-01-01T00:00:00"}, "end_date"),
        ({"status": "pending"}, "status"),
        ({"service_code": "noise,bogus"}, "service_code"),
        ({"service_request_id": "1,x"}, "service_request_id"),
    ],
)
def test_bad_filters_are_400s_naming_the_parameter(
    open311: TestClient, params: dict[str, str], field: str
) -> None:
    response = open311.get(f"{BASE}/requests.json", params=params)
    assert response.status_code == 400
    assert response.json()[0]["description"].startswith(f"{field}:")
    root = _xml(open311.get(f"{BASE}/requests.xml", params=params))
    assert root.findtext("error/code") == "400"


def test_unknown_request_and_bad_format(open311: TestClient) -> None:
    missing = open311.get(f"{BASE}/requests/999999999.json")
    assert missing.status_code == 404
    assert missing.json()[0]["description"].startswith("service_request_id:")
    assert open311.get(f"{BASE}/requests.csv").status_code in (400, 404)


def test_a_city_can_require_keys_for_reading(
    make_client: Callable[..., TestClient], api_keys: dict[str, str]
) -> None:
    closed = make_client(open311_read_requires_key=True)
    assert closed.get(f"{BASE}/services.json").status_code == 200
    refused = closed.get(f"{BASE}/requests.json")
    assert refused.status_code == 401
    assert refused.json()[0]["code"] == 401
    assert closed.get(f"{BASE}/requests.xml").status_code == 401
    allowed = closed.get(f"{BASE}/requests.json", params={"api_key": api_keys["dispatcher"]})
    assert allowed.status_code == 200
    schema = closed.get("/openapi.json", headers={"X-API-Key": api_keys["admin"]}).json()
    assert schema["paths"][f"{BASE}/requests.{{format}}"]["get"].get("security") != []
    open_schema = make_client().get("/openapi.json", headers={"X-API-Key": api_keys["admin"]})
    assert open_schema.json()["paths"][f"{BASE}/requests.{{format}}"]["get"]["security"] == []


def test_rate_limit_per_address_and_per_key(
    make_client: Callable[..., TestClient], api_keys: dict[str, str]
) -> None:
    limited = make_client(open311_requests_per_minute=3)
    for _ in range(3):
        assert limited.get(f"{BASE}/services.json").status_code == 200
    over = limited.get(f"{BASE}/services.xml")
    assert over.status_code == 429
    assert int(over.headers["retry-after"]) >= 1
    assert _xml(over).findtext("error/code") == "429"

    # A key's budget is its own: another client address with the same key is still limited.
    keyed = make_client(open311_requests_per_minute=2)
    for _ in range(2):
        assert _post(keyed, api_keys["system"]).status_code == 201
    again = _post(keyed, api_keys["system"])
    assert again.status_code == 429
    assert again.json()[0]["code"] == 429


def test_rate_limiter_refills_over_time() -> None:
    from api.rate_limit import RateLimiter
    from gridgis.errors import RateLimited

    limiter = RateLimiter(per_minute=60)
    for _ in range(60):
        limiter.take("address:a", now=100.0)
    with pytest.raises(RateLimited) as raised:
        limiter.take("address:a", now=100.0)
    assert raised.value.retry_after_s == 1
    limiter.take("address:b", now=100.0)  # another address has its own budget
    limiter.take("address:a", now=101.0)  # one second refills one request


def test_openapi_documents_open311(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, method in (
        ("/services.{format}", "get"),
        ("/services/{service_code}.{format}", "get"),
        ("/requests.{format}", "get"),
        ("/requests.{format}", "post"),
        ("/requests/{service_request_id}.{format}", "get"),
    ):
        operation = paths[BASE + path][method]
        assert "text/xml" in operation["responses"]["200" if method == "get" else "201"]["content"]
    post = paths[f"{BASE}/requests.{{format}}"]["post"]
    form = post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"service_code", "lat", "long", "api_key", "crs", "media_url"} <= set(form["properties"])


# -- a real Open311 client library ---------------------------------------------------------------
@pytest.fixture()
def live_server(settings: Settings, test_database_url: str, conn: Connection) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 (a free port), inside the test's transaction."""
    import uvicorn

    app = _app(settings, test_database_url, conn)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}{BASE}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_library(
    live_server: str,
    open311: TestClient,
    api_keys: dict[str, str],
    settings: Settings,
    fmt: str,
) -> None:
    from georeport import GeoReport

    [answer] = _post(open311, api_keys["system"], service_code="noise", **PRIVATE).json()
    request_id = answer["service_request_id"]
    city = GeoReport(live_server, jurisdiction=settings.open311_jurisdiction_id, output_format=fmt)

    services = city.get_service_list()
    assert "noise" in [s["service_code"] for s in services]
    definition = city.get_service_definition("noise")
    assert definition["service_code"] == "noise"

    listed = city.get_service_requests(service_code="noise", status="open")
    listed = listed if isinstance(listed, list) else [listed]  # xmltodict: one is not a list
    assert request_id in [r["service_request_id"] for r in listed]
    one = city.get_service_request(request_id)
    assert one["service_request_id"] == request_id
    assert one["status"] == "open"
    assert one["service_code"] == "noise"
    assert float(one["lat"]) == pytest.approx(24.51)
    assert not set(PRIVATE) & set(one)


def test_form_fields_are_values_not_sql(
    open311: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    payload = "'; DROP TABLE areas; --"
    stored = _post(open311, api_keys["system"], description=payload, device_id=payload)
    assert stored.status_code == 201
    incident_id = int(stored.json()[0]["service_request_id"])
    [published] = open311.get(f"{BASE}/requests/{incident_id}.json").json()
    assert published["description"] == payload
    refused = _post(open311, api_keys["system"], service_code=payload)
    assert refused.status_code == 400
    assert conn.execute(text("SELECT count(*) FROM areas")).scalar_one() > 2000
