"""Routing against networkx and the scalar reference Dijkstra on small random graphs."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traveler_info._reference import dijkstra_path, is_path, path_cost
from traveler_info.graph import GraphError, RoadGraph, SnapError
from traveler_info.routing import NoRouteError, Router
from traveler_info.synthetic import grid_city


@st.composite
def random_graphs(draw: st.DrawFn) -> tuple[RoadGraph, np.ndarray, int, int, int]:
    n = draw(st.integers(2, 14))
    m = draw(st.integers(0, 45))
    frm = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    to = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    ff = draw(st.lists(st.floats(1.0, 100.0), min_size=m, max_size=m))
    factor = draw(st.lists(st.floats(1.0, 5.0), min_size=m, max_size=m))
    s = draw(st.integers(0, n - 1))
    t = draw(st.integers(0, n - 1))
    k = draw(st.integers(0, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    g = RoadGraph(
        node_lon=106.6 + rng.random(n) * 0.05,
        node_lat=-6.2 + rng.random(n) * 0.05,
        edge_from=np.array(frm, dtype=np.int64),
        edge_to=np.array(to, dtype=np.int64),
        length_m=np.array(ff) * 10.0,
        free_flow_s=np.array(ff),
    )
    w = np.array(ff) * np.array(factor)
    return g, w, s, t, k


def _networkx_cost(g: RoadGraph, w: np.ndarray, s: int, t: int) -> float:
    G = nx.MultiDiGraph()
    G.add_nodes_from(range(g.n_nodes))
    for e in range(g.n_edges):
        G.add_edge(int(g.edge_from[e]), int(g.edge_to[e]), weight=float(w[e]))
    try:
        return float(nx.dijkstra_path_length(G, s, t, weight="weight"))
    except nx.NetworkXNoPath:
        return math.inf


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_fastest_route_matches_networkx_and_reference(case) -> None:
    g, w, s, t, k = case
    router = Router(g, landmarks=k)
    expected = _networkx_cost(g, w, s, t)
    ref_cost, _ = dijkstra_path(
        g.n_nodes, g.edge_from.tolist(), g.edge_to.tolist(), w.tolist(), s, t
    )
    assert ref_cost == pytest.approx(expected) or (math.isinf(ref_cost) and math.isinf(expected))
    for r in (router, Router(g, landmarks=router.landmarks, compiled=False)):
        cost, path = r.shortest(r.check_weights(w), s, t)
        if math.isinf(expected):
            assert math.isinf(cost) and len(path) == 0
            with pytest.raises(NoRouteError):
                r.route(w, s, t)
            continue
        assert cost == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert is_path(path.tolist(), g.edge_from.tolist(), g.edge_to.tolist(), s, t)
        assert path_cost(path.tolist(), w.tolist()) == pytest.approx(cost, rel=1e-9, abs=1e-9)
    # landmark tables on the live weights: exact for them, valid for any higher weights
    lm = router.landmark_tables(w)
    raised = w * np.linspace(1.0, 2.0, len(w)) if len(w) else w
    for ww in (w, raised):
        want = _networkx_cost(g, ww, s, t)
        cost, path = router.shortest(router.check_weights(ww), s, t, lm)
        if math.isinf(want):
            assert math.isinf(cost)
        else:
            assert cost == pytest.approx(want, rel=1e-9, abs=1e-9)
            assert path_cost(path.tolist(), ww.tolist()) == pytest.approx(cost, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(random_graphs())
def test_alternatives_are_valid_and_different(case) -> None:
    g, w, s, t, k = case
    router = Router(g, landmarks=k)
    if math.isinf(_networkx_cost(g, w, s, t)):
        return
    routes = router.route(w, s, t, alternatives=3)
    assert 1 <= len(routes) <= 4
    best = routes[0].time_s
    assert best == pytest.approx(_networkx_cost(g, w, s, t), rel=1e-9, abs=1e-9)
    for p in routes:
        assert is_path(p.edges.tolist(), g.edge_from.tolist(), g.edge_to.tolist(), s, t)
        assert p.time_s == pytest.approx(float(w[p.edges].sum()))
        assert p.time_s <= 1.4 * best + 1e-9
        assert p.free_flow_s <= p.time_s + 1e-9
    for i, a in enumerate(routes[1:], start=1):
        for b in routes[:i]:
            shared = g.length_m[np.intersect1d(a.edges, b.edges)].sum()
            assert shared <= 0.6 * a.length_m + 1e-9


def test_grid_city_routes_match_scipy() -> None:
    from scipy.sparse.csgraph import dijkstra

    g = grid_city(900, seed=5)
    rng = np.random.default_rng(5)
    w = g.free_flow_s / np.clip(rng.beta(5, 1.6, g.n_edges), 0.1, 1.0)
    router = Router(g)
    sources = rng.integers(0, g.n_nodes, 10)
    d = dijkstra(g.matrix(w), indices=sources)
    for i, s in enumerate(sources):
        for t in rng.integers(0, g.n_nodes, 20):
            cost, path = router.shortest(w, int(s), int(t))
            assert cost == pytest.approx(d[i, t], rel=1e-9)
    np.testing.assert_allclose(router.matrix(w, sources), d[:, sources])


def test_multi_alternatives_on_a_grid() -> None:
    g = grid_city(400, seed=2)
    router = Router(g)
    routes = router.route(g.free_flow_s * 1.2, 0, g.n_nodes - 1, alternatives=3)
    assert len(routes) >= 2  # a grid has many near-equal routes


def test_weights_below_free_flow_are_refused() -> None:
    g = grid_city(25, seed=1)
    router = Router(g)
    with pytest.raises(GraphError, match="below the free-flow"):
        router.route(g.free_flow_s * 0.5, 0, 3)
    with pytest.raises(GraphError, match="shape"):
        router.route(g.free_flow_s[:-1], 0, 3)


def test_snap_errors_and_geometry() -> None:
    g = grid_city(100, seed=1)
    node, dist = g.snap(float(g.node_lon[7]) + 1e-5, float(g.node_lat[7]))
    assert node == 7 and dist < 5
    with pytest.raises(SnapError) as e:
        g.snap(float("nan"), -6.2)
    assert e.value.reason == "invalid"
    with pytest.raises(SnapError) as e:
        g.snap(110.0, -7.5)  # Yogyakarta, not Tangerang
    assert e.value.reason == "outside"
    lon0, lat0, lon1, lat1 = g.bbox
    with pytest.raises(SnapError) as e:
        g.snap(lon1 + 0.012, lat1 + 0.012, max_distance_m=500)  # ~1.3 km beyond the corner
    assert e.value.reason == "far"
    cost, path = Router(g).shortest(g.free_flow_s, 0, 99)
    coords = g.path_coords(path)
    assert coords[0] == [round(g.node_lon[0], 6), round(g.node_lat[0], 6)]
    assert coords[-1] == [round(g.node_lon[99], 6), round(g.node_lat[99], 6)]
    assert len(coords) == len(path) + 1


def test_graph_validation_names_the_argument() -> None:
    with pytest.raises(GraphError, match="edge_to"):
        RoadGraph([0.0, 1.0], [0.0, 1.0], [0], [5], [1.0], [1.0])
    with pytest.raises(GraphError, match="length_m"):
        RoadGraph([0.0, 1.0], [0.0, 1.0], [0], [1], [-1.0], [1.0])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(), st.integers(1, 3))
def test_one_to_all_tables_match_networkx_on_any_thread_count(case, threads) -> None:
    """The refresh's landmark tables and place matrix (compiled one-to-all searches,
    rows spread over threads) equal networkx's distances, parallel links included."""
    g, w, s, t, k = case
    r = Router(g, landmarks=min(k, g.n_nodes))
    G = nx.MultiDiGraph()
    G.add_nodes_from(range(g.n_nodes))
    for e in range(g.n_edges):
        G.add_edge(int(g.edge_from[e]), int(g.edge_to[e]), weight=float(w[e]))
    sources = np.array(sorted({s, t, 0}), dtype=np.int64)
    fwd, back = r._searches(w, [(True, sources), (False, sources)], threads=threads)
    for i, src in enumerate(sources):
        d_from = nx.single_source_dijkstra_path_length(G, int(src), weight="weight")
        d_to = nx.single_source_dijkstra_path_length(G.reverse(), int(src), weight="weight")
        for v in range(g.n_nodes):
            assert fwd[i, v] == pytest.approx(d_from.get(v, math.inf))
            assert back[i, v] == pytest.approx(d_to.get(v, math.inf))
    interpreted = Router(g, landmarks=r.landmarks, compiled=False)
    for a, b in zip(r.landmark_tables(w), interpreted.landmark_tables(w), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(r.matrix(w, sources), interpreted.matrix(w, sources), rtol=1e-12)
