"""pgRouting on a stored road network, for those who have it (gridgis never needs it).

`road_edges` keeps pgRouting's columns — `id`, `source`, `target` (ids of `road_nodes`),
`cost` and `reverse_cost` in seconds, -1 against a one-way street — so a network's edges are
one `WHERE network_id = N` away from any pgRouting function. The extension is not trusted:
a superuser runs `CREATE EXTENSION pgrouting` once per database (Debian/Ubuntu package
`postgresql-pgrouting`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from gridgis.db import Executor

# The edges of one network as pgRouting reads them; the network id is filled in by the
# server's format() from a bound parameter.
EDGES_SQL = "SELECT id, source, target, cost, reverse_cost FROM road_edges WHERE network_id = %s"

_VERSION = text("SELECT extversion FROM pg_extension WHERE extname = 'pgrouting'")
_AVAILABLE = text("SELECT default_version FROM pg_available_extensions WHERE name = 'pgrouting'")
_DIJKSTRA_COST = text(
    """
    SELECT start_vid, end_vid, agg_cost
    FROM pgr_dijkstraCost(format(:edges, CAST(:n AS bigint)),
                          CAST(:sources AS bigint[]), CAST(:targets AS bigint[]),
                          directed => true)
    """
)


def installed_version(db: Executor) -> str | None:
    """pgRouting's version in this database, None when the extension is not created."""
    found = db.execute(_VERSION).scalar()
    return None if found is None else str(found)


def available_version(db: Executor) -> str | None:
    """The version `CREATE EXTENSION pgrouting` would install here, None without the package."""
    found = db.execute(_AVAILABLE).scalar()
    return None if found is None else str(found)


def dijkstra_costs(
    db: Executor, network_id: int, sources: Sequence[int], targets: Sequence[int]
) -> dict[tuple[int, int], float]:
    """Seconds from each source node to each target node (ids of `road_nodes`) by
    `pgr_dijkstraCost` on the network's edges. Like pgRouting, it leaves out unreachable
    pairs and a node's pair with itself."""
    rows = db.execute(
        _DIJKSTRA_COST,
        {"edges": EDGES_SQL, "n": network_id, "sources": list(sources), "targets": list(targets)},
    )
    return {(int(s), int(t)): float(cost) for s, t, cost in rows}
