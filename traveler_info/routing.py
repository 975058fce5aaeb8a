"""Routing on live link weights: fastest route, alternatives, one-to-many times.

The :class:`Router` holds the graph's landmark tables (computed once, on
free-flow times) and answers queries for any weight vector that is never below
free flow, which is what the live weights guarantee. A weight refresh therefore
costs nothing here.

Alternatives use the penalty method (Bader et al. 2011): after each route its
links' weights are raised by a factor and the search repeated (as a weighted A*:
a candidate only needs to be good, its true time is recomputed); a candidate is
kept when it is not much slower than the fastest (``max_stretch``) and shares
little of its length with every route kept so far (``max_overlap``).

References
----------
Bader, R., Dees, J., Geisberger, R., Sanders, P. (2011). Alternative route
graphs in road networks. TAPAS 2011, LNCS 6595, 21-32.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse.csgraph import dijkstra

from traveler_info import _kernels
from traveler_info.graph import GraphError, RoadGraph

DEFAULT_LANDMARKS = 16
ACTIVE_LANDMARKS = 4  # landmarks used per query, the best for its (s, t) [-]
# threads for the one-to-all searches of a refresh (landmark tables, place matrix)
SEARCH_THREADS = max(1, min(4, os.cpu_count() or 1))
ALT_PENALTY = 1.6  # weight factor on the links of routes already found [-]
ALT_MAX_STRETCH = 1.4  # an alternative takes at most this times the fastest [-]
ALT_MAX_OVERLAP = 0.6  # share of an alternative's length shared with a kept route [-]
ALT_SEARCH_EPS = 1.5  # potential inflation of the penalised searches (weighted A*) [-]


class NoRouteError(LookupError):
    """The destination cannot be reached from the origin."""


@dataclass(frozen=True)
class Path:
    """One route: its links in order and its totals under the weights it was found on."""

    edges: np.ndarray  # link indices, in driving order
    time_s: float
    length_m: float
    free_flow_s: float

    @property
    def delay_s(self) -> float:
        return self.time_s - self.free_flow_s


def select_landmarks(graph: RoadGraph, k: int, seed: int = 0) -> np.ndarray:
    """Landmarks by farthest-point selection on free-flow times (Goldberg & Harrelson 2005).

    Starts from a random node, repeatedly adds the node farthest (in the
    symmetrised free-flow metric) from the chosen ones; nodes unreachable from
    all chosen landmarks are preferred, so every weakly separate part gets one.
    """
    n = graph.n_nodes
    k = max(0, min(k, n))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    mat = graph.matrix(graph.free_flow_s)
    sym = mat.maximum(mat.T)
    rng = np.random.default_rng(seed)
    d0 = dijkstra(sym, directed=False, indices=int(rng.integers(n)))
    chosen = [int(np.argmax(np.where(np.isinf(d0), -1.0, d0)))]
    best = dijkstra(sym, directed=False, indices=chosen[0])
    while len(chosen) < k:
        cand = np.where(np.isinf(best), np.finfo(np.float64).max, best)
        cand[chosen] = -1.0
        nxt = int(np.argmax(cand))
        if cand[nxt] <= 0:
            break
        chosen.append(nxt)
        best = np.minimum(best, dijkstra(sym, directed=False, indices=nxt))
    return np.asarray(chosen, dtype=np.int64)


class Router:
    """Fastest routes on a :class:`RoadGraph` for any weights >= free flow.

    Parameters
    ----------
    graph : the road graph
    landmarks : number of ALT landmarks (0: plain Dijkstra), or explicit node indices
    compiled : use the numba kernel (True) or the interpreted one (False, the reference)
    """

    def __init__(
        self,
        graph: RoadGraph,
        landmarks: int | npt.ArrayLike = DEFAULT_LANDMARKS,
        *,
        compiled: bool = True,
        seed: int = 0,
        active: int = ACTIVE_LANDMARKS,
    ) -> None:
        self.graph = graph
        self.active = active
        self.indptr, self.head, self.edge = graph.forward_csr
        self.rindptr, self.rhead, self.redge = graph.backward_csr
        self.tail = graph.edge_from.astype(np.int64)
        self._compiled = compiled and _kernels.HAVE_NUMBA
        self.to = graph.edge_to.astype(np.int64)
        if isinstance(landmarks, int | np.integer):
            self.landmarks = select_landmarks(graph, int(landmarks), seed=seed)
        else:
            self.landmarks = np.asarray(landmarks, dtype=np.int64)
        self.lm_from, self.lm_to = self.landmark_tables(graph.free_flow_s)
        kernel = _kernels.bidirectional_astar
        self._search: Callable[..., Any] = (
            kernel if compiled or not _kernels.HAVE_NUMBA else kernel.py_func
        )
        self.last_settled = 0
        self._local = threading.local()  # per-thread work arrays of the kernel
        self._checked: np.ndarray | None = None

    def landmark_tables(self, floor_weight: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(d(L, v), d(v, L)) tables, (n_nodes, n_landmarks) [s], on ``floor_weight``.

        The bounds they give are valid for any weights >= ``floor_weight`` link by
        link: free flow (the default tables) for every weight the service can
        produce, or the live weights of one refresh for the queries on that refresh
        (tighter bounds: ~5x fewer nodes settled) and their alternatives (whose
        penalties only raise weights).
        """
        n = self.graph.n_nodes
        if not len(self.landmarks):
            return np.zeros((n, 0)), np.zeros((n, 0))
        w = np.ascontiguousarray(floor_weight, dtype=np.float64)
        d_from, d_to = self._searches(w, [(True, self.landmarks), (False, self.landmarks)])
        return np.ascontiguousarray(d_from.T), np.ascontiguousarray(d_to.T)

    def _searches(
        self, w: np.ndarray, jobs: list[tuple[bool, np.ndarray]], threads: int = SEARCH_THREADS
    ) -> list[np.ndarray]:
        """One-to-all searches: for each (forward, sources) job a (len(sources), n_nodes)
        array of distances from (forward) or to (backward) each source [s].

        The rows are spread over ``threads`` threads: the kernel runs without the
        GIL. Interpreted kernels (no numba) fall back to scipy's Dijkstra.
        """
        n = self.graph.n_nodes
        outs = [np.empty((len(src), n)) for _, src in jobs]
        if not self._compiled:
            mat = self.graph.matrix(w)
            back = mat.T.tocsr()
            for (fwd, src), out in zip(jobs, outs, strict=True):
                if len(src):
                    out[:] = dijkstra(mat if fwd else back, directed=True, indices=src)
            return outs
        tasks = []
        for (fwd, src), out in zip(jobs, outs, strict=True):
            csr = (self.indptr, self.head, self.edge) if fwd else (
                self.rindptr, self.rhead, self.redge)
            for part in np.array_split(np.arange(len(src)), threads):
                if len(part):
                    tasks.append((csr, np.ascontiguousarray(src[part], dtype=np.int64),
                                  out[part[0]:part[-1] + 1]))
        # whole tasks per thread, longest-first, so the threads finish together
        chunks: list[list[Any]] = [[] for _ in range(threads)]
        load = [0] * threads
        for task in sorted(tasks, key=lambda task: -len(task[1])):
            k = load.index(min(load))
            chunks[k].append(task)
            load[k] += len(task[1])

        def run(chunk: list[Any]) -> None:
            for (indptr, head, edge), src, out in chunk:
                _kernels.dijkstra_rows(indptr, head, edge, w, src, out)

        if threads <= 1 or len(tasks) <= 1:
            for c in chunks:
                run(c)
            return outs
        workers = [threading.Thread(target=run, args=(c,)) for c in chunks[1:] if c]
        for t in workers:
            t.start()
        run(chunks[0])
        for t in workers:
            t.join()
        return outs

    def check_weights(self, weight: npt.ArrayLike) -> np.ndarray:
        """``weight`` as a contiguous float array, checked against free flow."""
        if weight is self._checked:  # the same live-weight array as the last query
            return weight  # type: ignore[return-value]
        w = np.ascontiguousarray(weight, dtype=np.float64)
        if w.shape != (self.graph.n_edges,):
            raise GraphError(f"weight has shape {w.shape}, expected ({self.graph.n_edges},)")
        if np.any(w < self.graph.free_flow_s * (1 - 1e-12)):
            raise GraphError("weight is below the free-flow time on some links")
        if w is weight and not w.flags.writeable:
            self._checked = w  # read-only: cannot change behind our back
        return w

    def shortest(
        self,
        weight: np.ndarray,
        s: int,
        t: int,
        lm: tuple[np.ndarray, np.ndarray] | None = None,
        eps: float = 1.0,
    ) -> tuple[float, np.ndarray]:
        """(cost [s], link indices) of a fastest path, (inf, []) when unreachable.

        ``weight`` must already be checked (:meth:`check_weights`): this is the hot
        path. ``lm``: landmark tables computed on weights <= ``weight`` (default:
        the free-flow tables). ``eps`` > 1: weighted A*, a good path rather than the
        shortest (used for alternatives only).
        """
        lm_from, lm_to = lm if lm is not None else (self.lm_from, self.lm_to)
        sc = self._local.__dict__.get("scratch")
        if sc is None:
            n, m = self.graph.n_nodes, self.graph.n_edges
            sc = self._local.scratch = (
                np.empty((2, n)), np.empty((2, n), dtype=np.int64),
                np.empty((2, n), dtype=np.bool_), np.empty((2, m + 2)),
                np.empty((2, m + 2), dtype=np.int64),
            )
        cost, path, settled = self._search(
            self.indptr, self.head, self.edge, self.rindptr, self.rhead, self.redge,
            self.tail, self.to, weight, lm_from, lm_to,
            np.int64(s), np.int64(t), np.int64(self.active), *sc, float(eps),
        )
        self.last_settled = int(settled)
        return float(cost), path

    def _path(self, edges: np.ndarray, weight: np.ndarray) -> Path:
        g = self.graph
        return Path(
            edges=edges,
            time_s=float(weight[edges].sum()),
            length_m=float(g.length_m[edges].sum()),
            free_flow_s=float(g.free_flow_s[edges].sum()),
        )

    def route(
        self,
        weight: npt.ArrayLike,
        s: int,
        t: int,
        *,
        alternatives: int = 0,
        max_stretch: float = ALT_MAX_STRETCH,
        max_overlap: float = ALT_MAX_OVERLAP,
        penalty: float = ALT_PENALTY,
        max_tries: int | None = None,
        lm: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[Path]:
        """The fastest path from node ``s`` to node ``t``, then up to ``alternatives`` more.

        Raises :class:`NoRouteError` when ``t`` cannot be reached from ``s``.
        ``lm``: landmark tables on weights <= ``weight`` (see :meth:`landmark_tables`).
        """
        w = self.check_weights(weight)
        cost, edges = self.shortest(w, s, t, lm)
        if not np.isfinite(cost):
            raise NoRouteError(f"node {t} cannot be reached from node {s}")
        routes = [self._path(edges, w)]
        if alternatives <= 0 or len(edges) == 0:
            return routes
        length = self.graph.length_m
        pen = w.copy()
        used = np.zeros(self.graph.n_edges, dtype=bool)
        used[edges] = True
        pen[edges] *= penalty
        kept_sets = [edges]
        tries = max_tries if max_tries is not None else alternatives + 2
        for _ in range(tries):
            if len(routes) > alternatives:
                break
            c, cand = self.shortest(pen, s, t, lm, eps=ALT_SEARCH_EPS)
            if not np.isfinite(c) or len(cand) == 0:
                break
            new = ~used[cand]
            pen[cand] *= penalty
            used[cand] = True
            if not new.any():
                continue
            p = self._path(cand, w)
            if p.time_s > max_stretch * routes[0].time_s:
                continue
            cand_len = p.length_m
            ok = True
            for kept in kept_sets:
                shared = length[np.intersect1d(cand, kept, assume_unique=False)].sum()
                if shared > max_overlap * cand_len:
                    ok = False
                    break
            if ok:
                routes.append(p)
                kept_sets.append(cand)
        return routes

    def one_to_many(self, weight: npt.ArrayLike, sources: npt.ArrayLike) -> np.ndarray:
        """Travel times [s] from each source node to every node, shape (n_sources, n_nodes)."""
        w = self.check_weights(weight)
        src = np.atleast_1d(np.asarray(sources, dtype=np.int64))
        return self._searches(w, [(True, src)])[0]

    def matrix(self, weight: npt.ArrayLike, nodes: npt.ArrayLike) -> np.ndarray:
        """Travel times [s] between the given nodes, shape (k, k); inf when unreachable."""
        idx = np.asarray(nodes, dtype=np.int64)
        if len(idx) == 0:
            return np.zeros((0, 0))
        return self.one_to_many(weight, idx)[:, idx]
