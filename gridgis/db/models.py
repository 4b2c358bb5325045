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
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

AREA_LEVELS = ("city", "county", "township", "grid")
AREA_KINDS = ("city", "district", "county", "street", "town", "township", "community", "village")
RESPONDER_STATUSES = ("available", "busy", "off_duty")
FACILITY_TYPES = ("police_station", "mediation_centre", "service_station")

# Seeded into the `roles` table by the first migration; new roles are rows, not code.
ROLES: dict[str, tuple[str, str]] = {
    "grid_worker": ("网格员", "Grid worker"),
    "community_police": ("社区民警", "Community police officer"),
    "party_cadre": ("党员干部", "Party cadre"),
    "mediator": ("人民调解员", "People's mediator"),
    "volunteer": ("志愿者", "Volunteer"),
    "police_unit": ("巡逻警力", "Police patrol unit"),
}


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

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))


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
        CheckConstraint(
            "(position IS NULL) = (position_recorded_at IS NULL)",
            name="ck_responders_position_time",
        ),
        Index("ix_responders_home_geom", "home", postgresql_using="gist"),
        Index("ix_responders_position_geom", "position", postgresql_using="gist"),
        Index("ix_responders_role_status", "role", "status"),
        Index("ix_responders_home_grid", "home_grid_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(ForeignKey("roles.code"))
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    status: Mapped[str] = mapped_column(String(16), default="available")
    home: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    home_grid_code: Mapped[str | None] = mapped_column(String(20))
    position: Mapped[Any | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=True
    )
    position_recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    station_code: Mapped[str | None] = mapped_column(
        ForeignKey("facilities.code", ondelete="SET NULL")
    )
    source: Mapped[str] = mapped_column(String(32), default="api", server_default="api")
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


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
