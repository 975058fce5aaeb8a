"""hub.pgarray: rows packed by the server, read with one np.frombuffer."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from hub.db import connect
from hub.pgarray import epoch_s, fetch_records

COLUMNS = (
    ("i2", "int2", "a"), ("i4", "int4", "b"), ("i8", "int8", "c"), ("f4", "float4", "d"),
    ("f8", "float8", "e"), ("ok", "bool", "f"), ("ts", "timestamptz", "g"),
)


def test_every_type_round_trips(db_url) -> None:
    t = datetime(2026, 11, 28, 4, 5, 6, 789_000, tzinfo=UTC)
    rows = [(-3, 2_000_000_000, -(2**40), 1.5, -2.25e-300, True, t),
            (7, -1, 0, float("nan"), 1e300, False, datetime(2001, 1, 1, tzinfo=UTC))]
    with connect(db_url) as conn:
        conn.execute("CREATE TEMP TABLE t (a int2, b int4, c int8, d float4, e float8, "
                     "f bool, g timestamptz, k int)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                            [r + (k,) for k, r in enumerate(rows)])
        out = fetch_records(conn, COLUMNS, "FROM t WHERE k >= %(k)s", {"k": 0})
        empty = fetch_records(conn, COLUMNS, "FROM t WHERE k > 5")
    out = np.sort(out, order="i2")
    assert out["i2"].tolist() == [-3, 7] and out["i4"].tolist() == [2_000_000_000, -1]
    assert out["i8"].tolist() == [-(2**40), 0] and out["ok"].tolist() == [True, False]
    assert out["f4"][0] == 1.5 and np.isnan(out["f4"][1])
    assert out["f8"].tolist() == [-2.25e-300, 1e300]
    assert epoch_s(out["ts"]).tolist() == [t.timestamp(), 978_307_200.0]
    assert empty.size == 0 and empty.dtype == out.dtype


def test_a_null_field_is_an_error_not_a_missing_row(db_url) -> None:
    with connect(db_url) as conn:
        conn.execute("CREATE TEMP TABLE t (a int4, b float8)")
        conn.execute("INSERT INTO t VALUES (1, 2.0), (2, NULL)")
        cols = (("a", "int4", "a"), ("b", "float8", "b"))
        with pytest.raises(ValueError, match="1 of 2 rows have a NULL field.*coalesce"):
            fetch_records(conn, cols, "FROM t")
        fixed = (("a", "int4", "a"), ("b", "float8", "coalesce(b, 'NaN')"))
        assert fetch_records(conn, fixed, "FROM t").size == 2


def test_unsupported_type_names_the_column() -> None:
    with pytest.raises(ValueError, match="column 'x': type 'text'"):
        fetch_records(None, (("x", "text", "x"),), "FROM t")  # type: ignore[arg-type]
