"""Typed settings (environment prefix GRIDGIS_), built when asked for, never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable about gridgis. Read from the environment (GRIDGIS_*)."""

    model_config = SettingsConfigDict(env_prefix="GRIDGIS_", extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    # When unset, the CLI and the tests use the project-private (embedded) PostGIS cluster.
    database_url: str | None = None
    # Where the embedded cluster keeps its data, log and credentials.
    home: Path = Field(default_factory=lambda: Path.cwd() / ".gridgis")
    embedded_port: int = Field(default=54329, ge=1024, le=65535)
    embedded_database: str = "gridgis"
    # Pool sizing for the API process; the machine has 2 cores.
    pool_size: int = Field(default=10, ge=1, le=200)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    # Threads per API process for the dispatch hot paths (locate, nearest); measured best on
    # two cores (docs/PERFORMANCE.md). Other routes use the usual thread pool.
    dispatch_threads: int = Field(default=1, ge=1, le=64)
    statement_timeout_ms: int = Field(default=10_000, ge=100)
    connect_timeout_s: int = Field(default=3, ge=1, le=60)

    # Dispatch: the ETA model (gridgis/dispatch/eta.py documents the defaults' sources).
    eta_urban_circuity: float = Field(default=1.3, ge=1.0, le=3.0)
    eta_rural_circuity: float = Field(default=1.4, ge=1.0, le=3.0)
    eta_urban_speed_kmh: float = Field(default=25.0, gt=0, le=200)
    eta_rural_speed_kmh: float = Field(default=40.0, gt=0, le=200)
    eta_turnout_s: float = Field(default=60.0, ge=0, le=3600)
    eta_target_s: float = Field(default=300.0, gt=0, le=86_400)
    # Dispatch prices by the straight line, or by road on the active road network (road_v1,
    # gridgis/roads/model.py); positions farther than road_max_snap_m from a road fall back.
    eta_model: Literal["straight_line", "road"] = "straight_line"
    road_max_snap_m: float = Field(default=500.0, gt=0, le=20_000)
    # A live fix older than this is not trusted; dispatch falls back to the home base.
    stale_after_s: float = Field(default=900.0, gt=0, le=7 * 86_400)
    # The API deletes expired live fixes this often (seconds; 0 = only when fixes arrive).
    expire_positions_every_s: float = Field(default=60.0, ge=0, le=86_400)
    tiles: str = "osm"  # map base layer: osm, none, or a tile URL template ({z}/{x}/{y})

    # Pepper for API-key hashes (HMAC-SHA256). Required in production; in dev and test a random
    # one is kept in <home>/secret. Changing it invalidates every API key.
    secret_key: str = Field(default="", repr=False)

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
        if value is None or value.strip() == "":
            return None
        value = value.strip()
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @property
    def uses_embedded(self) -> bool:
        """True when no external database is configured and the private cluster is used."""
        return self.database_url is None


PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "test", "xxx"})


def resolve_secret_key(settings: Settings) -> str:
    """The API-key pepper: configured, or (outside production) a persisted random one."""
    if settings.secret_key.strip().lower() not in PLACEHOLDER_SECRETS:
        return settings.secret_key
    if settings.env == "production":
        from gridgis.errors import InvalidInput

        raise InvalidInput(
            "GRIDGIS_SECRET_KEY is empty or a placeholder; production needs a long random "
            "secret (or set GRIDGIS_ENV=dev for a development setup).",
            field="GRIDGIS_SECRET_KEY",
        )
    import secrets

    path = settings.home / "secret"
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
