"""The planning map of a coverage run: ETA heatmap, grid choropleth, responders, police stations,
incident density, boundaries and (optionally) planned posts, as one offline HTML page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import folium
import h3.api.basic_int as h3
import numpy as np
from folium.plugins import FastMarkerCluster, HeatMap

from gridgis.coverage import sql as coverage_sql
from gridgis.coverage.plan import PlanResult
from gridgis.db import Executor
from gridgis.errors import InvalidInput
from gridgis.mapping import sql as map_sql
from gridgis.mapping.render import (
    Panel,
    geojson_text,
    html_text,
    legend_html,
    new_map,
    render_offline,
    role_colour,
)

Progress = Callable[[str, int, int], None]

# ETA classes in minutes; the last class holds cells no counted responder can reach at all.
ETA_CLASSES: tuple[tuple[float, float, str, str], ...] = (
    (0, 3, "#1a9850", "< 3 min"),
    (3, 5, "#91cf60", "3–5 min"),
    (5, 8, "#fee08b", "5–8 min"),
    (8, 10, "#fdae61", "8–10 min"),
    (10, 15, "#f46d43", "10–15 min"),
    (15, 30, "#d73027", "15–30 min"),
    (30, float("inf"), "#762a83", "≥ 30 min"),
)
NO_RESPONDER_COLOUR = "#4d4d4d"
SHARE_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.5, "#d73027", "< 50%"),
    (0.8, "#fc8d59", "50–80%"),
    (0.95, "#fee08b", "80–95%"),
    (0.99, "#91cf60", "95–99%"),
    (1.01, "#1a9850", "≥ 99%"),
)
# Display simplification (degrees, about 20-30 m): invisible at city zoom, 5-10x smaller HTML.
SIMPLIFY_GRID_DEG = 0.0002
SIMPLIFY_TOP_DEG = 0.0005
RESPONDERS_PER_ROLE = 5_000
INCIDENT_BIN_DEG = 0.002
INCIDENT_BINS = 20_000
LAYERS = (
    "ETA to nearest responder",
    "Grid coverage (population share within target)",
    "Responders",
    "Police stations",
    "Incidents (density)",
    "Boundaries: counties",
    "Boundaries: townships",
    "Boundaries: grids",
    "Planned posts",
)


def _share_colour(share: float | None) -> str:
    if share is None:
        return NO_RESPONDER_COLOUR
    for upper, colour, _ in SHARE_CLASSES:
        if share < upper:
            return colour
    return SHARE_CLASSES[-1][1]


def _round_coords(value: Any, digits: int = 5) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list | tuple):
        return [_round_coords(v, digits) for v in value]
    return value


def _eta_layer(cells: dict[str, np.ndarray[Any, Any]]) -> folium.FeatureGroup:
    """Cells merged into one multipolygon per ETA class: the picture of every cell at a
    fraction of the size of one polygon per cell."""
    group = folium.FeatureGroup(name=LAYERS[0], show=True)
    minutes = cells["eta_s"] / 60.0
    h3_cells = cells["h3"]
    unreachable = (np.inf, np.inf, NO_RESPONDER_COLOUR, "none")
    for lo, hi, colour, label in [*ETA_CLASSES, unreachable]:
        # An H3 index listed twice (a tiny grid's extra row) is drawn once.
        if lo == np.inf:
            chosen = np.unique(h3_cells[~np.isfinite(minutes)])
        else:
            chosen = np.unique(h3_cells[(minutes >= lo) & (minutes < hi)])
        if len(chosen) == 0:
            continue
        shape = h3.cells_to_h3shape([int(c) for c in chosen]).__geo_interface__
        feature = {
            "type": "Feature",
            "geometry": {"type": shape["type"], "coordinates": _round_coords(shape["coordinates"])},
            "properties": {
                "eta": label if label != "none" else "no counted responder",
                "cells": len(chosen),
            },
        }
        folium.GeoJson(
            geojson_text([feature]),
            style_function=lambda _f, c=colour: {
                "fillColor": c,
                "color": c,
                "weight": 0,
                "fillOpacity": 0.55,
            },
            tooltip=folium.GeoJsonTooltip(fields=["eta", "cells"], aliases=["ETA", "cells"]),
        ).add_to(group)
    return group


def coverage_map_html(
    db: Executor,
    run_id: int,
    *,
    tiles: str,
    stale_after_s: float = 900.0,
    plan: PlanResult | None = None,
    responders_per_role: int = RESPONDERS_PER_ROLE,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> str:
    """The coverage map of a stored run as one self-contained HTML page."""
    step = progress or (lambda stage, done, total: None)
    total = 8
    step("run", 0, total)
    run = coverage_sql.get_run(db, run_id)
    if plan is not None and plan.run_id != run_id:
        raise InvalidInput(f"the plan was made for run {plan.run_id}, not {run_id}.", field="plan")
    params = run.parameters
    target_s = float(params["target_s"])
    k = int(params["k"])
    cells = coverage_sql.run_cells(db, run_id)
    bounds = None
    if len(cells["lon"]):
        bounds = (
            float(cells["lon"].min()),
            float(cells["lat"].min()),
            float(cells["lon"].max()),
            float(cells["lat"].max()),
        )
    fmap = new_map(tiles, bounds)

    step("eta heatmap", 1, total)
    _eta_layer(cells).add_to(fmap)

    step("grid coverage", 2, total)
    stats = {r["code"]: r for r in coverage_sql.area_stats(db, run_id, "grid")}
    grids = map_sql.boundaries_geojson(
        db, run.generation_id, "grid", tolerance_deg=SIMPLIFY_GRID_DEG
    )
    for feature in grids:
        props = feature["properties"]
        row = stats.get(props["code"], {})
        share = row.get("population_share_within_target")
        props["share"] = share
        props["share_pct"] = "n/a" if share is None else f"{100 * share:.1f}%"
        p90 = row.get("eta_p90_s")
        props["eta_p90"] = "n/a" if p90 is None else f"{p90 / 60:.1f} min"
    _escape_labels(grids)
    folium.GeoJson(
        geojson_text(grids),
        name=LAYERS[1],
        show=False,
        style_function=lambda f: {
            "fillColor": _share_colour(f["properties"]["share"]),
            "color": "#555555",
            "weight": 0.4,
            "fillOpacity": 0.6,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "code", "share_pct", "eta_p90", "population"],
            aliases=[
                "grid",
                "code",
                f"population within {target_s / 60:g} min (k={k})",
                "p90 ETA",
                "population",
            ],
        ),
    ).add_to(fmap)

    step("responders", 3, total)
    now = now or datetime.now(UTC)
    placed = map_sql.placed_responders_for_map(
        db,
        roles=params.get("roles"),
        statuses=params["statuses"],
        fresh_since=now - timedelta(seconds=stale_after_s),
        per_role_limit=responders_per_role,
        seed=0.2080,
    )
    by_role: dict[str, list[dict[str, Any]]] = {}
    for r in placed:
        by_role.setdefault(r["role"], []).append(r)
    for role, members in sorted(by_role.items()):
        role_total = int(members[0]["role_total"])
        sampled = f", random sample of {len(members):,}" if len(members) < role_total else ""
        data = [
            [float(m["lat"]), float(m["lon"]), html_text(f"{m['name']} ({role}, {m['status']})")]
            for m in members
        ]
        # The group carries the layer-control entry: it honours `show`, the cluster does not.
        group = folium.FeatureGroup(
            name=f"{LAYERS[2]}: {html_text(role)} ({role_total:,}{sampled})",
            show=role != "volunteer",
        )
        FastMarkerCluster(
            data,
            control=False,
            callback=(
                "function (row) { return L.circleMarker(new L.LatLng(row[0], row[1]), "
                f"{{radius: 5, color: '{role_colour(role)}', weight: 1, fillOpacity: 0.85}})"
                ".bindTooltip(row[2]); }"
            ),
            options={"chunkedLoading": True, "maxClusterRadius": 50},
        ).add_to(group)
        group.add_to(fmap)

    step("police stations", 4, total)
    stations = folium.FeatureGroup(name=LAYERS[3], show=True)
    for station in map_sql.facilities_of_type(db, "police_station"):
        folium.Marker(
            [float(station["lat"]), float(station["lon"])],
            icon=folium.DivIcon(
                html='<div class="gridgis-badge" style="background:#08306b;width:18px;'
                'height:18px">警</div>',
                icon_size=(18, 18),
                icon_anchor=(9, 9),
            ),
            tooltip=html_text(f"{station['name']} ({station['code']})"),
        ).add_to(stations)
    stations.add_to(fmap)

    step("incidents", 5, total)
    density = map_sql.incident_density(db, cell_deg=INCIDENT_BIN_DEG, limit=INCIDENT_BINS)
    if density:
        peak = max(n for _, _, n in density)
        HeatMap(
            [[lat, lon, n / peak] for lon, lat, n in density],
            name=f"{LAYERS[4]} ({sum(n for _, _, n in density):,} incidents)",
            show=False,
            radius=14,
            blur=12,
            min_opacity=0.3,
        ).add_to(fmap)

    step("boundaries", 6, total)
    for level, layer_name, weight, colour, show in (
        ("county", LAYERS[5], 2.5, "#000000", True),
        ("township", LAYERS[6], 1.2, "#333333", False),
        ("grid", LAYERS[7], 0.5, "#666666", False),
    ):
        features = (
            grids  # name and code already escaped
            if level == "grid"
            else _escape_labels(
                map_sql.boundaries_geojson(
                    db, run.generation_id, level, tolerance_deg=SIMPLIFY_TOP_DEG
                )
            )
        )
        folium.GeoJson(
            geojson_text(
                [
                    {
                        "type": "Feature",
                        "geometry": f["geometry"],
                        "properties": {
                            "name": f["properties"]["name"],
                            "code": f["properties"]["code"],
                        },
                    }
                    for f in features
                ]
            ),
            name=layer_name,
            show=show,
            style_function=lambda _f, w=weight, c=colour: {
                "fill": False,
                "color": c,
                "weight": w,
            },
            tooltip=folium.GeoJsonTooltip(fields=["name", "code"], aliases=[level, "code"]),
        ).add_to(fmap)

    if plan is not None:
        _plan_layer(plan).add_to(fmap)

    step("legend", 7, total)
    city = run.summary
    share = city.get("population_share_within_target")
    roles = ", ".join(params.get("roles") or ["all roles"])
    title = (
        f"<h4>Coverage run {run.id}</h4>"
        f"<div>{html_text(roles)}; {html_text(', '.join(params['statuses']))}; "
        f"target {target_s / 60:g} min; k={k}; H3 res {params['resolution']}</div>"
        f"<div>{html_text(str(run.created_at)[:19])} · ETA model "
        f"{html_text(str(params['eta_model'].get('name')))}</div>"
        + (
            f"<div>City: {100 * share:.1f}% of people within target</div>"
            if share is not None
            else ""
        )
    )
    Panel(title, position="topleft").add_to(fmap)
    Panel(
        legend_html(
            "ETA to nearest responder",
            [(c, label) for _, _, c, label in ETA_CLASSES] + [(NO_RESPONDER_COLOUR, "none")],
            note=f"Target: {target_s / 60:g} min. Grid layer: share of people within target.",
        ),
        position="bottomright",
    ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    page = render_offline(fmap)
    step("done", total, total)
    return page


def _plan_layer(plan: PlanResult) -> folium.FeatureGroup:
    group = folium.FeatureGroup(
        name=f"{LAYERS[8]}: +{len(plan.sites)} {html_text(plan.role)} (gap {100 * plan.gap:.2f}%)",
        show=True,
    )
    for site in plan.sites:
        folium.Marker(
            [site.lat, site.lon],
            icon=folium.DivIcon(
                html=f'<div class="gridgis-badge" style="background:#e7298a;width:20px;'
                f'height:20px">+{site.rank}</div>',
                icon_size=(20, 20),
                icon_anchor=(10, 10),
            ),
            tooltip=html_text(
                f"#{site.rank} {site.label}: +{site.population_gained:,.0f} people within target"
            ),
        ).add_to(group)
    return group


def _escape_labels(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Escape the names and codes the GeoJSON tooltips show (through innerHTML), in place."""
    for feature in features:
        props = feature["properties"]
        props["name"], props["code"] = html_text(props["name"]), html_text(props["code"])
    return features


def write_map(page: str, out: Path) -> Path:
    """Write a rendered map (creating the folder)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
