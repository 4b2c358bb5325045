"""Multi-source searches equal one search per source: k nearest distinct sources per node and
counts of sources within a budget, on random graphs and on the Helsinki extract (networkx)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from gridgis.roads.multisource import count_within, k_nearest_sources
from tests.roads_data import helsinki_engine


def brute_k_nearest(
    graph: csr_matrix, node: np.ndarray, offset: np.ndarray, source: np.ndarray, k: int
) -> np.ndarray:
    """One search per seed; per node the k smallest of distinct sources (inf padded)."""
    n = graph.shape[0]
    sources = int(source.max()) + 1
    per_source = np.full((sources + k, n), np.inf)
    found = np.atleast_2d(dijkstra(graph, directed=True, indices=node))
    for i in range(len(node)):
        np.minimum(per_source[source[i]], found[i] + offset[i], out=per_source[source[i]])
    return np.sort(per_source, axis=0)[:k].T


def random_graph(rng: np.random.Generator) -> csr_matrix:
    n = int(rng.integers(5, 80))
    m = int(rng.integers(n, 4 * n))
    # Zero-cost arcs and equal costs (ties) on purpose.
    weights = rng.integers(0, 5, m) * rng.choice([1.0, 0.5], m)
    return csr_matrix((weights, (rng.integers(0, n, m), rng.integers(0, n, m))), shape=(n, n))


@pytest.mark.parametrize("seed", range(40))
def test_k_nearest_sources_equal_one_search_per_source(seed: int) -> None:
    rng = np.random.default_rng(seed)
    graph = random_graph(rng)
    n = graph.shape[0]
    sources = int(rng.integers(1, 8))
    seeds = int(rng.integers(sources, 3 * sources + 1))
    source = np.concatenate([np.arange(sources), rng.integers(0, sources, seeds - sources)])
    node = rng.integers(0, n, seeds)
    offset = rng.integers(0, 4, seeds).astype(float)
    for k in (1, 2, 3):
        dist, owner = k_nearest_sources(graph, node, offset, source, k)
        assert np.array_equal(dist, brute_k_nearest(graph, node, offset, source, k))
        # Each label names a distinct source that really is that far.
        per = np.full((sources, n), np.inf)
        found = np.atleast_2d(dijkstra(graph, directed=True, indices=node))
        for i in range(seeds):
            np.minimum(per[source[i]], found[i] + offset[i], out=per[source[i]])
        named = owner >= 0
        assert np.array_equal(named, np.isfinite(dist))
        rows, cols = np.nonzero(named)
        assert np.allclose(per[owner[rows, cols], rows], dist[rows, cols])
        for v in range(n):
            assert len(set(owner[v][named[v]].tolist())) == int(named[v].sum())


def brute_count(
    graph: csr_matrix,
    exit_node: np.ndarray,
    exit_offset: np.ndarray,
    entry_node: np.ndarray,
    entry_offset: np.ndarray,
    budget: np.ndarray,
    direct: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    full = dijkstra(graph, directed=True)
    best = np.full((len(budget), len(exit_node)), np.inf)
    for a in range(2):
        for b in range(2):
            ok_s = exit_node[:, a] >= 0
            ok_t = np.isfinite(entry_offset[:, b])
            for j in np.flatnonzero(ok_t):
                for i in np.flatnonzero(ok_s):
                    t = exit_offset[i, a] + full[exit_node[i, a], entry_node[j, b]]
                    best[j, i] = min(best[j, i], t + entry_offset[j, b])
    for j, i, seconds in zip(*direct, strict=True):
        best[j, i] = min(best[j, i], seconds)
    return (best <= budget[:, None]).sum(axis=1)


@pytest.mark.parametrize("seed", range(25))
def test_count_within_equals_every_pair(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 250))
    xy = rng.uniform(0, 20_000, (n, 2))
    pairs = cKDTree(xy).query_pairs(3000, output_type="ndarray")
    tail = np.concatenate([pairs[:, 0], pairs[:, 1]])
    head = np.concatenate([pairs[:, 1], pairs[:, 0]])
    kept = rng.random(len(tail)) < 0.7  # some one-way
    tail, head = tail[kept], head[kept]
    seconds = np.hypot(*(xy[tail] - xy[head]).T) / rng.uniform(5, 20, len(tail))
    graph = csr_matrix((seconds, (tail, head)), shape=(n, n))
    sources, targets = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    exit_node = rng.integers(0, n, (sources, 2))
    exit_offset = rng.uniform(0, 100, (sources, 2))
    one_way = rng.random(sources) < 0.3
    exit_node[one_way, 1] = -1
    exit_offset[one_way, 1] = np.inf
    entry_node = rng.integers(0, n, (targets, 2))
    entry_offset = rng.uniform(0, 100, (targets, 2))
    entry_offset[rng.random(targets) < 0.3, 1] = np.inf
    budget = rng.uniform(0, 900, targets)
    direct = (rng.integers(0, targets, 10), rng.integers(0, sources, 10), rng.uniform(0, 900, 10))
    expected = brute_count(graph, exit_node, exit_offset, entry_node, entry_offset, budget, direct)
    # Each source's way from its first exit to its second (what lets the count skip sources
    # the first exit holds): the shortest path, or unknown.
    paths = dijkstra(graph, directed=True)
    between = np.where(exit_node[:, 1] >= 0, paths[exit_node[:, 0], exit_node[:, 1]], np.inf)
    for tile_m in (1000.0, 6000.0, 50_000.0):  # many tiles (counted on threads), or one
        for known in (None, between):
            got = count_within(
                graph, xy, exit_node, exit_offset, entry_node, entry_offset, budget,
                direct=direct, between=known, tile_m=tile_m,
                max_block=int(rng.integers(50, 5000)),
            )  # fmt: skip
            assert np.array_equal(got, expected)


def test_on_helsinki_both_equal_networkx() -> None:
    engine = helsinki_engine()
    forward = engine.forward.tocoo()
    network = nx.DiGraph()
    network.add_weighted_edges_from(
        zip(forward.row.tolist(), forward.col.tolist(), forward.data.tolist(), strict=True)
    )
    rng = np.random.default_rng(17)
    n = engine.node_count
    sources = 60
    node = rng.integers(0, n, (sources, 2))
    offset = rng.uniform(60, 120, (sources, 2))
    per_source = np.full((sources, n), np.inf)
    for s in range(sources):
        for col in range(2):
            lengths = nx.single_source_dijkstra_path_length(network, int(node[s, col]))
            for v, d in lengths.items():
                per_source[s, v] = min(per_source[s, v], offset[s, col] + d)
    dist, _ = k_nearest_sources(
        engine.forward, node.ravel(), offset.ravel(), np.repeat(np.arange(sources), 2), 3
    )
    assert np.allclose(dist, np.sort(per_source, axis=0)[:3].T, rtol=1e-12, atol=0)
    budget = np.full(n, 240.0)
    x, y = engine.to_metric(engine.node_lon, engine.node_lat)
    counts = count_within(
        engine.forward, np.column_stack([x, y]), node, offset,
        np.column_stack([np.arange(n), np.full(n, -1)]),
        np.column_stack([np.zeros(n), np.full(n, np.inf)]), budget, tile_m=500.0,
    )  # fmt: skip
    # Rounding at the exact budget aside, networkx agrees node by node.
    assert np.array_equal(counts, (per_source <= budget[None, :] + 1e-9).sum(axis=0))
    assert 0 < counts.sum() < sources * n
