"""Boundary generations: stage an import as a new generation, check it, activate or roll back.

Lifecycle (MapIt's model): an import creates a *staged* generation (never active) holding the
imported level plus copies of every other level of its base (the active generation by
default), its `area_pieces` and its QA report. Activation flips the one `active` flag in the
same transaction and writes an audit entry; the previous generation becomes *retired* and stays
queryable with `?generation=`. Activating it again is the rollback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import shapely
from sqlalchemy import text

from gridgis import audit
from gridgis.boundaries import qa
from gridgis.boundaries import sql as boundaries_sql
from gridgis.boundaries.imports import ImportedLayer, ImportOptions, read_layer
from gridgis.db import Executor
from gridgis.errors import Conflict, InvalidInput, NotFound
from gridgis.vocabulary import PARENT_LEVEL


@dataclass(frozen=True)
class ImportRequest:
    """What to do with a read layer."""

    activate: bool = False
    force: bool = False
    # None: the active generation (or nothing when none is active); 0: start from nothing.
    base_generation: int | None = None
    label: str | None = None
    actor: str = "cli"
    thresholds: qa.Thresholds = field(default_factory=qa.Thresholds)


_INSERT_AREA = text(
    """
    INSERT INTO areas (generation_id, code, name, level, parent_code, kind, population, geom)
    VALUES (:g, :code, :name, :level, :parent_code, :kind, :population,
            ST_Multi(ST_GeomFromWKB(decode(:wkb, 'hex'), 4326)))
    """
)

_COPY_LEVELS = text(
    """
    INSERT INTO areas (generation_id, code, name, level, parent_code, kind, population, geom)
    SELECT :g, code, name, level, parent_code, kind, population, geom
    FROM areas WHERE generation_id = :base AND level <> :level
    """
)

# Features whose file names no parent get the parent-level area holding their inner point.
_DERIVE_PARENTS = text(
    """
    UPDATE areas c SET parent_code = (
        SELECT p.code FROM areas p
        WHERE p.generation_id = c.generation_id AND p.level = :parent
          AND ST_Intersects(p.geom, ST_PointOnSurface(c.geom))
        ORDER BY p.code LIMIT 1)
    WHERE c.generation_id = :g AND c.level = :level AND c.parent_code IS NULL
    """
)

_REMOVED_GRIDS = text(
    """
    SELECT o.code, o.name,
           COALESCE(json_agg(json_build_object('responder_id', r.id, 'name', r.name,
                                               'duty', a.duty) ORDER BY a.duty, r.name, r.id)
                    FILTER (WHERE r.id IS NOT NULL), '[]'::json) AS staff
    FROM areas o
    LEFT JOIN assignments a ON a.grid_code = o.code
    LEFT JOIN responders r ON r.id = a.responder_id
    WHERE o.generation_id = :base AND o.level = :grid
      AND NOT EXISTS (SELECT 1 FROM areas n WHERE n.generation_id = :g AND n.level = :grid
                      AND n.code = o.code)
    GROUP BY o.code, o.name ORDER BY o.code
    """
)


def _base_generation(db: Executor, base: int | None) -> int | None:
    if base == 0:
        return None
    if base is not None:
        return boundaries_sql.resolve_generation_id(db, base)
    return boundaries_sql.find_active_generation_id(db)


def _stage(
    db: Executor,
    layer: ImportedLayer,
    options: ImportOptions,
    request: ImportRequest,
    base: int | None,
) -> int:
    label = request.label or (f"import-{options.level}-{datetime.now(UTC):%Y%m%dT%H%M%S.%f}")
    if db.execute(text("SELECT 1 FROM generations WHERE label = :l"), {"l": label}).first():
        raise Conflict(f"A generation labelled {label!r} exists.", field="label")
    generation_id = int(
        db.execute(
            text("INSERT INTO generations (label, source) VALUES (:l, :s) RETURNING id"),
            {"l": label, "s": f"import of {options.level} level from {layer.source}"},
        ).scalar_one()
    )
    if base is not None:
        db.execute(_COPY_LEVELS, {"g": generation_id, "base": base, "level": options.level})
    if layer.features:
        wkb = shapely.to_wkb([f.geom for f in layer.features], hex=True)
        db.execute(
            _INSERT_AREA,
            [
                {
                    "g": generation_id,
                    "code": f.code,
                    "name": f.name[:200],
                    "level": options.level,
                    "parent_code": f.parent_code,
                    "kind": f.kind,
                    "population": f.population,
                    "wkb": hexed,
                }
                for f, hexed in zip(layer.features, wkb, strict=True)
            ],
        )
    parent = PARENT_LEVEL.get(options.level)
    if not layer.parent_from_file and parent is not None:
        db.execute(_DERIVE_PARENTS, {"g": generation_id, "level": options.level, "parent": parent})
    return generation_id


def import_layer(
    db: Executor, layer: ImportedLayer, options: ImportOptions, request: ImportRequest
) -> dict[str, Any]:
    """Stage `layer` as a new generation, check it and (when asked and clean) activate it.

    All of it happens in one savepoint: an exception leaves the database as it was. The
    caller commits. Returns the QA report (also stored on the generation).
    """
    report: dict[str, Any] = {
        "generation": None,
        "base_generation": None,
        "level": options.level,
        "source": layer.source,
        "features_read": layer.feature_count,
        "features_staged": len(layer.features),
        "activated": False,
        "errors": [f.as_dict() for f in layer.errors],
        "warnings": [f.as_dict() for f in layer.warnings],
        "removed_grids": [],
    }
    if layer.fatal:
        return report
    with db.begin_nested():
        base = _base_generation(db, request.base_generation)
        generation_id = _stage(db, layer, options, request, base)
        boundaries_sql.rebuild_area_pieces(db, generation_id)
        errors, warnings = qa.check_generation(db, generation_id, options.level, request.thresholds)
        report["generation"] = generation_id
        report["base_generation"] = base
        report["errors"] += [f.as_dict() for f in errors]
        report["warnings"] += [f.as_dict() for f in warnings]
        if base is not None:
            report["removed_grids"] = [
                {"code": r.code, "name": r.name, "staff": list(r.staff)}
                for r in db.execute(
                    _REMOVED_GRIDS, {"g": generation_id, "base": base, "grid": "grid"}
                )
            ]
        report["areas"] = boundaries_sql.counts_by_level(db, generation_id)
        db.execute(
            text("UPDATE generations SET report = CAST(:r AS jsonb) WHERE id = :g"),
            {"r": json.dumps(report, ensure_ascii=False), "g": generation_id},
        )
        audit.record(
            db,
            actor=request.actor,
            action="generation.stage",
            entity="generation",
            entity_id=str(generation_id),
            after={
                "level": options.level,
                "source": layer.source,
                "features_staged": len(layer.features),
                "base_generation": base,
                "errors": len(report["errors"]),
                "warnings": len(report["warnings"]),
            },
        )
        if request.activate and (not report["errors"] or request.force):
            activate_generation(db, generation_id, actor=request.actor, force=request.force)
            report["activated"] = True
    return report


def import_file(
    db: Executor, path: Path, options: ImportOptions, request: ImportRequest
) -> dict[str, Any]:
    """Read a boundary file and import it (see import_layer)."""
    return import_layer(db, read_layer(path, options), options, request)


def activate_generation(
    db: Executor, generation_id: int, *, actor: str, force: bool = False
) -> dict[str, Any]:
    """Make a generation the one lookups use; refuses one with QA errors unless forced."""
    # One activation at a time: a second one waits here and then sees the first's result,
    # instead of both flipping flags and colliding on the one-active index.
    db.execute(text("SELECT pg_advisory_xact_lock(hashtext('gridgis.generations.activate'))"))
    row = db.execute(
        text("SELECT id, active, report FROM generations WHERE id = :g FOR UPDATE"),
        {"g": generation_id},
    ).first()
    if row is None:
        raise NotFound(f"Generation {generation_id} does not exist.", field="generation")
    errors = len((row.report or {}).get("errors", []))
    if errors and not force:
        raise Conflict(
            f"Generation {generation_id} has {errors} QA error(s); activate it with force.",
            field="force",
        )
    has_areas = db.execute(
        text("SELECT 1 FROM areas WHERE generation_id = :g LIMIT 1"), {"g": generation_id}
    ).first()
    if has_areas is None:
        raise Conflict(f"Generation {generation_id} has no areas.", field="generation")
    previous = db.execute(text("SELECT id FROM generations WHERE active FOR UPDATE")).first()
    previous_id = None if previous is None else int(previous[0])
    if previous_id == generation_id:
        return {"active": generation_id, "previous": previous_id, "changed": False}
    db.execute(text("UPDATE generations SET active = false WHERE active"))
    db.execute(
        text("UPDATE generations SET active = true, activated_at = now() WHERE id = :g"),
        {"g": generation_id},
    )
    audit.record(
        db,
        actor=actor,
        action="generation.activate",
        entity="generation",
        entity_id=str(generation_id),
        before={"active": previous_id},
        after={"active": generation_id, "forced_over_errors": bool(force and errors)},
    )
    return {"active": generation_id, "previous": previous_id, "changed": True}


def list_generations(db: Executor) -> list[dict[str, Any]]:
    """Every generation, newest first, with its status and QA counts."""
    rows = db.execute(
        text(
            """
            SELECT g.id, g.label, g.source, g.created_at, g.activated_at, g.active,
                   jsonb_array_length(COALESCE(g.report -> 'errors', '[]'::jsonb)) AS errors,
                   jsonb_array_length(COALESCE(g.report -> 'warnings', '[]'::jsonb)) AS warnings,
                   g.report ->> 'level' AS level,
                   (SELECT COALESCE(jsonb_object_agg(c.level, c.n), '{}'::jsonb) FROM
                      (SELECT level, COUNT(*) AS n FROM areas a WHERE a.generation_id = g.id
                       GROUP BY level) c) AS areas
            FROM generations g ORDER BY g.id DESC
            """
        )
    )
    return [
        {
            "id": int(r.id),
            "label": r.label,
            "source": r.source,
            "status": generation_status(r.active, r.activated_at),
            "created_at": r.created_at,
            "activated_at": r.activated_at,
            "imported_level": r.level,
            "errors": int(r.errors),
            "warnings": int(r.warnings),
            "areas": dict(r.areas),
        }
        for r in rows
    ]


def generation_status(active: bool, activated_at: datetime | None) -> str:
    """staged (never active), active, or retired (active once, replaced since)."""
    if active:
        return "active"
    return "staged" if activated_at is None else "retired"


def generation_report(db: Executor, generation_id: int) -> dict[str, Any]:
    """The stored QA report of a generation (empty lists for the demo)."""
    row = db.execute(
        text("SELECT report FROM generations WHERE id = :g"), {"g": generation_id}
    ).first()
    if row is None:
        raise NotFound(f"Generation {generation_id} does not exist.", field="generation")
    return dict(row.report or {"generation": generation_id, "errors": [], "warnings": []})


def check_thresholds(tolerance_m2: float, sliver_width_m: float) -> qa.Thresholds:
    """Validated thresholds (positive, finite)."""
    if not 0 < tolerance_m2 < 1e9:
        raise InvalidInput("tolerance_m2 must be > 0.", field="tolerance_m2")
    if not 0 <= sliver_width_m < 1e6:
        raise InvalidInput("sliver_width_m must be >= 0.", field="sliver_width_m")
    return qa.Thresholds(tolerance_m2=tolerance_m2, sliver_width_m=sliver_width_m)


def import_options(
    level: str,
    *,
    layer: str | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    parent_field: str | None = None,
    kind_field: str | None = None,
    population_field: str | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    activate: bool = False,
    force: bool = False,
    base: int | None = None,
    label: str | None = None,
    actor: str = "cli",
    tolerance_m2: float = 1.0,
    sliver_width_m: float = 2.0,
) -> tuple[ImportOptions, ImportRequest]:
    """How to read a boundary file and what to do with it, from the choices the CLI and the API
    both offer (forcing implies activating). InvalidInput names the field at fault."""
    options = ImportOptions(
        level=level,
        layer=layer,
        code_field=code_field,
        name_field=name_field,
        parent_field=parent_field,
        kind_field=kind_field,
        population_field=population_field,
        crs=crs,
        encoding=encoding,
    )
    request = ImportRequest(
        activate=activate or force,
        force=force,
        base_generation=base,
        label=label,
        actor=actor,
        thresholds=check_thresholds(tolerance_m2, sliver_width_m),
    )
    return options, request


def report_lines(report: dict[str, Any], limit: int = 30) -> list[str]:
    """A readable summary of a QA report (rich markup), each finding with its place."""
    generation = report.get("generation")
    head = (
        f"generation {generation} staged from {report.get('source')} ({report.get('level')} "
        f"level, {report.get('features_staged')}/{report.get('features_read')} features)"
        if generation is not None
        else f"nothing staged from {report.get('source')}"
    )
    lines = [head]
    if report.get("areas"):
        lines.append(
            "areas: " + ", ".join(f"{lvl} {n}" for lvl, n in sorted(report["areas"].items()))
        )
    for kind, colour in (("errors", "red"), ("warnings", "yellow")):
        findings = report.get(kind, [])
        lines.append(f"[bold {colour}]{len(findings)} {kind}[/]")
        for finding in findings[:limit]:
            where = (
                f" at {finding['point'][0]:.6f},{finding['point'][1]:.6f}"
                if finding.get("point")
                else ""
            )
            area = f" {finding['area_m2']:,.1f} m²" if finding.get("area_m2") is not None else ""
            # Messages quote GEOS reasons like "Self-intersection[x y]": not markup.
            message = str(finding["message"]).replace("[", "\\[")
            lines.append(f"  [{colour}]{finding['check']}[/]{area}{where}: {message}")
        if len(findings) > limit:
            lines.append(f"  ... and {len(findings) - limit} more (see the JSON report)")
    for grid in report.get("removed_grids", [])[:limit]:
        staff = ", ".join(f"{m['name']} ({m['duty']})" for m in grid["staff"]) or "no staff"
        lines.append(f"grid {grid['code']} {grid['name']} disappears; its team: {staff}")
    if report.get("activated"):
        lines.append(f"[bold green]generation {generation} is now active[/]")
    elif generation is not None:
        lines.append(
            f"generation {generation} is staged, not active: "
            f"`gridgis generations activate {generation}`"
            + (" --force (it has errors)" if report.get("errors") else "")
        )
    return lines


def get_generation(db: Executor, generation_id: int) -> dict[str, Any]:
    """One generation as list_generations shows it, with its stored report."""
    found = [g for g in list_generations(db) if g["id"] == generation_id]
    if not found:
        raise NotFound(f"Generation {generation_id} does not exist.", field="generation_id")
    row = db.execute(
        text("SELECT report FROM generations WHERE id = :g"), {"g": generation_id}
    ).one()
    return {**found[0], "report": row.report}
