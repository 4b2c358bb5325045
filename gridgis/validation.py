"""Input checks shared by the CLI, the API and the library (domain errors, no HTTP)."""

from __future__ import annotations

import math

from gridgis.errors import InvalidInput


def check_lon_lat(lon: float, lat: float) -> tuple[float, float]:
    """Return (lon, lat) as floats, or raise InvalidInput naming the bad field."""
    for name, value, limit in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        # Strict on purpose: a JSON string "117.6" is a client bug worth reporting.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{name} must be a number, got {value!r}.", field=name)
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float, e.g. 10**400 in JSON
            number = math.inf if value > 0 else -math.inf
        if not math.isfinite(number) and isinstance(value, int):
            raise InvalidInput(
                f"{name} must be between {-limit:g} and {limit:g}; got a {len(str(abs(value)))}"
                "-digit integer.",
                field=name,
            )
        if not math.isfinite(number):
            raise InvalidInput(f"{name} must be a finite number, got {value!r}.", field=name)
        if not -limit <= number <= limit:
            raise InvalidInput(
                f"{name} must be between {-limit:g} and {limit:g}, got {number:g}.", field=name
            )
    return float(lon), float(lat)
