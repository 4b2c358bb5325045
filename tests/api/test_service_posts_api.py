"""Cadres' service posts over HTTP: offered per grid, one cadre per post, a per-cadre limit,
coverage per township and county."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text


def grids(conn: Connection, n: int, township: str | None = None) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT a.code FROM areas a JOIN generations g ON g.id = a.generation_id AND g.active "
            "WHERE a.level = 'grid' AND (CAST(:t AS varchar) IS NULL OR a.parent_code = :t) "
            "ORDER BY a.code LIMIT :n"
        ),
        {"n": n, "t": township},
    )
    return [str(r[0]) for r in rows]


def people(conn: Connection, role: str, n: int) -> list[int]:
    rows = conn.execute(
        text("SELECT id FROM responders WHERE role = :r ORDER BY id LIMIT :n"), {"r": role, "n": n}
    )
    return [int(r[0]) for r in rows]


def post(client: TestClient, grid: str, name: str) -> dict[str, Any]:
    answer = client.post("/v1/service-posts", json={"grid_code": grid, "name": name})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_admins_offer_posts_and_anyone_lists_them(
    client: TestClient, conn: Connection, api_keys: dict[str, str]
) -> None:
    (grid,) = grids(conn, 1)
    made = post(client, grid, "elderly visits")
    assert made["cadre"] is None and made["created_at"].endswith("Z")
    dup = client.post("/v1/service-posts", json={"grid_code": grid, "name": "elderly visits"})
    assert dup.status_code == 409 and dup.json()["field"] == "name"
    bad = client.post("/v1/service-posts", json={"grid_code": "350600999999", "name": "x"})
    assert bad.status_code == 422 and bad.json()["field"] == "grid_code"
    empty = client.post("/v1/service-posts", json={"grid_code": grid, "name": ""})
    assert empty.status_code == 422 and empty.json()["field"] == "name"
    nul = client.post(
        "/v1/service-posts", json={"grid_code": grid, "name": "x", "description": "a\x00"}
    )
    assert nul.status_code == 422 and nul.json()["field"] == "description"
    system = client.post(
        "/v1/service-posts",
        json={"grid_code": grid, "name": "dispute watch"},
        headers={"X-API-Key": api_keys["system"]},
    )
    assert system.status_code == 403
    listed = client.get(
        "/v1/service-posts", params={"grid": grid}, headers={"X-API-Key": api_keys["dispatcher"]}
    )
    assert [p["id"] for p in listed.json()["posts"]] == [made["id"]]
    assert client.get(f"/v1/service-posts/{made['id']}").json() == made


def test_one_cadre_per_post_a_limit_per_cadre_and_idempotent_claims(
    client: TestClient, conn: Connection, api_keys: dict[str, str]
) -> None:
    grid_codes = grids(conn, 5)
    posts = [post(client, g, "safety inspection") for g in grid_codes]
    first, second = people(conn, "party_cadre", 2)
    (volunteer,) = people(conn, "volunteer", 1)
    app = {"X-API-Key": api_keys["system"]}
    url = f"/v1/service-posts/{posts[0]['id']}/claims"
    taken = client.post(url, json={"responder_id": first}, headers=app)
    assert taken.status_code == 201 and taken.json()["status"] == "active"
    again = client.post(url, json={"responder_id": first}, headers=app)
    assert again.status_code == 200 and again.json()["id"] == taken.json()["id"]
    full = client.post(url, json={"responder_id": second}, headers=app)
    assert full.status_code == 409 and full.json()["error"] == "full"
    wrong = client.post(
        f"/v1/service-posts/{posts[1]['id']}/claims", json={"responder_id": volunteer}
    )
    assert wrong.status_code == 409 and wrong.json()["error"] == "role"
    for p in posts[1:3]:  # the default limit is three posts per cadre
        assert (
            client.post(
                f"/v1/service-posts/{p['id']}/claims", json={"responder_id": first}
            ).status_code
            == 201
        )
    over = client.post(f"/v1/service-posts/{posts[3]['id']}/claims", json={"responder_id": first})
    assert over.status_code == 409 and over.json()["error"] == "limit"
    shown = client.get(f"/v1/service-posts/{posts[0]['id']}").json()
    assert shown["cadre"]["responder_id"] == first
    mine = client.get("/v1/service-posts", params={"cadre_id": first}).json()["posts"]
    assert len(mine) == 3
    released = client.delete(f"{url}/{first}", headers=app)
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert client.delete(f"{url}/{first}").status_code == 404
    assert client.post(url, json={"responder_id": second}).status_code == 201
    vacant = client.get("/v1/service-posts", params={"grid": grid_codes[4], "claimed": "false"})
    assert [p["id"] for p in vacant.json()["posts"]] == [posts[4]["id"]]
    dispatcher = client.post(
        url, json={"responder_id": second}, headers={"X-API-Key": api_keys["dispatcher"]}
    )
    assert dispatcher.status_code == 403


@pytest.mark.parametrize("level", ["township", "county"])
def test_coverage_is_the_share_of_grids_whose_posts_are_all_claimed(
    client: TestClient, conn: Connection, level: str
) -> None:
    township = conn.execute(
        text("SELECT parent_code FROM areas WHERE level = 'grid' ORDER BY code LIMIT 1")
    ).scalar_one()
    codes = grids(conn, 100, township)
    a, b = people(conn, "party_cadre", 2)
    full_grid = [post(client, codes[0], n) for n in ("elderly visits", "dispute watch")]
    half_grid = [post(client, codes[1], n) for n in ("elderly visits", "dispute watch")]
    client.post(f"/v1/service-posts/{full_grid[0]['id']}/claims", json={"responder_id": a})
    client.post(f"/v1/service-posts/{full_grid[1]['id']}/claims", json={"responder_id": b})
    client.post(f"/v1/service-posts/{half_grid[0]['id']}/claims", json={"responder_id": b})
    answer = client.get("/v1/service-posts/coverage", params={"level": level})
    assert answer.status_code == 200, answer.text
    code = township if level == "township" else township[:6]
    (row,) = [r for r in answer.json()["areas"] if r["area_code"] == code]
    assert row["grids_with_posts"] == 2 and row["grids_all_claimed"] == 1
    assert row["posts"] == 4 and row["posts_claimed"] == 3
    assert row["share_all_claimed"] == round(1 / row["grids"], 4)
    if level == "township":
        assert row["grids"] == len(codes)
    bad = client.get("/v1/service-posts/coverage", params={"level": "grid"})
    assert bad.status_code == 422 and bad.json()["field"] == "level"


def test_posts_page_with_a_cursor(client: TestClient, conn: Connection) -> None:
    (grid,) = grids(conn, 1)
    made = [post(client, grid, f"post {i}")["id"] for i in range(5)]
    seen: list[int] = []
    url: str | None = f"/v1/service-posts?grid={grid}&limit=2"
    while url is not None:
        page = client.get(url)
        assert page.status_code == 200, page.text
        seen += [p["id"] for p in page.json()["posts"]]
        url = page.json()["next"]
    assert seen == made
    bad = client.get("/v1/service-posts", params={"cursor": "nope"})
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
