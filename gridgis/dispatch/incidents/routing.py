"""Routing by category: `incident_categories` rows say who is recommended, in which order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridgis.db import Executor
from gridgis.dispatch.sql import incidents as incidents_sql
from gridgis.errors import InvalidInput


@dataclass(frozen=True)
class CategoryRoute:
    """One row of `incident_categories`: who is recommended for this kind of incident."""

    code: str
    name_zh: str
    name_en: str
    police_matter: bool
    primary_roles: tuple[str, ...]
    fallback_roles: tuple[str, ...]
    prefer_team: bool
    divert_to_mediation: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CategoryRoute:
        return cls(
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            police_matter=bool(row["police_matter"]),
            primary_roles=tuple(row["primary_roles"]),
            fallback_roles=tuple(row["fallback_roles"]),
            prefer_team=bool(row["prefer_team"]),
            divert_to_mediation=bool(row["divert_to_mediation"]),
        )


def categories(db: Executor) -> list[CategoryRoute]:
    """Every routing category."""
    return [CategoryRoute.from_row(r) for r in incidents_sql.categories(db)]


def category_route(db: Executor, code: str) -> CategoryRoute:
    """The route of a category; InvalidInput naming `category` when it does not exist."""
    if not code or not code.isprintable():
        raise InvalidInput("category must be a category code.", field="category")
    row = incidents_sql.category(db, code)
    if row is None:
        known = ", ".join(c.code for c in categories(db))
        raise InvalidInput(
            f"Unknown category {code[:40]!r}; expected one of: {known}.", field="category"
        )
    return CategoryRoute.from_row(row)
