"""Scalar reference implementations: the oracles for tests and the benchmark baseline.

Plain Python with :mod:`heapq`, no NumPy tricks, written for obviousness.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence


def dijkstra_path(
    n_nodes: int,
    edge_from: Sequence[int],
    edge_to: Sequence[int],
    weight: Sequence[float],
    source: int,
    target: int,
) -> tuple[float, list[int]]:
    """Textbook Dijkstra (Dijkstra 1959) from ``source`` to ``target``.

    Returns (cost, link indices of one shortest path); (inf, []) when unreachable.
    """
    out: list[list[int]] = [[] for _ in range(n_nodes)]
    for e, u in enumerate(edge_from):
        out[u].append(e)
    dist = [math.inf] * n_nodes
    pred = [-1] * n_nodes
    dist[source] = 0.0
    heap = [(0.0, source)]
    done = [False] * n_nodes
    while heap:
        d, u = heapq.heappop(heap)
        if done[u]:
            continue
        done[u] = True
        if u == target:
            break
        for e in out[u]:
            v = edge_to[e]
            nd = d + weight[e]
            if nd < dist[v]:
                dist[v] = nd
                pred[v] = e
                heapq.heappush(heap, (nd, v))
    if not done[target]:
        return math.inf, []
    path: list[int] = []
    v = target
    while v != source:
        e = pred[v]
        path.append(e)
        v = edge_from[e]
    return dist[target], path[::-1]


def path_cost(path: Sequence[int], weight: Sequence[float]) -> float:
    """Sum of the link weights along a path."""
    return float(sum(weight[e] for e in path))


def is_path(
    path: Sequence[int], edge_from: Sequence[int], edge_to: Sequence[int], s: int, t: int
) -> bool:
    """True when ``path`` is a chain of links from ``s`` to ``t``."""
    if not path:
        return s == t
    if edge_from[path[0]] != s or edge_to[path[-1]] != t:
        return False
    return all(edge_to[a] == edge_from[b] for a, b in zip(path[:-1], path[1:], strict=True))
