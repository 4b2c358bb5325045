"""Travel profiles: which OSM ways a car, a motorcycle or a person on foot may use, and which way.

The rules follow OSM's access tagging (wiki "Key:access", "Key:oneway"): the most specific
mode tag wins (motorcar > motor_vehicle > vehicle > access), and `oneway` is implied on
motorways and roundabouts unless tagged otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gridgis.vocabulary import ROAD_PROFILES as PROFILES
from gridgis.vocabulary import RoadProfile as ProfileName

__all__ = ["PROFILES", "ProfileName", "WayAccess", "way_access"]

MOTOR_CLASSES = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)
FOOT_CLASSES = frozenset(
    {
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
        "pedestrian",
        "footway",
        "path",
        "steps",
        "track",
        "cycleway",
        "bridleway",
        "corridor",
    }
)
_DENIED = frozenset({"no", "private", "agricultural", "forestry", "delivery", "emergency"})
_GRANTED = frozenset({"yes", "designated", "permissive", "destination", "customers"})
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_REVERSE = frozenset({"-1", "reverse"})

# Most specific first (OSM's access hierarchy for each mode).
_ACCESS_KEYS: dict[ProfileName, tuple[str, ...]] = {
    "car": ("motorcar", "motor_vehicle", "vehicle", "access"),
    "motorcycle": ("motorcycle", "motor_vehicle", "vehicle", "access"),
    "foot": ("foot", "access"),
}
_CLASSES: dict[ProfileName, frozenset[str]] = {
    "car": MOTOR_CLASSES,
    "motorcycle": MOTOR_CLASSES,
    "foot": FOOT_CLASSES,
}


@dataclass(frozen=True)
class WayAccess:
    """How a profile may use a way: its class and direction (1 forward, -1 reverse, 0 both)."""

    highway: str
    direction: int


def way_access(profile: ProfileName, tags: Mapping[str, str]) -> WayAccess | None:
    """The way's class and direction for `profile`, or None when the profile may not use it."""
    highway = tags.get("highway")
    if highway is None or highway not in _CLASSES[profile]:
        return None
    if tags.get("area") == "yes":
        return None
    for key in _ACCESS_KEYS[profile]:
        value = tags.get(key)
        if value is None:
            continue
        if value in _DENIED:
            return None
        if value in _GRANTED:
            break
    if profile == "foot":
        # Pedestrians walk both ways of a one-way street; only oneway:foot binds them.
        oneway = tags.get("oneway:foot", "no")
        implied = False
    else:
        oneway = tags.get("oneway:" + profile, tags.get("oneway", ""))
        implied = highway == "motorway" or tags.get("junction") in ("roundabout", "circular")
    if oneway in _ONEWAY_FORWARD:
        return WayAccess(highway, 1)
    if oneway in _ONEWAY_REVERSE:
        return WayAccess(highway, -1)
    if oneway == "no" or not implied:
        return WayAccess(highway, 0)
    return WayAccess(highway, 1)
