"""The maps render in a real browser with no network: headless Chromium loads the HTML from a
file, every overlay is switched on, and the page itself reports layers and JavaScript errors.
A screenshot is kept under test-artifacts/ for people to look at."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection
from test_maps import assert_offline, insert_incidents

from gridgis.coverage.plan import plan_posts
from gridgis.coverage.runs import CoverageRequest, run_coverage
from gridgis.dispatch.eta import StraightLineEta
from gridgis.mapping.coverage_map import coverage_map_html
from gridgis.mapping.dispatch_map import LAYERS as DISPATCH_LAYERS
from gridgis.mapping.dispatch_map import dispatch_map_html

MODEL = StraightLineEta()
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No internet, whatever the machine has: every host name fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]

# Installed first in <head>: records every script error and failed resource load.
HEAD_PROBE = """<script>
window.__gridgisErrors = [];
// Script smuggled in through data calls this (tests/api/test_map_xss.py).
window.__x = function (n) { window.__gridgisErrors.push('injected script ran: ' + n); };
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__gridgisErrors.push(
    t && t !== window ? 'resource: ' + (t.src || t.href) : String(e.message));
}, true);
window.addEventListener('unhandledrejection', function (e) {
  window.__gridgisErrors.push('unhandled rejection: ' + e.reason);
});
</script>"""

# After the map script: switch on every overlay, let chunked layers finish, then write what the
# page has into a <pre> that --dump-dom prints.
TAIL_PROBE = """<script>
window.addEventListener('load', function () {
  var out = {leaflet: typeof L === 'undefined' ? null : L.version, overlays: []};
  try {
    var inputs = document.querySelectorAll('.leaflet-control-layers-overlays label');
    inputs.forEach(function (label) {
      var input = label.querySelector('input');
      if (!input.checked) { input.click(); }
    });
  } catch (e) { window.__gridgisErrors.push('probe: ' + e); }
  setTimeout(function () {
    try {
      var maps = Object.keys(window).filter(function (k) {
        return k.indexOf('map_') === 0 && window[k] instanceof L.Map;
      });
      out.maps = maps.length;
      var layers = 0;
      window[maps[0]].eachLayer(function () { layers++; });
      out.layers = layers;
      document.querySelectorAll('.leaflet-control-layers-overlays label').forEach(function (l) {
        out.overlays.push({name: l.textContent.trim(), on: l.querySelector('input').checked});
      });
      out.canvases = document.querySelectorAll('.leaflet-overlay-pane canvas').length;
      out.heat = document.querySelectorAll('canvas.leaflet-heatmap-layer').length;
      out.clusters = document.querySelectorAll('.marker-cluster').length;
      out.badges = document.querySelectorAll('.leaflet-marker-icon .gridgis-badge').length;
      out.panels = document.querySelectorAll('.gridgis-panel').length;
    } catch (e) { window.__gridgisErrors.push('probe: ' + e); }
    out.errors = window.__gridgisErrors;
    var pre = document.createElement('pre');
    pre.id = 'gridgis-probe';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }, 3000);
});
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        # Never a skip: CI must prove the maps render. scripts/setup.sh installs it.
        pytest.fail("Chromium is not installed (apt-get install chromium; scripts/setup.sh).")
    return found


def _probe(
    page: str, tmp_path: Path, name: str, extra: str = "", already_probed: bool = False
) -> dict[str, Any]:
    """Load `page` in headless Chromium and return what the in-page probe reported (`extra`:
    more script run before the probe; `already_probed`: the page has the probes in place)."""
    probed = page
    if not already_probed:
        probed = page.replace("<head>", "<head>" + HEAD_PROBE, 1)
        probed = probed.replace("</html>", extra + TAIL_PROBE + "</html>")
    path = tmp_path / f"{name}.probe.html"
    path.write_text(probed, encoding="utf-8")
    result = subprocess.run(
        [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / (name + '-profile')}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    match = re.search(r'<pre id="gridgis-probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the page never reported (exit {result.returncode}): {result.stderr[-2000:]}"
    report: dict[str, Any] = json.loads(
        match.group(1)
        .replace("&quot;", '"')
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
    )
    return report


def _screenshot(page: str, tmp_path: Path, name: str) -> Path:
    source = tmp_path / f"{name}.html"
    source.write_text(page, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    target.unlink(missing_ok=True)
    subprocess.run(
        [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / (name + '-shot-profile')}",
            "--virtual-time-budget=10000",
            "--window-size=1400,1000",
            f"--screenshot={target}",
            source.as_uri(),
        ],
        capture_output=True,
        timeout=180,
        check=False,
    )
    return target


def test_coverage_map_renders_offline_in_chromium(conn: Connection, tmp_path: Path) -> None:
    insert_incidents(conn, [(117.64 + 0.002 * i, 24.50 + 0.001 * i) for i in range(30)])
    run = run_coverage(
        conn,
        MODEL,
        CoverageRequest(roles=("community_police", "police_unit", "volunteer"), resolution=8),
    )
    plan = plan_posts(conn, MODEL, run_id=run.id, add=3, role="volunteer", time_limit_s=10)
    page = coverage_map_html(conn, run.id, tiles="none", plan=plan, responders_per_role=500)
    assert_offline(page)

    report = _probe(page, tmp_path, "coverage_map")
    assert report["errors"] == []
    assert report["leaflet"] == "1.9.4" and report["maps"] == 1
    names = [o["name"] for o in report["overlays"]]
    expected = [
        "ETA to nearest responder",
        "Grid coverage (population share within target)",
        "Responders: community_police",
        "Responders: police_unit",
        "Responders: volunteer",
        "Police stations",
        "Incidents (density)",
        "Boundaries: counties",
        "Boundaries: townships",
        "Boundaries: grids",
        "Planned posts",
    ]
    for prefix in expected:
        assert any(n.startswith(prefix) for n in names), (prefix, names)
    assert all(o["on"] for o in report["overlays"])
    assert report["canvases"] >= 1  # vector layers drew on the canvas renderer
    assert report["heat"] >= 1  # the incident density layer drew
    assert report["clusters"] > 0  # responders are clustered
    assert report["badges"] > 0  # police stations and planned posts
    assert report["panels"] == 2  # title and legend
    assert report["layers"] > 100

    shot = _screenshot(page, tmp_path, "coverage_map")
    assert shot.exists() and shot.stat().st_size > 20_000


def test_dispatch_map_renders_offline_in_chromium(conn: Connection, tmp_path: Path) -> None:
    page = dispatch_map_html(conn, 117.65, 24.51, MODEL, tiles="none", n=5)
    assert_offline(page)
    report = _probe(page, tmp_path, "dispatch_map")
    assert report["errors"] == []
    assert [o["name"] for o in report["overlays"]] == [
        DISPATCH_LAYERS[1],
        DISPATCH_LAYERS[3],
        DISPATCH_LAYERS[2],
        DISPATCH_LAYERS[0],
    ]
    assert report["badges"] == 1 and report["panels"] == 1
    shot = _screenshot(page, tmp_path, "dispatch_map")
    assert shot.exists() and shot.stat().st_size > 5_000


def test_the_probe_sees_errors_and_network_fetches(tmp_path: Path) -> None:
    """A negative control: the harness must fail a page that throws or fetches from a CDN."""
    page = (
        "<!DOCTYPE html><html><head>"
        '<script src="https://cdn.example.invalid/leaflet.js"></script>'
        "</head><body><script>notDefinedAnywhere();</script></body></html>"
    )
    report = _probe(page, tmp_path, "broken")
    assert report["leaflet"] is None
    assert any("notDefinedAnywhere" in e for e in report["errors"]), report["errors"]
    assert any(e.startswith("resource: https://cdn.example.invalid") for e in report["errors"])
