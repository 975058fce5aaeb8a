"""Inventory, part 2: road-graph nodes, the waste fleet's places and routes, document metadata.

Adds ``node``, ``depot``, ``landfill``, ``pickup_point``, ``collection_route`` and
``inventory_meta``, and a ``position`` column on ``detector`` and ``bay`` so the
inventory's order survives the round trip (``hub.inventory``).
"""

from __future__ import annotations

import psycopg

from hub.store import StoreInfo

VERSION = 10
NAME = "inventory: nodes, fleet places and routes"


def apply(cur: psycopg.Cursor, store: StoreInfo) -> None:
    cur.execute(
        """CREATE TABLE IF NOT EXISTS inventory_meta (
               key   text PRIMARY KEY,
               value jsonb NOT NULL
           )"""
    )
    cur.execute(
        """CREATE TABLE IF NOT EXISTS node (
               id       text PRIMARY KEY,
               lat      double precision NOT NULL,
               lon      double precision NOT NULL,
               kind     text NOT NULL DEFAULT 'signal',
               position integer NOT NULL DEFAULT 0
           )"""
    )
    for table in ("depot", "landfill"):
        cur.execute(
            f"""CREATE TABLE IF NOT EXISTS {table} (
                    id       text PRIMARY KEY,
                    name     text NOT NULL,
                    lat      double precision NOT NULL,
                    lon      double precision NOT NULL,
                    node_id  text NOT NULL,
                    props    jsonb NOT NULL DEFAULT '{{}}'::jsonb,
                    position integer NOT NULL DEFAULT 0
                )"""
        )
    cur.execute(
        """CREATE TABLE IF NOT EXISTS pickup_point (
               id       text PRIMARY KEY,
               name     text NOT NULL,
               link_id  text NOT NULL,
               offset_m double precision NOT NULL CHECK (offset_m >= 0),
               lat      double precision NOT NULL,
               lon      double precision NOT NULL,
               props    jsonb NOT NULL DEFAULT '{}'::jsonb,
               position integer NOT NULL DEFAULT 0
           )"""
    )
    cur.execute("CREATE INDEX IF NOT EXISTS pickup_point_link ON pickup_point (link_id)")
    cur.execute(
        """CREATE TABLE IF NOT EXISTS collection_route (
               id          text PRIMARY KEY,
               vehicle_id  text NOT NULL,
               depot_id    text NOT NULL,
               landfill_id text NOT NULL,
               pickup_ids  text[] NOT NULL,
               link_ids    text[] NOT NULL,
               props       jsonb NOT NULL DEFAULT '{}'::jsonb,
               position    integer NOT NULL DEFAULT 0
           )"""
    )
    cur.execute(
        "CREATE INDEX IF NOT EXISTS collection_route_vehicle ON collection_route (vehicle_id)"
    )
    for table in ("detector", "bay"):
        cur.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS position integer NOT NULL DEFAULT 0"
        )
