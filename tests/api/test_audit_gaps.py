"""Audit gaps closed: staging an import is audited, entries carry the key's id (names of keys
are never reused, so a name means one key), and key names cannot be taken twice."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import Connection, text
from test_imports_api import CITY, CITY_BOX, geojson_bytes, post_import

from gridgis.auth import create_api_key, revoke_api_key
from gridgis.errors import Conflict
from gridgis.settings import Settings, resolve_secret_key


def _key_id(conn: Connection, name: str) -> int:
    return int(conn.execute(text("SELECT id FROM api_keys WHERE name = :n"), {"n": name}).scalar())


def test_staging_an_import_is_audited_with_the_key_id(client: TestClient, conn: Connection) -> None:
    response = post_import(
        client,
        "city.geojson",
        geojson_bytes([({"code": CITY, "name": "测试市"}, box(*CITY_BOX))]),
        level="city",
        base=0,
    )
    assert response.status_code == 201, response.text
    generation = response.json()["generation"]
    entries = client.get(
        "/v1/audit", params={"entity": "generation", "entity_id": str(generation)}
    ).json()["entries"]
    assert [e["action"] for e in entries] == ["generation.stage"]
    (entry,) = entries
    assert entry["actor"] == "key:test-admin"
    assert entry["actor_key_id"] == _key_id(conn, "test-admin")
    assert entry["after"]["level"] == "city" and entry["after"]["features_staged"] == 1
    assert entry["after"]["source"] == "city.geojson"  # the upload's name, not a server path


def test_a_key_name_is_never_reused(conn: Connection, settings: Settings) -> None:
    secret = resolve_secret_key(settings)
    create_api_key(conn, secret, name="night-shift", role="dispatcher")
    revoke_api_key(conn, "night-shift")
    with pytest.raises(Conflict, match="night-shift"):
        create_api_key(conn, secret, name="night-shift", role="admin")


def test_the_database_refuses_a_reused_key_name(conn: Connection) -> None:
    insert = text(
        "INSERT INTO api_keys (name, role, key_hash, key_hint) VALUES ('twice', 'admin', :h, 'x')"
    )
    conn.execute(insert, {"h": "a" * 64})
    conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE name = 'twice'"))
    with pytest.raises(Exception, match="uq_api_keys_name"), conn.begin_nested():
        conn.execute(insert, {"h": "b" * 64})
