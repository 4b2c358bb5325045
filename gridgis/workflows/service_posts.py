"""Cadres' service posts: each community and village grid offers posts, one cadre per post,
claimed with the same slot mechanism as patrol tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

from gridgis.audit import LIBRARY_ACTOR, record
from gridgis.db import Executor
from gridgis.errors import Conflict, InvalidInput, NotFound, Refused
from gridgis.filters import require_area, require_responder
from gridgis.vocabulary import CADRE_ROLE, PostCoverageLevel
from gridgis.workflows import sql
from gridgis.workflows.claims import ClaimResult, SlotStatements, claim_slot
from gridgis.workflows.patrol_stats import PREFIX_LENGTH
from gridgis.workflows.units import check_grid, clean_text

MAX_PAGE = 1000
COVERAGE_LEVELS: tuple[PostCoverageLevel, ...] = get_args(PostCoverageLevel)

POST_SLOTS = SlotStatements(
    entity="service_post",
    lock_target=sql.LOCK_POST_FOR_CLAIM,
    active_claim=sql.ACTIVE_POST_CLAIM,
    taken_slots=sql.TAKEN_POST_SLOTS,
    insert_claim=sql.INSERT_POST_CLAIM,
    lock_claimant=sql.LOCK_CADRE,
    violations={"uq_service_post_claims_slot": ("full", "The post is taken.")},
)


def create_post(
    db: Executor, grid_code: Any, name: Any, description: Any = "", *, actor: str = LIBRARY_ACTOR
) -> dict[str, Any]:
    """A new post in a grid (Conflict when the grid has a post of that name)."""
    grid_code = check_grid(db, grid_code)
    name = clean_text(name, "name", 200)
    description = clean_text(description, "description", 2000, required=False)
    post_id = db.execute(
        sql.INSERT_POST, {"grid_code": grid_code, "name": name, "description": description}
    ).scalar()
    if post_id is None:
        raise Conflict(f"Grid {grid_code} already has a post named {name!r}.", field="name")
    record(
        db,
        actor=actor,
        action="service_post.create",
        entity="service_post",
        entity_id=str(post_id),
        after={"grid_code": grid_code, "name": name},
    )
    return get_post(db, int(post_id))


def get_post(db: Executor, post_id: int) -> dict[str, Any]:
    """One post with its cadre (if claimed), or NotFound."""
    row = db.execute(sql.GET_POST, {"id": post_id}).mappings().first()
    if row is None:
        raise NotFound(f"No service post {post_id}.", field="id")
    return dict(row)


def list_posts(
    db: Executor,
    *,
    grid: str | None = None,
    area_prefix: str | None = None,
    cadre_id: int | None = None,
    claimed: bool | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Posts in id order, by grid, area (code prefix), cadre or claimed/vacant."""
    # A page of MAX_PAGE, plus the one row that tells a caller another page follows.
    if not 1 <= limit <= MAX_PAGE + 1:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    if grid is not None:
        require_area(db, grid, field="grid", level="grid")
    if area_prefix is not None:
        require_area(db, area_prefix, field="area")
    if cadre_id is not None:
        require_responder(db, cadre_id, field="cadre_id")
    rows = db.execute(
        sql.LIST_POSTS,
        {
            "grid": grid,
            "prefix": area_prefix,
            "cadre_id": cadre_id,
            "claimed": claimed,
            "after": after,
            "limit": limit,
        },
    )
    return [dict(r._mapping) for r in rows]


def claim_post(
    db: Executor,
    post_id: int,
    responder_id: int,
    *,
    max_posts: int = 3,
    actor: str = LIBRARY_ACTOR,
    now: datetime | None = None,
) -> ClaimResult:
    """A party cadre takes a post: Refused `full` (taken) or `limit` (the cadre holds
    `max_posts`); idempotent for the cadre who holds it."""
    now = now or datetime.now(UTC)
    if isinstance(responder_id, bool) or not isinstance(responder_id, int):
        raise InvalidInput("responder_id must be an integer.", field="responder_id")
    cadre = db.execute(sql.RESPONDER, {"id": responder_id}).mappings().first()
    if cadre is None:
        raise NotFound(f"No responder with id {responder_id}.", field="responder_id")
    if cadre["role"] != CADRE_ROLE:
        raise Refused(
            "role",
            f"Service posts are for party cadres; responder {responder_id} is a {cadre['role']}.",
            field="responder_id",
        )

    def check(_: dict[str, Any]) -> None:
        held = int(db.execute(sql.CADRE_POST_COUNT, {"id": responder_id}).scalar_one())
        if held >= max_posts:
            raise Refused(
                "limit",
                f"Responder {responder_id} already holds {held} posts (at most {max_posts}).",
                field="responder_id",
            )

    result = claim_slot(db, POST_SLOTS, post_id, responder_id, check=check, params={"now": now})
    if result.created:
        record(
            db,
            actor=actor,
            action="service_post.claim",
            entity="service_post",
            entity_id=str(post_id),
            after={"responder_id": responder_id},
        )
    return result


def release_post(
    db: Executor,
    post_id: int,
    responder_id: int,
    *,
    actor: str = LIBRARY_ACTOR,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The cadre gives the post up (NotFound when they do not hold it)."""
    get_post(db, post_id)
    row = (
        db.execute(
            sql.RELEASE_POST_CLAIM,
            {"post_id": post_id, "responder_id": responder_id, "now": now or datetime.now(UTC)},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"Responder {responder_id} does not hold service post {post_id}.", field="responder_id"
        )
    record(
        db,
        actor=actor,
        action="service_post.release",
        entity="service_post",
        entity_id=str(post_id),
        after={"responder_id": responder_id},
    )
    return dict(row)


def post_coverage(db: Executor, level: str = "township") -> list[dict[str, Any]]:
    """Per township or county: grids, grids offering posts, grids whose posts are all
    claimed, and that share of all grids."""
    if level not in COVERAGE_LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(COVERAGE_LEVELS)}.", field="level")
    rows = db.execute(sql.POST_COVERAGE, {"prefix_len": PREFIX_LENGTH[level], "level": level})
    out = []
    for r in rows:
        item = dict(r._mapping)
        for key in ("grids", "grids_with_posts", "grids_all_claimed", "posts", "posts_claimed"):
            item[key] = int(item[key])
        item["share_all_claimed"] = round(item["grids_all_claimed"] / item["grids"], 4)
        out.append(item)
    return out
