"""The dispatch map of one call: the location, its grid outlined, the nearest responders and
their ETAs (from `nearest_responders`, the same answer the API gives), offline HTML."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import folium
import numpy as np
import shapely.geometry

from gridgis.boundaries import sql as boundaries_sql
from gridgis.db import Executor
from gridgis.dispatch.eta import EtaModel
from gridgis.dispatch.nearest import NearestAnswer, nearest_responders
from gridgis.mapping import sql as map_sql
from gridgis.mapping.render import Panel, html_text, new_map, render_offline, role_colour
from gridgis.vocabulary import AVAILABLE

LAYERS = ("Call", "Grid of the call", "Nearest responders", "Routes (straight line)")
# Drawn when the road model priced the answer: each road-priced responder's path on the network.
ROAD_LAYER = "Routes (road)"


def _minutes(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


def dispatch_map_html(
    db: Executor,
    lon: float,
    lat: float,
    model: EtaModel,
    *,
    tiles: str,
    n: int = 5,
    roles: Sequence[str] | None = None,
    statuses: Sequence[str] = (AVAILABLE,),
    stale_after_s: float = 900.0,
    now: datetime | None = None,
) -> str:
    """The map of a call at (lon, lat) with its `n` nearest responders."""
    answer = nearest_responders(
        db,
        lon,
        lat,
        model,
        n=n,
        roles=roles,
        statuses=statuses,
        stale_after_s=stale_after_s,
        now=now,
    )
    paths: dict[int, list[list[float]]] = {}
    routes = getattr(model, "routes", None)
    by_road = [r for r in answer.results if r.priced_by == model.name]
    if routes is not None and by_road:
        found = routes(
            answer.lon,
            answer.lat,
            np.array([r.lon for r in by_road]),
            np.array([r.lat for r in by_road]),
        )
        for r, path in zip(by_road, found, strict=True):
            if path is not None:
                paths[r.responder_id] = [[float(y), float(x)] for x, y in path]
    return _render(db, answer, tiles=tiles, paths=paths)


def _render(
    db: Executor,
    answer: NearestAnswer,
    *,
    tiles: str,
    paths: dict[int, list[list[float]]] | None = None,
) -> str:
    outline = None
    if answer.grid is not None:
        generation_id = boundaries_sql.active_generation_id(db)
        outline = map_sql.grid_outline_geojson(db, generation_id, answer.grid["code"])
    # The view holds the call, every responder shown and the whole grid.
    lons = [answer.lon] + [r.lon for r in answer.results]
    lats = [answer.lat] + [r.lat for r in answer.results]
    if outline is not None:
        min_x, min_y, max_x, max_y = shapely.geometry.shape(outline["geometry"]).bounds
        lons += [min_x, max_x]
        lats += [min_y, max_y]
    pad = 0.002
    fmap = new_map(tiles, (min(lons) - pad, min(lats) - pad, max(lons) + pad, max(lats) + pad))

    if outline is not None:
        # The tooltip shows these through innerHTML.
        outline["properties"] = {
            field: html_text(outline["properties"].get(field, ""))
            for field in ("name", "code", "kind")
        }
        folium.GeoJson(
            outline,
            name=LAYERS[1],
            style_function=lambda _f: {
                "color": "#d95f02",
                "weight": 3,
                "fillColor": "#d95f02",
                "fillOpacity": 0.08,
            },
            tooltip=folium.GeoJsonTooltip(fields=["name", "code", "kind"]),
        ).add_to(fmap)

    routes = folium.FeatureGroup(name=LAYERS[3], show=True)
    responders = folium.FeatureGroup(name=LAYERS[2], show=True)
    for rank, r in enumerate(answer.results, start=1):
        label = (
            f"#{rank} {r.name} ({r.role}, {r.status}): ETA {_minutes(r.eta_s)} min, "
            f"{r.distance_m / 1000:.2f} km, position {r.source}" + (", grid team" if r.team else "")
        )
        folium.PolyLine(
            [[answer.lat, answer.lon], [r.lat, r.lon]],
            color=role_colour(r.role),
            weight=2,
            opacity=0.8,
            dash_array="6 6",
        ).add_to(routes)
        folium.CircleMarker(
            [r.lat, r.lon],
            radius=8,
            color="#ffffff",
            weight=2,
            fill=True,
            fill_color=role_colour(r.role),
            fill_opacity=0.95,
            tooltip=html_text(label),
        ).add_to(responders)
    routes.add_to(fmap)
    if paths:
        road = folium.FeatureGroup(name=ROAD_LAYER, show=True)
        for r in answer.results:
            if r.responder_id in paths:
                folium.PolyLine(
                    paths[r.responder_id], color=role_colour(r.role), weight=4, opacity=0.9
                ).add_to(road)
        road.add_to(fmap)
    responders.add_to(fmap)

    call = folium.FeatureGroup(name=LAYERS[0], show=True)
    folium.Marker(
        [answer.lat, answer.lon],
        icon=folium.DivIcon(
            html='<div class="gridgis-badge" style="background:#d7191c;width:22px;height:22px;'
            'border-radius:11px">!</div>',
            icon_size=(22, 22),
            icon_anchor=(11, 11),
        ),
        tooltip=html_text(f"call at {answer.lon:.6f}, {answer.lat:.6f}"),
    ).add_to(call)
    call.add_to(fmap)

    grid = answer.grid
    where = (
        f"{html_text(grid['name'])} ({html_text(grid['code'])}, {answer.setting})"
        if grid
        else "outside every grid (rural ETA parameters)"
    )
    rows = "".join(
        f"<tr><td>{i}</td><td>{html_text(r.name)}</td><td>{html_text(r.role)}</td>"
        f"<td>{_minutes(r.eta_s)}</td><td>{r.distance_m / 1000:.2f} km</td></tr>"
        for i, r in enumerate(answer.results, start=1)
    )
    Panel(
        f"<h4>Nearest responders</h4><div>Call in {where}</div>"
        f"<div>ETA model {html_text(answer.eta_model)}, target "
        f"{answer.target_s / 60:g} min</div>"
        f"<table><tr><td>#</td><td>name</td><td>role</td><td>ETA</td><td>distance</td></tr>"
        f"{rows}</table>",
        position="topleft",
    ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return render_offline(fmap)
