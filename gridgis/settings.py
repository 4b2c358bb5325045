"""Typed settings (environment prefix GRIDGIS_), built when asked for, never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable about gridgis. Read from the environment (GRIDGIS_*)."""

    model_config = SettingsConfigDict(env_prefix="GRIDGIS_", extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    # When unset, the CLI and the tests use the project-private (embedded) PostGIS cluster.
    database_url: str | None = None
    # The API's connection: a least-privilege role (gridgis/db/roles.py). Unset: the embedded
    # cluster's application role, or database_url for an external server (then that URL's
    # role should not be a superuser; docs/SECURITY.md).
    app_database_url: str | None = None
    app_role: str = "gridgis_app"
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
    # Bulk and maintenance work (migrations, demo loads, boundary imports, storing coverage
    # runs) runs under this limit instead; 0 = no limit.
    bulk_statement_timeout_ms: int = Field(default=3_600_000, ge=0)
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
    # Volunteer patrols and service posts (gridgis/workflows).
    patrol_max_duration_h: float = Field(default=12.0, gt=0, le=168)
    patrol_max_advance_days: int = Field(default=90, ge=1, le=366)
    # A volunteer who cancels later than this before the start is counted as a no-show.
    patrol_cancel_deadline_h: float = Field(default=2.0, ge=0, le=168)
    patrol_checkin_tolerance_m: float = Field(default=200.0, ge=0, le=10_000)
    patrol_checkin_tolerance_min: float = Field(default=30.0, ge=0, le=720)
    service_posts_per_cadre: int = Field(default=3, ge=1, le=100)
    # Request bodies are capped before they are read (api/gate.py): JSON to what the largest
    # legal request needs (a 10,000-fix position batch is ~1.6 MB), boundary uploads to this.
    max_json_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_upload_bytes: int = Field(default=200_000_000, ge=1024, le=2_000_000_000)
    # Map base layer: osm, none, or a tile URL template ({z}/{x}/{y}). A public tile server
    # learns where each call is, so production defaults to none (set an intranet template).
    tiles: str = "osm"
    # Expensive requests (coverage runs, planning, coverage maps): how many the process
    # computes at once, how many one key may have in flight and start per minute (429 beyond).
    heavy_concurrency: int = Field(default=2, ge=1, le=32)
    heavy_per_key_concurrency: int = Field(default=1, ge=1, le=32)
    heavy_per_key_per_minute: int = Field(default=10, ge=1, le=10_000)
    # KPI series (the dashboard's six charts load at once, a reload re-asks all six): the same
    # three limits, for those requests only.
    series_concurrency: int = Field(default=16, ge=1, le=256)
    series_per_key_concurrency: int = Field(default=12, ge=1, le=256)
    series_per_key_per_minute: int = Field(default=90, ge=1, le=10_000)
    # Memory each API process may keep finished runs' map hexagons in (least recently used go).
    hexagon_cache_mb: int = Field(default=128, ge=0, le=65_536)
    # Coverage runs older than this many days are deleted (0: kept until deleted by hand).
    coverage_retention_days: int = Field(default=90, ge=0, le=36_500)

    # Open311 GeoReport v2 (/open311/v2): the city it serves, whether reading requests needs a
    # key (the specification lets anyone read), and each key's and each client address's
    # request budget per minute (an in-process token bucket: per worker process).
    open311_jurisdiction_id: str = "zhangzhou.gov.cn"
    open311_read_requires_key: bool = False
    open311_requests_per_minute: int = Field(default=60, ge=1, le=100_000)

    # Pepper for API-key hashes (HMAC-SHA256). Required in production; in dev and test a random
    # one is kept in <home>/secret. Changing it invalidates every API key.
    secret_key: str = Field(default="", repr=False)

    # Console sign-in (gridgis/accounts): a session ends after this long without a request, or
    # at the latest this long after sign-in.
    session_idle_s: int = Field(default=1800, ge=60, le=7 * 86_400)
    session_max_s: int = Field(default=12 * 3600, ge=60, le=30 * 86_400)
    # The session cookie's Secure flag; unset = on in production, off in dev and test (http).
    session_cookie_secure: bool | None = None
    # Failed sign-ins: this many within the window lock the user name for login_lock_s; one
    # client address gets more (offices share an address behind their proxy).
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_max_failures_per_address: int = Field(default=50, ge=1, le=100_000)
    login_window_s: int = Field(default=900, ge=1, le=86_400)
    login_lock_s: int = Field(default=900, ge=1, le=86_400)

    @field_validator("database_url", "app_database_url")
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

    @model_validator(mode="after")
    def _no_public_tiles_in_production(self) -> Settings:
        if self.env == "production" and "tiles" not in self.model_fields_set:
            self.tiles = "none"
        return self

    @property
    def cookie_secure(self) -> bool:
        """Whether the session cookie carries the Secure flag."""
        if self.session_cookie_secure is None:
            return self.env == "production"
        return self.session_cookie_secure

    @property
    def uses_embedded(self) -> bool:
        """True when no external database is configured and the private cluster is used."""
        return self.database_url is None


PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "test", "xxx"})
# A production secret must carry at least 32 bytes of randomness: 32 characters or more, and
# not a run of a few characters (a generated hex or base64 secret has 10+ distinct ones).
MIN_SECRET_CHARS = 32
MIN_SECRET_DISTINCT_CHARS = 10


def _weak_secret(secret: str) -> bool:
    return len(secret) < MIN_SECRET_CHARS or len(set(secret)) < MIN_SECRET_DISTINCT_CHARS


def resolve_secret_key(settings: Settings) -> str:
    """The API-key pepper: configured, or (outside production) a persisted random one."""
    placeholder = settings.secret_key.strip().lower() in PLACEHOLDER_SECRETS
    if settings.env == "production" and (placeholder or _weak_secret(settings.secret_key)):
        from gridgis.errors import InvalidInput

        raise InvalidInput(
            "GRIDGIS_SECRET_KEY is empty, a placeholder or too weak; production needs a random "
            f"secret of at least {MIN_SECRET_CHARS} bytes (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or set GRIDGIS_ENV=dev for a development setup.",
            field="GRIDGIS_SECRET_KEY",
        )
    if not placeholder:
        return settings.secret_key
    import secrets

    from gridgis.private_files import read_private, write_private

    path = settings.home / "secret"
    if not path.is_file() or path.is_symlink():
        settings.home.mkdir(parents=True, exist_ok=True)
        write_private(path, secrets.token_urlsafe(32) + "\n")
    return read_private(path).strip()


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
