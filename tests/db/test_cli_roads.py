"""`gridgis import roads`, `gridgis roads list / reprice` and the boundary activation's note,
on a database of their own (the commands commit)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from gridgis.cli import app
from gridgis.db.embedded import ensure_database
from tests.db.test_roads_networks import helsinki_generation
from tests.roads_data import helsinki_pbf


@pytest.fixture()
def own_database(test_database_url: str) -> Iterator[str]:
    url = make_url(test_database_url)
    name = f"{url.database}_cli_roads"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    ensure_database(admin, name, drop_first=True)
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_new_boundaries_note_a_stale_network_and_reprice_fixes_it(own_database: str) -> None:
    env = {"GRIDGIS_DATABASE_URL": own_database, "COLUMNS": "200"}

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())  # rich wraps long lines

    run("db", "migrate")
    engine = create_engine(own_database)
    try:
        with engine.begin() as c:
            urban = helsinki_generation(c, kind="community")
        imported = run("import", "roads", str(helsinki_pbf()), "--activate")
        assert "network 1 is active" in imported
        with engine.begin() as c:
            rural = helsinki_generation(c, kind="village")
        assert "note" not in run("generations", "activate", str(urban))
        moved = run("generations", "activate", str(rural))
        assert f"generation {rural} is active" in moved
        assert "gridgis roads reprice --activate" in moved and "Road network 1" in moved
        assert f"stale (generation {urban})" in run("roads", "list")
        repriced = run("roads", "reprice", "--activate")
        assert "repriced from network 1" in repriced and "network 2 is active" in repriced
        listed = run("roads", "list")
        assert f"current (generation {rural})" in listed and f"stale (generation {urban})" in listed
        missing = CliRunner().invoke(app, ["roads", "reprice", "99"], env=env)
        assert missing.exit_code == 1 and "Road network 99 does not exist" in missing.output
        assert "Traceback" not in missing.output
    finally:
        engine.dispose()
