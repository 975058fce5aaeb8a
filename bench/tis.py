"""Traveler-information benchmark: routing latency vs networkx and rustworkx/igraph,
live-weight refresh time, and HTTP throughput of /v1/tis/route under uvicorn.

    python -m bench.tis                       # 10,000-intersection city, 1000 OD pairs
    python -m bench.tis --intersections 2000 --pairs 300 --http-seconds 5

The city comes from the inventory generator (``sim.city.generate_city``, cached as
JSON under --cache-dir: 10k intersections take about 45 s to generate), or
from ``--inventory FILE``. Live speeds are synthetic but shaped like the city's:
most links at 60-100 % of free flow, 3 % jammed, and a time-of-day profile with
morning and evening peaks. Every library routes the same origin-destination pairs
on the same live weights (parallel links reduced to the fastest for the
libraries that want a simple graph); costs are cross-checked.

The HTTP part runs uvicorn with the real app in one process and an asyncio
HTTP/1.1 keep-alive client with 32 connections in another (so nothing beyond
Python is needed). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from traveler_info.sources import StaticSpeeds
from traveler_info.weights import SLOTS_PER_DAY

DEFAULT_CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / "tlive-bench"


# --------------------------------------------------------------------------- city
def load_city(args: argparse.Namespace) -> Any:
    from hub.inventory import dump_inventory, load_inventory

    if args.inventory:
        return load_inventory(args.inventory), args.inventory
    if args.synthetic:
        return args.intersections, f"synthetic grid, {args.intersections} nodes (no generator)"
    path = Path(args.cache_dir) / f"city-{args.intersections}-{args.seed}.json"
    if path.exists():
        return load_inventory(path), str(path)
    from sim.city import generate_city

    print(f"generating a {args.intersections}-intersection city (cached in {path}) ...",
          flush=True)
    t0 = time.perf_counter()
    inv = generate_city(args.intersections, args.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    dump_inventory(inv, tmp, indent=None)
    tmp.rename(path)
    print(f"  generated in {time.perf_counter() - t0:.0f} s", flush=True)
    return inv, str(path)


def synthetic_speeds(free_flow_kmh: np.ndarray, seed: int) -> StaticSpeeds:
    """Live speeds and a two-peak time-of-day profile shaped like a real city's."""
    rng = np.random.default_rng(seed)
    n = len(free_flow_kmh)
    ratio = np.clip(rng.beta(5.0, 1.6, n), 0.1, 1.0)
    ratio[rng.random(n) < 0.03] = 0.15
    slots = np.arange(SLOTS_PER_DAY) / 4.0  # hours
    peak = np.exp(-(((slots - 7.5) / 1.2) ** 2)) + 0.8 * np.exp(-(((slots - 17.5) / 1.5) ** 2))
    sens = rng.uniform(0.2, 0.6, n)
    prof = free_flow_kmh[:, None] * np.clip(0.95 - sens[:, None] * peak[None, :], 0.1, 1.0)
    return StaticSpeeds(
        live_kmh=free_flow_kmh * ratio,
        live_age_s=rng.uniform(5.0, 120.0, n),
        profile_kmh=prof,
        profile_std_kmh=np.full_like(prof, 4.0),
    )


def build_service(inv: Any, seed: int) -> Any:
    from traveler_info.network import LinkInfo, graph_from_inventory
    from traveler_info.service import TravelerInfo

    if isinstance(inv, int):  # --synthetic: a jittered grid, no inventory (development only)
        from traveler_info.synthetic import grid_city

        g = grid_city(inv, seed)
        vf = g.length_m / g.free_flow_s * 3.6
        n = g.n_edges
        links = LinkInfo(vf, np.ones(n), np.full(n, 1800.0), ["local"] * n)
        return TravelerInfo(g, links, [], synthetic_speeds(vf, seed))
    _, links = graph_from_inventory(inv)
    return TravelerInfo.from_inventory(inv, synthetic_speeds(links.free_flow_kmh, seed))


# --------------------------------------------------------------------------- helpers
def pct(xs: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def time_pairs(fn: Any, pairs: np.ndarray) -> tuple[list[float], list[float]]:
    lat, costs = [], []
    for s, t in pairs:
        t0 = time.perf_counter()
        c = fn(int(s), int(t))
        lat.append((time.perf_counter() - t0) * 1000.0)
        costs.append(c)
    return lat, costs


def simple_edges(g: Any, w: np.ndarray) -> tuple[list[tuple[int, int, float]], np.ndarray]:
    """(u, v, w) with parallel links reduced to the fastest, and the kept link indices."""
    order = np.lexsort((w, g.edge_to, g.edge_from))
    u, v = g.edge_from[order], g.edge_to[order]
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    idx = order[keep]
    return list(zip(g.edge_from[idx].tolist(), g.edge_to[idx].tolist(), w[idx].tolist(),
                    strict=True)), idx


# --------------------------------------------------------------------------- HTTP
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(args: argparse.Namespace) -> None:
    """Subprocess mode: the real app on uvicorn, on the benchmark's city and speeds."""
    from api.main import create_app
    from api.server import run

    inv, _ = load_city(args)
    tis = build_service(inv, args.seed)
    del inv  # the service keeps arrays only
    tis.refresh(force=True)
    g = tis.graph
    tis.route((g.node_lon[0], g.node_lat[0]), (g.node_lon[1], g.node_lat[1]))  # JIT warm-up
    app = create_app(tis_service=tis, rate_limit_per_s=1e6, rate_limit_burst=10**6)
    run(app, "127.0.0.1", args.port, workers=args.workers)


async def _load(port: int, paths: list[bytes], conns: int, seconds: float) -> dict[str, Any]:
    lat: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < stop:
            path = paths[i % len(paths)]
            i += conns
            req = (b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Accept-Language: id\r\n\r\n")
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            lat.append((time.perf_counter() - t0) * 1000.0)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 200:
                errors += 1
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(conns)))
    wall = time.perf_counter() - t0
    return {
        "requests": len(lat),
        "seconds": wall,
        "rps": len(lat) / wall,
        "p50_ms": pct(lat, 50),
        "p95_ms": pct(lat, 95),
        "errors": errors,
        "statuses": statuses,
    }


def load(args: argparse.Namespace) -> None:
    """Subprocess mode: the load client; prints one JSON line."""
    paths = [p.encode() for p in json.loads(Path(args.paths_file).read_text())]
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    out = asyncio.run(_load(args.port, paths, args.connections, args.http_seconds))
    print(json.dumps(out))


def http_bench(args: argparse.Namespace, g: Any, pairs: np.ndarray) -> dict[str, Any]:
    port = free_port()
    me = [sys.executable, "-m", "bench.tis", "--intersections", str(args.intersections),
          "--seed", str(args.seed), "--cache-dir", str(args.cache_dir), "--port", str(port),
          "--workers", str(args.workers)]
    if args.inventory:
        me += ["--inventory", args.inventory]
    if args.synthetic:
        me += ["--synthetic"]
    server = subprocess.Popen(me + ["--mode", "serve"])
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the API server did not start") from None
                time.sleep(0.2)
        paths = [
            f"/v1/tis/route?origin_lat={g.node_lat[s]:.6f}&origin_lon={g.node_lon[s]:.6f}"
            f"&destination_lat={g.node_lat[t]:.6f}&destination_lon={g.node_lon[t]:.6f}"
            for s, t in pairs
        ]
        pf = Path(args.cache_dir) / f"paths-{port}.json"
        pf.write_text(json.dumps(paths))
        client = me + ["--mode", "load", "--paths-file", str(pf),
                       "--connections", str(args.connections)]
        # warm-up, then the measured run
        subprocess.run(client + ["--http-seconds", "2"], check=True, capture_output=True)
        res = subprocess.run(client + ["--http-seconds", str(args.http_seconds)], check=True,
                             capture_output=True, text=True)
        pf.unlink(missing_ok=True)
        return json.loads(res.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


# --------------------------------------------------------------------------- store
def store_refresh(inv: Any, refreshes: int) -> dict[str, Any]:
    """The full refresh, in steady state, with live speeds read from PostgreSQL.

    A throwaway database gets the city and 10 minutes of traffic, stored through
    the ingest path (``ingest.writer.store_messages``: readings plus the detectors'
    live state): an ATCS report a minute from every intersection and a GPS fix
    every 10 s from every truck. Then, ``refreshes`` times, one more minute of
    traffic is stored (not timed) and the clock moves on a minute before the timed
    refresh, which reads the whole live window from the store: what the service
    does every minute.
    """
    import json
    import uuid
    from datetime import UTC, datetime, timedelta

    from hub.db import connect, drop_database, ensure_database, migrate, with_database
    from hub.inventory import save_to_store
    from hub.settings import get_settings
    from hub.store import detect_store, ensure_partitions
    from ingest.contract import Kind, topic_for
    from ingest.writer import store_messages
    from traveler_info.service import TravelerInfo

    url = with_database(get_settings().database_url, f"tlive_bench_{uuid.uuid4().hex[:8]}")
    ensure_database(url)
    rng = np.random.default_rng(0)
    start = datetime.now(UTC) - timedelta(minutes=10)

    def minute(k: int) -> Any:
        """Minute ``k`` after ``start``: every intersection's report, every truck's fixes."""
        t = start + timedelta(minutes=k)
        ts = (t + timedelta(seconds=30)).isoformat()
        for it in inv.intersections:
            if not it.detectors:
                continue
            n = len(it.detectors)
            mc, lv, spd = rng.integers(5, 40, n), rng.integers(1, 15, n), rng.uniform(8, 50, n)
            dets = [
                {"detector_id": d.id, "approach": d.approach, "lane": max(d.lane, 0),
                 "mc": int(mc[i]), "lv": int(lv[i]), "hv": 1, "um": 0,
                 "occupancy_pct": 12.0, "speed_kmh": round(float(spd[i]), 1)}
                for i, d in enumerate(it.detectors)
            ]
            yield topic_for(Kind.DETECTORS, it.id), json.dumps(
                {"seq": k, "ts": ts, "interval_s": 60, "detectors": dets}).encode()
        for v in inv.vehicles:  # each truck drives along a link: a fix every 10 s
            c = inv.links[int(rng.integers(len(inv.links)))].geometry.coordinates
            (lon0, lat0), (lon1, lat1) = c[0], c[-1]
            heading = float(np.degrees(np.arctan2(
                (lon1 - lon0) * np.cos(np.radians(lat0)), lat1 - lat0)) % 360.0)
            for j in range(6):
                f = (j + 0.5) / 6
                yield topic_for(Kind.GPS, v.id), json.dumps(
                    {"seq": 6 * k + j, "ts": (t + timedelta(seconds=10 * j + 5)).isoformat(),
                     "lat": lat0 + f * (lat1 - lat0), "lon": lon0 + f * (lon1 - lon0),
                     "speed_kmh": 25.0, "heading_deg": round(heading, 1)}).encode()

    try:
        with connect(url) as conn:
            migrate(conn)
            t0 = time.perf_counter()
            save_to_store(conn, inv)
            load_s = time.perf_counter() - t0
            store = detect_store(conn)
            end = start + timedelta(minutes=10 + refreshes + 1)
            if store.backend == "native":
                ensure_partitions(conn, {start.date(), end.date()})
            now = start + timedelta(minutes=10)
            t0 = time.perf_counter()
            res = store_messages(conn, store, (m for k in range(10) for m in minute(k)), now=now)
            ingest_s = time.perf_counter() - t0
            if res.dead_letters:
                raise SystemExit(f"{res.dead_letters} of the bench's messages were refused")
            conn.execute("ANALYZE")  # what autovacuum does to a live store
            tis = TravelerInfo.from_store(url)
            tis.refresh(now, force=True)
            times = []
            for k in range(10, 10 + refreshes):
                now = start + timedelta(minutes=k + 1)
                store_messages(conn, store, minute(k), now=now)
                t0 = time.perf_counter()
                tis.refresh(now, force=True)
                times.append((time.perf_counter() - t0) * 1000.0)
        return {"refresh_store_ms": float(np.median(times)), "messages": res.messages,
                "readings": res.per_table.get("detector_reading", 0),
                "gps_fixes": res.per_table.get("gps_position", 0),
                "inventory_load_s": load_s, "ingest_s": ingest_s,
                "sources": tis.state.weights.counts()}
    finally:
        drop_database(url)


# --------------------------------------------------------------------------- main
def main_bench(args: argparse.Namespace) -> dict[str, Any]:
    from traveler_info.routing import Router

    t0 = time.perf_counter()
    inv, source = load_city(args)
    print(f"city: {source} ({time.perf_counter() - t0:.1f} s to load)")
    t0 = time.perf_counter()
    tis = build_service(inv, args.seed)
    build_s = time.perf_counter() - t0
    g = tis.graph
    print(f"graph: {g.n_nodes} nodes, {g.n_edges} links; service built in {build_s:.2f} s "
          f"({len(tis.router.landmarks)} landmarks, {len(tis.places)} places)")

    # refresh: live estimates -> weights, congestion indicators, matrix, alerts
    tis.refresh(force=True)
    ref = []
    for _ in range(args.refreshes):
        t0 = time.perf_counter()
        tis.refresh(force=True)
        ref.append((time.perf_counter() - t0) * 1000.0)
    refresh_ms = float(np.median(ref))
    st = tis.state
    print(f"refresh: median {refresh_ms:.1f} ms over {args.refreshes} "
          f"(sources {st.weights.counts()}, {len(st.alerts)} alerts)")

    w = st.weights.time_s
    rng = np.random.default_rng(args.seed + 1)
    pairs = rng.integers(0, g.n_nodes, size=(args.pairs, 2))
    router: Router = tis.router
    cw = router.check_weights(w)
    router.shortest(cw, 0, 1, st.landmarks)  # JIT compile / load from cache

    lm = st.landmarks  # landmark tables on this refresh's weights, as the service uses

    def ours(s: int, t: int) -> float:
        return router.route(cw, s, t, lm=lm)[0].time_s if s != t else 0.0

    from traveler_info.routing import NoRouteError

    def ours_safe(s: int, t: int) -> float:
        try:
            return ours(s, t)
        except NoRouteError:
            return float("inf")

    lat_ours, cost_ours = time_pairs(ours_safe, pairs)
    print(f"ours (bidirectional ALT, numba): p50 {pct(lat_ours, 50):.3f} ms, "
          f"p95 {pct(lat_ours, 95):.3f} ms")

    # the full app query: snapping, alternatives (2), advice, JSON-ready dict
    sub = pairs[: min(200, len(pairs))]
    lat_full, _ = time_pairs(
        lambda s, t: tis.route((g.node_lon[s], g.node_lat[s]), (g.node_lon[t], g.node_lat[t])),
        sub,
    )
    print(f"full route query (2 alternatives, advice, geometry): p50 {pct(lat_full, 50):.2f} ms,"
          f" p95 {pct(lat_full, 95):.2f} ms over {len(sub)} pairs")

    edges, _ = simple_edges(g, w)
    results: dict[str, tuple[list[float], list[float]]] = {}

    import networkx as nx

    G = nx.DiGraph()
    G.add_nodes_from(range(g.n_nodes))
    G.add_weighted_edges_from(edges)

    def nx_route(s: int, t: int) -> float:
        try:
            p = nx.shortest_path(G, s, t, weight="weight")
        except nx.NetworkXNoPath:
            return float("inf")
        return float(sum(G[a][b]["weight"] for a, b in zip(p[:-1], p[1:], strict=True)))

    results["networkx"] = time_pairs(nx_route, pairs)

    try:
        import rustworkx as rx

        R = rx.PyDiGraph()
        R.add_nodes_from(range(g.n_nodes))
        R.add_edges_from(edges)

        def rx_route(s: int, t: int) -> float:
            paths = rx.dijkstra_shortest_paths(R, s, target=t, weight_fn=float)
            if t not in paths:
                return float("inf") if s != t else 0.0
            p = list(paths[t])
            return float(sum(R.get_edge_data(a, b) for a, b in zip(p[:-1], p[1:], strict=True)))

        results["rustworkx"] = time_pairs(rx_route, pairs)
    except ImportError:
        print("rustworkx not installed")
    try:
        import igraph as ig

        Gi = ig.Graph(n=g.n_nodes, edges=[(a, b) for a, b, _ in edges], directed=True)
        wl = [c for _, _, c in edges]
        Gi.es["weight"] = wl

        def ig_route(s: int, t: int) -> float:
            ep = Gi.get_shortest_path(s, t, weights="weight", output="epath")
            if not ep and s != t:
                return float("inf")
            return float(sum(wl[e] for e in ep))

        results["igraph"] = time_pairs(ig_route, pairs)
    except ImportError:
        print("igraph not installed")

    ours_arr = np.array(cost_ours)
    for name, (lat, costs) in results.items():
        c = np.array(costs)
        both = np.isfinite(c) & np.isfinite(ours_arr)
        agree = bool(np.all(np.isfinite(c) == np.isfinite(ours_arr))) and bool(
            np.allclose(c[both], ours_arr[both], rtol=1e-6)
        )
        print(f"{name}: p50 {pct(lat, 50):.3f} ms, p95 {pct(lat, 95):.3f} ms; "
              f"same costs as ours: {agree}")
        if not agree:
            raise SystemExit(f"{name} disagrees with our routes: a bug somewhere")

    p95 = pct(lat_ours, 95)
    fast = {k: pct(v[0], 95) for k, v in results.items() if k != "networkx"}
    fast_name = min(fast, key=lambda k: fast[k]) if fast else None

    store: dict[str, Any] = {}
    if args.store:
        store = store_refresh(inv, max(5, args.refreshes))
        print(f"refresh with live speeds read from PostgreSQL ({store['readings']:,} readings and "
              f"{store['gps_fixes']:,} GPS fixes in the live window, stored through ingest in "
              f"{store['ingest_s']:.0f} s; sources {store['sources']}): "
              f"median {store['refresh_store_ms']:.1f} ms")

    http: dict[str, Any] = {}
    if args.http_seconds > 0:
        http = http_bench(args, g, pairs)
        print(f"HTTP /v1/tis/route, {args.connections} connections, {http['seconds']:.1f} s: "
              f"{http['rps']:.0f} req/s, p50 {http['p50_ms']:.1f} ms, p95 {http['p95_ms']:.1f} ms,"
              f" statuses {http['statuses']}")

    return {
        "nodes": g.n_nodes,
        "edges": g.n_edges,
        "pairs": int(len(pairs)),
        "route_p50_ms": round(pct(lat_ours, 50), 4),
        "route_p95_ms": round(p95, 4),
        "full_query_p95_ms": round(pct(lat_full, 95), 3),
        "networkx_p95_ms": round(pct(results["networkx"][0], 95), 3),
        "fast_lib": fast_name,
        "fast_lib_p95_ms": round(fast[fast_name], 4) if fast_name else None,
        "vs_networkx": round(p95 / pct(results["networkx"][0], 95), 4),
        "vs_fast_lib": round(p95 / fast[fast_name], 4) if fast_name else None,
        # the full refresh, reading the live state from PostgreSQL (with --store);
        # refresh_compute_ms: the same refresh on speeds already in memory
        "refresh_ms": round(store["refresh_store_ms"] if store else refresh_ms, 2),
        "refresh_source": "postgresql" if store else "memory",
        "refresh_compute_ms": round(refresh_ms, 2),
        "http_rps": round(http.get("rps", 0.0), 1),
        "http_p95_ms": round(http.get("p95_ms", float("nan")), 2),
        "http_errors": http.get("errors"),
        "http_connections": args.connections,
        "http_workers": args.workers,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--intersections", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--inventory", help="use this inventory file instead of the generator")
    ap.add_argument("--cache-dir", default=str(DEFAULT_CACHE))
    ap.add_argument("--synthetic", action="store_true",
                    help="a jittered grid instead of the inventory generator (development)")
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--refreshes", type=int, default=10)
    ap.add_argument("--http-seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--store", action=argparse.BooleanOptionalAction, default=True,
                    help="also time the refresh reading live speeds from PostgreSQL")
    ap.add_argument("--mode", choices=("bench", "serve", "load"), default="bench",
                    help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--paths-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode == "serve":
        serve(args)
        return
    if args.mode == "load":
        load(args)
        return
    out = main_bench(args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
