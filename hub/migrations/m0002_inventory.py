"""Inventory tables: intersections, detectors, links, lots, bays, vehicles.

Filled by ``tlive inventory load`` (the inventory issue); columns that every
consumer needs are typed, the rest of a feature rides in ``props``.
"""

from __future__ import annotations

import psycopg

from hub.store import StoreInfo

VERSION = 2
NAME = "inventory tables"


def apply(cur: psycopg.Cursor, store: StoreInfo) -> None:
    cur.execute(
        """CREATE TABLE IF NOT EXISTS intersection (
               id        text PRIMARY KEY,
               name      text NOT NULL,
               kecamatan text,
               lat       double precision NOT NULL,
               lon       double precision NOT NULL,
               props     jsonb NOT NULL DEFAULT '{}'::jsonb
           )"""
    )
    cur.execute(
        """CREATE TABLE IF NOT EXISTS detector (
               intersection_id text NOT NULL REFERENCES intersection (id) ON DELETE CASCADE,
               id              text NOT NULL,
               approach        text NOT NULL,
               lane            smallint NOT NULL,
               props           jsonb NOT NULL DEFAULT '{}'::jsonb,
               PRIMARY KEY (intersection_id, id)
           )"""
    )
    cur.execute(
        """CREATE TABLE IF NOT EXISTS link (
               id                text PRIMARY KEY,
               from_node         text NOT NULL,
               to_node           text NOT NULL,
               length_m          double precision NOT NULL CHECK (length_m > 0),
               lanes             smallint NOT NULL CHECK (lanes > 0),
               speed_limit_kmh   real NOT NULL,
               free_flow_kmh     real NOT NULL,
               capacity_veh_h    real NOT NULL,
               geometry          jsonb NOT NULL,
               props             jsonb NOT NULL DEFAULT '{}'::jsonb
           )"""
    )
    cur.execute("CREATE INDEX IF NOT EXISTS link_from ON link (from_node)")
    cur.execute(
        """CREATE TABLE IF NOT EXISTS lot (
               id       text PRIMARY KEY,
               name     text NOT NULL,
               lat      double precision NOT NULL,
               lon      double precision NOT NULL,
               capacity integer NOT NULL CHECK (capacity >= 0),
               props    jsonb NOT NULL DEFAULT '{}'::jsonb
           )"""
    )
    cur.execute(
        """CREATE TABLE IF NOT EXISTS bay (
               lot_id text NOT NULL REFERENCES lot (id) ON DELETE CASCADE,
               id     text NOT NULL,
               props  jsonb NOT NULL DEFAULT '{}'::jsonb,
               PRIMARY KEY (lot_id, id)
           )"""
    )
    cur.execute(
        """CREATE TABLE IF NOT EXISTS vehicle (
               id    text PRIMARY KEY,
               kind  text NOT NULL,
               props jsonb NOT NULL DEFAULT '{}'::jsonb
           )"""
    )
