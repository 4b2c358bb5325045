"""Claiming a numbered slot of a task or post, once for both, safe under any concurrency.

The claimant's writer locks the target row (`SELECT ... FOR UPDATE`), so claims on one target
are decided one at a time: it reads the active claims, refuses when every slot is taken, and
takes the lowest free slot number. The data backs this up: a partial unique index on
(target, slot_no) among active claims (no slot twice), slot numbers within 1..capacity, and
for patrols an exclusion constraint against overlapping claims by one volunteer (claims on
different tasks do not share a lock, so that rule is enforced where the data lives; a loser
of that race gets `overlap`, not an error)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TextClause
from sqlalchemy.exc import IntegrityError

from gridgis.db import Executor
from gridgis.errors import NotFound, Refused


@dataclass(frozen=True)
class SlotStatements:
    """The statements that place claims on one kind of target.

    lock_target: the target with its `capacity`, locked (`:target_id`).
    active_claim: the claimant's active claim on it, if any (`:target_id`, `:claimant_id`).
    taken_slots: slot numbers held by active claims (`:target_id`).
    insert_claim: a new active claim (`:target_id`, `:claimant_id`, `:slot_no`, plus extras),
    returning the claim.
    lock_claimant: optional; serialises one claimant's claims across targets (per-claimant
    limits, or constraints across targets that concurrent inserts would deadlock on).
    violations: constraint name -> (refusal code, message) for a losing concurrent writer.
    """

    entity: str
    lock_target: TextClause
    active_claim: TextClause
    taken_slots: TextClause
    insert_claim: TextClause
    lock_claimant: TextClause | None = None
    violations: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimResult:
    """The claim and whether this call made it (False: the claimant already held it)."""

    claim: dict[str, Any]
    created: bool
    target: dict[str, Any]


def claim_slot(
    db: Executor,
    statements: SlotStatements,
    target_id: int,
    claimant_id: int,
    *,
    check: Callable[[dict[str, Any]], None] | None = None,
    params: Mapping[str, Any] | None = None,
) -> ClaimResult:
    """Give `claimant_id` a slot of `target_id`, or raise Refused (full, or what `check`
    or a constraint refuses) or NotFound. Idempotent: a claimant who holds a slot gets it back.

    `check(target)` runs under the target's lock, after the idempotency check; it raises to
    refuse (closed, overlap, a per-claimant limit...)."""
    keys = {"target_id": target_id, "claimant_id": claimant_id}
    if statements.lock_claimant is not None:
        db.execute(statements.lock_claimant, keys)
    row = db.execute(statements.lock_target, keys).mappings().first()
    if row is None:
        raise NotFound(f"No {statements.entity.replace('_', ' ')} {target_id}.", field="id")
    target = dict(row)
    existing = db.execute(statements.active_claim, keys).mappings().first()
    if existing is not None:
        return ClaimResult(dict(existing), False, target)
    if check is not None:
        check(target)
    taken = {int(r[0]) for r in db.execute(statements.taken_slots, keys)}
    free = next((n for n in range(1, int(target["capacity"]) + 1) if n not in taken), None)
    if free is None:
        raise Refused(
            "full",
            f"All {target['capacity']} slots of {statements.entity.replace('_', ' ')} "
            f"{target_id} are taken.",
            field="id",
        )
    try:
        with db.begin_nested():
            claim = (
                db.execute(statements.insert_claim, {**keys, "slot_no": free, **(params or {})})
                .mappings()
                .one()
            )
    except IntegrityError as exc:
        name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        if isinstance(name, str) and name in statements.violations:
            reason, message = statements.violations[name]
            raise Refused(reason, message, field="responder_id") from None
        raise
    return ClaimResult(dict(claim), True, target)
