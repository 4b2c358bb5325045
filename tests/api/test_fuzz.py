"""Hostile input: schemathesis against the app's own OpenAPI, and SQL injection in every text."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    positive_data_acceptance,
)
from sqlalchemy import Connection, text

from api.security import permission_for
from gridgis.times import RFC3339_UTC

# Cases per operation and mode: about 40 operations x 2 modes stay well under a minute.
EXAMPLES = int(os.environ.get("GRIDGIS_FUZZ_EXAMPLES", "6"))
# A coverage run computes the whole city (about a second each): fewer of those.
SLOW = {"POST /v1/coverage/runs": 2}
# The schema says what is well-formed; whether a category, role or time makes sense is the
# domain's call (422 with `field`), so schema-valid input may be rejected. And some input the
# schema rules out is accepted on purpose: unknown query parameters are ignored, and pydantic's
# lax mode reads `true` as 1 and a number as a Unix time; neither reaches SQL as anything else.
EXCLUDED_CHECKS = [positive_data_acceptance, negative_data_rejection]
# Streams that never end by design (server-sent events): tested in tests/api/test_board_api.py
# and in the browser.
ENDLESS = {"/v1/stream"}


LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
FREE_TEXT = {"description", "note", "external_id", "name", "label", "message", "ref", "source"}


def _times(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _times(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _times(v, key)
    elif isinstance(value, str) and key not in FREE_TEXT and LOOKS_LIKE_TIME.match(value):
        yield value


@schemathesis.check
def times_are_rfc3339_utc(ctx: Any, response: Any, case: Any) -> None:
    """Every time in a JSON answer is RFC 3339 in UTC with Z."""
    if "json" not in response.headers.get("content-type", [""])[0]:
        return
    bad = [t for t in _times(response.json()) if not RFC3339_UTC.match(t)]
    if bad:
        raise AssertionError(f"times not in RFC 3339 UTC with Z: {bad[:5]}")


def _fuzz(operation: Any, mode: GenerationMode, key: str) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=min(EXAMPLES, SLOW.get(operation.label, EXAMPLES)),
        deadline=None,
        database=None,
        derandomize=os.environ.get("GRIDGIS_FUZZ_RANDOM") is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers={"X-API-Key": key},
            excluded_checks=EXCLUDED_CHECKS,
            additional_checks=[times_are_rfc3339_utc],
        )

    run()


def _explain(exc: BaseException) -> str:
    """The failure with its sub-exceptions (hypothesis groups a flaky failure's first cause)."""
    parts = [str(exc)]
    for sub in getattr(exc, "exceptions", ()):
        parts.append(f"  caused by {type(sub).__name__}: {_explain(sub)}")
    return "\n".join(parts)


def test_api_conforms_to_its_schema(client: TestClient, api_keys: dict[str, str]) -> None:
    """No 5xx, every status and body as documented, hostile input rejected (admin key)."""
    # Inputs, not quotas, are under test here (tests/api/test_quotas.py has those).
    client.app.state.heavy_quota.per_minute = 1_000_000  # type: ignore[attr-defined]
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures: dict[str, str] = {}
    timings: dict[str, float] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ENDLESS:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            name = f"{operation.label} [{mode.value}]"
            started = time.perf_counter()
            try:
                _fuzz(operation, mode, api_keys["admin"])
            except Unsatisfiable:
                pass  # nothing to negate (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:
                failures[name] = _explain(exc)[:3000]
            timings[name] = time.perf_counter() - started
    for name, seconds in sorted(timings.items(), key=lambda t: -t[1])[:8]:
        print(f"{seconds:6.2f} s  {name}")
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


# -- SQL injection through every text input ------------------------------------------------------
PAYLOADS = (
    "'; DROP TABLE areas; --",
    "' OR '1'='1",
    "1); DELETE FROM responders; --",
    "x' UNION SELECT key_hash FROM api_keys --",
    "'; SELECT pg_sleep(3); --",
    # Stored and shown later (maps, console): must stay text there too (tests/api/test_map_xss.py).
    "${alert(1)}`+alert(2)+`</script><img src=x onerror=alert(3)>",
)
# Tables whose rows no request below may change (responders and incidents may gain rows).
GUARDED = ("areas", "area_pieces", "generations", "roles", "api_keys", "incident_categories")
REQUIRED_QUERY = {"lon": 117.65, "lat": 24.51}
# Valid values for every required query parameter (the injected one replaces its own).
REQUIRED_PARAMS = {
    **REQUIRED_QUERY,
    "q": "芗城",
    "level": "grid",
    "zoom": 12,
    "bbox": "117.6,24.5,117.7,24.6",
    "responder_ids": "1",
}
NOW = datetime.now(UTC)


def _bodies(incident_id: int) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid body per write route; each string in it is replaced by each payload in turn."""
    recent = (NOW - timedelta(minutes=5)).isoformat()
    return {
        ("POST", "/v1/incidents"): {
            "external_id": "inj-1",
            "category": "theft",
            **REQUIRED_QUERY,
            "crs": "wgs84",
            "reported_at": recent,
            "description": "ok",
        },
        ("POST", "/v1/incidents/{id}/events"): {"type": "referred", "at": recent, "note": "ok"},
        ("POST", "/v1/responders"): {
            "name": "ok",
            "role": "volunteer",
            "home": {**REQUIRED_QUERY, "crs": "wgs84"},
            "skills": ["first_aid"],
            "ref": "inj-ref",
            "station_code": "x",
        },
        ("PATCH", "/v1/responders/{responder_id}"): {
            "name": "ok",
            "role": "volunteer",
            "status": "available",
            "skills": ["x"],
            "station_code": "x",
            "home": {**REQUIRED_QUERY, "crs": "wgs84"},
        },
        ("PUT", "/v1/responders/{responder_id}/position"): {
            **REQUIRED_QUERY,
            "recorded_at": recent,
            "crs": "wgs84",
        },
        ("POST", "/v1/positions/batch"): {
            "positions": [{"responder_id": 1, **REQUIRED_QUERY, "recorded_at": recent}]
        },
        ("POST", "/v1/coverage/runs"): {"roles": ["volunteer"], "statuses": ["available"]},
        ("POST", "/v1/coverage/plan"): {
            "add": 1,
            "role": "volunteer",
            "roles": ["volunteer"],
            "statuses": ["available"],
        },
    }


def _with_payload(value: Any, payload: str) -> Iterator[Any]:
    """Copies of `value` with one of its strings replaced by `payload`, for each string."""
    if isinstance(value, str):
        yield payload
    elif isinstance(value, dict):
        for key, item in value.items():
            for changed in _with_payload(item, payload):
                yield {**value, key: changed}
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for changed in _with_payload(item, payload):
                yield [*value[:i], changed, *value[i + 1 :]]


def _is_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" or any(
        s.get("type") == "string" for s in schema.get("anyOf", [])
    )


def _guarded_state(conn: Connection) -> dict[str, Any]:
    tables = conn.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    ).scalars()
    counts = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in GUARDED}
    return {"tables": list(tables), "counts": counts}


def test_sql_injection_in_every_text_input_does_no_harm(
    client: TestClient, conn: Connection
) -> None:
    client.app.state.heavy_quota.per_minute = 1_000_000  # type: ignore[attr-defined]
    responder = conn.execute(text("SELECT MIN(id) FROM responders")).scalar_one()
    incident = client.post(
        "/v1/incidents",
        json={**_bodies(0)[("POST", "/v1/incidents")], "external_id": "inj-target"},
    ).json()["id"]
    path_ids = {"id": incident, "responder_id": responder, "run_id": 1, "generation_id": 1}
    bodies = _bodies(incident)
    before = _guarded_state(conn)
    requests: list[tuple[str, str, dict[str, Any]]] = []
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, operation in operations.items():
            method = method.upper()
            if (method, path) == ("POST", "/v1/imports"):
                continue  # a file upload: its text is file content, parsed by GDAL, not SQL
            parameters = operation.get("parameters", [])
            required = {
                p["name"]: REQUIRED_PARAMS[p["name"]]
                for p in parameters
                if p["in"] == "query" and p.get("required")
            }
            concrete = path
            for name, value in path_ids.items():
                concrete = concrete.replace("{" + name + "}", str(value))
            for payload in PAYLOADS:
                for p in parameters:
                    if p["in"] == "path" and _is_text(p["schema"]):
                        url = path.replace("{" + p["name"] + "}", quote(payload, safe=""))
                        requests.append((method, url, {"params": required}))
                    elif p["in"] == "query" and _is_text(p["schema"]):
                        params = {**required, p["name"]: payload}
                        requests.append((method, concrete, {"params": params}))
                for body in _with_payload(bodies.get((method, path)), payload):
                    requests.append((method, concrete, {"params": required, "json": body}))
    assert len(requests) >= 250  # every text input, five payloads each
    slow = []
    statuses: Counter[int] = Counter()
    for method, url, kwargs in requests:
        started = time.perf_counter()
        response = client.request(method, url, **kwargs)
        seconds = time.perf_counter() - started
        statuses[response.status_code] += 1
        assert response.status_code < 500, (method, url, kwargs, response.text)
        # Open311 answers invalid input with 400, as its specification says.
        invalid = 400 if url.startswith("/open311/") else 422
        expected = (200, 201, 204, 404, 409, invalid)
        assert response.status_code in expected, (method, url, response.text)
        if "pg_sleep" in str(kwargs) and seconds > 2.5:
            slow.append((method, url, kwargs, seconds))
    assert slow == []  # no payload reached the database as SQL
    # Payloads were stored as text (2xx) or looked up as values (404), not only refused (422).
    assert statuses[200] > 0 and statuses[201] > 0 and statuses[404] > 0
    assert _guarded_state(conn) == before
    # Stored text is stored as text.
    stored = client.post(
        "/v1/incidents",
        json={
            **bodies[("POST", "/v1/incidents")],
            "external_id": "inj-2",
            "description": PAYLOADS[0],
        },
    )
    assert stored.status_code == 201
    assert client.get(f"/v1/incidents/{stored.json()['id']}").json()["description"] == PAYLOADS[0]


def _error_field(response: Any) -> str | None:
    """The field an error names: `field`, or in Open311's format the description's lead."""
    body = response.json()
    if isinstance(body, list):  # Open311: [{"code", "description": "field: ..."}]
        field, sep, _ = body[0]["description"].partition(":")
        return field if sep and field.isidentifier() else None
    return body.get("field")


def test_every_route_refuses_unauthenticated_and_oversize_bodies(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New input classes: a hostile body with no key is a 401 on every non-public operation
    (it is never parsed), and a body over the limit is a 413 with a key, never a 5xx."""
    settings = client.app.state.settings  # type: ignore[attr-defined]
    monkeypatch.setattr(settings, "max_json_body_bytes", 1024)
    monkeypatch.setattr(settings, "max_upload_bytes", 1024)
    # Unterminated JSON, over the limit (uploads may add a megabyte of form fields to theirs).
    hostile = b'{"x": "' + b"\\u0000" * 400_000 + b'"'
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    checked = 0
    for path, operations in paths.items():
        concrete = path
        for name in ("id", "responder_id", "run_id", "generation_id", "assignment_id", "code"):
            concrete = concrete.replace("{" + name + "}", "1")
        for method in operations:
            if (method.upper(), path) == ("GET", "/v1/health"):
                continue
            headers = {"content-type": "application/json"}
            anonymous = client.request(
                method, concrete, content=hostile, headers={**headers, "X-API-Key": ""}
            )
            # Sign-in is open to anyone: its body is capped all the same, never parsed whole.
            expected = 413 if permission_for(method.upper(), path) == "public" else 401
            assert anonymous.status_code == expected, (method, path, anonymous.text)
            if permission_for(method.upper(), path) == "session":
                continue  # a key never passes these: they answer the signed-in user only
            oversize = client.request(method, concrete, content=hostile, headers=headers)
            assert oversize.status_code == 413, (method, path, oversize.text)
            assert _error_field(oversize) == "body"
            checked += 1
    assert checked >= 30


def test_a_fix_with_a_far_time_zone_offset_is_not_a_500(client: TestClient) -> None:
    recorded = (NOW - timedelta(minutes=1)).astimezone(timezone(timedelta(hours=16))).isoformat()
    response = client.put(
        "/v1/responders/1/position", json={**REQUIRED_QUERY, "recorded_at": recorded}
    )
    # Found by schemathesis: offsets of 16 h or more once reached PostgreSQL as text.
    assert response.status_code in (200, 404, 422), response.text


# -- out-of-range integers and NUL in text, in every input -----------------------------------
HUGE = 10**20  # beyond bigint: can name no row
NUL_TEXT = "a\x00b"


def _with_numbers(value: Any, replacement: Any) -> Iterator[Any]:
    """Copies of `value` with one of its numbers (not booleans) replaced, for each number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        yield replacement
    elif isinstance(value, dict):
        for key, item in value.items():
            for changed in _with_numbers(item, replacement):
                yield {**value, key: changed}
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for changed in _with_numbers(item, replacement):
                yield [*value[:i], changed, *value[i + 1 :]]


def _is_integer(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "integer" or any(
        s.get("type") == "integer" for s in schema.get("anyOf", [])
    )


def test_huge_integers_and_nul_in_every_input_are_422(client: TestClient, conn: Connection) -> None:
    responder = conn.execute(text("SELECT MIN(id) FROM responders")).scalar_one()
    incident = client.post(
        "/v1/incidents",
        json={**_bodies(0)[("POST", "/v1/incidents")], "external_id": "nul-target"},
    ).json()["id"]
    path_ids = {
        "id": incident,
        "responder_id": responder,
        "run_id": 1,
        "generation_id": 1,
        "format": "json",
    }
    bodies = _bodies(incident)
    bodies[("POST", "/v1/assignments")] = {
        "responder_id": responder,
        "grid_code": "350602002005",
        "duty": "volunteer",
    }
    requests: list[tuple[str, str, str, dict[str, Any]]] = []
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, operation in operations.items():
            method = method.upper()
            if (method, path) == ("POST", "/v1/imports"):
                continue  # multipart: its text fields are checked in test_imports_api
            parameters = operation.get("parameters", [])
            required = {
                p["name"]: REQUIRED_PARAMS[p["name"]]
                for p in parameters
                if p["in"] == "query" and p.get("required")
            }
            concrete = path
            for name, value in path_ids.items():
                concrete = concrete.replace("{" + name + "}", str(value))
            for p in parameters:
                where, name = p["in"], p["name"]
                for kind, bad in (("int", HUGE), ("text", NUL_TEXT)):
                    if (kind == "int") != _is_integer(p["schema"]):
                        continue
                    if kind == "text" and not _is_text(p["schema"]):
                        continue
                    if where == "path":
                        url = path.replace("{" + name + "}", quote(str(bad), safe=""))
                        for other, value in path_ids.items():
                            url = url.replace("{" + other + "}", str(value))
                        requests.append((kind, method, url, {"params": required}))
                    elif where == "query":
                        params = {**required, name: bad}
                        requests.append((kind, method, concrete, {"params": params}))
            body = bodies.get((method, path))
            for changed in _with_payload(body, NUL_TEXT):
                requests.append(("text", method, concrete, {"params": required, "json": changed}))
            for replacement in (HUGE, 10**400):
                for changed in _with_numbers(body, replacement):
                    requests.append(
                        ("int", method, concrete, {"params": required, "json": changed})
                    )
    kinds = Counter(kind for kind, *_ in requests)
    assert kinds["int"] >= 40 and kinds["text"] >= 40, kinds
    failures = []
    for _, method, url, kwargs in requests:
        response = client.request(method, url, **kwargs)
        if url == "/v1/positions/batch" and response.status_code == 200:
            if not response.json()["rejected"]:  # the batch refuses the item itself
                failures.append((method, url, kwargs, response.text[:200]))
            continue
        if url.startswith("/open311/"):
            # Open311's own rules: bad input is a 400, an unknown service, format or
            # jurisdiction a 404; either names the field first in its description.
            if response.status_code not in (400, 404) or not _error_field(response):
                failures.append((method, url, kwargs, response.status_code, response.text[:200]))
            continue
        if response.status_code != 422 or not response.json().get("field"):
            failures.append((method, url, kwargs, response.status_code, response.text[:200]))
    assert not failures, "\n".join(map(repr, failures))
