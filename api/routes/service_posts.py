"""Cadres' service posts: offered per grid, one party cadre per post."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from api.deps import SessionDep, SettingsDep
from api.params import Cursor, encode_id_cursor, next_link, page_position
from api.patrol_schemas import (
    ClaimCreate,
    PostCoveragePublic,
    ServicePostClaimPublic,
    ServicePostCreate,
    ServicePostListPublic,
    ServicePostPublic,
)
from api.routes.patrols import decided
from api.schemas import ErrorPublic
from api.security import actor
from gridgis.vocabulary import PostCoverageLevel
from gridgis.workflows import service_posts

router = APIRouter(tags=["service posts"])

PostId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The post's id")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic},
    422: {"model": ErrorPublic, "description": "Invalid input; `field` names it"},
}
REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorPublic,
        "description": "`full` (another cadre holds the post), `limit` (the cadre holds "
        "GRIDGIS_SERVICE_POSTS_PER_CADRE posts), `role` (not a party cadre)",
    }
}


def post_public(row: dict[str, Any]) -> dict[str, Any]:
    cadre = None
    if row.get("cadre_id") is not None:
        cadre = {
            "responder_id": row["cadre_id"],
            "name": row["cadre_name"],
            "claimed_at": row["claimed_at"],
        }
    return {**row, "cadre": cadre}


@router.post(
    "/service-posts",
    response_model=ServicePostPublic,
    status_code=status.HTTP_201_CREATED,
    responses={**ERRORS, 409: {"model": ErrorPublic, "description": "Name taken in the grid"}},
)
def create_post(request: Request, body: ServicePostCreate, db: SessionDep) -> dict[str, Any]:
    """Offer a post in a community or village grid (e.g. elderly visits, safety inspection)."""
    post = service_posts.create_post(
        db, body.grid_code, body.name, body.description, actor=actor(request)
    )
    return post_public(post)


@router.get("/service-posts", response_model=ServicePostListPublic, responses=ERRORS)
def list_posts(
    request: Request,
    db: SessionDep,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    area: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{6,12}$", description="A county or township code: posts in it"),
    ] = None,
    cadre_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    claimed: Annotated[bool | None, Query(description="true: held; false: vacant")] = None,
    limit: Annotated[int, Query(ge=1, le=service_posts.MAX_PAGE)] = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Posts in id order, by grid, area, cadre or claimed/vacant, paged (follow `next`)."""
    rows = service_posts.list_posts(
        db,
        grid=grid,
        area_prefix=area,
        cadre_id=cadre_id,
        claimed=claimed,
        after=page_position(cursor, None),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_url = next_link(request, encode_id_cursor(rows[-1]["id"])) if more and rows else None
    return {"posts": [post_public(p) for p in rows], "next": next_url}


@router.get("/service-posts/coverage", response_model=PostCoveragePublic, responses=ERRORS)
def coverage(
    db: SessionDep, level: Annotated[PostCoverageLevel, Query()] = "township"
) -> dict[str, Any]:
    """Per township or county: the share of grids whose posts are all claimed."""
    return {"level": level, "areas": service_posts.post_coverage(db, level)}


@router.get("/service-posts/{post_id}", response_model=ServicePostPublic, responses=ERRORS)
def get_post(post_id: PostId, db: SessionDep) -> dict[str, Any]:
    """One post and its cadre."""
    return post_public(service_posts.get_post(db, post_id))


@router.post(
    "/service-posts/{post_id}/claims",
    response_model=ServicePostClaimPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ServicePostClaimPublic, "description": "The cadre already held it"},
        **ERRORS,
        **REFUSALS,
    },
)
def claim_post(
    request: Request,
    post_id: PostId,
    body: ClaimCreate,
    db: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    """A party cadre claims the post: one cadre per post, at most
    GRIDGIS_SERVICE_POSTS_PER_CADRE posts per cadre; safe under concurrency."""
    with decided(db):  # the post's and the cadre's locks end in this thread
        result = service_posts.claim_post(
            db,
            post_id,
            body.responder_id,
            max_posts=settings.service_posts_per_cadre,
            actor=actor(request),
        )
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return result.claim


@router.delete(
    "/service-posts/{post_id}/claims/{responder_id}",
    response_model=ServicePostClaimPublic,
    responses=ERRORS,
)
def release_post(
    request: Request,
    post_id: PostId,
    responder_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    db: SessionDep,
) -> dict[str, Any]:
    """The cadre gives the post up."""
    with decided(db):
        claim = service_posts.release_post(db, post_id, responder_id, actor=actor(request))
    return claim
