"""The SUMO digital twin: run a network and demand under one controller, in-process (libsumo).

Controllers:

* ``fixed``: SUMO's default static programs (what netconvert/netgenerate gives;
  the stand-in for the fixed plans running in the street today);
* ``webster``: a fixed-time plan optimised offline from the demand file (the
  demand is routed, lane flows converted to pcu, Webster cycle and splits from
  the control core);
* ``sumo-actuated`` / ``sumo-delay-based``: SUMO's own ``actuated`` (gap-based)
  and ``delay_based`` controllers on the same phases;
* ``adaptive``: the hub. E1/E2 detectors publish ATCS detector reports
  (``ingest.contract``) over MQTT into the real ingest service, which stores
  them in PostgreSQL; the control loop (:mod:`control.loop`) reads them from
  the store, computes plans and publishes them retained; the twin subscribes to
  the plan topics and applies each plan to SUMO's light at its next cycle
  boundary. The loop runs in lock-step on the simulated clock (the detector
  timestamps are the simulated time, placed in the recent past), so a run is
  as fast as SUMO while still crossing the broker and the database.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from sim.sumo_demand import VEHICLE_MIX, Demand, make_demand
from sim.sumo_net import NetworkSpec, default_workdir, sumo_home
from sim.twin_model import (
    TlsModel,
    corridor_links,
    read_tls,
    write_detectors,
    write_sumo_programs,
)

CONTROLLERS = ("fixed", "webster", "adaptive", "sumo-actuated", "sumo-delay-based")
CLASS_OF_TYPE = {"mc": 0, "lv": 1, "hv": 2}


@dataclass
class TwinConfig:
    network: str = "grid:4x4"
    level: str = "medium"
    profile: str = "am"
    minutes: float = 30.0
    seed: int = 42
    controller: str = "fixed"
    sublane: bool = True
    report_interval_s: int = 30  # detector reporting interval [s]
    control_period_s: int = 60  # adaptive: one tick of the loop per this many seconds
    workdir: Path | None = None
    demand_file: Path | None = None
    database_url: str | None = None  # adaptive: the store (default: settings)
    mqtt_url: str | None = None
    topic_root: str | None = None  # adaptive: default a fresh twin-specific root
    trace: bool = False  # record a time-space trace (corridors)
    sat_pcu_h: float = 1900.0
    queue_weight: float = 1.0
    actuated: bool = True  # adaptive: plans carry an actuation envelope (SCATS-like)
    max_green_factor: float = 4.0
    envelope_cycle_s: float = 0.0
    gap_s: float = 2.0
    # adaptive: who runs the plans in the street: "hub" = the twin's field controller
    # (actuated-coordinated, sim.twin_street); "sumo" = SUMO's actuated program with
    # the plan's envelope
    street: str = "hub"
    link_corridor: bool = True  # adaptive on corridor networks: the arterial is a corridor
    link_speed_m_s: float | None = None  # progression speed (default: the speed limit)
    link_y_on: float = 0.30
    queue_min_green: bool = True
    link_y_off: float = 0.25


@dataclass
class TwinResult:
    controller: str
    network: str
    level: str
    minutes: float
    seed: int
    trips: int = 0
    arrived: int = 0
    mean_time_loss_s: float = math.nan
    mean_waiting_s: float = math.nan
    mean_stops: float = math.nan
    throughput_veh_h: float = 0.0
    mean_queue_m: float = math.nan
    max_queue_m: float = math.nan
    mc_share: float = math.nan
    wall_s: float = 0.0
    plans_applied: int = 0
    reports_incomplete: int = 0  # adaptive: lock-step waits that timed out (should be 0)
    plans_late: int = 0
    delay_by_minute: list[tuple[float, float]] = field(default_factory=list)
    trace: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        keys = ("controller", "network", "level", "minutes", "seed", "trips", "arrived",
                "mean_time_loss_s", "mean_waiting_s", "mean_stops", "throughput_veh_h",
                "mean_queue_m", "max_queue_m", "mc_share", "wall_s", "plans_applied",
                "reports_incomplete", "plans_late")
        return {k: (round(v, 3) if isinstance(v, float) else v)
                for k, v in ((k, getattr(self, k)) for k in keys)}


# ------------------------------------------------------------- offline Webster
def webster_offline(
    libsumo: Any, models: list[TlsModel], demand: Demand, net: Path, sat_pcu_h: float
) -> dict[str, list[float]]:
    """Green times per light from the demand's mean OD flows, routed on the network."""
    from control.loop import compute_timing

    root = ET.parse(net).getroot()
    turn_lanes: dict[tuple[str, str], list[str]] = defaultdict(list)
    for c in root.findall("connection"):
        if c.get("from", "").startswith(":"):
            continue
        lane = f"{c.get('from')}_{c.get('fromLane')}"
        turn_lanes[(c.get("from", ""), c.get("to", ""))].append(lane)
    shares = np.array([float(VEHICLE_MIX[k]["share"]) for k in ("mc", "lv", "hv")])
    pcu_per_veh = float(shares @ np.array([0.2, 1.0, 1.3]))
    lane_flow: dict[str, float] = defaultdict(float)
    for (src, dst), rate in demand.od_veh_h.items():
        edges = libsumo.simulation.findRoute(src, dst, vType="lv").edges
        for a, b in zip(edges, edges[1:], strict=False):
            lanes = sorted(set(turn_lanes.get((a, b), [])))
            for ln in lanes:
                lane_flow[ln] += rate * pcu_per_veh / len(lanes)
    out: dict[str, list[float]] = {}
    if not models:
        return out
    width = max(len(m.greens) for m in models)
    n = len(models)
    flow = np.zeros((n, width))
    mask = np.zeros((n, width), dtype=bool)
    ig = np.zeros((n, width))
    gmin = np.zeros((n, width))
    cmin = np.zeros(n)
    cmax = np.zeros(n)
    for i, m in enumerate(models):
        cfg = m.config(sat_pcu_h)
        k = len(m.greens)
        mask[i, :k] = True
        ig[i, :k] = m.intergreen_s
        gmin[i, :k] = [p.min_green_s for p in cfg.phases]
        cmin[i], cmax[i] = cfg.min_cycle_s, cfg.max_cycle_s
        for ln in m.lanes:
            if ln.phase is not None:
                flow[i, ln.phase] = max(flow[i, ln.phase], lane_flow.get(ln.lane_id, 0.0))
    cycle, green, _ = compute_timing(flow, np.full((n, width), sat_pcu_h), ig, gmin, mask,
                                     cmin, cmax)
    for i, m in enumerate(models):
        out[m.tls_id] = [round(float(g)) for g in green[i, : len(m.greens)]]
    return out


def apply_program(libsumo: Any, m: TlsModel, greens_s: list[float], program_id: str) -> None:
    """Install a static program with these greens and start it at phase 0."""
    tl = libsumo.trafficlight
    phases = [tl.Phase(dur, state, dur, dur) for dur, state in m.program(greens_s)]
    tl.setProgramLogic(m.tls_id, tl.Logic(program_id, 0, 0, phases))
    tl.setProgram(m.tls_id, program_id)
    tl.setPhase(m.tls_id, 0)


def apply_plan(libsumo: Any, m: TlsModel, plan: Any) -> None:
    """Run a hub plan on the light, as the street controller would.

    ``fixed`` plans become a static program; ``actuated`` plans an actuated
    program whose greens may end between the plan's earliest and latest end
    (SUMO's gap-based actuation on its own stop-line detectors, gap ``gap_s``).
    """
    if plan.mode != "actuated":
        apply_program(libsumo, m, plan.greens_s, "hub")
        return
    tl = libsumo.trafficlight
    phases = []
    for i, (dur, state) in enumerate(m.program(plan.greens_s)):
        if i in m.greens:
            ph = plan.phases[m.greens.index(i)]
            lo = ph.min_green_s if ph.min_green_s is not None else dur
            hi = ph.max_green_s if ph.max_green_s is not None else dur
            phases.append(tl.Phase(dur, state, lo, max(hi, lo)))
        else:
            phases.append(tl.Phase(dur, state, dur, dur))
    tl.setProgramLogic(m.tls_id, tl.Logic("hubact", 3, 0, phases))
    tl.setProgram(m.tls_id, "hubact")
    if plan.gap_s:
        tl.setParameter(m.tls_id, "max-gap", f"{plan.gap_s:g}")
    tl.setPhase(m.tls_id, 0)


# -------------------------------------------------------------- the hub link
class HubLink:
    """The adaptive controller's path through MQTT, the ingest, PostgreSQL and the loop."""

    def __init__(
        self, cfg: TwinConfig, models: list[TlsModel], t0: datetime, inventory: Any = None,
        corridor: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from control.loop import ControlLoop, LoopParams, save_configs
        from control.plans import SignalPlan
        from control.service import MqttPlanPublisher
        from hub.db import connect, ensure_database, migrate, with_database
        from hub.settings import get_settings
        from ingest.service import IngestService

        base = get_settings()
        root = cfg.topic_root or f"twin{uuid.uuid4().hex[:8]}"
        self.settings = base.model_copy(
            update={
                # the twin's own database: it replaces the control configuration there
                "database_url": cfg.database_url or with_database(base.database_url, "tlive_twin"),
                "mqtt_url": cfg.mqtt_url or base.mqtt_url,
                "mqtt_topic_root": root,
                "ingest_client_id": f"tlive-twin-ingest-{uuid.uuid4().hex[:8]}",
                "ingest_batch_age_ms": 20,
                "ingest_session_expiry_s": 0,
                "metrics_port": 0,
            }
        )
        self.root = root
        self.models = models
        self.t0 = t0
        self._SignalPlan = SignalPlan
        ensure_database(self.settings.database_url)
        self.conn = connect(self.settings.database_url)
        migrate(self.conn)
        ids = [m.intersection_id for m in models]
        with self.conn.transaction():
            # the twin's intersections start from their fixed plans, with a clean slate;
            # counts of an earlier run of the same network would overlap this run's
            # simulated hours (both sit in the recent past) and mix into its counts
            self.conn.execute("DELETE FROM signal_config")
            self.conn.execute("DELETE FROM signal_plan_current WHERE intersection_id = ANY(%s)",
                              (ids,))
            self.conn.execute("DELETE FROM detector_reading WHERE intersection_id = ANY(%s)",
                              (ids,))
        if inventory is not None:  # the configuration the service derives in the street
            from control.loop import config_from_inventory

            save_configs(self.conn, [config_from_inventory(ix) for ix in inventory.intersections
                                     if ix.id in set(ids)])
        else:
            links = corridor or {}
            save_configs(self.conn, [
                dataclasses.replace(m.config(cfg.sat_pcu_h), **links.get(m.intersection_id, {}))
                for m in models
            ])
        self.ingest = IngestService(self.settings)
        self.ingest.start()
        self.plan_pub = MqttPlanPublisher(self.settings)
        self.loop = ControlLoop(self.conn, self.plan_pub, root,
                                LoopParams(queue_weight=cfg.queue_weight,
                                           link_y_on=cfg.link_y_on, link_y_off=cfg.link_y_off,
                                           queue_min_green=cfg.queue_min_green,
                                           actuated=cfg.actuated,
                                           max_green_factor=cfg.max_green_factor,
                                           envelope_cycle_s=cfg.envelope_cycle_s,
                                           gap_s=cfg.gap_s,
                                           window_s=cfg.control_period_s * 2.0,
                                           stale_after_s=cfg.control_period_s * 2.5))
        # plans arrive through the broker, like in the street
        self._plans: dict[str, Any] = {}
        self._cv = threading.Condition()
        ep = self.settings.mqtt
        self.sub = mqtt.Client(CallbackAPIVersion.VERSION2,
                               client_id=f"tlive-twin-{uuid.uuid4().hex[:8]}")
        self._subscribed = threading.Event()
        self.sub.on_connect = lambda c, u, f, r, p: c.subscribe(f"{root}/v1/atcs/+/plan", qos=1)
        self.sub.on_subscribe = lambda *a: self._subscribed.set()
        self.sub.on_message = self._on_plan
        self.sub.connect(ep.host, ep.port, keepalive=30)
        self.sub.loop_start()
        self.pub = mqtt.Client(CallbackAPIVersion.VERSION2,
                               client_id=f"tlive-twin-det-{uuid.uuid4().hex[:8]}")
        self.pub.connect(ep.host, ep.port, keepalive=30)
        self.pub.loop_start()
        if not self._subscribed.wait(10):
            raise ConnectionError("the twin could not subscribe to the plan topics")
        self._seq: dict[str, int] = defaultdict(int)
        self.messages = 0
        self.incomplete = 0  # ticks that ran before every report was stored
        self.late = 0  # plans that did not come back over MQTT in time

    def _on_plan(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            plan = self._SignalPlan.model_validate_json(msg.payload)
        except Exception:  # a bad plan is ignored: the light keeps its program
            return
        with self._cv:
            self._plans[plan.intersection_id] = plan
            self._cv.notify_all()

    def ts(self, sim_s: float) -> datetime:
        return self.t0 + timedelta(seconds=sim_s)

    def publish_reports(self, sim_s: float, reports: dict[str, list[dict[str, Any]]],
                        interval_s: int) -> int:
        from ingest.contract import Kind, topic_for

        infos = []
        ts = self.ts(sim_s).isoformat().replace("+00:00", "Z")
        for iid, dets in reports.items():
            self._seq[iid] += 1
            body = {"seq": self._seq[iid], "ts": ts, "interval_s": interval_s, "detectors": dets}
            infos.append(self.pub.publish(topic_for(Kind.DETECTORS, iid, root=self.root),
                                          json.dumps(body).encode(), qos=1))
            self.messages += 1
        for info in infos:
            info.wait_for_publish(10)
        return sum(len(d) for d in reports.values())

    def wait_stored(self, sim_s: float, expected_rows: int, timeout_s: float = 60.0) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            row = self.conn.execute(
                "SELECT count(*) FROM detector_reading WHERE ts = %s", (self.ts(sim_s),)
            ).fetchone()
            self.conn.commit()
            got = int(row[0]) if row else 0
            if got >= expected_rows:
                return got
            if time.monotonic() > deadline:
                self.incomplete += 1  # the tick runs on what is there (and says so)
                return got
            time.sleep(0.01)

    def tick(self, sim_s: float, timeout_s: float = 60.0) -> dict[str, Any]:
        res = self.loop.tick(self.ts(sim_s))
        want = {p.intersection_id: p.seq for p in res.published}
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while any(
                self._plans.get(i) is None or self._plans[i].seq < s for i, s in want.items()
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            got = {i: self._plans[i] for i in want
                   if i in self._plans and self._plans[i].seq >= want[i]}
            self.late += len(want) - len(got)
            return got

    def close(self) -> None:
        for c in (self.sub, self.pub):
            c.disconnect()
            c.loop_stop()
        self.plan_pub.close()
        self.ingest.stop(10)
        self.conn.close()


# ------------------------------------------------------------------ the run
def prepare(cfg: TwinConfig) -> tuple[Path, Demand, Path]:
    """Build (or reuse) the network and the demand for ``cfg``."""
    work = cfg.workdir or default_workdir()
    spec = NetworkSpec.parse(cfg.network)
    netdir = work / spec.name
    net = spec.build(netdir)
    dfile = cfg.demand_file or (
        netdir / f"demand-{cfg.level}-{cfg.profile}-{cfg.minutes:g}m-s{cfg.seed}.rou.xml"
    )
    demand = make_demand(net, dfile, level=cfg.level, profile=cfg.profile,
                         minutes=cfg.minutes, seed=cfg.seed)
    return net, demand, netdir


def run_twin(
    cfg: TwinConfig, progress: Callable[[float, float], None] | None = None
) -> TwinResult:
    """Run one controller on one network and demand; return the measured figures."""
    if cfg.controller not in CONTROLLERS:
        raise ValueError(f"unknown controller {cfg.controller!r}: use one of {CONTROLLERS}")
    sumo_home()
    import libsumo  # type: ignore[import-not-found]

    net, demand, netdir = prepare(cfg)
    spec = NetworkSpec.parse(cfg.network)
    inventory = None
    if spec.kind.startswith("inventory:"):
        from hub.inventory import load_inventory
        from sim.sumo_inventory import inventory_detectors

        inventory = load_inventory(spec.kind.split(":", 1)[1])
        models = read_tls(net, inventory_detectors(inventory))
    else:
        models = read_tls(net)
    tag = f"{cfg.controller}-{cfg.level}-{uuid.uuid4().hex[:6]}"
    rundir = netdir / "runs"
    rundir.mkdir(exist_ok=True)
    dets = write_detectors(models, rundir / f"det-{tag}.add.xml", cfg.report_interval_s)
    adds = [str(dets)]
    if cfg.controller in ("sumo-actuated", "sumo-delay-based"):
        kind = "actuated" if cfg.controller == "sumo-actuated" else "delay_based"
        adds.append(str(write_sumo_programs(models, rundir / f"tls-{tag}.add.xml", kind)))
    tripinfo = rundir / f"tripinfo-{tag}.xml"
    total_s = int(cfg.minutes * 60)
    args = [
        "sumo", "-n", str(net), "-r", str(demand.path), "-a", ",".join(adds),
        "--seed", str(cfg.seed), "--no-step-log", "true", "--no-warnings", "true",
        "--time-to-teleport", "300", "--collision.action", "none",
        "--tripinfo-output", str(tripinfo), "--tripinfo-output.write-unfinished", "true",
        "--end", str(total_s),
    ]
    if cfg.sublane:
        args += ["--lateral-resolution", "0.8"]
    result = TwinResult(cfg.controller, NetworkSpec.parse(cfg.network).name, cfg.level,
                        cfg.minutes, cfg.seed)
    wall0 = time.monotonic()
    libsumo.start(args)
    hub: HubLink | None = None
    try:
        if cfg.controller == "webster":
            plans = webster_offline(libsumo, models, demand, net, cfg.sat_pcu_h)
            for m in models:
                apply_program(libsumo, m, plans[m.tls_id], "webster")
        if cfg.controller == "adaptive":
            t0 = (datetime.now(UTC) - timedelta(seconds=total_s + 900)).replace(microsecond=0)
            links = None
            if spec.kind == "corridor" and cfg.link_corridor:
                links = corridor_links(net, models, speed_m_s=cfg.link_speed_m_s)
            hub = HubLink(cfg, models, t0, inventory, links)
        result = _simulate(libsumo, cfg, models, hub, total_s, result, progress)
    finally:
        libsumo.close()
        if hub is not None:
            result.reports_incomplete, result.plans_late = hub.incomplete, hub.late
            hub.close()
    result.wall_s = time.monotonic() - wall0
    _read_tripinfo(tripinfo, result, total_s)
    return result


def _simulate(
    libsumo: Any, cfg: TwinConfig, models: list[TlsModel], hub: HubLink | None,
    total_s: int, result: TwinResult, progress: Callable[[float, float], None] | None,
) -> TwinResult:
    tl = libsumo.trafficlight
    e1 = libsumo.inductionloop
    e2 = libsumo.lanearea
    vtype_cache: dict[str, int] = {}
    pending: dict[str, Any] = {}
    last_phase: dict[str, int] = {}
    by_iid = {m.intersection_id: m for m in models}
    street = None
    if hub is not None and cfg.street == "hub":
        from sim.twin_street import controllers_for

        street = controllers_for(models)
        # the twin's cabinets share one clock, simulated time (clock0_s = 0): offsets are
        # relative to it, so a run does not depend on the wall-clock time it starts at
    queue_samples: list[float] = []
    lanes_total = sum(len(m.lanes) for m in models) or 1
    trace: dict[str, Any] | None = None
    main_edges: list[str] = []
    if cfg.trace:
        main_edges = [e for e in libsumo.edge.getIDList()
                      if not e.startswith(":") and _eastbound(e)]
        trace = {"t": [], "x": [], "vid": [], "signals": defaultdict(list)}
    for step in range(1, total_s + 1):
        libsumo.simulationStep()
        if hub is not None:  # class of each vehicle, known while it is in the network
            for vid in libsumo.simulation.getDepartedIDList():
                vtype_cache[vid] = CLASS_OF_TYPE.get(libsumo.vehicle.getTypeID(vid), 1)
        if street is not None:  # the field controllers run the hub's plans
            for ctl in street.values():
                had = ctl.pending
                ctl.step(libsumo, step)
                if had is not None and ctl.pending is None:
                    result.plans_applied += 1
        elif pending:  # apply pending plans at the light's cycle boundary (entering phase 0)
            for tid in list(pending):
                ph = tl.getPhase(tid)
                if ph == 0 and last_phase.get(tid, 0) != 0:
                    m = next(x for x in models if x.tls_id == tid)
                    apply_plan(libsumo, m, pending.pop(tid))
                    result.plans_applied += 1
                last_phase[tid] = ph
        if step % 10 == 0:
            q = sum(e2.getJamLengthMeters(f"e2_{t}_{k}")
                    for t, m in enumerate(models) for k in range(len(m.lanes)))
            queue_samples.append(q / lanes_total)
        if hub is not None and step % cfg.report_interval_s == 0:
            reports: dict[str, list[dict[str, Any]]] = {}
            for t, m in enumerate(models):
                rows = []
                for k, ln in enumerate(m.lanes):
                    cnt = [0, 0, 0, 0]
                    for vid in e1.getLastIntervalVehicleIDs(f"e1_{t}_{k}"):
                        cnt[vtype_cache.get(vid, 1)] += 1
                    speed = e1.getLastIntervalMeanSpeed(f"e1_{t}_{k}")
                    rows.append({
                        "detector_id": ln.detector_id, "approach": ln.approach,
                        "lane": ln.lane_no, "mc": cnt[0], "lv": cnt[1], "hv": cnt[2],
                        "um": cnt[3],
                        "occupancy_pct": round(min(100.0, max(0.0, e1.getLastIntervalOccupancy(
                            f"e1_{t}_{k}"))), 2),
                        "speed_kmh": round(speed * 3.6, 2) if speed >= 0 else None,
                        "queue_m": round(max(0.0, e2.getJamLengthMeters(f"e2_{t}_{k}")), 1),
                    })
                reports[m.intersection_id] = rows
            n_rows = hub.publish_reports(step, reports, cfg.report_interval_s)
            if step % cfg.control_period_s == 0 or step == cfg.report_interval_s:
                hub.wait_stored(step, n_rows)
                for iid, plan in hub.tick(step).items():
                    m = by_iid[iid]
                    if len(plan.phases) != len(m.greens):
                        continue
                    if street is not None:
                        street[m.tls_id].offer(plan)
                    else:
                        pending[m.tls_id] = plan
        if trace is not None and step % 2 == 0:
            for e in main_edges:
                for vid in libsumo.edge.getLastStepVehicleIDs(e):
                    trace["t"].append(step)
                    trace["x"].append(libsumo.vehicle.getPosition(vid)[0])
                    trace["vid"].append(vid)
            for m in models:
                x = libsumo.junction.getPosition(m.tls_id)[0]
                state = tl.getRedYellowGreenState(m.tls_id)
                idx = _eastbound_link(m)
                trace["signals"][round(x, 1)].append(state[idx] if idx is not None else "r")
        if progress is not None and (step % 30 == 0 or step == total_s):
            progress(step, total_s)
    if queue_samples:
        result.mean_queue_m = float(np.mean(queue_samples))
        result.max_queue_m = float(np.max(queue_samples))
    if trace is not None:
        trace["signals"] = dict(trace["signals"])
        result.trace = trace
    return result


def _eastbound(edge_id: str) -> bool:
    """Arterial edges of a corridor built by :func:`sim.sumo_net.build_corridor`."""
    a, _, b = edge_id.partition("_")
    order = {"W": -1, "E": 10**6}
    try:
        ia = order.get(a, int(a[1:]) if a.startswith("C") else None)
        ib = order.get(b, int(b[1:]) if b.startswith("C") else None)
    except ValueError:
        return False
    return ia is not None and ib is not None and ib > ia


def _eastbound_link(m: TlsModel) -> int | None:
    for idx, lane in sorted(m.link_lanes.items()):
        if _eastbound(lane.rsplit("_", 1)[0]):
            return idx
    return None


def _read_tripinfo(path: Path, result: TwinResult, total_s: int) -> None:
    if not path.exists():
        return
    root = ET.parse(path).getroot()
    loss, wait, stops, arr_t = [], [], [], []
    mc = 0
    for ti in root.findall("tripinfo"):
        tl_s = float(ti.get("timeLoss", "0")) + float(ti.get("departDelay", "0"))
        loss.append(tl_s)
        wait.append(float(ti.get("waitingTime", "0")))
        stops.append(float(ti.get("waitingCount", "0")))
        a = float(ti.get("arrival", "-1"))
        arr_t.append(a)
        mc += ti.get("vType", "").startswith("mc")
    if not loss:
        return
    arr = np.array(arr_t)
    lossa = np.array(loss)
    result.trips = len(loss)
    result.arrived = int((arr >= 0).sum())
    result.mean_time_loss_s = float(lossa.mean())
    result.mean_waiting_s = float(np.mean(wait))
    result.mean_stops = float(np.mean(stops))
    result.throughput_veh_h = result.arrived * 3600.0 / max(total_s, 1)
    result.mc_share = mc / len(loss)
    done = arr >= 0
    for minute in range(int(math.ceil(total_s / 60))):
        sel = done & (arr >= minute * 60) & (arr < (minute + 1) * 60)
        if sel.any():
            result.delay_by_minute.append((minute + 1, float(lossa[sel].mean())))
