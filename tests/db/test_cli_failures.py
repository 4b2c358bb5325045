"""A failing command ends in one line that says what to do, never a traceback."""

from __future__ import annotations

import socket

from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from gridgis.cli import app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_line_error(output: str) -> str:
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, output
    return errors[0]


def test_a_bulk_statement_over_its_limit_says_which_setting_to_raise(
    test_database_url: str,
) -> None:
    result = CliRunner().invoke(
        app,
        ["demo", "load", "--volunteers", "0"],
        env={"GRIDGIS_DATABASE_URL": test_database_url, "GRIDGIS_BULK_STATEMENT_TIMEOUT_MS": "1"},
    )
    assert result.exit_code == 1, result.output
    line = _one_line_error(result.output)
    assert "GRIDGIS_BULK_STATEMENT_TIMEOUT_MS" in line
    assert "run the command again" in line


def test_an_unreachable_database_says_what_to_check(test_database_url: str) -> None:
    url = make_url(test_database_url).set(port=_closed_port())
    result = CliRunner().invoke(
        app,
        ["db", "migrate"],
        env={"GRIDGIS_DATABASE_URL": url.render_as_string(hide_password=False)},
    )
    assert result.exit_code == 1, result.output
    line = _one_line_error(result.output)
    assert "unreachable" in line
    assert "gridgis db status" in line


def test_a_schema_from_another_version_says_so(test_database_url: str) -> None:
    """A database migrated by a version of gridgis this one does not know (a newer release, a
    branch) is left as it is, with one line naming its revision and this version's newest."""
    import psycopg

    from gridgis.db.embedded import ensure_database
    from gridgis.db.migrate import current_head

    url = make_url(test_database_url)
    name = f"{url.database}_other_version"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    ensure_database(admin, name, drop_first=True)
    plain = url.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    try:
        with psycopg.connect(plain, autocommit=True) as c:
            c.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
            c.execute("INSERT INTO alembic_version VALUES ('0099_from_elsewhere')")
        result = CliRunner().invoke(
            app,
            ["db", "migrate"],
            env={
                "GRIDGIS_DATABASE_URL": url.set(database=name).render_as_string(hide_password=False)
            },
        )
        assert result.exit_code == 1, result.output
        line = _one_line_error(result.output)
        assert "0099_from_elsewhere" in line and str(current_head()) in line, line
        with psycopg.connect(plain) as c:
            stamp = c.execute("SELECT version_num FROM alembic_version").fetchall()
        assert stamp == [("0099_from_elsewhere",)]
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
