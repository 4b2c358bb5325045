"""Security headers: every response says nosniff, no framing and no referrer; HTML pages get a
Content-Security-Policy (the maps' inline scripts by hash, nothing else); operational data is
never cached; a route may pass its own policy."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Connection
from test_maps_chromium import _probe

from gridgis.dispatch.eta import StraightLineEta
from gridgis.mapping.dispatch_map import dispatch_map_html
from gridgis.mapping.policy import map_content_security_policy

MODEL = StraightLineEta()


def _directives(policy: str) -> dict[str, str]:
    parts = (p.strip().split(" ", 1) for p in policy.split(";") if p.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def test_every_response_has_the_basic_headers(client: TestClient) -> None:
    for response in (
        client.get("/v1/health"),
        client.get("/v1/areas", params={"limit": 1}),
        client.get("/v1/areas", headers={"X-API-Key": ""}),
        client.get("/openapi.json"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert client.get("/v1/areas", params={"limit": 1}).headers["cache-control"] == "no-store"


def test_map_pages_have_a_hash_policy_and_no_store(client: TestClient) -> None:
    response = client.get("/maps/nearest.html", params={"lon": 117.65, "lat": 24.51})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    policy = _directives(response.headers["content-security-policy"])
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.S)
    hashes = re.findall(r"'sha256-[^']+'", policy["script-src"])
    assert scripts and len(hashes) == len(set(scripts))
    assert "unsafe-inline" not in policy["script-src"]
    assert "unsafe-eval" not in policy["script-src"]


def test_docs_and_other_html_get_a_policy(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_the_map_runs_under_its_policy_and_blocks_inline_handlers(
    conn: Connection, tmp_path: Path
) -> None:
    """The map works with its CSP in force (as a meta tag: the file is loaded from disk), and an
    event-handler attribute that got into the page would be blocked, not run."""
    page = dispatch_map_html(conn, 117.65, 24.51, MODEL, tiles="none", n=5)
    violations = """<script>
document.addEventListener('securitypolicyviolation', function (e) {
  window.__gridgisErrors.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI);
});
</script>"""
    smuggled = """<script>
window.addEventListener('load', function () {
  var div = document.createElement('div');
  div.innerHTML = '<img src="data:," onerror="__x(99)">';
  document.body.appendChild(div);
});
</script>"""
    from test_maps_chromium import HEAD_PROBE, TAIL_PROBE

    # The probes are inline scripts too: the policy is computed over the page that is loaded.
    probed = page.replace("<head>", "<head>" + HEAD_PROBE + violations, 1)
    probed = probed.replace("</html>", smuggled + TAIL_PROBE + "</html>")
    policy = map_content_security_policy(probed, tiles="none").replace("frame-ancestors 'none'", "")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    final = probed.replace("<head>", "<head>" + meta, 1)
    report = _probe(final, tmp_path, "csp_map", already_probed=True)
    assert report["leaflet"] == "1.9.4" and report["panels"] == 1
    errors = report["errors"]
    assert not any("injected script ran" in e for e in errors), errors
    assert [e for e in errors if e.startswith("csp:")] == ["csp: script-src-attr inline"], errors
