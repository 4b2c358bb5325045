"""Speeds per profile, highway class and setting (urban / rural): one table, each row sourced.

The defaults live in `speeds.csv` beside this module (columns profile, highway, urban_kmh,
rural_kmh, source); a city overrides any rows with a file of the same columns. A row with
highway `*` prices every class of its profile that has no row of its own. A way's `maxspeed`
tag, when it parses, wins over the table (the import records which applied to each edge).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gridgis.errors import InvalidInput

DEFAULTS_PATH = Path(__file__).with_name("speeds.csv")
_COLUMNS = ("profile", "highway", "urban_kmh", "rural_kmh", "source")
_MPH = 1.609344
_KNOT = 1.852
# Implicit limits some extracts carry (wiki "Default speed limits"); only unambiguous ones.
_IMPLICIT = {"walk": 5.0, "living_street": 20.0}
_IMPLICIT_SUFFIX = {"living_street": 20.0, "urban": 50.0, "rural": 90.0, "motorway": 120.0}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$")


@dataclass(frozen=True)
class SpeedRow:
    """Free-flow speeds of one highway class for one profile, and where they come from."""

    urban_kmh: float
    rural_kmh: float
    source: str


SpeedTable = dict[tuple[str, str], SpeedRow]


def load_speed_table(override: Path | None = None) -> SpeedTable:
    """The default table, with the rows of `override` (same columns) replacing or adding rows."""
    table = _read(DEFAULTS_PATH)
    if override is not None:
        table.update(_read(override))
    return table


def table_rows(table: SpeedTable) -> list[dict[str, Any]]:
    """The table as JSON rows (a network's report keeps the table that priced it)."""
    return [
        {"profile": profile, "highway": highway, **asdict(row)}
        for (profile, highway), row in sorted(table.items())
    ]


def table_from_rows(rows: list[dict[str, Any]]) -> SpeedTable:
    """The table `table_rows` wrote."""
    return {
        (r["profile"], r["highway"]): SpeedRow(
            float(r["urban_kmh"]), float(r["rural_kmh"]), str(r["source"])
        )
        for r in rows
    }


def _read(path: Path) -> SpeedTable:
    table: SpeedTable = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InvalidInput(
                    f"{path.name}: missing column(s) {', '.join(missing)}", field="speeds"
                )
            for line, row in enumerate(reader, start=2):
                try:
                    urban, rural = float(row["urban_kmh"]), float(row["rural_kmh"])
                except ValueError as exc:
                    raise InvalidInput(
                        f"{path.name}:{line}: speeds must be numbers", field="speeds"
                    ) from exc
                if not (0 < urban <= 200 and 0 < rural <= 200):
                    raise InvalidInput(
                        f"{path.name}:{line}: speeds must be in (0, 200] km/h", field="speeds"
                    )
                table[(row["profile"].strip(), row["highway"].strip())] = SpeedRow(
                    urban, rural, row["source"].strip()
                )
    except OSError as exc:
        raise InvalidInput(f"cannot read speeds file {path}: {exc}", field="speeds") from exc
    return table


def table_speed(table: SpeedTable, profile: str, highway: str, urban: bool) -> float | None:
    """The table's speed for a class in a setting; None when neither the class nor `*` has one."""
    row = table.get((profile, highway)) or table.get((profile, "*"))
    if row is None:
        return None
    return row.urban_kmh if urban else row.rural_kmh


def parse_maxspeed(value: str | None) -> float | None:
    """km/h from an OSM `maxspeed` value ("50", "30 mph", "CN:urban", "walk"), or None.

    Values with several limits ("50;30") take the lowest; "none", "signals" and variable
    limits say nothing about travel speed and give None."""
    if value is None:
        return None
    speeds = [s for s in (_parse_one(part) for part in value.split(";")) if s is not None]
    return min(speeds) if speeds else None


def _parse_one(value: str) -> float | None:
    value = value.strip().lower()
    if value in _IMPLICIT:
        return _IMPLICIT[value]
    if ":" in value:
        return _IMPLICIT_SUFFIX.get(value.split(":", 1)[1])
    match = _NUMBER.match(value)
    if match is None:
        return None
    speed = float(match.group(1))
    unit = match.group(2)
    if unit == "mph":
        speed *= _MPH
    elif unit == "knots":
        speed *= _KNOT
    if not math.isfinite(speed) or speed <= 0 or speed > 200:
        return None
    return speed
