"""Console sign-in over HTTP: login, sessions, cookie flags, CSRF, lockout, audit by user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import Response
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from api.session_auth import set_session_cookie
from gridgis.accounts.users import create_user, disable_user
from gridgis.auth import PERMISSIONS
from gridgis.settings import Settings
from gridgis.vocabulary import USER_ROLES

PASSWORD = "correct horse battery"
ORIGIN = "http://testserver"  # the TestClient's own origin
INCIDENT = {
    "external_id": "session-made",
    "category": "theft",
    "lon": 117.65,
    "lat": 24.51,
    "reported_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    "description": "电动车被盗",
}


@pytest.fixture()
def users(conn: Connection) -> dict[str, int]:
    """One user per role, in the test's transaction: web-dispatcher, web-planner, web-admin."""
    return {
        role: create_user(conn, name=f"web-{role}", role=role, password=PASSWORD)
        for role in USER_ROLES
    }


@pytest.fixture()
def browser(client: TestClient, users: dict[str, int]) -> Iterator[TestClient]:
    """The client without an API key: only what a browser would send."""
    client.headers.pop("X-API-Key", None)
    yield client


def _login(client: TestClient, name: str, password: str = PASSWORD, **kw: Any) -> Any:
    return client.post("/v1/auth/login", json={"username": name, "password": password}, **kw)


def _signed_in(client: TestClient, role: str) -> dict[str, Any]:
    response = _login(client, f"web-{role}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _audit(conn: Connection, action: str) -> list[Any]:
    return list(
        conn.execute(
            text("SELECT actor, entity_id, after FROM audit_log WHERE action = :a ORDER BY id"),
            {"a": action},
        )
    )


def test_login_answers_the_contract_and_sets_a_strict_cookie(browser: TestClient) -> None:
    response = _login(browser, "web-dispatcher")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"user", "csrf_token", "permissions", "expires_in_s"}
    assert body["user"]["name"] == "web-dispatcher" and body["user"]["role"] == "dispatcher"
    assert isinstance(body["user"]["id"], int)
    assert body["permissions"] == [p for p, roles in PERMISSIONS.items() if "dispatcher" in roles]
    assert 1790 <= body["expires_in_s"] <= 1800
    assert len(body["csrf_token"]) >= 40
    cookie = response.headers["set-cookie"]
    token = cookie.split(";")[0].removeprefix("gridgis_session=")
    assert len(token) >= 43 and token != body["csrf_token"]
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= attributes
    assert "secure" not in attributes  # test settings: plain http
    assert "max-age" not in cookie.lower()  # a browser-session cookie


def test_the_cookie_is_secure_in_production_or_when_asked(settings: Settings) -> None:
    for overrides, secure in [
        ({"env": "production"}, True),
        ({"env": "dev"}, False),
        ({"env": "production", "session_cookie_secure": False}, False),
        ({"env": "test", "session_cookie_secure": True}, True),
    ]:
        response = Response()
        set_session_cookie(response, "t", settings.model_copy(update=overrides))
        flags = {a.strip().lower() for a in response.headers["set-cookie"].split(";")}
        assert ("secure" in flags) is secure, overrides


def test_the_session_cookie_authenticates_with_the_users_role(browser: TestClient) -> None:
    _signed_in(browser, "planner")
    assert browser.get("/v1/areas/350602").status_code == 200
    assert browser.get("/v1/coverage/runs").status_code == 200
    assert browser.get("/v1/audit").status_code == 403  # admin only


def test_me_and_logout(browser: TestClient, conn: Connection) -> None:
    assert browser.get("/v1/auth/me").status_code == 401
    login = _signed_in(browser, "admin")
    me = browser.get("/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["user"] == login["user"]
    assert me.json()["csrf_token"] == login["csrf_token"]
    # Logout changes state: it needs the CSRF token like every other write.
    assert browser.post("/v1/auth/logout").status_code == 403
    out = browser.post("/v1/auth/logout", headers={"X-CSRF-Token": login["csrf_token"]})
    assert out.status_code == 204
    assert 'gridgis_session=""' in out.headers["set-cookie"] or "max-age=0" in (
        out.headers["set-cookie"].lower()
    )
    assert conn.execute(text("SELECT COUNT(*) FROM user_sessions")).scalar_one() == 0
    assert [r.actor for r in _audit(conn, "user.logout")] == ["user:web-admin"]


def test_a_logged_out_session_cookie_no_longer_works(browser: TestClient) -> None:
    login = _signed_in(browser, "dispatcher")
    stolen = browser.cookies["gridgis_session"]
    browser.post("/v1/auth/logout", headers={"X-CSRF-Token": login["csrf_token"]})
    browser.cookies.set("gridgis_session", stolen)
    replay = browser.get("/v1/areas/350602")
    assert replay.status_code == 401
    assert replay.json()["error"] == "unauthenticated"


@pytest.mark.parametrize(
    "name,password",
    [("web-dispatcher", "wrong password!"), ("nobody-here", PASSWORD), ("web-planner", "")],
)
def test_wrong_credentials_are_one_answer(browser: TestClient, name: str, password: str) -> None:
    response = _login(browser, name, password)
    if password == "":
        assert response.status_code == 422  # an empty password is malformed input
        return
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"
    assert "set-cookie" not in response.headers


def test_a_disabled_user_cannot_sign_in_and_loses_sessions(
    browser: TestClient, conn: Connection
) -> None:
    _signed_in(browser, "dispatcher")
    ok = browser.get("/v1/areas/350602")
    assert ok.status_code == 200
    disable_user(conn, "web-dispatcher", now=datetime.now(UTC))
    assert browser.get("/v1/areas/350602").status_code == 401
    refused = _login(browser, "web-dispatcher")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_credentials"


def test_user_names_are_case_insensitive_at_sign_in(browser: TestClient) -> None:
    response = _login(browser, "WEB-Planner")
    assert response.status_code == 200
    assert response.json()["user"]["name"] == "web-planner"


@pytest.mark.parametrize("cookie", ["forged", "x" * 43, "y" * 5000, "", "gridgis_session=; a=b"])
def test_a_forged_session_cookie_is_401(browser: TestClient, cookie: str) -> None:
    browser.cookies.set("gridgis_session", cookie)
    for method, path in [("GET", "/v1/areas/350602"), ("POST", "/v1/incidents")]:
        response = browser.request(method, path, json=INCIDENT)
        assert response.status_code == 401, (cookie, response.text)
        assert response.json()["error"] == "unauthenticated"


def test_a_session_expires_after_inactivity(browser: TestClient, conn: Connection) -> None:
    _signed_in(browser, "dispatcher")
    assert browser.get("/v1/areas/350602").status_code == 200
    conn.execute(
        text("UPDATE user_sessions SET last_seen_at = last_seen_at - interval '1801 seconds'")
    )
    response = browser.get("/v1/areas/350602")
    assert response.status_code == 401
    assert response.json()["error"] == "session_expired"
    assert conn.execute(text("SELECT COUNT(*) FROM user_sessions")).scalar_one() == 0
    assert browser.get("/v1/auth/me").status_code == 401


def test_use_keeps_a_session_alive(browser: TestClient, conn: Connection) -> None:
    _signed_in(browser, "dispatcher")
    conn.execute(
        text("UPDATE user_sessions SET last_seen_at = last_seen_at - interval '1700 seconds'")
    )
    assert browser.get("/v1/areas/350602").status_code == 200  # touched: 30 more minutes
    conn.execute(
        text("UPDATE user_sessions SET last_seen_at = last_seen_at - interval '1700 seconds'")
    )
    assert browser.get("/v1/areas/350602").status_code == 200
    me = browser.get("/v1/auth/me").json()
    assert me["expires_in_s"] > 60


def test_a_session_ends_at_its_absolute_lifetime(browser: TestClient, conn: Connection) -> None:
    _signed_in(browser, "dispatcher")
    conn.execute(
        text(
            "UPDATE user_sessions SET created_at = now() - interval '13 hours', "
            "expires_at = now() - interval '1 hour'"
        )
    )
    response = browser.get("/v1/areas/350602")
    assert response.status_code == 401 and response.json()["error"] == "session_expired"


def test_cookie_writes_need_the_csrf_token(browser: TestClient) -> None:
    login = _signed_in(browser, "dispatcher")
    missing = browser.post("/v1/incidents", json=INCIDENT)
    assert missing.status_code == 403 and missing.json()["error"] == "csrf"
    token = login["csrf_token"]
    wrong_token = token[:-1] + ("A" if token[-1] != "A" else "B")  # one character off
    wrong = browser.post("/v1/incidents", json=INCIDENT, headers={"X-CSRF-Token": wrong_token})
    assert wrong.status_code == 403 and wrong.json()["error"] == "csrf"
    foreign = browser.post(
        "/v1/incidents",
        json=INCIDENT,
        headers={"X-CSRF-Token": login["csrf_token"], "Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403 and foreign.json()["error"] == "csrf"
    cross_site = browser.post(
        "/v1/incidents",
        json=INCIDENT,
        headers={"X-CSRF-Token": login["csrf_token"], "Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status_code == 403
    made = browser.post(
        "/v1/incidents",
        json=INCIDENT,
        headers={"X-CSRF-Token": login["csrf_token"], "Origin": ORIGIN},
    )
    assert made.status_code == 201, made.text


def test_another_sessions_csrf_token_does_not_work(browser: TestClient) -> None:
    planner_token = _signed_in(browser, "planner")["csrf_token"]
    _signed_in(browser, "dispatcher")  # the cookie is now the dispatcher's
    response = browser.post("/v1/incidents", json=INCIDENT, headers={"X-CSRF-Token": planner_token})
    assert response.status_code == 403 and response.json()["error"] == "csrf"


def test_a_cross_origin_login_is_refused(browser: TestClient) -> None:
    response = _login(browser, "web-admin", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and response.json()["error"] == "csrf"
    assert "set-cookie" not in response.headers


def test_api_keys_are_unaffected_by_csrf(
    browser: TestClient, api_keys: dict[str, str], conn: Connection
) -> None:
    _signed_in(browser, "planner")  # a planner's cookie rides along; the key wins
    response = browser.post(
        "/v1/incidents",
        json=INCIDENT,
        headers={"X-API-Key": api_keys["dispatcher"], "Origin": "https://integrator.example"},
    )
    assert response.status_code == 201, response.text
    actor = conn.execute(
        text("SELECT actor FROM audit_log WHERE action = 'incident.create' ORDER BY id DESC")
    ).scalar()
    assert actor == "key:test-dispatcher"


def test_a_planner_session_may_not_dispatch(browser: TestClient) -> None:
    login = _signed_in(browser, "planner")
    response = browser.post(
        "/v1/incidents", json=INCIDENT, headers={"X-CSRF-Token": login["csrf_token"]}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_session_actions_are_audited_under_the_users_name(
    browser: TestClient, api_keys: dict[str, str], users: dict[str, int]
) -> None:
    login = _signed_in(browser, "dispatcher")
    made = browser.post(
        "/v1/incidents", json=INCIDENT, headers={"X-CSRF-Token": login["csrf_token"]}
    )
    assert made.status_code == 201, made.text
    trail = browser.get(
        "/v1/audit",
        params={"entity": "incident", "entity_id": str(made.json()["id"])},
        headers={"X-API-Key": api_keys["admin"]},
    ).json()["entries"]
    assert [(e["action"], e["actor"], e["actor_user_id"]) for e in trail] == [
        ("incident.create", "user:web-dispatcher", users["dispatcher"])
    ]
    logins = browser.get(
        "/v1/audit",
        params={"entity": "user", "entity_id": str(users["dispatcher"])},
        headers={"X-API-Key": api_keys["admin"]},
    ).json()["entries"]
    assert [(e["action"], e["actor"], e["actor_user_id"]) for e in logins] == [
        ("user.create", "library", None),
        ("user.login", "user:web-dispatcher", users["dispatcher"]),
    ]


def test_repeated_failures_lock_the_name_and_are_audited(
    browser: TestClient, conn: Connection, users: dict[str, int]
) -> None:
    for _ in range(5):
        response = _login(browser, "web-admin", "not the password")
        assert response.status_code == 401
    locked = _login(browser, "web-admin")  # even the right password waits
    assert locked.status_code == 429
    assert locked.json()["error"] == "locked"
    assert 880 <= int(locked.headers["retry-after"]) <= 900
    assert "set-cookie" not in locked.headers
    # Another user from the same address is not locked out.
    assert _login(browser, "web-planner").status_code == 200

    failed = _audit(conn, "user.login_failed")
    assert len(failed) == 5
    assert {r.entity_id for r in failed} == {str(users["admin"])}
    assert {r.after["reason"] for r in failed} == {"password"}
    lockouts = _audit(conn, "user.lockout")
    assert len(lockouts) == 1 and lockouts[0].after["locked"] == "name"
    assert len(_audit(conn, "user.login_locked")) == 1

    # When the lock has run out, the right password works and clears the count.
    conn.execute(text("UPDATE login_throttles SET locked_until = now() - interval '1 second'"))
    assert _login(browser, "web-admin").status_code == 200
    assert _login(browser, "web-admin", "wrong again!").status_code == 401
    assert _login(browser, "web-admin").status_code == 200


def test_failed_logins_never_store_the_typed_name_or_password(
    browser: TestClient, conn: Connection
) -> None:
    secret = "MyS3cretPassw0rd"
    _login(browser, secret, secret)  # a password typed into the name field
    _login(browser, "web-admin", secret)
    for table in ("audit_log", "login_throttles", "users", "user_sessions"):
        dump = conn.execute(text(f"SELECT string_agg(t::text, ' ') FROM {table} t")).scalar()
        assert secret not in (dump or ""), table


def test_failures_from_one_address_lock_the_address(
    browser: TestClient, conn: Connection, settings: Settings
) -> None:
    limit = settings.login_max_failures_per_address
    for i in range(limit):
        assert _login(browser, f"guess-{i}", "whatever-it-is").status_code == 401
    response = _login(browser, "web-admin")
    assert response.status_code == 429
    assert _audit(conn, "user.lockout")[-1].after["locked"] == "address"


def test_passwords_are_stored_as_argon2id_hashes(conn: Connection, users: dict[str, int]) -> None:
    rows = conn.execute(text("SELECT name, password_hash FROM users WHERE name LIKE 'web-%'"))
    for row in rows:
        assert row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash


def test_the_session_token_is_stored_only_as_a_hash(browser: TestClient, conn: Connection) -> None:
    _signed_in(browser, "admin")
    token = browser.cookies["gridgis_session"]
    dump = conn.execute(text("SELECT string_agg(s::text, ' ') FROM user_sessions s")).scalar()
    assert token not in dump
    assert len(token) >= 43


def test_ended_sessions_are_purged_at_the_next_sign_in(
    browser: TestClient, conn: Connection
) -> None:
    _signed_in(browser, "dispatcher")
    conn.execute(text("UPDATE user_sessions SET last_seen_at = now() - interval '2 hours'"))
    _signed_in(browser, "planner")
    assert conn.execute(text("SELECT COUNT(*) FROM user_sessions")).scalar_one() == 1


def test_openapi_documents_sign_in(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    login = spec["paths"]["/v1/auth/login"]["post"]
    assert login["security"] == []  # no key needed
    assert {"200", "401", "403", "429"} <= set(login["responses"])
    assert "invalid_credentials" in login["responses"]["401"]["description"]
    assert "401" in spec["paths"]["/v1/auth/me"]["get"]["responses"]


def test_signing_in_again_replaces_the_old_session(browser: TestClient, conn: Connection) -> None:
    _signed_in(browser, "dispatcher")
    old = browser.cookies["gridgis_session"]
    _signed_in(browser, "dispatcher")
    assert browser.cookies["gridgis_session"] != old
    assert conn.execute(text("SELECT COUNT(*) FROM user_sessions")).scalar_one() == 1
    browser.cookies.clear()
    browser.cookies.set("gridgis_session", old)
    assert browser.get("/v1/areas/350602").status_code == 401
