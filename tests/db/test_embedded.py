"""The project-private cluster: create, start, connect with PostGIS, report status, stop."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gridgis.db.embedded import EmbeddedCluster, _reachable_by_others
from gridgis.errors import EmbeddedClusterError
from gridgis.settings import Settings
from tests.servers import free_port


@pytest.fixture()
def scratch_cluster(settings: Settings, tmp_path: Path) -> Iterator[EmbeddedCluster]:
    """A second cluster in pytest's private tmp folder. As root that folder is closed to the
    postgres OS user, which exercises the fallback server folder under /var/lib/gridgis."""
    cluster = EmbeddedCluster(
        settings.model_copy(
            update={"home": tmp_path / "gridgis-home", "embedded_port": free_port()}
        )
    )
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(cluster.paths.server, ignore_errors=True)


def test_cluster_lifecycle(scratch_cluster: EmbeddedCluster) -> None:
    cluster = scratch_cluster
    assert not cluster.status().initialised
    assert cluster.start() is True
    assert cluster.start() is False  # already running: nothing to do
    assert cluster.ensure_database("lifecycle") is True
    assert cluster.ensure_database("lifecycle") is False
    url = cluster.url("lifecycle").replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        version = conn.execute("SELECT postgis_version()").fetchone()
        assert version is not None and version[0].startswith("3")
    status = cluster.status()
    assert status.running and status.initialised and status.postgis_available
    # Credentials are private to the owner.
    assert cluster.paths.password_file.stat().st_mode & 0o077 == 0
    if os.geteuid() == 0 and not _reachable_by_others(cluster.paths.home):
        assert cluster.paths.server.is_relative_to("/var/lib/gridgis")
        assert cluster.paths.data.exists()
    assert cluster.stop() is True
    assert cluster.stop() is False
    assert not cluster.status().running


def test_port_taken_by_another_program_is_a_clear_error(settings: Settings) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        home = settings.home / "test-port-cluster"
        shutil.rmtree(home, ignore_errors=True)
        cluster = EmbeddedCluster(settings.model_copy(update={"home": home, "embedded_port": port}))
        try:
            with pytest.raises(EmbeddedClusterError, match="taken by another program"):
                cluster.start()
        finally:
            shutil.rmtree(home, ignore_errors=True)
