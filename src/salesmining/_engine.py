"""Dataframe-engine layer: the heavy per-event aggregations, written once against narwhals.

The log's events are handed to an engine (``polars`` by default; ``pandas``, ``duckdb`` and
``pyspark`` run the same code) with timestamps as integer microseconds since the epoch
(``ts_us``), so every duration is exact integer arithmetic on every engine. Each engine gets
the same explicit order ``(case, ts_us, source_row)`` — SQL engines and Spark keep no input
order.

narwhals has no list aggregation yet (narwhals issue #2660), so :func:`_collect_sequences`,
which joins each case's activities into one string, dispatches per engine; everything else
is narwhals.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from salesmining._errors import EngineError
from salesmining._schema import ACTIVITY, CASE, SOURCE_ROW, TIMESTAMP

if TYPE_CHECKING:
    from salesmining._log import EventLog

__all__ = ["BACKENDS", "case_sequences", "variants"]

Backend = Literal["polars", "pandas", "duckdb", "pyspark"]
BACKENDS: tuple[str, ...] = ("polars", "pandas", "duckdb", "pyspark")
TS = "ts_us"
#: Separator of activities inside a sequence key (control characters are removed from names at ingest).
SEP = "\x1f"


def _require(module: str, backend: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EngineError(f"the {backend!r} engine needs the package {module!r}: pip install {module}") from exc


def event_table(log: EventLog) -> pd.DataFrame:
    """The minimal pandas table the engines start from."""
    ev = log._events
    return pd.DataFrame(
        {
            CASE: ev[CASE],
            ACTIVITY: ev[ACTIVITY],
            TS: ev[TIMESTAMP].astype("int64").to_numpy(),
            SOURCE_ROW: ev[SOURCE_ROW].to_numpy(),
        }
    )


def to_native(table: pd.DataFrame, backend: str, *, spark: Any = None) -> Any:
    """Hand a pandas table to an engine, as that engine's (lazy where possible) frame."""
    if backend == "pandas":
        return table
    if backend == "polars":
        pl = _require("polars", backend)
        return pl.from_pandas(table).lazy()
    if backend == "duckdb":
        duckdb = _require("duckdb", backend)
        con = duckdb.connect()
        con.register("events_df", table)
        return con.sql("select * from events_df")
    if backend == "pyspark":
        _require("pyspark", backend)
        if spark is None:
            from pyspark.sql import SparkSession

            spark = SparkSession.builder.master("local[2]").appName("salesmining").getOrCreate()
        return spark.createDataFrame(table)
    raise EngineError(f"unknown engine {backend!r}; choose one of {BACKENDS}")


def _collect_sequences(native: Any, backend: str) -> pd.DataFrame:
    """(case, key): each case's activities in (ts, source_row) order joined with :data:`SEP`."""
    if backend == "polars":
        pl = _require("polars", backend)
        out = (
            native.sort([CASE, TS, SOURCE_ROW])
            .group_by(CASE, maintain_order=True)
            .agg(pl.col(ACTIVITY).str.join(SEP).alias("key"))
            .collect()
        )
        return out.to_pandas()
    if backend == "pandas":
        t = native.sort_values([CASE, TS, SOURCE_ROW], kind="stable")
        return t.groupby(CASE, sort=True)[ACTIVITY].agg(SEP.join).rename("key").reset_index()
    if backend == "duckdb":
        return native.query(
            "ev",
            f'select "{CASE}", string_agg("{ACTIVITY}", chr(31) order by {TS}, {SOURCE_ROW}) as key '
            f'from ev group by "{CASE}" order by "{CASE}"',
        ).df()
    if backend == "pyspark":
        from pyspark.sql import functions as F  # noqa: N812

        seq = F.sort_array(F.collect_list(F.struct(F.col(TS), F.col(SOURCE_ROW), F.col(ACTIVITY))))
        out = native.groupBy(CASE).agg(F.concat_ws(SEP, F.transform(seq, lambda x: x[ACTIVITY])).alias("key"))
        return out.toPandas().sort_values(CASE).reset_index(drop=True)
    raise EngineError(f"unknown engine {backend!r}; choose one of {BACKENDS}")


def case_sequences(log: EventLog, *, backend: str = "polars") -> pd.DataFrame:
    """One row per case (sorted by case id): ``case:concept:name``, ``variant_id``, ``length``.

    ``variant_id`` indexes :func:`variant_keys`; ids are assigned in order of first appearance
    by sorted case id, so they are deterministic.
    """
    seq = _collect_sequences(to_native(event_table(log), backend), backend)
    seq = seq.sort_values(CASE, kind="stable").reset_index(drop=True)
    codes, uniques = pd.factorize(seq["key"], sort=False)
    out = pd.DataFrame({CASE: seq[CASE].astype("str"), "variant_id": codes.astype("int64")})
    out.attrs["keys"] = list(uniques)
    return out


def variants(log: EventLog, *, backend: str = "polars") -> pd.DataFrame:
    """Variant table: ``variant`` (tuple), ``count``, ``share``, ``length``, ``example_case``.

    Sorted by count (descending), then by the variant itself, so the order is deterministic.
    """
    seq = case_sequences(log, backend=backend) if backend != "polars" else log._sequences
    keys: list[str] = seq.attrs["keys"]
    g = seq.groupby("variant_id", sort=True)
    count = g.size()
    example = g[CASE].first()
    tuples = [tuple(keys[i].split(SEP)) for i in count.index]
    n = max(len(seq), 1)
    out = pd.DataFrame(
        {
            "variant": pd.Series(tuples, dtype="object"),
            "count": count.to_numpy().astype("int64"),
            "share": count.to_numpy() / n,
            "length": np.array([len(t) for t in tuples], dtype="int64"),
            "example_case": example.to_numpy().astype(object),
            "variant_id": count.index.to_numpy(),
        }
    )
    out = out.sort_values(["count", "variant"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return out.drop(columns="variant_id")
