"""Production settings are safe by default: no third-party tile server unless asked for, and
a secret with at least 32 bytes' worth of randomness."""

from __future__ import annotations

import secrets

import pytest

from gridgis.errors import InvalidInput
from gridgis.settings import Settings, resolve_secret_key


def test_production_maps_load_no_tiles_by_default() -> None:
    assert Settings(env="production").tiles == "none"
    assert Settings(env="dev").tiles == "osm"
    assert Settings(env="production", tiles="osm").tiles == "osm"  # an explicit choice stands
    intranet = "https://tiles.city.internal/{z}/{x}/{y}.png"
    assert Settings(env="production", tiles=intranet).tiles == intranet


@pytest.mark.parametrize(
    "weak", ["s" * 40, "correct-horse-battery", "0123456789abcdef", "ab" * 32, "x" * 31]
)
def test_production_refuses_a_short_or_repetitive_secret(weak: str) -> None:
    with pytest.raises(InvalidInput, match="32") as caught:
        resolve_secret_key(Settings(env="production", secret_key=weak))
    assert caught.value.field == "GRIDGIS_SECRET_KEY"


def test_production_accepts_generated_secrets() -> None:
    for _ in range(50):
        for strong in (secrets.token_urlsafe(32), secrets.token_hex(32)):
            assert resolve_secret_key(Settings(env="production", secret_key=strong)) == strong
