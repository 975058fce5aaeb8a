"""Synthetic city generator: a plausible Kota Tangerang inventory for any number of intersections.

``generate_city(n_intersections, seed)`` lays out an irregular arterial grid (jittered
nodes, a few missing and diagonal links, curved geometry) inside Kota Tangerang's
extent, names its intersections after the streets crossing there and its districts
after the city's 13 kecamatan, gives every intersection approaches with lanes and
widths, phases, detectors and a fixed plan, puts parking lots beside the arterials,
and builds the waste fleet: depots, the TPA Rawa Kucing landfill, pickup points (TPS)
and one collection route per truck through its pickups to the landfill and back.

Everything is deterministic under ``seed``. The result is marked ``approximate``: the
layout is synthetic; street and district names are real, their placement is not.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from hub.inventory import (
    Approach,
    Bay,
    CollectionRoute,
    Depot,
    Detector,
    FixedPlan,
    Intersection,
    Inventory,
    Landfill,
    Lane,
    LineString,
    Link,
    Lot,
    Node,
    Phase,
    PickupPoint,
    Tariff,
    Vehicle,
    bearing_deg,
    haversine_m,
    point_along,
    polyline_length_m,
)

# Kota Tangerang's extent (approximate bounding box of the city boundary) [deg]
EXTENT = {"lat_min": -6.255, "lat_max": -6.120, "lon_min": 106.565, "lon_max": 106.735}
CITY_CENTRE = (-6.1783, 106.6319)  # Alun-alun Kota Tangerang (approx.) [lat, lon]

# The 13 kecamatan of Kota Tangerang with approximate centroids [lat, lon]
KECAMATAN: dict[str, tuple[float, float]] = {
    "Tangerang": (-6.1783, 106.6319),
    "Batuceper": (-6.1580, 106.6620),
    "Benda": (-6.1270, 106.6830),
    "Cibodas": (-6.2050, 106.6000),
    "Ciledug": (-6.2330, 106.7120),
    "Cipondoh": (-6.1870, 106.6720),
    "Jatiuwung": (-6.1980, 106.5800),
    "Karangtengah": (-6.2150, 106.7100),
    "Karawaci": (-6.1750, 106.6080),
    "Larangan": (-6.2350, 106.7350),
    "Neglasari": (-6.1400, 106.6500),
    "Periuk": (-6.1800, 106.5750),
    "Pinang": (-6.2280, 106.6700),
}

# TPA Rawa Kucing, Kedaung Wetan, Neglasari (approximate location from public maps)
TPA_RAWA_KUCING = (-6.1206, 106.6447)

# Real Tangerang street names, placed synthetically
EW_STREETS = (
    "Jl. Daan Mogot", "Jl. Jenderal Sudirman", "Jl. MH Thamrin", "Jl. Imam Bonjol",
    "Jl. KH Hasyim Ashari", "Jl. Ciledug Raya", "Jl. Perintis Kemerdekaan", "Jl. Gatot Subroto",
    "Jl. Teuku Umar", "Jl. Benteng Betawi", "Jl. Husein Sastranegara", "Jl. Marsekal Suryadarma",
    "Jl. Raden Saleh", "Jl. Veteran", "Jl. Ki Samaun", "Jl. Aria Santika", "Jl. Pembangunan",
    "Jl. Otto Iskandar Dinata", "Jl. HOS Cokroaminoto", "Jl. Prabu Kian Santang",
)
NS_STREETS = (
    "Jl. Halim Perdana Kusuma", "Jl. Moh. Toha", "Jl. Syech Nawawi Al Bantani", "Jl. Juanda",
    "Jl. Kisamaun", "Jl. Otista", "Jl. Merdeka", "Jl. Pajajaran", "Jl. Hasyim Ashari Raya",
    "Jl. Dr. Sitanala", "Jl. Cipete Raya", "Jl. Gatot Subroto Cadas", "Jl. Karyawan",
    "Jl. Maulana Hasanudin", "Jl. Raya Serpong", "Jl. Taman Cibodas", "Jl. Bouraq",
    "Jl. Iskandar Muda", "Jl. Sultan Ageng Tirtayasa", "Jl. Kyai Maja",
)

# Link parameters by road class
ROAD_CLASS = {
    # lanes per direction, speed limit [km/h], lane width [m]
    "arterial": (3, 60.0, 3.5),
    "collector": (2, 50.0, 3.25),
    "local": (1, 40.0, 3.0),
}
# PKJI 2023 (Pedoman Kapasitas Jalan Indonesia) urban base capacity of a divided road,
# per lane [pcu/h]; passenger-car equivalents: motorcycle 0.25, light 1.0, heavy 1.2.
BASE_CAPACITY_PCU_H_LANE = 1650.0
MIX = {"mc": 0.70, "lv": 0.27, "hv": 0.03}  # vehicle shares on Tangerang arterials (approx.)
PCU = {"mc": 0.25, "lv": 1.0, "hv": 1.2}
MEAN_PCU_PER_VEH = sum(MIX[k] * PCU[k] for k in MIX)
METRES_PER_DEG_LAT = 111_320.0
NOMINAL_SPACING_M = 950.0  # arterial-grid spacing in Tangerang (approx.)

LOT_KINDS = ("on_street", "mall", "market", "office", "hospital", "station", "park")
LOT_KIND_P = (0.40, 0.15, 0.15, 0.12, 0.08, 0.05, 0.05)
LOT_CAPACITY = {
    "on_street": (10, 40), "mall": (150, 400), "market": (40, 150), "office": (50, 200),
    "hospital": (50, 200), "station": (40, 150), "park": (20, 80),
}
# Retribusi parkir (approximate Kota Tangerang figures) [IDR]
TARIFFS = {
    "on_street": Tariff(car_first_hour_idr=3000, car_next_hour_idr=2000, mc_first_hour_idr=2000,
                        mc_next_hour_idr=1000, daily_max_idr=None),
    "off_street": Tariff(car_first_hour_idr=5000, car_next_hour_idr=4000, mc_first_hour_idr=3000,
                         mc_next_hour_idr=2000, daily_max_idr=50000),
}
TRUCKS = {  # kind: (capacity [kg], share)
    "compactor": (8000.0, 0.5),
    "dump_truck": (6000.0, 0.35),
    "arm_roll": (7000.0, 0.15),
}
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def nearest_kecamatan(lat: float, lon: float) -> str:
    names = list(KECAMATAN)
    c = np.array([KECAMATAN[k] for k in names])
    d = (c[:, 0] - lat) ** 2 + ((c[:, 1] - lon) * math.cos(math.radians(lat))) ** 2
    return names[int(np.argmin(d))]


def _grid_shape(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n * 1.25)))
    rows = math.ceil(n / cols)
    return rows, cols


def _connected(n: int, edges: set[tuple[int, int]]) -> bool:
    adj: dict[int, list[int]] = {i: [] for i in range(n)}
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    seen = {0}
    q = deque([0])
    while q:
        u = q.popleft()
        for v in adj[u]:
            if v not in seen:
                seen.add(v)
                q.append(v)
    return len(seen) == n


def _compass(bearing: float) -> str:
    return COMPASS[int(((bearing + 22.5) % 360) // 45)]


def generate_city(n_intersections: int, seed: int = 0, *, name: str | None = None) -> Inventory:
    """A synthetic, plausible Kota Tangerang inventory with ``n_intersections`` signals."""
    if n_intersections < 2:
        raise ValueError(f"n_intersections must be at least 2, got {n_intersections}")
    rng = np.random.default_rng(seed)
    n = n_intersections
    rows, cols = _grid_shape(n)

    # --- nodes on a jittered grid, centred on the city centre, inside the extent
    lat_span = EXTENT["lat_max"] - EXTENT["lat_min"]
    lon_span = EXTENT["lon_max"] - EXTENT["lon_min"]
    m_per_deg_lon = METRES_PER_DEG_LAT * math.cos(math.radians(CITY_CENTRE[0]))
    dlat = min(NOMINAL_SPACING_M / METRES_PER_DEG_LAT, lat_span * 0.92 / max(rows - 1, 1))
    dlon = min(NOMINAL_SPACING_M / m_per_deg_lon, lon_span * 0.92 / max(cols - 1, 1))
    lat0 = min(max(CITY_CENTRE[0] + dlat * (rows - 1) / 2, EXTENT["lat_min"] + dlat * (rows - 1)),
               EXTENT["lat_max"]) - 0.002 * (rows > 1)
    lon0 = max(min(CITY_CENTRE[1] - dlon * (cols - 1) / 2, EXTENT["lon_max"] - dlon * (cols - 1)),
               EXTENT["lon_min"]) + 0.002 * (cols > 1)
    cells = [(r, c) for r in range(rows) for c in range(cols)][:n]
    cell_idx = {rc: k for k, rc in enumerate(cells)}
    jitter = rng.uniform(-0.22, 0.22, size=(n, 2))
    lat = np.array([lat0 - r * dlat for r, _ in cells]) + jitter[:, 0] * dlat
    lon = np.array([lon0 + c * dlon for _, c in cells]) + jitter[:, 1] * dlon
    lat = np.clip(lat, EXTENT["lat_min"], EXTENT["lat_max"])
    lon = np.clip(lon, EXTENT["lon_min"], EXTENT["lon_max"])
    ids = [f"TNG-{k + 1:04d}" for k in range(n)]

    # --- undirected road segments: grid neighbours, some removed, some diagonals
    edges: set[tuple[int, int]] = set()
    for (r, c), k in cell_idx.items():
        for rc in ((r, c + 1), (r + 1, c)):
            if rc in cell_idx:
                edges.add((k, cell_idx[rc]))
    removable = sorted(edges)
    rng.shuffle(removable)
    for e in removable[: int(0.12 * len(edges))]:
        trial = edges - {e}
        if _connected(n, trial):
            edges = trial
    for (r, c), k in cell_idx.items():
        if rng.random() < 0.06 and (r + 1, c + 1) in cell_idx:
            anti = (cell_idx.get((r, c + 1)), cell_idx.get((r + 1, c)))
            if None not in anti and tuple(sorted(anti)) in edges:  # type: ignore[arg-type]
                continue  # would cross the other diagonal's street
            edges.add((k, cell_idx[(r + 1, c + 1)]))

    row_street = {r: EW_STREETS[r % len(EW_STREETS)] for r in range(rows)}
    col_street = {c: NS_STREETS[c % len(NS_STREETS)] for c in range(cols)}

    def road_class(a: int, b: int) -> str:
        (ra, ca), (rb, cb) = cells[a], cells[b]
        if ra == rb:
            return "arterial" if ra % 3 == 0 else ("collector" if ra % 3 == 1 else "local")
        if ca == cb:
            return "arterial" if ca % 3 == 0 else ("collector" if ca % 3 == 1 else "local")
        return "collector"

    def street(a: int, b: int) -> str:
        (ra, ca), (rb, cb) = cells[a], cells[b]
        if ra == rb:
            return row_street[ra]
        if ca == cb:
            return col_street[ca]
        return f"Jl. Raya {nearest_kecamatan(lat[a], lon[a])}"

    links: list[Link] = []
    for a, b in sorted(edges):
        rc = road_class(a, b)
        lanes, limit, _w = ROAD_CLASS[rc]
        if rc != "local" and rng.random() < 0.2:
            lanes -= 1
        bend = rng.uniform(-0.04, 0.04)
        mid_lat = (lat[a] + lat[b]) / 2 - bend * (lon[b] - lon[a])
        mid_lon = (lon[a] + lon[b]) / 2 + bend * (lat[b] - lat[a])
        coords = [
            (round(float(lon[a]), 6), round(float(lat[a]), 6)),
            (round(float(mid_lon), 6), round(float(mid_lat), 6)),
            (round(float(lon[b]), 6), round(float(lat[b]), 6)),
        ]
        length = round(polyline_length_m(coords), 1)
        for (u, v), geom in (((a, b), coords), ((b, a), coords[::-1])):
            free_flow = round(limit * float(rng.uniform(0.78, 0.95)), 1)
            width_factor = {3.5: 1.0, 3.25: 0.96, 3.0: 0.92}[ROAD_CLASS[rc][2]]
            cap = round(lanes * BASE_CAPACITY_PCU_H_LANE * width_factor / MEAN_PCU_PER_VEH, 0)
            links.append(
                Link(
                    id=f"L{len(links) + 1:05d}",
                    name=street(a, b),
                    from_node=ids[u],
                    to_node=ids[v],
                    geometry=LineString(coordinates=geom),
                    length_m=length,
                    lanes=lanes,
                    speed_limit_kmh=limit,
                    free_flow_kmh=free_flow,
                    capacity_veh_h=cap,
                    road_class=rc,  # type: ignore[arg-type]
                )
            )

    nodes = [
        Node(id=ids[k], lat=round(float(lat[k]), 6), lon=round(float(lon[k]), 6))
        for k in range(n)
    ]
    node_pos = {nd.id: (nd.lat, nd.lon) for nd in nodes}
    incoming: dict[str, list[Link]] = {i: [] for i in ids}
    outgoing: dict[str, list[Link]] = {i: [] for i in ids}
    for ln in links:
        incoming[ln.to_node].append(ln)
        outgoing[ln.from_node].append(ln)

    intersections = [
        _intersection(k, ids[k], node_pos, incoming[ids[k]], outgoing[ids[k]], rng, cells,
                      row_street, col_street)
        for k in range(n)
    ]
    lots = _lots(links, rng, max(2, round(n / 4)))
    fleet = _fleet(ids, nodes, links, rng, n)
    return Inventory(
        name=name or f"Synthetic Kota Tangerang, {n} intersections (seed {seed})",
        description=(
            "Synthetic arterial network generated by sim.city.generate_city: layout, lanes, "
            "phases, plans, lots and fleet are plausible but invented; street and kecamatan "
            "names are real, their placement is not."
        ),
        approximate=True,
        source=f"tlive sim city --intersections {n} --seed {seed}",
        nodes=nodes,
        links=links,
        intersections=intersections,
        lots=lots,
        **fleet,
    )


def _intersection(
    k: int,
    iid: str,
    node_pos: dict[str, tuple[float, float]],
    inc: list[Link],
    out: list[Link],
    rng: np.random.Generator,
    cells: list[tuple[int, int]],
    row_street: dict[int, str],
    col_street: dict[int, str],
) -> Intersection:
    lat, lon = node_pos[iid]
    approaches: list[Approach] = []
    used: set[str] = set()
    for ln in sorted(inc, key=lambda x: bearing_deg(lat, lon, *node_pos[x.from_node])):
        b_from = bearing_deg(lat, lon, *node_pos[ln.from_node])
        label = _compass(b_from)
        while label in used:
            label = label + "2" if not label[-1].isdigit() else label[:-1] + str(int(label[-1]) + 1)
        used.add(label)
        travel = (b_from + 180.0) % 360.0
        turns: set[str] = set()
        for o in out:
            if o.to_node == ln.from_node:
                continue  # U-turn
            delta = (bearing_deg(lat, lon, *node_pos[o.to_node]) - travel) % 360.0
            turns.add("T" if delta < 45 or delta > 315 else ("R" if delta < 180 else "L"))
        if not turns:
            turns = {"U"}
        n_lanes = ln.lanes
        lanes_mv: list[list[str]] = [[] for _ in range(n_lanes)]
        order = [t for t in ("L", "T", "R", "U") if t in turns]
        if n_lanes == 1:
            lanes_mv[0] = order
        else:
            if "L" in turns:
                lanes_mv[0].append("L")
            if "T" in turns:
                for j in range(n_lanes - (1 if n_lanes >= 3 and "R" in turns else 0)):
                    lanes_mv[j].append("T")
            if "R" in turns:
                lanes_mv[-1].append("R")
            if "U" in turns:
                lanes_mv[-1].append("U")
            for j in range(n_lanes):
                if not lanes_mv[j]:
                    lanes_mv[j] = [order[min(j, len(order) - 1)]]
        base_w = ROAD_CLASS[ln.road_class][2] if ln.road_class in ROAD_CLASS else 3.25
        approaches.append(
            Approach(
                id=label,
                link_id=ln.id,
                bearing_deg=round(b_from, 1) % 360.0,
                lanes=[
                    Lane(
                        index=j + 1,
                        width_m=round(float(np.clip(base_w + rng.normal(0, 0.15), 2.6, 3.8)), 2),
                        movements=lanes_mv[j],  # type: ignore[arg-type]
                    )
                    for j in range(n_lanes)
                ],
            )
        )
    # phases: split phasing (one per approach, common under ATCS) or opposing pairs
    groups: list[list[Approach]]
    if len(approaches) == 4 and rng.random() < 0.4:
        axis = sorted(approaches, key=lambda a: a.bearing_deg % 180.0)
        groups = [axis[:2], axis[2:]]
    else:
        groups = [[a] for a in approaches]
    phases = [
        Phase(
            number=p + 1,
            movements=[f"{a.id}:{t}" for a in g for t in _turns(a)],
            min_green_s=7.0,
            max_green_s=60.0,
        )
        for p, g in enumerate(groups)
    ]
    greens = [float(int(rng.integers(14, 40))) for _ in phases]
    amber, all_red = 3.0, 2.0
    cycle = sum(greens) + len(greens) * (amber + all_red)
    if cycle < 40.0:  # a dead end with one approach: still a sensible cycle
        greens[0] += 40.0 - cycle
        cycle = 40.0
    plan = FixedPlan(
        id=f"{iid}-FT1",
        cycle_s=cycle,
        offset_s=float(int(rng.integers(0, int(cycle)))),
        greens_s=greens,
        amber_s=amber,
        all_red_s=all_red,
    )
    detectors = [
        Detector(id=f"{iid}-{a.id}{ln.index}", approach=a.id, lane=ln.index,
                 kind="video" if rng.random() < 0.7 else "loop")
        for a in approaches
        for ln in a.lanes
    ]
    r, c = cells[k]
    name = f"Simpang {row_street[r]} / {col_street[c]}"
    return Intersection(
        id=iid,
        name=name,
        kecamatan=nearest_kecamatan(lat, lon),
        lat=lat,
        lon=lon,
        approaches=approaches,
        phases=phases,
        detectors=detectors,
        plan=plan,
    )


def _turns(a: Approach) -> list[str]:
    return sorted({m for ln in a.lanes for m in ln.movements})


def _offset_point(lat: float, lon: float, heading: float, dist_m: float) -> tuple[float, float]:
    """Move ``dist_m`` to the left of ``heading`` (kerb side in Indonesia)."""
    ang = math.radians(heading - 90.0)
    dlat = dist_m * math.cos(ang) / METRES_PER_DEG_LAT
    dlon = dist_m * math.sin(ang) / (METRES_PER_DEG_LAT * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _lots(links: list[Link], rng: np.random.Generator, n_lots: int) -> list[Lot]:
    cand = [ln for ln in links if ln.road_class in ("arterial", "collector")] or links
    picks = rng.choice(len(cand), size=min(n_lots, len(cand)), replace=False)
    lots = []
    for j, p in enumerate(sorted(int(x) for x in picks)):
        ln = cand[p]
        kind = str(rng.choice(LOT_KINDS, p=LOT_KIND_P))
        lo, hi = LOT_CAPACITY[kind]
        cap = int(rng.integers(lo, hi + 1))
        along = ln.length_m * float(rng.uniform(0.3, 0.7))
        plat, plon, head = point_along(ln.geometry.coordinates, along)
        lat, lon = _offset_point(plat, plon, head, 25.0 if kind != "on_street" else 6.0)
        kinds = rng.choice(
            ["car", "motorcycle", "disabled", "ev", "loading"], size=cap,
            p=[0.62, 0.30, 0.03, 0.02, 0.03],
        )
        lots.append(
            Lot(
                id=f"P{j + 1:03d}",
                name=f"{'Parkir' if kind == 'on_street' else kind.title()} {ln.name}",
                kind=kind,  # type: ignore[arg-type]
                kecamatan=nearest_kecamatan(lat, lon),
                lat=lat,
                lon=lon,
                capacity=cap,
                link_id=ln.id,
                bays=[Bay(id=f"B{b + 1:03d}", kind=str(kinds[b])) for b in range(cap)],  # type: ignore[arg-type]
                tariff=TARIFFS["on_street" if kind == "on_street" else "off_street"],
                opening_hours="00:00-24:00" if kind in ("on_street", "hospital") else "08:00-22:00",
            )
        )
    return lots


def _fleet(
    ids: list[str], nodes: list[Node], links: list[Link], rng: np.random.Generator, n: int
) -> dict[str, list]:
    idx = {i: k for k, i in enumerate(ids)}
    w = np.array([ln.length_m for ln in links])
    fi = np.array([idx[ln.from_node] for ln in links])
    ti = np.array([idx[ln.to_node] for ln in links])
    graph = csr_matrix((w, (fi, ti)), shape=(n, n))
    link_of = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(fi, ti, strict=True))}
    lat = np.array([nd.lat for nd in nodes])
    lon = np.array([nd.lon for nd in nodes])

    def nearest_node(p: tuple[float, float]) -> int:
        return int(np.argmin(haversine_m(lat, lon, p[0], p[1])))

    landfill_node = nearest_node(TPA_RAWA_KUCING)
    landfill = Landfill(
        id="TPA-RAWAKUCING", name="TPA Rawa Kucing (Neglasari)", lat=TPA_RAWA_KUCING[0],
        lon=TPA_RAWA_KUCING[1], node_id=ids[landfill_node], approximate=True,
    )
    n_depots = max(1, round(n / 100))
    depot_nodes = [int(x) for x in rng.choice(n, size=min(n_depots, n), replace=False)]
    depots = [
        Depot(id=f"DEPO-{d + 1:02d}", name=f"Pool DLH {nearest_kecamatan(lat[k], lon[k])}",
              lat=float(lat[k]), lon=float(lon[k]), node_id=ids[k])
        for d, k in enumerate(depot_nodes)
    ]
    # single-source rows on demand (all-pairs would be n x n: 1.2 GB at 10,000 nodes)
    rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    to_rows: dict[int, np.ndarray] = {}
    graph_t = graph.T.tocsr()

    def row(a: int) -> tuple[np.ndarray, np.ndarray]:
        if a not in rows:
            d, p = dijkstra(graph, directed=True, indices=a, return_predecessors=True)
            rows[a] = (d, p)
        return rows[a]

    def dist_to(b: int) -> np.ndarray:
        if b not in to_rows:
            to_rows[b] = dijkstra(graph_t, directed=True, indices=b)
        return to_rows[b]

    def path(a: int, b: int) -> list[str]:
        pred = row(a)[1]
        out: list[str] = []
        while b != a:
            p = int(pred[b])
            if p < 0:
                raise RuntimeError("the generated network is not strongly connected")
            out.append(links[link_of[(p, b)]].id)
            b = p
        return out[::-1]

    n_vehicles = max(2, round(n / 8))
    kinds = list(TRUCKS)
    shares = np.array([TRUCKS[k][1] for k in kinds])
    vehicles, pickups, routes = [], [], []
    link_pos = {ln.id: k for k, ln in enumerate(links)}
    for v in range(n_vehicles):
        depot = depots[v % len(depots)]
        dnode = idx[depot.node_id]
        kind = str(rng.choice(kinds, p=shares / shares.sum()))
        cap = TRUCKS[kind][0]
        vid = f"TRUCK-{v + 1:03d}"
        vehicles.append(
            Vehicle(id=vid, kind=kind, plate=f"B {9000 + v} {'TNG'[v % 3]}K",  # type: ignore[arg-type]
                    capacity_kg=cap, depot_id=depot.id)
        )
        # pickups on links around a random centre node, visited nearest-first
        centre = int(rng.integers(n))
        near = np.argsort(row(centre)[0] + dist_to(centre))[: max(6, n // 6)]
        cand = [int(k) for k in np.flatnonzero(np.isin(fi, near))]
        n_pick = int(rng.integers(4, 9))
        chosen = [int(x) for x in rng.choice(cand, size=min(n_pick, len(cand)), replace=False)]
        per_kg = 0.85 * cap / len(chosen)
        here, order = dnode, []
        rest = set(chosen)
        while rest:
            d_here = row(here)[0]
            nxt = min(rest, key=lambda k: (d_here[fi[k]], k))
            order.append(nxt)
            rest.remove(nxt)
            here = int(ti[nxt])
        route_links: list[str] = []
        pids: list[str] = []
        here = dnode
        for k in order:
            ln = links[k]
            route_links += path(here, int(fi[k])) + [ln.id]
            here = int(ti[k])
            off = round(ln.length_m * float(rng.uniform(0.2, 0.8)), 1)
            plat, plon, _ = point_along(ln.geometry.coordinates, off)
            pid = f"TPS-{len(pickups) + 1:04d}"
            pickups.append(
                PickupPoint(
                    id=pid, name=f"TPS {ln.name} {len(pickups) + 1}",
                    kecamatan=nearest_kecamatan(plat, plon), link_id=ln.id, offset_m=off,
                    lat=round(plat, 6), lon=round(plon, 6),
                    expected_kg=round(per_kg * float(rng.uniform(0.7, 1.2)), 0),
                    service_s=float(int(rng.integers(180, 600))),
                )
            )
            pids.append(pid)
        route_links += path(here, landfill_node)
        route_links += path(landfill_node, dnode)
        if not any(links[link_pos[x]].to_node == ids[landfill_node] for x in route_links):
            # the landfill node is the depot and no pickup link ends there: pass through
            out = next(ln for ln in links if ln.from_node == ids[dnode])
            route_links += [out.id] + path(idx[out.to_node], dnode)
        routes.append(
            CollectionRoute(
                id=f"R-{vid}", vehicle_id=vid, depot_id=depot.id, landfill_id=landfill.id,
                start_time=f"{int(rng.integers(5, 8)):02d}:{int(rng.choice([0, 15, 30, 45])):02d}",
                pickup_ids=pids, link_ids=route_links,
            )
        )
    return {
        "vehicles": vehicles, "depots": depots, "landfills": [landfill],
        "pickup_points": pickups, "routes": routes,
    }
