"""Secrets are written without following symbolic links, and the embedded cluster's data lives
apart from the application's secrets, owned by the server's account (when run as root)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gridgis.db.embedded import SERVICE_OS_USER, ClusterPaths, _prepare_home
from gridgis.private_files import read_private, write_private
from gridgis.settings import Settings, resolve_secret_key


def test_write_private_replaces_a_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "secret"
    target.symlink_to(victim)
    write_private(target, "new\n")
    assert victim.read_text() == "precious\n"
    assert not target.is_symlink() and target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_read_private_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        read_private(tmp_path / "link")


def test_the_dev_secret_is_not_written_through_a_planted_link(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    elsewhere = tmp_path / "elsewhere"
    (home / "secret").symlink_to(elsewhere)  # dangling: "exists()" says no
    secret = resolve_secret_key(Settings(env="dev", home=home))
    assert not elsewhere.exists()
    assert not (home / "secret").is_symlink()
    assert (home / "secret").read_text().strip() == secret


@pytest.mark.skipif(os.geteuid() != 0, reason="the split only applies when run as root")
def test_as_root_server_data_and_secrets_have_separate_owners() -> None:
    import pwd
    import shutil
    import tempfile

    # A home other users can reach (as a checkout under /work or /srv is): the server's
    # folder then sits inside it.
    top = Path(tempfile.mkdtemp(prefix="gridgis-split-", dir="/tmp"))
    top.chmod(0o711)
    try:
        _check_split(top / "gridgis-home", pwd.getpwnam(SERVICE_OS_USER).pw_uid)
    finally:
        shutil.rmtree(top)


def _check_split(home: Path, service_uid: int) -> None:
    paths = ClusterPaths(home)
    assert paths.server != home and paths.password_file.parent == home
    _prepare_home(paths)
    home_stat, server_stat = home.stat(), paths.server.stat()
    assert home_stat.st_uid == 0 and not home_stat.st_mode & 0o022  # postgres cannot write
    assert server_stat.st_uid == service_uid
    assert stat.S_IMODE(server_stat.st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="the split only applies when run as root")
def test_a_cluster_made_before_the_split_stays_where_it_is(tmp_path: Path) -> None:
    home = tmp_path / "old-home"
    (home / "pgdata").mkdir(parents=True)
    (home / "pgdata" / "PG_VERSION").write_text("16\n")
    assert ClusterPaths(home).server == home
