"""Coordinate checks and settings parsing (no database)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridgis.errors import InvalidInput
from gridgis.settings import get_settings
from gridgis.validation import check_lon_lat


@given(st.floats(-180, 180), st.floats(-90, 90))
def test_valid_coordinates_pass_through(lon: float, lat: float) -> None:
    assert check_lon_lat(lon, lat) == (lon, lat)


@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(
            lambda v: not math.isfinite(v) or abs(v) > 180
        ),
        st.text(max_size=5).filter(lambda s: not _is_number(s)),
        st.none(),
    )
)
def test_bad_longitudes_are_rejected_with_the_field(lon: object) -> None:
    with pytest.raises(InvalidInput) as info:
        check_lon_lat(lon, 24.5)  # type: ignore[arg-type]
    assert info.value.field == "lon"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_plain_postgres_urls_get_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDGIS_DATABASE_URL", "postgresql://u:p@db:5432/x")
    assert get_settings().database_url == "postgresql+psycopg://u:p@db:5432/x"
    monkeypatch.setenv("GRIDGIS_DATABASE_URL", "")
    assert get_settings().database_url is None
    assert get_settings().uses_embedded
