"""Shared map plumbing: base layers from GRIDGIS_TILES, legend panels, offline HTML output."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

from gridgis.errors import InvalidInput
from gridgis.mapping import assets
from gridgis.mapping.policy import OSM_URL

OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'

# Role colours used by every map (colour-blind-safe Okabe-Ito palette plus grey).
ROLE_COLOURS = {
    "community_police": "#0072B2",
    "police_unit": "#56B4E9",
    "grid_worker": "#009E73",
    "mediator": "#CC79A7",
    "party_cadre": "#D55E00",
    "volunteer": "#E69F00",
}
OTHER_ROLE_COLOUR = "#777777"
MIN_ZOOM = 5
MAX_ZOOM = 19


# Folium puts tooltip HTML inside a JavaScript template literal, where a backtick ends the
# string and ${...} runs code even after HTML escaping: these become entities as well.
_TEMPLATE_LITERAL_ENTITIES = str.maketrans(
    {"`": "&#96;", "$": "&#36;", "{": "&#123;", "}": "&#125;", "\\": "&#92;"}
)


def html_text(value: object) -> str:
    """Data (a name, a code, a label) as text for any HTML a map builds: HTML-escaped, quotes
    included, and safe inside a JavaScript template literal. Every value from the database
    goes through this before it reaches a tooltip, a panel, a layer name or a GeoJSON
    property shown by a tooltip (all of which Leaflet sets as innerHTML)."""
    return html.escape(str(value), quote=True).translate(_TEMPLATE_LITERAL_ENTITIES)


def role_colour(role: str) -> str:
    """The marker colour of a role."""
    return ROLE_COLOURS.get(role, OTHER_ROLE_COLOUR)


def base_tiles(tiles: str) -> folium.TileLayer | None:
    """The base layer GRIDGIS_TILES asks for: 'osm', 'none', or an {z}/{x}/{y} URL template."""
    value = tiles.strip()
    if value.lower() == "none" or value == "":
        return None
    if value.lower() == "osm":
        return folium.TileLayer(
            tiles=OSM_URL, attr=OSM_ATTRIBUTION, name="OpenStreetMap", max_zoom=19
        )
    if not re.match(r"^(https?://|/)", value) or not all(p in value for p in ("{z}", "{x}", "{y}")):
        raise InvalidInput(
            "GRIDGIS_TILES must be osm, none, or a tile URL template containing {z}, {x} and {y} "
            "(http(s)://... or a path on this server).",
            field="GRIDGIS_TILES",
        )
    return folium.TileLayer(tiles=value, attr="Base map: intranet tiles", name="Base map")


def new_map(tiles: str, bounds: tuple[float, float, float, float] | None) -> folium.Map:
    """An empty map fitted to (min_lon, min_lat, max_lon, max_lat), drawing vectors on canvas."""
    layer = base_tiles(tiles)
    fmap = folium.Map(
        location=[24.5, 117.6], zoom_start=9, tiles=None, prefer_canvas=True, control_scale=True
    )
    # Without a tile layer Leaflet knows no zoom range, and marker clustering needs one.
    fmap.options["max_zoom"] = MAX_ZOOM
    fmap.options["min_zoom"] = MIN_ZOOM
    if layer is not None:
        layer.add_to(fmap)
    if bounds is not None:
        min_lon, min_lat, max_lon, max_lat = bounds
        fmap.fit_bounds([[min_lat, min_lon], [max_lat, max_lon]])
    return fmap


class Panel(MacroElement):
    """A fixed HTML panel (legend, title) drawn as a Leaflet control."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create('div', 'gridgis-panel');
            div.innerHTML = {{ this.content|tojson }};
            L.DomEvent.disableClickPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, content: str, position: str = "bottomright") -> None:
        super().__init__()
        self._name = "Panel"
        self.content = content
        self.position = position


PANEL_CSS = """
<style>
.gridgis-panel { background: rgba(255,255,255,0.92); padding: 6px 9px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 12px/1.35 sans-serif; max-width: 320px; }
.gridgis-panel h4 { margin: 0 0 4px; font-size: 13px; }
.gridgis-panel table { border-collapse: collapse; }
.gridgis-panel td { padding: 1px 4px; }
.gridgis-swatch { display: inline-block; width: 14px; height: 10px; margin-right: 4px;
  border: 1px solid rgba(0,0,0,0.25); vertical-align: middle; }
.gridgis-badge { display: flex; align-items: center; justify-content: center; border-radius: 3px;
  color: #fff; font: bold 11px/1 sans-serif; border: 1px solid #fff;
  box-shadow: 0 0 2px rgba(0,0,0,0.6); }
</style>
"""


def legend_html(title: str, items: list[tuple[str, str]], note: str = "") -> str:
    """A legend: title, (colour, label) rows, an optional note (all escaped)."""
    rows = "".join(
        f'<tr><td><span class="gridgis-swatch" style="background:{html_text(colour)}">'
        f"</span></td><td>{html_text(label)}</td></tr>"
        for colour, label in items
    )
    extra = f"<div>{html_text(note)}</div>" if note else ""
    return f"<h4>{html_text(title)}</h4><table>{rows}</table>{extra}"


def _elements(root: Any) -> Iterator[Any]:
    stack = [root]
    while stack:
        element = stack.pop()
        yield element
        stack.extend(reversed(list(getattr(element, "_children", {}).values())))


def render_offline(fmap: folium.Map) -> str:
    """The map as one self-contained HTML page: every script and stylesheet inlined from the
    vendored npm packages, nothing fetched from the network (tiles aside, when configured)."""
    figure = fmap.get_root()
    assert isinstance(figure, Figure)
    wanted_js: dict[str, None] = {}
    wanted_css: dict[str, None] = {}
    for element in _elements(figure):
        if isinstance(element, JSCSSMixin):
            wanted_js.update((name, None) for name, _ in element.default_js)
            wanted_css.update((name, None) for name, _ in element.default_css)
            # Instance attributes shadow folium's class-level CDN lists.
            element.default_js = []
            element.default_css = []
    licences = ", ".join(f"{name} ({licence})" for name, licence in assets.licences().items())
    figure.header.add_child(
        Element(
            f"<!-- gridgis offline map; inlined: {html.escape(licences)}\n\n"
            f"{html.escape(assets.licence_notice())}\n-->"
        ),
        name="gridgis_notice",
    )
    for kind, wanted, table, tag in (
        ("css", wanted_css, assets.FOLIUM_CSS, "style"),
        ("js", wanted_js, assets.FOLIUM_JS, "script"),
    ):
        # Leaflet itself first: every plugin extends the global L.
        for name in sorted(wanted, key=lambda n: n not in ("leaflet", "leaflet_css")):
            if name in assets.FOLIUM_UNUSED:
                continue
            if name not in table:
                raise RuntimeError(f"the map needs {kind} resource {name!r}, which is not vendored")
            content = assets.asset_text(name, kind)
            figure.header.add_child(Element(f"<{tag}>{content}</{tag}>"), name=f"inline_{name}")
    figure.header.add_child(Element(PANEL_CSS), name="gridgis_panel_css")
    page: str = figure.render()
    external = re.search(r"<(script|link)\b[^>]*\b(src|href)\s*=", page)
    if external:
        raise RuntimeError(f"the map still references an external resource: {external.group(0)}")
    return page


def geojson_text(features: list[dict[str, Any]]) -> dict[str, Any]:
    """A FeatureCollection dict (folium serialises it once)."""
    return {"type": "FeatureCollection", "features": features}
