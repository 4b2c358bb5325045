"""HTTP: a grid's team membership changes, with their audit entries."""

from __future__ import annotations

from fastapi.testclient import TestClient

GRID = "350602002005"


def test_add_list_remove_an_assignment_with_audit(client: TestClient) -> None:
    volunteer = client.post(
        "/v1/responders",
        json={"name": "新队员", "role": "volunteer", "home": {"lon": 117.65, "lat": 24.51}},
    ).json()
    created = client.post(
        "/v1/assignments",
        json={"responder_id": volunteer["responder_id"], "grid_code": GRID, "duty": "volunteer"},
    )
    assert created.status_code == 201, created.text
    assignment = created.json()
    again = client.post(
        "/v1/assignments",
        json={"responder_id": volunteer["responder_id"], "grid_code": GRID, "duty": "volunteer"},
    )
    assert again.status_code == 409
    listed = client.get(
        "/v1/assignments", params={"responder_id": volunteer["responder_id"]}
    ).json()
    assert [a["id"] for a in listed["assignments"]] == [assignment["id"]]
    team = client.get("/v1/locate", params={"lon": 117.65, "lat": 24.51}).json()["team"]
    assert volunteer["responder_id"] in {m["responder_id"] for m in team}
    assert client.delete(f"/v1/assignments/{assignment['id']}").status_code == 204
    assert client.delete(f"/v1/assignments/{assignment['id']}").status_code == 404
    trail = client.get(
        "/v1/audit", params={"entity": "assignment", "entity_id": str(assignment["id"])}
    ).json()
    entries = trail["entries"]
    assert [e["action"] for e in entries] == ["assignment.create", "assignment.delete"]
    assert entries[0]["actor"] == "key:test-admin"
    assert entries[1]["before"]["grid_code"] == GRID


def test_assignment_input_errors(client: TestClient) -> None:
    cases = [
        ({"responder_id": 1, "grid_code": "999999999999", "duty": "volunteer"}, 422, "grid_code"),
        ({"responder_id": 1, "grid_code": GRID, "duty": "astronaut"}, 422, "duty"),
        ({"responder_id": 987654321, "grid_code": GRID, "duty": "volunteer"}, 404, "responder_id"),
        ({"responder_id": 1, "grid_code": "12", "duty": "volunteer"}, 422, "grid_code"),
    ]
    for body, status, field in cases:
        response = client.post("/v1/assignments", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field
