"""Zip imports are bounded by what they really expand to (not what they declare), by their
compression ratio, and are unpacked in chunks; import errors never show server paths."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_imports_api import post_import

from gridgis.boundaries import imports
from gridgis.boundaries.imports import opened_source
from gridgis.errors import InvalidInput


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", {"x.shp": bytes(60_000_000), "x.dbf": b"dbf"})
    assert bomb.stat().st_size < 100_000
    with pytest.raises(InvalidInput, match="expands") as caught, opened_source(bomb):
        pass
    assert caught.value.field == "file"


def test_actual_bytes_are_counted_not_declared_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit holds against the bytes that come out, member after member."""
    monkeypatch.setattr(imports, "MAX_UNZIPPED_BYTES", 3_000_000)
    monkeypatch.setattr(imports, "MAX_ZIP_RATIO", 10_000)
    members = {f"part{i}.dbf": bytes(1_000_000) for i in range(5)}
    archive = _zip(tmp_path / "many.zip", {"x.shp": b"shp", **members})
    written: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        handle = real_open(self, *args, **kwargs)  # type: ignore[call-overload]
        written.append(1)
        return handle

    monkeypatch.setattr(Path, "open", counting_open)
    with pytest.raises(InvalidInput, match="expands"), opened_source(archive):
        pass
    assert len(written) <= 4  # stopped at the member that crossed the limit


def test_a_member_is_unpacked_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _zip(tmp_path / "ok.zip", {"x.geojson": b" " * 5_000_000})
    monkeypatch.setattr(imports, "MAX_ZIP_RATIO", 10_000)

    def no_whole_reads(*_: object, **__: object) -> bytes:
        raise AssertionError("a member was read whole")

    monkeypatch.setattr(zipfile.ZipFile, "read", no_whole_reads)
    with opened_source(archive) as dataset:
        assert dataset.stat().st_size == 5_000_000


def test_import_errors_do_not_show_server_paths(client: TestClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.shp", b"junk")
        archive.writestr("x.dbf", b"junk")
    for name, content in (("a.geojson", b"{not json"), ("b.zip", buffer.getvalue())):
        response = post_import(client, name, content, level="grid")
        assert response.status_code == 422
        message = response.json()["message"]
        assert "/tmp" not in message and "gridgis-" not in message, message
        assert "Cannot read" in message
