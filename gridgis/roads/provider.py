"""The ETA model in force for a worker: straight-line, or road_v1 on the active road network.

With GRIDGIS_ETA_MODEL=road, each worker loads the active network's graph once and keeps it;
one indexed read per answer tells whether another network was activated since, and the new
one is loaded then. Without an active network, answers are priced by the straight-line model
(and say so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gridgis.db import Executor
from gridgis.dispatch.eta import EtaModel, StraightLineEta, eta_model_from_settings
from gridgis.errors import Conflict, InvalidInput
from gridgis.roads import sql as roads_sql
from gridgis.roads.engine import RoadEngine, load_engine
from gridgis.roads.model import RoadEta
from gridgis.settings import Settings


class EtaProvider:
    """Hands out the model in force, reloading the road graph when the active network changes."""

    def __init__(
        self, settings: Settings, on_load: Callable[[RoadEngine], None] | None = None
    ) -> None:
        """`on_load` runs after each graph is loaded (the API settles its heap there)."""
        self.straight_line: StraightLineEta = eta_model_from_settings(settings)
        self.use_roads = settings.eta_model == "road"
        self.max_snap_m = settings.road_max_snap_m
        self._engine: RoadEngine | None = None
        self._lock = threading.Lock()
        self._on_load = on_load

    def model(self, db: Executor) -> EtaModel:
        """The model for an answer read through `db`."""
        if not self.use_roads:
            return self.straight_line
        engine = self.active_engine(db)
        if engine is None:
            return self.straight_line
        return RoadEta(engine, self.straight_line, max_snap_m=self.max_snap_m)

    def coverage_model(self, db: Executor, eta_model: str | None) -> StraightLineEta | RoadEta:
        """The model a coverage run asks for (None: the one in force); road needs a network."""
        if eta_model not in (None, "straight_line", "road"):
            raise InvalidInput("eta_model must be straight_line or road.", field="eta_model")
        if (eta_model or ("road" if self.use_roads else "straight_line")) == "straight_line":
            return self.straight_line
        engine = self.active_engine(db)
        if engine is None:
            raise Conflict(
                "Coverage by road needs an active road network (gridgis import roads).",
                field="eta_model",
            )
        return RoadEta(engine, self.straight_line, max_snap_m=self.max_snap_m)

    def active_engine(self, db: Executor) -> RoadEngine | None:
        """The active network's engine (loaded once per network), None when none is active."""
        active = roads_sql.active_network_id(db)
        if active is None:
            return None
        engine = self._engine
        if engine is None or engine.network_id != active:
            with self._lock:
                engine = self._engine
                if engine is None or engine.network_id != active:
                    engine = self._engine = load_engine(db, active)
                    if self._on_load is not None:
                        self._on_load(engine)
        return engine
