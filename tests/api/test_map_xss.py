"""Names from the data cannot run script in the maps: responders, areas, stations and roles
named with each class of payload (HTML, JavaScript template literal, script end tag, attribute
break-out) are rendered in headless Chromium, every tooltip is opened, and nothing fires."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, text
from test_maps import insert_incidents
from test_maps_chromium import _probe

from gridgis.coverage.runs import CoverageRequest, run_coverage
from gridgis.dispatch.eta import StraightLineEta
from gridgis.mapping.coverage_map import coverage_map_html
from gridgis.mapping.dispatch_map import dispatch_map_html

MODEL = StraightLineEta()
# Each calls __x(n) (defined by the probe) if it runs.
PAYLOADS = [
    "${__x(1)}",
    "`+__x(2)+`",
    "<img src=x onerror=__x(3)>",
    "</script><script>__x(4)</script>",
    '"><svg onload=__x(5)>',
    "'><img src=y onerror=__x(6)>",
    "</div><img src=z onerror=__x(7)>\\`${__x(8)}",
]
ROLE_PAYLOAD = "<img src=r onerror=__x(9)>"

# Opens every tooltip the way Leaflet does (innerHTML of its container), also those of
# markers still inside clusters and of GeoJSON features, whose tooltips are functions.
OPEN_TOOLTIPS = """<script>
window.addEventListener('load', function () {
  var shown = 0;
  function render(content, layer) {
    if (typeof content === 'function') { content = content(layer); }
    if (content === undefined || content === null) { return; }
    var div = document.createElement('div');
    if (typeof content === 'string') { div.innerHTML = content; } else { div.appendChild(content); }
    document.body.appendChild(div);
    shown++;
  }
  function visit(layer, inherited) {
    var tooltip = layer.getTooltip ? layer.getTooltip() : null;
    var content = tooltip ? tooltip._content : inherited;
    if (layer.getLayers) {
      layer.getLayers().forEach(function (child) { visit(child, content); });
    } else if (content !== undefined && content !== null) {
      render(content, layer);
    }
  }
  try {
    var maps = Object.keys(window).filter(function (k) {
      return k.indexOf('map_') === 0 && window[k] instanceof L.Map;
    });
    window[maps[0]].eachLayer(function (layer) { visit(layer, null); });
    Object.keys(window).forEach(function (k) {
      if (k.indexOf('marker_cluster_') === 0 && window[k] && window[k].getLayers) {
        visit(window[k], null);
      }
    });
  } catch (e) { window.__gridgisErrors.push('tooltips: ' + e); }
  if (shown < 3) { window.__gridgisErrors.push('only ' + shown + ' tooltips opened'); }
});
</script>"""


def _name_everything(conn: Connection) -> None:
    payloads = list(PAYLOADS)
    conn.execute(
        text("UPDATE responders SET name = (CAST(:p AS text[]))[1 + id % :n]"),
        {"p": payloads, "n": len(payloads)},
    )
    conn.execute(
        text("UPDATE areas SET name = (CAST(:p AS text[]))[1 + id % :n]"),
        {"p": payloads, "n": len(payloads)},
    )
    conn.execute(
        text("UPDATE facilities SET name = (CAST(:p AS text[]))[1 + id % :n]"),
        {"p": payloads, "n": len(payloads)},
    )
    conn.execute(
        text("INSERT INTO roles (code, name_zh, name_en) VALUES (:c, :c, :c)"), {"c": ROLE_PAYLOAD}
    )
    conn.execute(
        text("UPDATE responders SET role = :c WHERE role = 'police_unit'"), {"c": ROLE_PAYLOAD}
    )


def _no_script_ran(report: dict[str, object]) -> None:
    errors = report["errors"]
    assert isinstance(errors, list)
    assert [e for e in errors if "injected" in e or e.startswith("resource:")] == [], errors
    assert errors == []


def test_dispatch_map_names_run_no_script(conn: Connection, tmp_path: Path) -> None:
    _name_everything(conn)
    page = dispatch_map_html(conn, 117.65, 24.51, MODEL, tiles="none", n=10)
    report = _probe(page, tmp_path, "xss_dispatch", extra=OPEN_TOOLTIPS)
    _no_script_ran(report)
    assert report["leaflet"] == "1.9.4" and report["panels"] == 1


def test_coverage_map_names_run_no_script(conn: Connection, tmp_path: Path) -> None:
    _name_everything(conn)
    insert_incidents(conn, [(117.64 + 0.002 * i, 24.50 + 0.001 * i) for i in range(5)])
    run = run_coverage(
        conn, MODEL, CoverageRequest(roles=("community_police", ROLE_PAYLOAD), resolution=7)
    )
    page = coverage_map_html(conn, run.id, tiles="none", responders_per_role=200)
    report = _probe(page, tmp_path, "xss_coverage", extra=OPEN_TOOLTIPS)
    _no_script_ran(report)
    assert report["leaflet"] == "1.9.4" and report["panels"] == 2
