"""Coverage runs in progress, shared by every server process through PostgreSQL: the process
computing a run writes its stage on short transactions of its own (never the run's, which
commits only when the run is stored), and any process reads them for the console's poll."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from gridgis.db import Executor

log = logging.getLogger("gridgis.coverage")

# A run writes its stage at most this often (a stage change inside the interval waits for the
# next one): a res-9 run reports a handful of stages, so this bounds the writes, not the news.
WRITE_EVERY_S = 0.5
# A row not updated for this long belongs to a process that died mid-run: it is not reported,
# and the next run started anywhere (or the expiry timer) deletes it. The slowest stage of a
# city run takes seconds, so a live run never goes this long without a write.
STALE_AFTER_S = 600.0

_INSERT = text(
    """
    INSERT INTO coverage_progress (client_token, started_by, parameters, stage, step, steps)
    VALUES (:client_token, :started_by, CAST(:parameters AS jsonb), 'queued', 0, 1)
    RETURNING id
    """
)
_UPDATE = text(
    """
    UPDATE coverage_progress
    SET stage = :stage, step = :step, steps = :steps, updated_at = now()
    WHERE id = :id
    """
)
_DELETE = text("DELETE FROM coverage_progress WHERE id = :id")
_DELETE_STALE = text(
    "DELETE FROM coverage_progress WHERE updated_at < now() - make_interval(secs => :stale_s)"
)
_LIST = text(
    """
    SELECT id, client_token, started_by, started_at, updated_at, parameters, stage, step, steps,
           extract(epoch FROM now() - started_at) AS elapsed_s
    FROM coverage_progress
    WHERE updated_at >= now() - make_interval(secs => :stale_s)
    ORDER BY id
    """
)


def delete_stale(db: Executor, *, stale_after_s: float = STALE_AFTER_S) -> int:
    """Delete the rows of runs whose process stopped writing; returns how many."""
    return int(getattr(db.execute(_DELETE_STALE, {"stale_s": stale_after_s}), "rowcount", 0))


def runs_in_progress(db: Executor, *, stale_after_s: float = STALE_AFTER_S) -> list[dict[str, Any]]:
    """Runs being computed by any process, oldest first (stale rows left out)."""
    rows = db.execute(_LIST, {"stale_s": stale_after_s}).mappings().all()
    return [
        {
            "token": int(r["id"]),
            "client_token": r["client_token"],
            "started_by": r["started_by"],
            "started_at": r["started_at"],
            "updated_at": r["updated_at"],
            "elapsed_s": round(float(r["elapsed_s"]), 1),
            "stage": r["stage"],
            "step": int(r["step"]),
            "steps": int(r["steps"]),
            "fraction": round(int(r["step"]) / max(int(r["steps"]), 1), 3),
            "parameters": r["parameters"],
        }
        for r in rows
    ]


class ProgressWriter:
    """Writes the runs this process computes to `coverage_progress`, each write its own short
    transaction on `engine`. A failed progress write is logged and never fails the run."""

    def __init__(
        self,
        engine: Engine,
        *,
        write_every_s: float = WRITE_EVERY_S,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self.engine = engine
        self.write_every_s = write_every_s
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._written: dict[int, float] = {}

    def start(
        self, *, started_by: str, parameters: dict[str, Any], client_token: str | None = None
    ) -> int:
        """Record a run that starts now (and clear dead processes' rows); returns its token."""
        with self.engine.begin() as conn:
            delete_stale(conn, stale_after_s=self.stale_after_s)
            token = int(
                conn.execute(
                    _INSERT,
                    {
                        "client_token": client_token,
                        "started_by": started_by,
                        "parameters": json.dumps(parameters),
                    },
                ).scalar_one()
            )
        with self._lock:
            self._written[token] = time.monotonic()
        return token

    def update(self, token: int, stage: str, step: int, steps: int) -> bool:
        """Record the run's stage unless the last write is under `write_every_s` old; returns
        whether it was written."""
        now = time.monotonic()
        with self._lock:
            last = self._written.get(token)
            if last is None or now - last < self.write_every_s:
                return False
            self._written[token] = now
        steps = max(int(steps), 1)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    _UPDATE,
                    {"id": token, "stage": stage, "step": min(max(step, 0), steps), "steps": steps},
                )
        except SQLAlchemyError as exc:
            log.warning("could not record coverage progress: %s", exc)
            return False
        return True

    def finish(self, token: int) -> None:
        """The run is stored or failed: its row goes."""
        with self._lock:
            self._written.pop(token, None)
        try:
            with self.engine.begin() as conn:
                conn.execute(_DELETE, {"id": token})
        except SQLAlchemyError as exc:  # the row goes stale and is cleared later
            log.warning("could not clear coverage progress: %s", exc)
