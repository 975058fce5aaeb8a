"""The road graph: plain arrays of nodes and directed links, CSR adjacency, snapping.

Everything downstream (routing, weights, the congestion map) works on these
arrays; :func:`traveler_info.network.graph_from_inventory` builds one from the
city inventory, tests and benchmarks build one directly.

Conventions: nodes on axis 0 of the node arrays, links (directed edges) on axis 0
of the edge arrays; lengths in metres, times in seconds, coordinates WGS84
degrees (``lon``, ``lat``), local planar metres (``x_m``, ``y_m``) from an
equirectangular projection about the network's centre (error < 0.1 % over a city).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.spatial import cKDTree

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG) [m]


class GraphError(ValueError):
    """The arrays do not describe a valid road graph."""


class SnapError(ValueError):
    """A coordinate cannot be placed on the road graph."""

    def __init__(self, reason: str, message: str, distance_m: float = float("nan")) -> None:
        super().__init__(message)
        self.reason = reason  # "outside" | "far" | "invalid"
        self.distance_m = distance_m


def _as_1d(name: str, a: npt.ArrayLike, n: int | None, dtype: type) -> np.ndarray:
    arr: np.ndarray = np.ascontiguousarray(np.asarray(a, dtype=dtype))
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = f"({n},)" if n is not None else "(n,)"
        raise GraphError(f"{name} has shape {arr.shape}, expected {want}")
    return arr


@dataclass
class RoadGraph:
    """A directed road graph as arrays.

    Parameters
    ----------
    node_lon, node_lat : node coordinates [deg], shape (n_nodes,)
    edge_from, edge_to : node index of each directed link's start and end, (n_edges,)
    length_m : link length [m], > 0
    free_flow_s : link free-flow travel time [s], > 0
    node_ids, edge_ids : external identifiers (inventory ids); default ``"n<i>"``/``"e<i>"``
    geom_offsets, geom_coords : optional link geometry, the points of link ``e`` are
        ``geom_coords[geom_offsets[e]:geom_offsets[e+1]]`` as (lon, lat) [deg];
        default: the straight segment between the link's nodes.
    names : optional street name per link (for turn-by-turn summaries)
    """

    node_lon: np.ndarray
    node_lat: np.ndarray
    edge_from: np.ndarray
    edge_to: np.ndarray
    length_m: np.ndarray
    free_flow_s: np.ndarray
    node_ids: list[str] = field(default_factory=list)
    edge_ids: list[str] = field(default_factory=list)
    geom_offsets: np.ndarray | None = None
    geom_coords: np.ndarray | None = None
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.node_lon = _as_1d("node_lon", self.node_lon, None, np.float64)
        n = self.node_lon.shape[0]
        self.node_lat = _as_1d("node_lat", self.node_lat, n, np.float64)
        self.edge_from = _as_1d("edge_from", self.edge_from, None, np.int64).astype(np.int32)
        m = self.edge_from.shape[0]
        self.edge_to = _as_1d("edge_to", self.edge_to, m, np.int64).astype(np.int32)
        self.length_m = _as_1d("length_m", self.length_m, m, np.float64)
        self.free_flow_s = _as_1d("free_flow_s", self.free_flow_s, m, np.float64)
        if n == 0:
            raise GraphError("the graph has no nodes")
        if not (np.all(np.isfinite(self.node_lon)) and np.all(np.isfinite(self.node_lat))):
            raise GraphError("node coordinates must be finite")
        for name, idx in (("edge_from", self.edge_from), ("edge_to", self.edge_to)):
            if m and (idx.min() < 0 or idx.max() >= n):
                raise GraphError(f"{name} refers to a node outside 0..{n - 1}")
        for name, arr in (("length_m", self.length_m), ("free_flow_s", self.free_flow_s)):
            if m and not np.all(np.isfinite(arr) & (arr > 0)):
                raise GraphError(f"{name} must be finite and > 0 on every link")
        if not self.node_ids:
            self.node_ids = [f"n{i}" for i in range(n)]
        if not self.edge_ids:
            self.edge_ids = [f"e{i}" for i in range(m)]
        if len(self.node_ids) != n or len(self.edge_ids) != m:
            raise GraphError("node_ids/edge_ids must have one id per node/link")
        if self.geom_offsets is None or self.geom_coords is None:
            pts = np.empty((2 * m, 2))
            pts[0::2, 0] = self.node_lon[self.edge_from]
            pts[0::2, 1] = self.node_lat[self.edge_from]
            pts[1::2, 0] = self.node_lon[self.edge_to]
            pts[1::2, 1] = self.node_lat[self.edge_to]
            self.geom_offsets = np.arange(0, 2 * m + 1, 2, dtype=np.int64)
            self.geom_coords = pts
        else:
            self.geom_offsets = np.asarray(self.geom_offsets, dtype=np.int64)
            self.geom_coords = np.asarray(self.geom_coords, dtype=np.float64).reshape(-1, 2)
            if self.geom_offsets.shape != (m + 1,):
                raise GraphError(
                    f"geom_offsets has shape {self.geom_offsets.shape}, expected ({m + 1},)"
                )
        if self.names and len(self.names) != m:
            raise GraphError("names must have one entry per link")
        self._id_to_node = {nid: i for i, nid in enumerate(self.node_ids)}
        self._id_to_edge = {eid: i for i, eid in enumerate(self.edge_ids)}

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        return int(self.node_lon.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_from.shape[0])

    def node_index(self, node_id: str) -> int:
        return self._id_to_node[node_id]

    def edge_index(self, edge_id: str) -> int:
        return self._id_to_edge[edge_id]

    # ------------------------------------------------------------- adjacency
    @cached_property
    def forward_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indptr, head node, edge index) of the out-links of every node."""
        return _csr(self.edge_from, self.edge_to, self.n_nodes)

    @cached_property
    def backward_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indptr, tail node, edge index) of the in-links of every node."""
        return _csr(self.edge_to, self.edge_from, self.n_nodes)

    def matrix(self, weight: npt.ArrayLike) -> sp.csr_array:
        """The weighted adjacency matrix (parallel links: the smallest weight)."""
        w = np.asarray(weight, dtype=np.float64)
        if w.shape != (self.n_edges,):
            raise GraphError(f"weight has shape {w.shape}, expected ({self.n_edges},)")
        if self.n_edges == 0:
            return sp.csr_array((self.n_nodes,) * 2)
        order, starts, i, j = self._pair_structure
        ww = np.minimum.reduceat(w[order], starts)
        return sp.csr_array((ww, (i, j)), shape=(self.n_nodes,) * 2)

    # ------------------------------------------------------------- geometry
    @cached_property
    def origin(self) -> tuple[float, float]:
        """(lon, lat) of the projection centre [deg]."""
        return float(np.mean(self.node_lon)), float(np.mean(self.node_lat))

    def project(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> np.ndarray:
        """Local planar (x_m, y_m) of WGS84 points, shape (..., 2) [m]."""
        lon0, lat0 = self.origin
        k = np.pi / 180.0 * EARTH_RADIUS_M
        x = (np.asarray(lon, dtype=np.float64) - lon0) * k * np.cos(np.radians(lat0))
        y = (np.asarray(lat, dtype=np.float64) - lat0) * k
        return np.stack([x, y], axis=-1)

    @cached_property
    def bbox(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of the nodes [deg]."""
        return (
            float(self.node_lon.min()),
            float(self.node_lat.min()),
            float(self.node_lon.max()),
            float(self.node_lat.max()),
        )

    @cached_property
    def link_midpoints(self) -> np.ndarray:
        """(lon, lat) of the middle point of each link's geometry, (n_edges, 2) [deg]."""
        assert self.geom_offsets is not None and self.geom_coords is not None
        n = np.diff(self.geom_offsets)
        lo = self.geom_offsets[:-1] + np.maximum(n - 1, 0) // 2
        hi = self.geom_offsets[:-1] + n // 2
        return 0.5 * (self.geom_coords[lo] + self.geom_coords[hi])

    @cached_property
    def _pair_structure(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Links sorted by (from, to), start of each distinct pair, and the pairs."""
        order = np.lexsort((self.edge_to, self.edge_from))
        i, j = self.edge_from[order], self.edge_to[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
        starts = np.flatnonzero(first)
        return order, starts, i[starts], j[starts]

    @cached_property
    def _bbox_xy(self) -> tuple[float, float, float, float]:
        x0, y0 = self.project(self.bbox[0], self.bbox[1])
        x1, y1 = self.project(self.bbox[2], self.bbox[3])
        return float(x0), float(y0), float(x1), float(y1)

    @cached_property
    def _trees(self) -> tuple[cKDTree, np.ndarray, cKDTree, np.ndarray]:
        xy = self.project(self.node_lon, self.node_lat)
        out_deg = np.bincount(self.edge_from, minlength=self.n_nodes)
        in_deg = np.bincount(self.edge_to, minlength=self.n_nodes)
        src = np.flatnonzero(out_deg > 0)
        dst = np.flatnonzero(in_deg > 0)
        if len(src) == 0:
            src = np.arange(self.n_nodes)
        if len(dst) == 0:
            dst = np.arange(self.n_nodes)
        return cKDTree(xy[src]), src, cKDTree(xy[dst]), dst

    def snap(
        self,
        lon: float,
        lat: float,
        *,
        role: str = "origin",
        max_distance_m: float = 1000.0,
        outside_margin_m: float = 2000.0,
    ) -> tuple[int, float]:
        """The nearest routable node to a point: (node index, distance [m]).

        ``role`` "origin" picks among nodes with an out-link, "destination" among
        nodes with an in-link. Raises :class:`SnapError` with ``reason``
        "invalid" (not a WGS84 coordinate), "outside" (beyond the network's
        bounding box plus ``outside_margin_m``) or "far" (no node within
        ``max_distance_m``).
        """
        if not (np.isfinite(lon) and np.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
            raise SnapError("invalid", f"({lon}, {lat}) is not a WGS84 longitude, latitude")
        x, y = self.project(lon, lat)
        x0, y0, x1, y1 = self._bbox_xy
        if not (
            x0 - outside_margin_m <= x <= x1 + outside_margin_m
            and y0 - outside_margin_m <= y <= y1 + outside_margin_m
        ):
            raise SnapError("outside", f"({lon:.6f}, {lat:.6f}) is outside the road network")
        tree_s, src, tree_d, dst = self._trees
        tree, ids = (tree_s, src) if role == "origin" else (tree_d, dst)
        d, k = tree.query([x, y])
        if d > max_distance_m:
            raise SnapError(
                "far",
                f"({lon:.6f}, {lat:.6f}) is {d:.0f} m from the nearest road node "
                f"(at most {max_distance_m:.0f} m)",
                float(d),
            )
        return int(ids[k]), float(d)

    def path_coords(self, edges: npt.ArrayLike) -> list[list[float]]:
        """The (lon, lat) polyline of a sequence of links, joints not repeated."""
        assert self.geom_offsets is not None and self.geom_coords is not None
        e = np.asarray(edges, dtype=np.int64)
        if len(e) == 0:
            return []
        starts = self.geom_offsets[e]
        lens = self.geom_offsets[e + 1] - starts
        seg0 = np.cumsum(lens) - lens  # position of each link's first point
        idx = np.arange(int(lens.sum())) - np.repeat(seg0 - starts, lens)
        pts = self.geom_coords[idx]
        keep = np.ones(len(pts), dtype=bool)
        first = seg0[1:][lens[1:] > 0]
        first = first[first > 0]
        joint = np.all(np.abs(pts[first] - pts[first - 1]) < 1e-9, axis=1)
        keep[first[joint]] = False
        return np.round(pts[keep], 6).tolist()  # type: ignore[no-any-return]


def _csr(tail: np.ndarray, head: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(tail, kind="stable").astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
    return indptr, np.ascontiguousarray(head[order]), order


def haversine_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> np.ndarray:
    """Great-circle distance [m] between WGS84 points [deg] (haversine formula)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))
