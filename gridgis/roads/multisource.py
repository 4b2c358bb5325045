"""Shortest paths from many sources at once on a CSR graph: the k nearest distinct sources of
every node, and bounded searches from many targets at once, in scipy's compiled Dijkstra.

k nearest distinct sources, k rounds of one search each (no per-source search): round 1 is a
plain multi-source search from a super-source whose arcs to the sources' nodes carry their
start offsets; the source of each node's label is the root of its shortest-path tree. Round
j labels each node v with the nearest source outside S(v), the j - 1 sources already found
there. An optimal path to v from such a source has a last node x whose set S(x) differs from
S(v); every node after x has S(v) as its set. So round j is one search that starts at each
node v from B(v) = min over arcs x -> v with S(x) != S(v) of (x's best label from a source
outside S(v)) + w (and from the sources' own offsets), and follows only arcs between nodes
with equal sets. Each label is a real walk from a source outside S(v), and the optimal one is
found, so the labels are exact (the same as a label-setting search keeping k labels a node).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# Float sums along different paths may differ by a few ulps: a key must be within the budget
# by this much before its source is taken as counted by its first exit.
_KEY_MARGIN_S = 1e-6
# Tiles of a count are shared among up to this many threads.
_COUNT_THREADS = 2


def with_super_source(
    n: int, arc_from: IntArray, arc_to: IntArray, arc_w: FloatArray, seed_node: IntArray,
    seed_w: FloatArray,
) -> csr_matrix:  # fmt: skip
    """A CSR graph of the arcs (sorted by `arc_from`) plus node n with arcs to the seeds.

    Explicit zeros are arcs for scipy's csgraph, so zero-cost arcs and seeds stay arcs."""
    counts = np.bincount(arc_from, minlength=n)
    indptr = np.concatenate([[0], np.cumsum(counts), [len(arc_to) + len(seed_node)]])
    indices = np.concatenate([arc_to, seed_node]).astype(np.int32)
    data = np.concatenate([arc_w, seed_w]).astype(np.float64)
    return csr_matrix((data, indices, indptr.astype(np.int32)), shape=(n + 1, n + 1))


def tree_roots(predecessors: npt.NDArray[np.int32], root_parent: int) -> IntArray:
    """The node each node's shortest-path tree hangs from below `root_parent` (-1 unreached)."""
    n = root_parent
    parent = predecessors[:n].astype(np.int64)
    node = np.arange(n, dtype=np.int64)
    anc = np.where(parent == root_parent, node, np.where(parent < 0, -1, parent))
    while True:
        valid = anc >= 0
        step = anc.copy()
        step[valid] = anc[anc[valid]]
        if np.array_equal(step, anc):
            return anc
        anc = step


def _best_per_node(
    node: IntArray, value: FloatArray, source: IntArray
) -> tuple[IntArray, FloatArray, IntArray]:
    """The smallest value per node (ties: the smallest source), with its source."""
    size = int(node.max()) + 1 if len(node) else 0
    lowest = np.full(size, np.inf)
    np.minimum.at(lowest, node, value)
    best = value == lowest[node]
    chosen = np.full(size, np.iinfo(np.int64).max)
    np.minimum.at(chosen, node[best], source[best])
    nodes = np.flatnonzero(np.isfinite(lowest))
    return nodes, lowest[nodes], chosen[nodes]


def k_nearest_sources(
    graph: csr_matrix, node: IntArray, offset: FloatArray, source: IntArray, k: int
) -> tuple[FloatArray, IntArray]:
    """Per node, the k smallest (offset + path) over distinct sources, ascending, with the
    sources (inf and -1 where fewer reach it). A source starts at each of its seeds
    (`node`, `offset`, `source` per seed; a source may have several)."""
    n = graph.shape[0]
    dist = np.full((n, k), np.inf)
    owner = np.full((n, k), -1, dtype=np.int64)
    if len(node) == 0:
        return dist, owner
    graph = graph.tocsr()
    arc_from = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.indptr))
    arc_to = graph.indices.astype(np.int64)
    arc_w = graph.data.astype(np.float64)
    node = np.asarray(node, dtype=np.int64)
    offset = np.asarray(offset, dtype=np.float64)
    source = np.asarray(source, dtype=np.int64)
    for j in range(k):
        if j == 0:
            seeds = _best_per_node(node, offset, source)
            keep = np.ones(len(arc_to), dtype=np.bool_)
        else:
            known = owner[:, :j]
            key = np.sort(known, axis=1)
            # The sources' own seeds, where the source is not found at that node yet.
            fresh = ~(known[node] == source[:, None]).any(axis=1)
            # Arcs between nodes with different sets hand on the tail's best label from a
            # source outside the head's set (one exists: the sets differ and have j members).
            differ = (key[arc_from] != key[arc_to]).any(axis=1)
            tail, head, w = arc_from[differ], arc_to[differ], arc_w[differ]
            labels = owner[tail, :j]
            usable = (labels >= 0) & ~(labels[:, :, None] == known[head][:, None, :]).any(axis=2)
            has = usable.any(axis=1)
            first = np.argmax(usable, axis=1)
            rows = np.flatnonzero(has)
            via = dist[tail[rows], first[rows]] + w[rows]
            seeds = _best_per_node(
                np.concatenate([node[fresh], head[rows]]),
                np.concatenate([offset[fresh], via]),
                np.concatenate([source[fresh], labels[rows, first[rows]]]),
            )
            keep = ~differ
        seed_node, seed_value, seed_source = seeds
        finite = np.isfinite(seed_value)
        seed_node, seed_value, seed_source = (
            seed_node[finite], seed_value[finite], seed_source[finite]
        )  # fmt: skip
        if len(seed_node) == 0:
            break
        augmented = with_super_source(
            n, arc_from[keep], arc_to[keep], arc_w[keep], seed_node, seed_value
        )
        found, previous = dijkstra(augmented, directed=True, indices=n, return_predecessors=True)
        roots = tree_roots(previous, n)
        seed_of = np.full(n, -1, dtype=np.int64)
        seed_of[seed_node] = seed_source
        reached = roots >= 0
        dist[reached, j] = found[:n][reached]
        owner[reached, j] = seed_of[roots[reached]]
    return dist, owner


def _csr(n: int, arc_from: IntArray, arc_to: IntArray, arc_w: FloatArray) -> csr_matrix:
    """A CSR graph of n nodes from arcs sorted by tail (explicit zeros stay arcs)."""
    indptr = np.concatenate([[0], np.cumsum(np.bincount(arc_from, minlength=n))])
    return csr_matrix(
        (arc_w.astype(np.float64), arc_to.astype(np.int32), indptr.astype(np.int32)), shape=(n, n)
    )


def concatenated_ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """The concatenation of range(start, start + count) for each pair."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    begins = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(begins - starts, counts)


def count_within(
    graph: csr_matrix,
    node_xy: FloatArray,
    exit_node: IntArray,
    exit_offset: FloatArray,
    entry_node: IntArray,
    entry_offset: FloatArray,
    budget: FloatArray,
    *,
    direct: tuple[IntArray, IntArray, FloatArray] | None = None,
    between: FloatArray | None = None,
    tile_m: float = 6000.0,
    max_block: int = 6_000_000,
) -> IntArray:
    """Per target, how many sources reach it within its budget on `graph` (forward arcs).

    Source i leaves from its two exits (`exit_node[i, :]`, -1 for none) at `exit_offset[i,
    :]`; target j is entered from `entry_node[j, :]` at an added `entry_offset[j, :]`; source
    i counts for target j when min over exits and entries of (exit offset + path + entry
    offset) <= budget[j]. `direct` pairs (target, source, seconds) offer another time (a
    source on the target's own edge). `between[i]`, when given, is the cost of an arc from
    source i's first exit to its second (inf: none known); it spares checking, one by one,
    sources that their first exit surely counts already. Targets are taken a tile at a time
    (`tile_m` square by `node_xy` of their entries): one search on the reversed graph from
    every target of the tile at once, within the nodes that lie within the budget of any of
    the tile's entries (the paths that matter never leave them), then the sources met are
    counted in bulk."""
    n = graph.shape[0]
    targets = len(budget)
    count = np.zeros(targets, dtype=np.int64)
    if targets == 0 or len(exit_node) == 0:
        return count
    reverse = graph.transpose().tocsr()
    arc_to = reverse.indices.astype(np.int64)
    arc_w = reverse.data.astype(np.float64)
    # Exits by node, each column sorted by (node, key): a node's sources with a key within a
    # budget are a prefix of its run, found by one searchsorted on exact integer keys. The
    # first column's key is the offset. The second's is the first exit's offset plus the arc
    # from the first exit to the second: a source whose key is within the budget left at its
    # second exit is within budget by its first exit as well (counted there), so only the
    # rest of the run needs a look (see `_tile_count`).
    if between is None:
        between = np.full(len(exit_node), np.inf)
    exits = [
        _ExitTable(exit_node[:, 0], exit_offset[:, 0], n),
        _ExitTable(exit_node[:, 1], exit_offset[:, 1], n, key=exit_offset[:, 0] + between),
    ]
    usable = (exit_node >= 0) & np.isfinite(exit_offset)
    cheapest_exit = float(exit_offset[usable].min()) if usable.any() else np.inf
    offers = _fastest_offers(direct) if direct is not None else None
    searched = np.zeros(targets, dtype=np.bool_)
    entered = (entry_node >= 0) & np.isfinite(entry_offset)
    anchor = np.where(entered, entry_node, 0)
    # Tiles of targets, by the position of their first entry node.
    first_entry = anchor[np.arange(targets), np.argmax(entered, axis=1)]
    txy = node_xy[first_entry]
    tile = np.floor((txy - txy.min(axis=0)) / tile_m).astype(np.int64)
    tile_key = tile[:, 0] * (int(tile[:, 1].max()) + 1) + tile[:, 1]
    by_tile = np.argsort(tile_key, kind="stable")
    bounds = np.flatnonzero(np.diff(tile_key[by_tile])) + 1
    groups = [g[entered[g].any(axis=1)] for g in np.split(by_tile, bounds)]
    threads = min(_COUNT_THREADS, os.cpu_count() or 1)
    block_entries = max_block // threads  # the threads' blocks together stay within max_block
    scratch = threading.local()  # per thread: node -> window position, and window membership

    def count_tile(group: IntArray) -> list[tuple[IntArray, IntArray]]:
        """(targets, their counts) per block of one tile; empty when the tile has no search."""
        if not hasattr(scratch, "local"):
            scratch.local = np.full(n, -1, dtype=np.int64)
            scratch.inside = np.zeros(n, dtype=np.bool_)
        local, inside = scratch.local, scratch.inside
        if len(group) == 0:
            return []
        limit = float(budget[group].max()) - cheapest_exit
        if limit < 0:
            return []
        # The window: every node within the limit of the tile's entries (one search from all
        # of them); shortest paths that matter never leave it.
        nodes = np.unique(entry_node[group][entered[group]])
        reach = dijkstra(reverse, directed=True, indices=nodes, min_only=True, limit=limit)
        window = np.flatnonzero(np.isfinite(reach))
        inside[window] = True
        local[window] = np.arange(len(window))
        # The window's arcs: those leaving a window node for another one.
        degree = reverse.indptr[window + 1] - reverse.indptr[window]
        arcs = concatenated_ranges(reverse.indptr[window].astype(np.int64), degree)
        keep = inside[arc_to[arcs]]
        w_from = np.repeat(np.arange(len(window)), degree)[keep]
        w_to, w_w = local[arc_to[arcs[keep]]], arc_w[arcs[keep]]
        size = len(window)
        block = max(1, block_entries // max(size, 1))
        found = []
        for part in range(0, len(group), block):
            cells = group[part : part + block]
            seconds = _tile_search(
                size, w_from, w_to, w_w, local, cells, entry_node, entry_offset, entered, limit
            )
            got = _tile_count(seconds, cells, window, local, budget, exit_node, exit_offset, exits)
            if offers is not None:
                got += _tile_offers(offers, seconds, cells, local, budget, exit_node, exit_offset)
            found.append((cells, got))
        local[window] = -1
        inside[window] = False
        return found

    # Tiles are independent: counted on up to _COUNT_THREADS threads (scipy's search and
    # numpy's bulk operations release the GIL), summed here.
    if threads > 1 and len(groups) > 1:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(count_tile, groups))
    else:
        results = [count_tile(group) for group in groups]
    for found in results:
        for cells, got in found:
            searched[cells] = True
            count[cells] += got
    if offers is not None:
        # Targets no tile searched (a budget below every exit): their direct offers alone.
        d_target, _, d_seconds = offers
        alone = ~searched[d_target] & (d_seconds <= budget[d_target])
        count += np.bincount(d_target[alone], minlength=targets)
    return count


def _fastest_offers(
    direct: tuple[IntArray, IntArray, FloatArray],
) -> tuple[IntArray, IntArray, FloatArray]:
    """Direct offers sorted by target, one per (target, source) pair: the fastest."""
    target = np.asarray(direct[0], dtype=np.int64)
    source = np.asarray(direct[1], dtype=np.int64)
    seconds = np.asarray(direct[2], dtype=np.float64)
    order = np.lexsort((seconds, source, target))
    target, source, seconds = target[order], source[order], seconds[order]
    first = np.ones(len(target), dtype=np.bool_)
    first[1:] = (target[1:] != target[:-1]) | (source[1:] != source[:-1])
    return target[first], source[first], seconds[first]


def _tile_offers(
    offers: tuple[IntArray, IntArray, FloatArray],
    seconds: FloatArray,
    cells: IntArray,
    local: IntArray,
    budget: FloatArray,
    exit_node: IntArray,
    exit_offset: FloatArray,
) -> IntArray:
    """Sources a direct offer brings within budget that the network did not already count
    (compared as `_tile_count` compares, so none is counted twice)."""
    d_target, d_source, d_seconds = offers
    lo = np.searchsorted(d_target, cells, side="left")
    hi = np.searchsorted(d_target, cells, side="right")
    rows = concatenated_ranges(lo, hi - lo)
    if len(rows) == 0:
        return np.zeros(len(cells), dtype=np.int64)
    row_cell = np.repeat(np.arange(len(cells)), hi - lo)
    source = d_source[rows]
    target_budget = budget[cells][row_cell]
    by_network = np.zeros(len(rows), dtype=np.bool_)
    for col in range(exit_node.shape[1]):
        node = exit_node[source, col]
        where = np.where(node >= 0, local[np.maximum(node, 0)], -1)
        ok = where >= 0
        by_network[ok] |= exit_offset[source[ok], col] <= (
            target_budget[ok] - seconds[row_cell[ok], where[ok]]
        )
    extra = (d_seconds[rows] <= target_budget) & ~by_network
    return np.bincount(row_cell[extra], minlength=len(cells))


def _tile_search(
    size: int,
    w_from: IntArray,
    w_to: IntArray,
    w_w: FloatArray,
    local: IntArray,
    cells: IntArray,
    entry_node: IntArray,
    entry_offset: FloatArray,
    entered: npt.NDArray[np.bool_],
    limit: float,
) -> FloatArray:
    """Seconds from every window node to each target (its entries' offsets included)."""
    c_rows, c_cols = np.nonzero(entered[cells])
    pseudo_from = size + c_rows
    pseudo_to = local[entry_node[cells[c_rows], c_cols]]
    order = np.argsort(pseudo_from, kind="stable")
    arcs_from = np.concatenate([w_from, pseudo_from[order]])
    arcs_to = np.concatenate([w_to, pseudo_to[order]])
    arcs_w = np.concatenate([w_w, entry_offset[cells[c_rows], c_cols][order]])
    graph = _csr(size + len(cells), arcs_from, arcs_to, arcs_w)
    found = dijkstra(graph, directed=True, indices=size + np.arange(len(cells)), limit=limit)
    return np.asarray(np.atleast_2d(found)[:, :size])


class _ExitTable:
    """One column of exits (a node and an offset per source), sorted by node, then by a key
    (the offset unless given); `within` searches the keys."""

    def __init__(
        self, node: IntArray, offset: FloatArray, n: int, key: FloatArray | None = None
    ) -> None:
        usable = np.flatnonzero((node >= 0) & np.isfinite(offset))
        key = offset if key is None else key
        order = np.lexsort((key[usable], node[usable]))
        self.source = usable[order]
        self.node = node[self.source]
        self.offset = key[self.source]
        # The smallest true offset per node (a budget below it reaches none of the run), and
        # how far a key may lie above its offset (a key beyond budget + spread belongs to a
        # source whose offset is beyond the budget).
        self.cheapest = np.full(n, np.inf)
        np.minimum.at(self.cheapest, self.node, offset[self.source])
        self.spread = np.zeros(n)
        np.maximum.at(self.spread, self.node, self.offset - offset[self.source])
        self.ptr = np.concatenate([[0], np.cumsum(np.bincount(self.node, minlength=n))])
        # Offsets as ranks among their distinct values: (node, rank) keys are exact integers.
        self.values = np.unique(self.offset)
        self.stride = len(self.values) + 1
        rank = np.searchsorted(self.values, self.offset, side="right")
        self.keys = self.node * self.stride + rank
        self.lowest = np.full(n, np.inf)
        self.highest = np.full(n, -np.inf)
        np.minimum.at(self.lowest, self.node, self.offset)
        np.maximum.at(self.highest, self.node, self.offset)

    def within(self, node: IntArray, budget: FloatArray) -> tuple[IntArray, IntArray]:
        """For each (node, budget): where its run starts and how many keys are <= budget."""
        start = self.ptr[node]
        # Most runs are wholly within the budget or wholly beyond it: search only the rest.
        count = np.where(self.highest[node] <= budget, self.ptr[node + 1] - start, 0)
        partly = np.flatnonzero((self.lowest[node] <= budget) & (self.highest[node] > budget))
        rank = np.searchsorted(self.values, budget[partly], side="right")
        end = np.searchsorted(self.keys, node[partly] * self.stride + rank, side="right")
        count[partly] = end - start[partly]
        return start, count


def _tile_count(
    seconds: FloatArray,
    cells: IntArray,
    window: IntArray,
    local: IntArray,
    budget: FloatArray,
    exit_node: IntArray,
    exit_offset: FloatArray,
    exits: list[_ExitTable],
) -> IntArray:
    """Sources within budget of each target of a tile, each counted once: by its first exit
    when that one is within budget, else by its second."""
    cell_row, node_col = np.nonzero(np.isfinite(seconds))
    at = window[node_col]
    spare = budget[cells][cell_row] - seconds[cell_row, node_col]
    _, first = exits[0].within(at, spare)
    count = np.bincount(cell_row, weights=first, minlength=len(cells)).astype(np.int64)
    # A source is added by its second exit when that one is within budget and the first is
    # not. Those whose key (first offset + the arc from the first exit to the second) is
    # within the budget left at the second exit are within it at the first exit too (the
    # first exit's time to the target is at most that arc plus the second's): counted there.
    # Those whose key is beyond the budget plus the run's spread are beyond it at the second
    # exit as well. The ones in between are checked one by one.
    table = exits[1]
    look = np.flatnonzero(table.cheapest[at] <= spare)
    at, look_spare = at[look], spare[look]
    start, settled = table.within(at, look_spare - _KEY_MARGIN_S)
    _, upto = table.within(at, look_spare + table.spread[at] + _KEY_MARGIN_S)
    rest = upto - settled
    rows = concatenated_ranges(start + settled, rest)
    if len(rows):
        row_cell = np.repeat(cell_row[look], rest)
        source = table.source[rows]
        second_ok = exit_offset[source, 1] <= np.repeat(look_spare, rest)
        node = exit_node[source, 0]
        ahead = np.where(node >= 0, local[np.maximum(node, 0)], -1)
        ok = ahead >= 0
        first_ok = np.zeros(len(rows), dtype=np.bool_)
        # The same comparison as the first exit's count (offset <= budget - seconds).
        first_ok[ok] = exit_offset[source[ok], 0] <= (
            budget[cells][row_cell[ok]] - seconds[row_cell[ok], ahead[ok]]
        )
        count += np.bincount(row_cell[second_ok & ~first_ok], minlength=len(cells))
    return count
