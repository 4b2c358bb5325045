"""GeoAlchemy2 models: the system of record (WGS84 storage, GiST indexes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    FetchedValue,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSTZRANGE, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gridgis.vocabulary import (
    ACTIVE_CLAIM as ACTIVE,
)
from gridgis.vocabulary import (
    AREA_KINDS,
    AREA_LEVELS,
    AVAILABLE,
    COVERAGE_RUN_STATUSES,
    FACILITY_TYPES,
    INCIDENT_EVENT_TYPES,
    INCIDENT_STATUSES,
    INPUT_CRS,
    KEY_ROLES,
    PATROL_AREA_KINDS,
    PATROL_CLAIM_STATUSES,
    PATROL_TASK_STATUSES,
    RESPONDER_STATUSES,
    ROAD_PROFILES,
    SERVICE_POST_CLAIM_STATUSES,
    SPEED_SOURCES,
    USER_ROLES,
)

# A point as the per-role KNN indexes see it (home bases, live fixes): moved `lane * 360`
# degrees east, into its role's own strip of the plane (distances within a strip are
# unchanged). A SQL function (migration 0009) that the planner inlines; queries spell it so to
# use the indexes.
LANE_PLANE = "gridgis_lane_plane({point}, {lane})"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base for every gridgis table."""


class Generation(Base):
    """One version of the boundaries; exactly one is active for lookups."""

    __tablename__ = "generations"
    __table_args__ = (
        Index(
            "uq_generations_one_active",
            "active",
            unique=True,
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The QA report of the import that staged it (None for the demo): activation reads its
    # errors, so a generation staged with errors is only activated with force.
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Area(Base):
    """A node of the hierarchy city -> county -> township -> grid, in one generation."""

    __tablename__ = "areas"
    __table_args__ = (
        UniqueConstraint("generation_id", "code", name="uq_areas_generation_code"),
        CheckConstraint(_in("level", AREA_LEVELS), name="ck_areas_level"),
        CheckConstraint(_in("kind", AREA_KINDS), name="ck_areas_kind"),
        CheckConstraint("population >= 0", name="ck_areas_population"),
        Index("ix_areas_generation_level", "generation_id", "level"),
        Index("ix_areas_generation_parent", "generation_id", "parent_code"),
        Index("ix_areas_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    population: Mapped[int] = mapped_column(BigInteger, default=0)
    geom: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )


class AreaPiece(Base):
    """ST_Subdivide'd pieces of grid polygons: small boxes make point-in-polygon fast."""

    __tablename__ = "area_pieces"
    __table_args__ = (
        Index("ix_area_pieces_geom", "geom", postgresql_using="gist"),
        Index("ix_area_pieces_area", "area_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id", ondelete="CASCADE"))
    geom: Mapped[Any] = mapped_column(
        Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False
    )


class Role(Base):
    """The vocabulary of responder roles and assignment duties."""

    __tablename__ = "roles"
    # The target of the (role, lane) keys that tie every indexed row to its role's lane.
    __table_args__ = (UniqueConstraint("code", "lane", name="uq_roles_code_lane"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    # The role's strip of the plane in the per-role KNN indexes (LANE_PLANE).
    lane: Mapped[int] = mapped_column(SmallInteger, Identity(), unique=True)
    # Where the role is listed in a grid's team (lowest first; roles without one come last).
    team_order: Mapped[int | None] = mapped_column(SmallInteger)


class Facility(Base):
    """Police stations, mediation centres and service stations."""

    __tablename__ = "facilities"
    __table_args__ = (
        CheckConstraint(_in("type", FACILITY_TYPES), name="ck_facilities_type"),
        Index("ix_facilities_geom", "geom", postgresql_using="gist"),
        Index("ix_facilities_type", "type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    area_code: Mapped[str] = mapped_column(String(20))
    serves: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)
    source: Mapped[str] = mapped_column(String(32), default="api", server_default="api")
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )


class Responder(Base):
    """A person or unit who can be sent to an incident."""

    __tablename__ = "responders"
    __table_args__ = (
        CheckConstraint(_in("status", RESPONDER_STATUSES), name="ck_responders_status"),
        Index("ix_responders_home_geom", "home", postgresql_using="gist"),
        # KNN within a role: dispatch asks for rare roles among many volunteers (LANE_PLANE).
        Index(
            "ix_responders_lane_plane",
            text(LANE_PLANE.format(point="home", lane="lane")),
            postgresql_using="gist",
        ),
        Index("ix_responders_role_status", "role", "status"),
        Index("ix_responders_home_grid", "home_grid_code"),
        # The lane the KNN walks filter on is always the row's role's
        # (migration 0014_lane_integrity).
        ForeignKeyConstraint(
            ["role", "lane"],
            ["roles.code", "roles.lane"],
            name="fk_responders_role_lane",
            onupdate="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    # The role's roles.lane, set by triggers on insert (when left out) and on a change of role.
    lane: Mapped[int] = mapped_column(SmallInteger, server_default=FetchedValue())
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    status: Mapped[str] = mapped_column(String(16), default=AVAILABLE)
    home: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    home_grid_code: Mapped[str | None] = mapped_column(String(20))
    station_code: Mapped[str | None] = mapped_column(
        ForeignKey("facilities.code", ondelete="SET NULL")
    )
    source: Mapped[str] = mapped_column(String(32), default="api", server_default="api")
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ResponderPosition(Base):
    """A responder's newest live fix (one row each), apart from `responders` so that frequent
    fixes touch three small indexes, not every index of the roster."""

    __tablename__ = "responder_positions"
    __table_args__ = (
        # KNN within a role, freshness filtered: a plain 2-D GiST over the fix moved
        # `lane * 360` degrees east, so each role has its own strip of the plane (cheaper per
        # fix than btree_gist on (role, position), and the tree separates roles; migration
        # 0009). The only index besides the primary key: each fix costs two index entries.
        Index(
            "ix_responder_positions_lane_plane",
            text(LANE_PLANE.format(point="position", lane="lane")),
            postgresql_using="gist",
        ),
        ForeignKeyConstraint(
            ["role", "lane"],
            ["roles.code", "roles.lane"],
            name="fk_responder_positions_role_lane",
            onupdate="CASCADE",
        ),
    )

    responder_id: Mapped[int] = mapped_column(
        ForeignKey("responders.id", ondelete="CASCADE"), primary_key=True
    )
    # Copied from responders.role (kept in step by a trigger) so the KNN can filter by role;
    # lane is the role's roles.lane: supplied by ingest, else set by a trigger on insert, and
    # reset by a trigger on a change of role.
    role: Mapped[str] = mapped_column(String(32))
    lane: Mapped[int] = mapped_column(SmallInteger, server_default=FetchedValue())
    position: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Assignment(Base):
    """A responder's duty in a grid: the grid's "2+N" team. Keyed by grid code so it survives
    boundary generations whose codes persist."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("responder_id", "grid_code", "duty", name="uq_assignments"),
        Index("ix_assignments_grid", "grid_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id", ondelete="CASCADE"))
    grid_code: Mapped[str] = mapped_column(String(20))
    duty: Mapped[str] = mapped_column(ForeignKey("roles.code"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# -- incidents -----------------------------------------------------------------------------------


class IncidentCategory(Base):
    """How one kind of incident is routed: which roles are recommended, in which order.

    Routing is data: a new category, or a change of who handles it, is a row, not code."""

    __tablename__ = "incident_categories"
    __table_args__ = (
        # People's mediation takes civil disputes; a police matter is never diverted away.
        CheckConstraint(
            "NOT (police_matter AND divert_to_mediation)", name="ck_incident_categories_diversion"
        ),
        CheckConstraint(
            "cardinality(primary_roles) > 0", name="ck_incident_categories_primary_roles"
        ),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    police_matter: Mapped[bool] = mapped_column(Boolean)
    primary_roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    fallback_roles: Mapped[list[str]] = mapped_column(
        ARRAY(String(32)), default=list, server_default="{}"
    )
    prefer_team: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    divert_to_mediation: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )


class Incident(Base):
    """A reported incident: where (WGS84), what, the grid it fell in and who was recommended."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint(_in("status", INCIDENT_STATUSES), name="ck_incidents_status"),
        CheckConstraint(_in("input_crs", INPUT_CRS), name="ck_incidents_input_crs"),
        Index("ix_incidents_reported_at", "reported_at"),
        Index("ix_incidents_grid_code", "grid_code"),
        Index("ix_incidents_status", "status"),
        Index("ix_incidents_source", "source"),
        Index("ix_incidents_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The caller's id for the incident: retries with the same id never create a duplicate.
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    category: Mapped[str] = mapped_column(ForeignKey("incident_categories.code"))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The coordinates exactly as sent (in input_crs), kept to judge retries and for audit;
    # `geom` holds the same point converted to WGS84, which is what every query uses.
    input_crs: Mapped[str] = mapped_column(String(8), default="wgs84", server_default="wgs84")
    input_lon: Mapped[float] = mapped_column(Double)
    input_lat: Mapped[float] = mapped_column(Double)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )
    # The grid at intake (null outside every grid: the incident is still recorded).
    generation_id: Mapped[int | None] = mapped_column(
        ForeignKey("generations.id", ondelete="SET NULL")
    )
    grid_code: Mapped[str | None] = mapped_column(String(20))
    grid_kind: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    # What was recommended at intake, with the ETA model that ranked it (a snapshot).
    recommendation: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    source: Mapped[str] = mapped_column(String(32), default="api", server_default="api")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class IncidentEvent(Base):
    """One step of an incident's timeline (dispatched, arrived, resolved, referred, closed)."""

    __tablename__ = "incident_events"
    __table_args__ = (
        UniqueConstraint("incident_id", "seq", name="uq_incident_events_seq"),
        CheckConstraint(_in("type", INCIDENT_EVENT_TYPES), name="ck_incident_events_type"),
        Index("ix_incident_events_responder", "responder_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    responder_id: Mapped[int | None] = mapped_column(
        ForeignKey("responders.id", ondelete="SET NULL")
    )
    # The responder's role when the event happened: KPIs (e.g. "a mediator was dispatched")
    # must not change when a responder later changes role or leaves.
    responder_role: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class IncidentFollowUp(Base):
    """The callback to the reporter after an incident is closed (one per incident)."""

    __tablename__ = "incident_follow_ups"
    __table_args__ = (
        # Satisfaction is only known from someone who was reached.
        CheckConstraint("reached OR satisfied IS NULL", name="ck_incident_follow_ups_reached"),
    )

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    reached: Mapped[bool] = mapped_column(Boolean)
    satisfied: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    recorded_by: Mapped[str] = mapped_column(String(100), default="", server_default="")
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Open311Request(Base):
    """An incident reported through Open311 GeoReport v2: its media URL (published) and the
    reporter's contact details (never published, read only to call the reporter back)."""

    __tablename__ = "open311_requests"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    media_url: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(254))
    device_id: Mapped[str | None] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# -- coverage ------------------------------------------------------------------------------------


class CoverageRun(Base):
    """One coverage computation: its parameters (with the ETA model's), time and city summary."""

    __tablename__ = "coverage_runs"
    __table_args__ = (
        CheckConstraint(_in("status", COVERAGE_RUN_STATUSES), name="ck_coverage_runs_status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    duration_s: Mapped[float | None] = mapped_column(Double)
    cell_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CoverageCell(Base):
    """One H3 cell of a run. `seq` orders a run's cells by H3 index (and grid, for the rare
    extra row of a grid too small to hold a cell centre); ETAs are NULL where no counted
    responder exists at all."""

    __tablename__ = "coverage_cells"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("coverage_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    h3: Mapped[int] = mapped_column(BigInteger)
    grid_code: Mapped[str] = mapped_column(String(20))
    lon: Mapped[float] = mapped_column(Double)
    lat: Mapped[float] = mapped_column(Double)
    area_m2: Mapped[float] = mapped_column(Double)
    population: Mapped[float] = mapped_column(Double)
    eta_s: Mapped[float | None] = mapped_column(Double)
    eta_k_s: Mapped[float | None] = mapped_column(Double)
    responders_within_target: Mapped[int] = mapped_column(Integer)


class CoverageAreaStat(Base):
    """A run's result for one grid, township, county or the city (so summaries are reads)."""

    __tablename__ = "coverage_area_stats"
    __table_args__ = (
        CheckConstraint(_in("level", AREA_LEVELS), name="ck_coverage_area_stats_level"),
        Index("ix_coverage_area_stats_run_level", "run_id", "level"),
    )

    run_id: Mapped[int] = mapped_column(
        ForeignKey("coverage_runs.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    cells: Mapped[int] = mapped_column(Integer)
    population: Mapped[float] = mapped_column(Double)
    population_within_target: Mapped[float] = mapped_column(Double)
    population_share_within_target: Mapped[float | None] = mapped_column(Double)
    area_m2: Mapped[float] = mapped_column(Double)
    area_within_target_m2: Mapped[float] = mapped_column(Double)
    area_share_within_target: Mapped[float | None] = mapped_column(Double)
    eta_mean_s: Mapped[float | None] = mapped_column(Double)
    eta_p90_s: Mapped[float | None] = mapped_column(Double)
    eta_k_mean_s: Mapped[float | None] = mapped_column(Double)
    eta_k_p90_s: Mapped[float | None] = mapped_column(Double)
    responders: Mapped[int] = mapped_column(Integer)
    responders_per_10k: Mapped[float | None] = mapped_column(Double)


class CoverageProgress(Base):
    """A coverage run being computed now, written by the worker computing it (its own short
    transactions) so that every worker can report it; removed when the run ends. A row not
    updated for a while belongs to a worker that died: readers skip it, writers delete it."""

    __tablename__ = "coverage_progress"
    __table_args__ = (
        CheckConstraint(
            "steps >= 1 AND step BETWEEN 0 AND steps", name="ck_coverage_progress_step"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    client_token: Mapped[str | None] = mapped_column(String(64))
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    stage: Mapped[str] = mapped_column(String(16))
    step: Mapped[int] = mapped_column(Integer)
    steps: Mapped[int] = mapped_column(Integer)


# -- road networks -----------------------------------------------------------------------------


class RoadNetwork(Base):
    """One generation of a road network (one profile): staged, checked, then active."""

    __tablename__ = "road_networks"
    __table_args__ = (
        CheckConstraint(_in("profile", ROAD_PROFILES), name="ck_road_networks_profile"),
        Index(
            "uq_road_networks_one_active", "active", unique=True, postgresql_where=text("active")
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(200), unique=True)
    profile: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text, default="")
    source_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    node_count: Mapped[int] = mapped_column(Integer)
    edge_count: Mapped[int] = mapped_column(Integer)
    top_speed_kmh: Mapped[float] = mapped_column(Double)
    # The QA report (checks, errors, warnings) and the speed table the import used.
    report: Mapped[dict[str, Any]] = mapped_column(JSONB)


class RoadNode(Base):
    """A graph node: where routable ways meet or end (pgRouting's vertices)."""

    __tablename__ = "road_nodes"
    __table_args__ = (Index("ix_road_nodes_network", "network_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("road_networks.id", ondelete="CASCADE"))
    osm_id: Mapped[int] = mapped_column(BigInteger)
    geom: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=False
    )


class RoadEdge(Base):
    """A piece of a way between two nodes, in pgRouting's columns (cost and reverse_cost in
    seconds; reverse_cost -1 on one-way edges, which always run source -> target)."""

    __tablename__ = "road_edges"
    __table_args__ = (
        CheckConstraint(_in("speed_source", SPEED_SOURCES), name="ck_road_edges_speed_source"),
        CheckConstraint("length_m > 0 AND speed_kmh > 0 AND cost > 0", name="ck_road_edges_cost"),
        CheckConstraint(
            "(oneway AND reverse_cost = -1) OR (NOT oneway AND reverse_cost = cost)",
            name="ck_road_edges_oneway",
        ),
        Index("ix_road_edges_network", "network_id"),
        Index("ix_road_edges_source", "source"),
        Index("ix_road_edges_target", "target"),
        Index("ix_road_edges_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("road_networks.id", ondelete="CASCADE"))
    source: Mapped[int] = mapped_column(ForeignKey("road_nodes.id", ondelete="CASCADE"))
    target: Mapped[int] = mapped_column(ForeignKey("road_nodes.id", ondelete="CASCADE"))
    cost: Mapped[float] = mapped_column(Double)
    reverse_cost: Mapped[float] = mapped_column(Double)
    x1: Mapped[float] = mapped_column(Double)
    y1: Mapped[float] = mapped_column(Double)
    x2: Mapped[float] = mapped_column(Double)
    y2: Mapped[float] = mapped_column(Double)
    osm_way_id: Mapped[int] = mapped_column(BigInteger)
    highway: Mapped[str] = mapped_column(String(32))
    length_m: Mapped[float] = mapped_column(Double)
    speed_kmh: Mapped[float] = mapped_column(Double)
    speed_source: Mapped[str] = mapped_column(String(16))
    oneway: Mapped[bool] = mapped_column(Boolean)
    geom: Mapped[Any] = mapped_column(
        Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False
    )


# -- security ----------------------------------------------------------------------------------


class ApiKey(Base):
    """An API key: only its HMAC is stored; the key itself is shown once at creation."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(_in("role", KEY_ROLES), name="ck_api_keys_role"),
        # A unit's key acts for that unit only (patrol tasks); only system keys have one.
        CheckConstraint("unit_id IS NULL OR role = 'system'", name="ck_api_keys_unit_system"),
        # Never reused, revoked keys' names included (the audit trail names keys).
        UniqueConstraint("name", name="uq_api_keys_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))


class AuditEntry(Base):
    """Who did what, when, with the values before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity", "entity_id", "id"),
        Index("ix_audit_log_at", "at"),
        Index(
            "ix_audit_log_actor_user",
            "actor_user_id",
            "id",
            postgresql_where=text("actor_user_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(100))
    # The API key that acted (no foreign key: the trail outlives the key's row).
    actor_key_id: Mapped[int | None] = mapped_column(Integer)
    # The user behind a "user:NAME" actor (null for keys, the CLI and the library).
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", name="fk_audit_log_actor_user_id")
    )
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


# -- volunteer patrols and service posts ---------------------------------------------------------
ACTIVE_CLAIM = text(f"status = '{ACTIVE}'")


class Unit(Base):
    """An organisation that reserves patrol tasks (a company, a school, a residents'
    committee, a volunteer team)."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("name", name="uq_units_name"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(200))
    grid_code: Mapped[str] = mapped_column(String(20))
    # "demo" for the modelled units (replaced by `gridgis demo patrols`).
    source: Mapped[str] = mapped_column(String(32), server_default="api")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PatrolTask(Base):
    """A unit's patrol: an area (grids, a drawn polygon or a route), a time window and slots."""

    __tablename__ = "patrol_tasks"
    __table_args__ = (
        CheckConstraint("slots BETWEEN 1 AND 100", name="ck_patrol_tasks_slots"),
        CheckConstraint("ends_at > starts_at", name="ck_patrol_tasks_window"),
        CheckConstraint(_in("status", PATROL_TASK_STATUSES), name="ck_patrol_tasks_status"),
        CheckConstraint(_in("area_kind", PATROL_AREA_KINDS), name="ck_patrol_tasks_area_kind"),
        # Geodesic "near me" searches (ST_DWithin on geography).
        Index("ix_patrol_tasks_area", text("CAST(area AS geography)"), postgresql_using="gist"),
        Index("ix_patrol_tasks_starts_at", "starts_at"),
        Index("ix_patrol_tasks_unit", "unit_id"),
        Index("ix_patrol_tasks_grid", "grid_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    title: Mapped[str] = mapped_column(String(200), server_default="")
    area_kind: Mapped[str] = mapped_column(String(16))
    # The grid the task's figures count in (the first grid named, or the one the area's
    # centre lies in); grid_codes lists every grid the area touches.
    grid_code: Mapped[str] = mapped_column(String(20))
    grid_codes: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    area: Mapped[Any] = mapped_column(Geometry(srid=4326, spatial_index=False), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    slots: Mapped[int] = mapped_column(SmallInteger)
    required_role: Mapped[str | None] = mapped_column(ForeignKey("roles.code"))
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PatrolClaim(Base):
    """A volunteer's slot on a patrol task, with check-in and check-out."""

    __tablename__ = "patrol_claims"
    __table_args__ = (
        CheckConstraint("slot_no >= 1", name="ck_patrol_claims_slot_no"),
        CheckConstraint(_in("status", PATROL_CLAIM_STATUSES), name="ck_patrol_claims_status"),
        CheckConstraint(
            "checked_out_at IS NULL OR checked_in_at IS NOT NULL", name="ck_patrol_claims_checkout"
        ),
        # One active claim per slot, and per volunteer on a task.
        Index(
            "uq_patrol_claims_slot",
            "task_id",
            "slot_no",
            unique=True,
            postgresql_where=ACTIVE_CLAIM,
        ),
        Index(
            "uq_patrol_claims_responder",
            "task_id",
            "responder_id",
            unique=True,
            postgresql_where=ACTIVE_CLAIM,
        ),
        # A volunteer's active claims never overlap in time, whoever writes them.
        ExcludeConstraint(
            (literal_column("responder_id"), "="),
            (literal_column("during"), "&&"),
            where=ACTIVE_CLAIM,
            using="gist",
            name="ex_patrol_claims_overlap",
        ),
        Index("ix_patrol_claims_responder", "responder_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("patrol_tasks.id", ondelete="CASCADE"))
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id", ondelete="CASCADE"))
    slot_no: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    # The task's window, copied so the exclusion constraint can see it.
    during: Mapped[Any] = mapped_column(TSTZRANGE)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_in_position: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=True
    )
    checked_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_out_position: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=True
    )


class ServicePost(Base):
    """A post a party cadre can take in a community or village grid (e.g. elderly visits)."""

    __tablename__ = "service_posts"
    __table_args__ = (UniqueConstraint("grid_code", "name", name="uq_service_posts_grid_name"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="")
    source: Mapped[str] = mapped_column(String(32), server_default="api")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ServicePostClaim(Base):
    """A cadre holding a service post: one slot per post, so one cadre per post."""

    __tablename__ = "service_post_claims"
    __table_args__ = (
        CheckConstraint("slot_no = 1", name="ck_service_post_claims_slot_no"),
        CheckConstraint(
            _in("status", SERVICE_POST_CLAIM_STATUSES), name="ck_service_post_claims_status"
        ),
        Index(
            "uq_service_post_claims_slot",
            "post_id",
            "slot_no",
            unique=True,
            postgresql_where=ACTIVE_CLAIM,
        ),
        Index("ix_service_post_claims_responder", "responder_id", postgresql_where=ACTIVE_CLAIM),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("service_posts.id", ondelete="CASCADE"))
    responder_id: Mapped[int] = mapped_column(ForeignKey("responders.id", ondelete="CASCADE"))
    slot_no: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


USER_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class User(Base):
    """A person who signs in to the console; only an argon2id hash of the password is kept."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", USER_ROLES), name="ck_users_role"),
        CheckConstraint(f"name ~ '{USER_NAME_PATTERN}'", name="ck_users_name"),
        CheckConstraint("password_hash LIKE '$argon2id$%'", name="ck_users_password_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    password_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# Names differing only in case would read as one person in the audit trail.
Index("uq_users_name_lower", func.lower(User.name), unique=True)


class UserSession(Base):
    """A signed-in browser: the cookie's token is kept only as its SHA-256."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        CheckConstraint("idle_timeout_s > 0", name="ck_user_sessions_idle"),
        CheckConstraint("expires_at > created_at", name="ck_user_sessions_expiry"),
        Index("ix_user_sessions_user", "user_id"),
        Index("ix_user_sessions_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    idle_timeout_s: Mapped[int] = mapped_column(Integer)
    client_addr: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(Base):
    """Failed sign-ins counted per user name and per client address, and the lock they earn."""

    __tablename__ = "login_throttles"
    __table_args__ = (
        CheckConstraint("scope IN ('name', 'address')", name="ck_login_throttles_scope"),
        CheckConstraint("failures >= 0", name="ck_login_throttles_failures"),
    )

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
