"""Adaptive signal control: per-intersection control config, plans in force, audit,
manual overrides and alerts (the control service, ``tlive control run``)."""

from __future__ import annotations

import psycopg

from hub.store import StoreInfo

VERSION = 30
NAME = "signal control: config, current plans, audit, overrides, alerts"


def apply(cur: psycopg.Cursor, store: StoreInfo) -> None:
    # how the loop controls an intersection: phases -> detectors, saturation flows,
    # minimum greens, intergreens, cycle bounds, rate limits and the stored fixed plan
    cur.execute(
        """CREATE TABLE IF NOT EXISTS signal_config (
               intersection_id text PRIMARY KEY,
               config          jsonb NOT NULL,
               updated_at      timestamptz NOT NULL DEFAULT now()
           )"""
    )
    # the plan in force per intersection (the last one published)
    cur.execute(
        """CREATE TABLE IF NOT EXISTS signal_plan_current (
               intersection_id text PRIMARY KEY,
               seq             bigint NOT NULL,
               source          text NOT NULL,
               plan            jsonb NOT NULL,
               published_at    timestamptz NOT NULL DEFAULT now()
           )"""
    )
    # every change of plan, with its inputs and reason
    cur.execute(
        """CREATE TABLE IF NOT EXISTS signal_plan_audit (
               id              bigserial PRIMARY KEY,
               ts              timestamptz NOT NULL,
               intersection_id text NOT NULL,
               seq             bigint NOT NULL,
               plan_id         text NOT NULL,
               source          text NOT NULL,
               reason          text NOT NULL,
               inputs          jsonb NOT NULL,
               plan            jsonb NOT NULL,
               recorded_at     timestamptz NOT NULL DEFAULT now()
           )"""
    )
    cur.execute(
        "CREATE INDEX IF NOT EXISTS signal_plan_audit_int_ts "
        "ON signal_plan_audit (intersection_id, ts DESC)"
    )
    # control-room overrides: win while not expired or cancelled
    cur.execute(
        """CREATE TABLE IF NOT EXISTS signal_override (
               id              bigserial PRIMARY KEY,
               intersection_id text NOT NULL,
               cycle_s         real NOT NULL CHECK (cycle_s > 0),
               greens_s        real[] NOT NULL,
               reason          text NOT NULL,
               created_by      text NOT NULL,
               created_at      timestamptz NOT NULL DEFAULT now(),
               starts_at       timestamptz NOT NULL DEFAULT now(),
               expires_at      timestamptz NOT NULL,
               cancelled_at    timestamptz,
               CHECK (expires_at > starts_at)
           )"""
    )
    cur.execute(
        "CREATE INDEX IF NOT EXISTS signal_override_active "
        "ON signal_override (intersection_id, expires_at) WHERE cancelled_at IS NULL"
    )
    cur.execute(
        """CREATE TABLE IF NOT EXISTS control_alert (
               id              bigserial PRIMARY KEY,
               ts              timestamptz NOT NULL,
               intersection_id text,
               kind            text NOT NULL,
               message         text NOT NULL,
               details         jsonb NOT NULL DEFAULT '{}'::jsonb,
               created_at      timestamptz NOT NULL DEFAULT now(),
               acknowledged_at timestamptz
           )"""
    )
    cur.execute(
        "CREATE INDEX IF NOT EXISTS control_alert_ts ON control_alert (ts DESC)"
    )
