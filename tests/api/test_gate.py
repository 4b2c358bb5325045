"""Authentication comes before the body, and bodies are capped before they are read: a
request without a valid key is refused without reading a byte of its body; a body larger than
its route allows is refused from its Content-Length, or while it streams in."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from api.gate import REJECTIONS_LOGGED_PER_WINDOW


def _asgi(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: list[bytes],
) -> tuple[int, dict[str, Any], int]:
    """Send a request straight to the ASGI app; returns (status, JSON body, chunks read)."""
    read = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        if read >= len(chunks):
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.9", 50000),
        "server": ("testserver", 80),
    }
    client.portal.call(client.app, scope, receive, send)  # type: ignore[union-attr]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), read


MEGABYTE = [b"[" + b"1," * 500_000 + b"1]"]


def test_no_key_is_refused_before_the_body_is_read(client: TestClient) -> None:
    for headers in ({}, {"X-API-Key": "ggk_not-a-key"}):
        status, body, read = _asgi(
            client,
            "POST",
            "/v1/positions/batch",
            {"content-type": "application/json", **headers},
            MEGABYTE * 12,
        )
        assert (status, read) == (401, 0), (status, body)
        assert body["field"] == "X-API-Key"


def test_malformed_json_without_a_key_is_401(client: TestClient) -> None:
    response = client.post(
        "/v1/incidents", content=b"{not json", headers={"X-API-Key": "", "content-type": "x"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"]


def test_wrong_role_is_refused_before_the_body_is_read(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    status, _, read = _asgi(
        client,
        "POST",
        "/v1/positions/batch",
        {"content-type": "application/json", "X-API-Key": api_keys["planner"]},
        MEGABYTE,
    )
    assert (status, read) == (403, 0)


def test_declared_oversize_body_is_refused_unread(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    limit = client.app.state.settings.max_json_body_bytes  # type: ignore[attr-defined]
    status, body, read = _asgi(
        client,
        "POST",
        "/v1/positions/batch",
        {
            "content-type": "application/json",
            "content-length": str(limit + 1),
            "X-API-Key": api_keys["system"],
        },
        MEGABYTE * 5,
    )
    assert (status, read) == (413, 0)
    assert body["error"] == "payload_too_large" and body["field"] == "body"


def test_streamed_oversize_body_stops_at_the_limit(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    """No Content-Length (chunked): reading stops at the chunk that crosses the limit."""
    status, body, read = _asgi(
        client,
        "POST",
        "/v1/positions/batch",
        {"content-type": "application/json", "X-API-Key": api_keys["system"]},
        MEGABYTE * 12,
    )
    assert status == 413 and body["error"] == "payload_too_large"
    assert read == 5  # 4 MiB limit: the fifth megabyte crosses it, the rest is never read


def test_upload_is_capped_while_it_streams(
    client: TestClient, api_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = api_keys["admin"]
    settings = client.app.state.settings  # type: ignore[attr-defined]
    monkeypatch.setattr(settings, "max_upload_bytes", 2 * 1024 * 1024)
    boundary = "gridgisboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="level"\r\n\r\ngrid\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.geojson"'
        "\r\nContent-Type: application/geo+json\r\n\r\n"
    ).encode()
    chunks = [head] + [b" " * 1024 * 1024] * 10 + [f"\r\n--{boundary}--\r\n".encode()]
    status, body, read = _asgi(
        client,
        "POST",
        "/v1/imports",
        {"content-type": f"multipart/form-data; boundary={boundary}", "X-API-Key": admin},
        chunks,
    )
    assert status == 413, body
    assert read <= 5  # 2 MiB + 1 MiB for the form: the rest was never received


def test_the_largest_legal_batch_fits_the_json_limit(client: TestClient) -> None:
    at = datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC).isoformat()
    fix = {
        "responder_id": 2**63 - 1,
        "lon": -179.12345678901234,
        "lat": -89.12345678901234,
        "recorded_at": at,
        "crs": "wgs84",
    }
    body = json.dumps({"positions": [fix] * 10_000}, indent=2)
    limit = client.app.state.settings.max_json_body_bytes  # type: ignore[attr-defined]
    assert len(body) < limit


def test_refusals_are_logged_rate_limited(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gridgis.security"):
        for _ in range(REJECTIONS_LOGGED_PER_WINDOW + 5):
            _asgi(client, "GET", "/v1/areas", {"X-API-Key": "ggk_abcdefgh-wrong"}, [b""])
    lines = [r.getMessage() for r in caplog.records if r.name == "gridgis.security"]
    assert len(lines) == REJECTIONS_LOGGED_PER_WINDOW
    assert "401 GET /v1/areas from 127.0.0.9 key=ggk_abcd" in lines[0]
    assert "ggk_abcdefgh" not in " ".join(lines)  # never more of the key than its prefix
