"""Dataframe-engine layer: the heavy per-event aggregations, written once against narwhals.

The log's events are handed to an engine (``polars`` by default; ``pandas``, ``duckdb`` and
``pyspark`` run the same code) as an *encoded* table: integer case and activity codes,
timestamps as integer microseconds since the epoch (``ts_us``) and the *clock* durations are
measured on (``clock_us``: equal to ``ts_us`` in calendar time, working microseconds under a
:class:`~salesmining.BusinessCalendar`). Every duration is exact integer arithmetic on every
engine, and every order within a case is the explicit ``(ts_us, source_row)`` — SQL engines
and Spark keep no input order.

Statistics are defined once, engine-independently:

* medians interpolate linearly between the two middle values (pandas, polars, DuckDB and
  pm4py agree);
* the 90th percentile is numpy's default (``method="linear"``): the engines pick the two
  order statistics around the virtual index ``(n - 1) * 0.9`` exactly (ordinal ranks), and
  numpy interpolates them, so every engine returns the same bits as :func:`numpy.quantile`;
* totals are exact (whole seconds and microsecond remainders summed separately, so no
  engine overflows int64); means are ``total / count``.

narwhals has no list aggregation yet (narwhals issue #2660), so :func:`sequence_keys`, which
joins each case's activity codes into one string, dispatches per engine; everything else is
narwhals. On the in-memory polars default the variants come from :func:`coded_variants` instead:
each case's activity codes grouped exactly as integer lists, once per log, no string keys.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import narwhals as nw
import numpy as np
import pandas as pd

from salesmining.core.calendar import clock_us
from salesmining.core.errors import EngineError
from salesmining.core.schema import ACTIVITY, CASE, RESOURCE, SOURCE_ROW, START, TIMESTAMP

if TYPE_CHECKING:
    from salesmining.core.calendar import BusinessCalendar


class EventSource(Protocol):
    """What the engine reads from an event log: its canonical sorted events, their integer codes
    and its variants on those codes (both computed once per log).

    :class:`salesmining.EventLog` is one; the engine never imports it (it sits below the log layer).
    """

    @property
    def _events(self) -> pd.DataFrame: ...

    @property
    def _coded(self) -> CodedEvents: ...

    @property
    def _coded_variants(self) -> CodedVariants: ...


__all__ = [
    "BACKENDS",
    "CodedEvents",
    "CodedVariants",
    "EncodedEvents",
    "FlowEvents",
    "case_sequences",
    "coded_events",
    "coded_flow_stats",
    "coded_service_stats",
    "coded_throughput_stats",
    "coded_variants",
    "decode_keys",
    "distinct_counts",
    "encode_events",
    "event_table",
    "flow_events",
    "flow_stats",
    "group_durations",
    "group_sequences",
    "lerp_quantile",
    "sequence_keys",
    "service_stats",
    "take_sequences",
    "throughput_stats",
    "to_native",
    "variant_order",
    "variant_stats",
    "variant_tuples",
    "variants",
]

BACKENDS: tuple[str, ...] = ("polars", "pandas", "duckdb", "pyspark")
TS = "ts_us"
CASE_ID = "case_id"
ACT_ID = "activity_id"
CLOCK = "clock_us"
START_CLOCK = "start_clock_us"
HAS_START = "has_start"
#: The event's position in the log's order (case, ``ts_us``, source row): one sort key for that order.
ROW = "row"
ORDER = [TS, SOURCE_ROW]
#: Separator of activities inside a sequence key (control characters are removed from names at ingest).
SEP = "\x1f"
#: The percentile reported as ``p90`` (numpy's default linear interpolation).
P90 = 0.9
_US = 1_000_000


def _require(module: str, backend: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EngineError(f"the {backend!r} engine needs the package {module!r}: pip install {module}") from exc


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise EngineError(f"unknown engine {backend!r}; choose one of {BACKENDS}")


# --- tables handed to the engines ---------------------------------------------------------
def event_table(log: EventSource) -> pd.DataFrame:
    """The minimal pandas table with names: CASE, ACTIVITY, ``ts_us`` (int64), SOURCE_ROW."""
    ev = log._events
    return pd.DataFrame(
        {
            CASE: ev[CASE],
            ACTIVITY: ev[ACTIVITY],
            TS: ev[TIMESTAMP].astype("int64").to_numpy(),
            SOURCE_ROW: ev[SOURCE_ROW].to_numpy(),
        }
    )


@dataclass(frozen=True, eq=False)
class CodedEvents:
    """The log's events as integer codes, in the log's order (case, ``ts_us``, source row).

    Computed once per log (:attr:`salesmining.EventLog._coded`) and shared by every analysis:
    ``case`` / ``activity`` / ``resource`` are int32 codes into the sorted ``*_names`` (resource
    ``-1`` where none is recorded), ``ts_us`` int64 microseconds since the epoch, ``source_row``
    the tie-breaker. ``bounds[k]:bounds[k + 1]`` are case ``k``'s events. Read-only arrays.
    """

    case: np.ndarray
    activity: np.ndarray
    resource: np.ndarray
    ts_us: np.ndarray
    source_row: np.ndarray
    case_names: np.ndarray
    activity_names: np.ndarray
    resource_names: np.ndarray
    bounds: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.case)

    @property
    def n_cases(self) -> int:
        return len(self.case_names)

    def first_of_case(self) -> np.ndarray:
        """Per event: is it the first event of its case?"""
        out = np.zeros(self.n_events, dtype=bool)
        out[self.bounds[:-1][self.bounds[:-1] < self.n_events]] = True
        return out


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def coded_events(events: pd.DataFrame, cases: tuple[np.ndarray, Any] | None = None) -> CodedEvents:
    """Integer-code a log's canonical events (sorted by case, timestamp, source row): vectorised,
    one factorisation per column (case codes follow the sort, so they are the sorted names' ranks).
    ``cases``: that factorisation of the case ids (codes in event order, sorted names) when the
    caller has it already."""
    case_codes, case_names = pd.factorize(events[CASE], sort=True) if cases is None else cases
    act_codes, act_names = pd.factorize(events[ACTIVITY], sort=True)
    res_codes: Any
    res_names: Any
    if RESOURCE in events.columns:
        res_codes, res_names = pd.factorize(events[RESOURCE], sort=True)
    else:
        res_codes, res_names = np.full(len(events), -1, dtype="int64"), np.array([], dtype=object)
    case32 = np.asarray(case_codes, dtype="int32")
    bounds = np.searchsorted(case32, np.arange(len(case_names) + 1, dtype="int32"), side="left")
    return CodedEvents(
        case=_readonly(case32),
        activity=_readonly(np.asarray(act_codes, dtype="int32")),
        resource=_readonly(np.asarray(res_codes, dtype="int32")),
        ts_us=_readonly(events[TIMESTAMP].astype("int64").to_numpy().copy()),
        source_row=_readonly(events[SOURCE_ROW].to_numpy().astype("int64")),
        case_names=_readonly(np.asarray(case_names, dtype=object)),
        activity_names=_readonly(np.asarray(act_names, dtype=object)),
        resource_names=_readonly(np.asarray(res_names, dtype=object)),
        bounds=_readonly(bounds.astype("int64")),
    )


# --- variants on the integer codes --------------------------------------------------------
def _list_series(offsets: np.ndarray, values: np.ndarray) -> Any:
    """A polars list series: element ``i`` is ``values[offsets[i]:offsets[i + 1]]`` (no copy per list)."""
    import polars as pl
    import pyarrow as pa

    arr = pa.LargeListArray.from_arrays(
        pa.array(np.asarray(offsets, dtype=np.int64)), pa.array(np.asarray(values, dtype=np.int32))
    )
    return pl.from_arrow(arr)


def group_sequences(offsets: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group equal integer sequences (sequence ``i`` is ``values[offsets[i]:offsets[i + 1]]``), exactly.

    Returns each sequence's group, groups numbered in order of first appearance, and each group's
    first sequence (increasing). One hash grouping of the sequences in polars, no Python per sequence.

    >>> ids, first = group_sequences(np.array([0, 2, 3, 5, 5]), np.array([1, 2, 1, 1, 2]))
    >>> ids.tolist(), first.tolist()
    ([0, 1, 0, 2], [0, 1, 3])
    """
    import polars as pl

    n = len(offsets) - 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    frame = pl.DataFrame({"s": _list_series(offsets, values)}).with_row_index("i")
    first = frame.select(pl.col("i").min().over("s")).to_series().to_numpy().astype(np.int64)
    opens = first == np.arange(n)  # the sequences that open a group, in order
    return (np.cumsum(opens) - 1)[first], np.flatnonzero(opens)


def take_sequences(offsets: np.ndarray, values: np.ndarray, pick: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sequences ``pick`` of a (offsets, values) table, as a new (offsets, values) table."""
    lengths = (offsets[1:] - offsets[:-1])[pick]
    out = np.zeros(len(pick) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    at = np.repeat(offsets[:-1][pick] - out[:-1], lengths) + np.arange(int(out[-1]), dtype=np.int64)
    return out, values[at]


@dataclass(frozen=True, eq=False)
class CodedVariants:
    """The log's variants on activity codes: computed once per log (:attr:`salesmining.EventLog._coded_variants`).

    ``of_case[k]`` is case ``k``'s variant (cases by code, i.e. by sorted id); variants are
    numbered in order of first appearance, ``first_case[v]`` is the smallest case with variant
    ``v`` and ``count[v]`` how many cases have it. Variant ``v``'s activity codes, in event order,
    are ``codes[offsets[v]:offsets[v + 1]]``. Read-only arrays.
    """

    of_case: np.ndarray
    first_case: np.ndarray
    count: np.ndarray
    offsets: np.ndarray
    codes: np.ndarray

    @property
    def n_variants(self) -> int:
        return len(self.first_case)

    def tuples(self, names: np.ndarray) -> list[tuple[str, ...]]:
        """:func:`variant_tuples` of these variants with activity ``names``: built once per names
        array (``variants()``, discover and conform share them), a new list on each call."""
        return list(self._once("_tuples", names, lambda: variant_tuples(self.offsets, self.codes, names)))

    def order(self, names: np.ndarray) -> np.ndarray:
        """:func:`variant_order` of these variants with activity ``names``, computed once per names array."""
        order: np.ndarray = self._once(
            "_order", names, lambda: variant_order(self.count, self.offsets, self.codes, names)
        )
        return order

    def _once(self, slot: str, names: np.ndarray, make: Any) -> Any:
        held = self.__dict__.get(slot)
        if held is None or held[0] is not names:  # the names array itself is kept: its id cannot be reused
            held = (names, make())
            object.__setattr__(self, slot, held)  # a cache on a frozen (read-only) table
        return held[1]


def coded_variants(coded: CodedEvents) -> CodedVariants:
    """Each case's activity-code sequence grouped into variants (exact, vectorised)."""
    of_case, first = group_sequences(coded.bounds, coded.activity)
    offsets, codes = take_sequences(coded.bounds, coded.activity, first)
    return CodedVariants(
        of_case=_readonly(of_case),
        first_case=_readonly(first),
        count=_readonly(np.bincount(of_case, minlength=len(first)).astype(np.int64)),
        offsets=_readonly(offsets),
        codes=_readonly(codes.astype(np.int32)),
    )


def variant_tuples(offsets: np.ndarray, codes: np.ndarray, names: np.ndarray) -> list[tuple[str, ...]]:
    """The sequences of a (offsets, codes) table as tuples of activity names (one slice per sequence).

    The cyclic garbage collector is paused meanwhile: it would scan the young tuples again and
    again while nothing it could free is made.

    >>> variant_tuples(np.array([0, 2, 2, 3]), np.array([1, 0, 1]), np.array(["a", "b"], dtype=object))
    [('b', 'a'), (), ('b',)]
    """
    labels = np.array([str(n) for n in names], dtype=object)
    with _gc_paused():
        flat = labels[codes].tolist()
        bounds = np.asarray(offsets).tolist()
        return [tuple(flat[a:b]) for a, b in itertools.pairwise(bounds)]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (restored as it was, also on errors)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def variant_order(count: np.ndarray, offsets: np.ndarray, codes: np.ndarray, names: np.ndarray) -> np.ndarray:
    """The order of sequences by count (most first), then by their tuples of names (as Python compares them).

    Names are ranked once; each sequence becomes a byte string of its ranks + 1 (big-endian, one
    width for all), and Arrow sorts (count, bytes): bytes compare like the tuples, a shorter
    prefix first. No tuple comparisons in Python.

    >>> variant_order(np.array([1, 2, 1]), np.array([0, 2, 3, 4]), np.array([1, 0, 1, 1]),
    ...               np.array(["a", "b"], dtype=object)).tolist()
    [1, 2, 0]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(count):
        return np.zeros(0, dtype=np.int64)
    labels = [str(n) for n in names]
    rank = np.empty(len(labels), dtype=np.int64)
    rank[sorted(range(len(labels)), key=labels.__getitem__)] = np.arange(1, len(labels) + 1)
    width = 1 if len(labels) < 2**8 else 2 if len(labels) < 2**16 else 4
    data = np.ascontiguousarray(rank.astype(f">u{width}")[np.asarray(codes)]).view(np.uint8)
    ends = np.asarray(offsets, dtype=np.int64) * width
    keys = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(count), [None, pa.py_buffer(ends), pa.py_buffer(data)]
    )
    table = pa.table({"c": pa.array(-np.asarray(count, dtype=np.int64)), "s": keys})
    order = pc.sort_indices(table, sort_keys=[("c", "ascending"), ("s", "ascending")])
    return np.asarray(order.to_numpy(), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class EncodedEvents:
    """The integer-coded event table the analyses run on, and the names to decode results.

    ``columns`` (int64 arrays, handed to the engines by :meth:`native`; :attr:`frame` as pandas):
    ``case_id``, ``activity_id`` (codes into ``case_names`` / ``activity_names``, both sorted),
    ``ts_us``, ``source_row``, ``row`` (the event's position in the log's order by case,
    ``ts_us`` and source row), ``clock_us`` and, when the log has start timestamps,
    ``start_clock_us`` (the clock at the start, the completion where no start is known) and
    ``has_start`` (1/0).
    """

    columns: Mapping[str, np.ndarray]
    case_names: np.ndarray
    activity_names: np.ndarray
    has_start: bool

    @property
    def n_cases(self) -> int:
        return len(self.case_names)

    @property
    def n_events(self) -> int:
        return len(self.columns[CASE_ID])

    @property
    def frame(self) -> pd.DataFrame:
        """The columns as a pandas table."""
        return pd.DataFrame(dict(self.columns))

    def native(self, backend: str) -> Any:
        """The table on an engine, as :func:`to_native` (polars straight from the arrays, no pandas)."""
        if backend == "polars":
            pl = _require("polars", backend)
            return pl.DataFrame(dict(self.columns)).lazy()
        return to_native(self.frame, backend)


def encode_events(log: EventSource, *, calendar: BusinessCalendar | None = None) -> EncodedEvents:
    """Encode the log's events for the engines (vectorised; the clock follows ``calendar``)."""
    coded = log._coded
    case_names, act_names = coded.case_names, coded.activity_names
    ts = coded.ts_us.copy()
    clock, start, present = _clocks(log, calendar, ts)
    cols: dict[str, Any] = {
        CASE_ID: coded.case.astype("int64"),
        ACT_ID: coded.activity.astype("int64"),
        TS: ts,
        SOURCE_ROW: coded.source_row.copy(),
        ROW: np.arange(coded.n_events, dtype=np.int64),
        CLOCK: clock,
    }
    if start is not None and present is not None:
        cols[START_CLOCK] = start
        cols[HAS_START] = present.astype("int64")
    return EncodedEvents(
        columns=cols,
        case_names=np.asarray(case_names, dtype=object),
        activity_names=np.asarray(act_names, dtype=object),
        has_start=start is not None,
    )


def _clocks(
    log: EventSource, calendar: BusinessCalendar | None, ts: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The clock of every event (``ts`` itself in calendar time) and, when the log has start
    timestamps, the clock at the start (the completion's where none is known) and which have one."""
    ev = log._events
    clock = ts if calendar is None else clock_us(ev[TIMESTAMP], calendar)
    if START not in ev.columns or not bool(ev[START].notna().any()):
        return clock, None, None
    present = ev[START].notna().to_numpy()
    start = clock.copy()
    start[present] = clock_us(ev[START][present], calendar)
    return clock, start, present


@dataclass(frozen=True, eq=False)
class FlowEvents:
    """The events as the in-memory statistics (:func:`coded_flow_stats`) read them, in the log's
    order (each case's events together, in order): ``case`` and ``activity`` codes (the log's own
    arrays, not copied), ``clock`` (µs) and, with start timestamps, ``start_clock`` (the clock at the
    start, the completion's where none is known) and ``started`` (which events have a start).

    ``offsets`` / ``codes`` / ``cases`` are the cases' activity sequences, each distinct one once
    (sequence ``v`` is ``codes[offsets[v]:offsets[v + 1]]``, followed by ``cases[v]`` cases): what is
    counted per case (cases per activity and per path) is counted on them, not on every event.
    """

    case: np.ndarray
    activity: np.ndarray
    clock: np.ndarray
    start_clock: np.ndarray | None
    started: np.ndarray | None
    n_activities: int
    offsets: np.ndarray
    codes: np.ndarray
    cases: np.ndarray

    @property
    def has_start(self) -> bool:
        return self.start_clock is not None

    @property
    def n_events(self) -> int:
        return len(self.case)

    def keep(self, kept: np.ndarray) -> FlowEvents:
        """Only the events of the activities where ``kept`` (a mask over activity codes) holds, in
        the same order; the sequences lose those activities too (some may become empty)."""
        rows = kept[self.activity]

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        shown = kept[self.codes]
        before = np.zeros(len(shown) + 1, dtype=np.int64)
        np.cumsum(shown, out=before[1:])
        return FlowEvents(
            self.case[rows], self.activity[rows], self.clock[rows], pick(self.start_clock), pick(self.started),
            self.n_activities, before[self.offsets], self.codes[shown], self.cases,
        )  # fmt: skip


def flow_events(log: EventSource, *, calendar: BusinessCalendar | None = None) -> FlowEvents:
    """The log's :class:`FlowEvents` (the clock follows ``calendar``)."""
    coded, cv = log._coded, log._coded_variants
    clock, start, present = _clocks(log, calendar, coded.ts_us)
    return FlowEvents(
        coded.case, coded.activity, clock, start, present, len(coded.activity_names), cv.offsets, cv.codes, cv.count
    )


def to_native(table: pd.DataFrame, backend: str, *, spark: Any = None) -> Any:
    """Hand a pandas table to an engine, as that engine's (lazy where possible) frame."""
    _check_backend(backend)
    if backend == "pandas":
        return table
    if backend == "polars":
        pl = _require("polars", backend)
        return pl.from_pandas(table).lazy()
    if backend == "duckdb":
        duckdb = _require("duckdb", backend)
        con = duckdb.connect()
        con.register("events_df", table)
        # A DuckDB table (not a view on pandas) lets every later query scan in parallel.
        con.execute("create table events as select * from events_df")
        con.unregister("events_df")
        return con.table("events")
    _require("pyspark", backend)
    if spark is None:  # pragma: no cover - pyspark is optional
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.master("local[2]").appName("salesmining").getOrCreate()
    return spark.createDataFrame(table)  # pragma: no cover


def _lazy(native: Any) -> nw.LazyFrame[Any]:
    frame = nw.from_native(native)
    return frame.lazy() if isinstance(frame, nw.DataFrame) else frame


def _collect(frame: nw.LazyFrame[Any]) -> pd.DataFrame:
    out: pd.DataFrame = frame.collect(backend="pandas").to_native()
    return out


# --- statistics defined once --------------------------------------------------------------
def _with_sum_parts(frame: nw.LazyFrame[Any], col: str) -> nw.LazyFrame[Any]:
    # pandas accepts only plain column reductions inside group_by: derive the parts first.
    return frame.with_columns((nw.col(col) // _US).alias(f"_{col}_s"), (nw.col(col) % _US).alias(f"_{col}_r"))


def _aggs(col: str, prefix: str) -> list[Any]:
    return [
        nw.col(col).median().alias(f"{prefix}_median"),
        nw.col(col).max().alias(f"{prefix}_max"),
        nw.col(col).min().alias(f"{prefix}_min"),
        nw.col(f"_{col}_s").sum().alias(f"{prefix}_sum_s"),
        nw.col(f"_{col}_r").sum().alias(f"{prefix}_sum_rem"),
    ]


def _quantile_bounds(frame: nw.LazyFrame[Any], keys: list[str], col: str, q: float, prefix: str) -> nw.LazyFrame[Any]:
    """Per group: the order statistics at ``floor((n-1)q)`` and the next one (0-based), exactly.

    Ordinal ranks within each group select the two rows; ties among equal values do not
    matter because the selected *values* are the same.
    """
    num, den = _fraction(q)
    n = nw.col("_n")
    ranked = frame.select(*keys, col).with_columns(
        nw.col(col).rank(method="ordinal").over(*keys).cast(nw.Int64).alias("_r"),
        nw.col(col).count().over(*keys).cast(nw.Int64).alias("_n"),
    )
    ranked = ranked.with_columns(((n - 1) * num // den + 1).alias("_lo"))
    ranked = ranked.with_columns(
        (nw.col("_lo") + ((((n - 1) * num) % den) > 0).cast(nw.Int64)).alias("_hi"),
    )
    picked = ranked.filter((nw.col("_r") == nw.col("_lo")) | (nw.col("_r") == nw.col("_hi")))
    return picked.group_by(*keys).agg(
        nw.col(col).min().alias(f"{prefix}_qlo"),
        nw.col(col).max().alias(f"{prefix}_qhi"),
        nw.col("_n").max().alias(f"{prefix}_qn"),
    )


def _fraction(q: float) -> tuple[int, int]:
    from fractions import Fraction

    f = Fraction(str(q)).limit_denominator(1_000_000)
    return f.numerator, f.denominator


def lerp_quantile(lo: np.ndarray, hi: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """numpy's ``method="linear"`` quantile from the two order statistics around ``(n-1)q``.

    >>> import numpy as np
    >>> x = np.array([1, 2, 4, 8, 16, 32])
    >>> float(lerp_quantile(np.array([16.0]), np.array([32.0]), np.array([6]), 0.9)[0]) == float(np.quantile(x, 0.9))
    True
    """
    lo = lo.astype("float64")
    hi = hi.astype("float64")
    h = (n.astype("float64") - 1) * q
    gamma = h - np.floor(h)
    diff = hi - lo
    # numpy._lerp: symmetric formula, exact at both ends
    out: np.ndarray = np.where(gamma >= 0.5, hi - diff * (1 - gamma), lo + diff * gamma)
    return out


def _finish(df: pd.DataFrame, prefix: str, count: str, q: float = P90) -> pd.DataFrame:
    """Turn raw microsecond aggregates into seconds: median, mean, p90, max, min, total."""
    total_s = df.pop(f"{prefix}_sum_s").astype("float64").to_numpy()
    rem = df.pop(f"{prefix}_sum_rem").astype("float64").to_numpy()
    total = total_s + rem / _US
    cnt = df[count].astype("float64").to_numpy()
    lo = df.pop(f"{prefix}_qlo").to_numpy()
    hi = df.pop(f"{prefix}_qhi").to_numpy()
    qn = df.pop(f"{prefix}_qn").to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, total / cnt, np.nan)
    df[f"{prefix}_median_s"] = df.pop(f"{prefix}_median").astype("float64") / _US
    df[f"{prefix}_mean_s"] = mean
    df[f"{prefix}_p90_s"] = lerp_quantile(lo, hi, qn, q) / _US
    df[f"{prefix}_max_s"] = df.pop(f"{prefix}_max").astype("float64") / _US
    df[f"{prefix}_min_s"] = df.pop(f"{prefix}_min").astype("float64") / _US
    df[f"{prefix}_total_s"] = total
    return df


# --- directly-follows relation ------------------------------------------------------------
def _impl(frame: nw.LazyFrame[Any]) -> str:
    return str(frame.implementation.name).lower()


def _with_neighbours(frame: nw.LazyFrame[Any], *, has_start: bool) -> nw.LazyFrame[Any]:
    """Add the next activity, the clock at the next event, and first/last flags.

    The order within a case is (``ts_us``, ``source_row``) on every engine. Polars and DuckDB
    order the whole table once by ``row`` (the log's order: case, ts, source_row; rows left out
    keep the order of the others) and look one row ahead (much faster there than a window per
    case); pandas and Spark use a window per case (Spark would move a global window onto one
    partition). Both give the same rows.
    """
    nxt_clock = START_CLOCK if has_start else CLOCK
    if _impl(frame) in {"polars", "duckdb"}:
        o = [ROW]
        frame = frame.with_columns(
            nw.col(CASE_ID).shift(-1).over(order_by=o).alias("_next_case"),
            nw.col(CASE_ID).shift(1).over(order_by=o).alias("_prev_case"),
            nw.col(ACT_ID).shift(-1).over(order_by=o).alias("_next_any"),
            nw.col(nxt_clock).shift(-1).over(order_by=o).alias("_next_clock_any"),
        )
        same = (nw.col("_next_case") == nw.col(CASE_ID)).fill_null(value=False)
        first = (nw.col("_prev_case") != nw.col(CASE_ID)).fill_null(value=True)
        frame = frame.with_columns(
            nw.when(same).then(nw.col("_next_any")).alias("_next"),
            nw.when(same).then(nw.col("_next_clock_any")).alias("_next_clock"),
            first.cast(nw.Int64).alias("_first"),
        )
    else:
        frame = frame.with_columns(
            nw.col(ACT_ID).shift(-1).over(CASE_ID, order_by=ORDER).alias("_next"),
            nw.col(nxt_clock).shift(-1).over(CASE_ID, order_by=ORDER).alias("_next_clock"),
            nw.col(ACT_ID).shift(1).over(CASE_ID, order_by=ORDER).is_null().cast(nw.Int64).alias("_first"),
        )
    return frame.with_columns(nw.col("_next").is_null().cast(nw.Int64).alias("_last"))


def _pairs(frame: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """One row per directly-follows pair: case, source, target, wait (µs, clipped at 0)."""
    pairs = frame.filter(~nw.col("_next").is_null()).select(
        nw.col(CASE_ID),
        nw.col(ACT_ID).alias("source_id"),
        nw.col("_next").cast(nw.Int64).alias("target_id"),
        (nw.col("_next_clock").cast(nw.Int64) - nw.col(CLOCK)).clip(lower_bound=0).alias("_wait"),
    )
    return _with_sum_parts(pairs, "_wait")


def _grouped_durations(
    frame: nw.LazyFrame[Any], keys: list[str], col: str, prefix: str, counts: list[Any]
) -> nw.LazyFrame[Any]:
    """``counts`` plus the raw duration aggregates of ``col`` per group (see :func:`_finish`).

    Polars and pandas give the two order statistics around the p90 directly (``lower`` /
    ``higher`` quantiles, exact); DuckDB and Spark only interpolate, so they pick them by rank.
    """
    aggs = [*counts, *_aggs(col, prefix)]
    if _impl(frame) in {"polars", "pandas"}:
        return frame.group_by(*keys).agg(
            *aggs,
            nw.col(col).quantile(P90, interpolation="lower").alias(f"{prefix}_qlo"),
            nw.col(col).quantile(P90, interpolation="higher").alias(f"{prefix}_qhi"),
            nw.col(col).count().alias(f"{prefix}_qn"),
        )
    agg = frame.group_by(*keys).agg(*aggs)
    return agg.join(_quantile_bounds(frame, keys, col, P90, prefix), on=keys, how="left")


def flow_stats(native: Any, *, has_start: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes (per activity: events, cases, starts, ends) and edges (per pair: counts, waits).

    Edge waits run from the source's completion to the target's start (its completion when
    no start is known), clipped at zero like pm4py's performance DFG.
    """
    frame = _with_neighbours(_lazy(native), has_start=has_start)
    if _impl(frame) == "polars":  # nodes and edges both read the neighbours: in memory, compute them once
        frame = frame.collect().lazy()
    nodes = frame.group_by(ACT_ID).agg(
        nw.len().alias("events"),
        nw.col(CASE_ID).n_unique().alias("cases"),
        nw.col("_first").sum().alias("starts"),
        nw.col("_last").sum().alias("ends"),
    )
    keys = ["source_id", "target_id"]
    edges = _grouped_durations(
        _pairs(frame), keys, "_wait", "wait", [nw.len().alias("count"), nw.col(CASE_ID).n_unique().alias("cases")]
    )
    nodes_pd = _ints(_collect(nodes), ["events", "cases", "starts", "ends"])
    edges_pd = _finish(_ints(_collect(edges), ["count", "cases"]), "wait", "count")
    return (
        nodes_pd.sort_values(ACT_ID, kind="stable").reset_index(drop=True),
        edges_pd.sort_values(keys, kind="stable").reset_index(drop=True),
    )


def service_stats(native: Any) -> pd.DataFrame:
    """Per activity, over events with a start timestamp: ``service_count`` and service times (s)."""
    frame = (
        _lazy(native)
        .filter(nw.col(HAS_START) == 1)
        .select(nw.col(ACT_ID), (nw.col(CLOCK) - nw.col(START_CLOCK)).alias("_service"))
    )
    frame = _with_sum_parts(frame, "_service")
    agg = _grouped_durations(frame, [ACT_ID], "_service", "service", [nw.len().alias("service_count")])
    out = _finish(_ints(_collect(agg), ["service_count"]), "service", "service_count")
    return out.sort_values(ACT_ID, kind="stable").reset_index(drop=True)


# --- the same statistics on arrays in memory ---------------------------------------------
def _dense(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes in ``[0, size)`` renumbered 0.. in increasing order: (each code's number, the codes present)."""
    if size <= max(1 << 20, 4 * len(codes)):
        present = np.bincount(codes, minlength=size) > 0
        number = np.cumsum(present) - 1
        return number[codes], np.flatnonzero(present)
    number, uniques = pd.factorize(codes, sort=True)
    return number.astype(np.int64), np.asarray(uniques, dtype=np.int64)


def distinct_counts(
    group: np.ndarray, member: np.ndarray, n_groups: int, weight: np.ndarray | None = None
) -> np.ndarray:
    """Per group ``0 .. n_groups - 1``: how many distinct ``member`` values it has — each counted
    ``weight[member]`` times when ``weight`` is given. ``member``: non-negative ints that never
    decrease along the rows (events or sequences in order).

    A stable radix sort by group (up to 32,768 groups) leaves each group's members in order;
    more groups sort the combined (group, member) keys. No Python per group.

    >>> distinct_counts(np.array([0, 1, 0, 0, 2]), np.array([1, 1, 1, 3, 4]), 4).tolist()
    [2, 1, 1, 0]
    >>> distinct_counts(np.array([0, 1, 0, 0, 2]), np.array([1, 1, 1, 3, 4]), 4, np.arange(5) * 10).tolist()
    [40, 10, 40, 0]
    """
    if not len(group):
        return np.zeros(n_groups, dtype=np.int64)
    if n_groups <= 2**15:
        small = group.astype(np.uint8 if n_groups <= 2**8 else np.int16)
        order = np.argsort(small, kind="stable")  # numpy's radix sort for 8- and 16-bit integers
        g, m = small[order], member[order]
        new = np.empty(len(g), dtype=bool)
        new[0] = True
        np.not_equal(m[1:], m[:-1], out=new[1:])
        new[1:] |= g[1:] != g[:-1]
    else:
        span = int(member.max()) + 1
        if n_groups * span < 2**62:
            key = group.astype(np.int64) * span + member
            key.sort()
            g, m = key // span, key % span
        else:
            order = np.lexsort((member, group))
            g, m = group[order], member[order]
        new = np.r_[True, (g[1:] != g[:-1]) | (m[1:] != m[:-1])]
    if weight is None:
        return np.bincount(g[new], minlength=n_groups)
    # float sums of integers are exact below 2**53 (at most one per case here)
    return np.bincount(g[new], weights=np.asarray(weight)[m[new]], minlength=n_groups).astype(np.int64)


def group_durations(group: np.ndarray, values: np.ndarray, count: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    """The raw aggregates :func:`_finish` turns into seconds, per group ``0 .. len(count) - 1``
    (``count[g]`` values each, every group non-empty) of integer durations: exactly what the
    engines give (polars' linear median ``(hi - lo) * 0.5 + lo``, the order statistics at
    ``floor`` / ``ceil`` of ``(n - 1) * 0.9``, exact integer sums).

    One sort of the combined (group, value) keys — a sort of (group, value) pairs where they
    would not fit in int64 — then every statistic is read off each group's slice.
    """
    n_groups = len(count)
    if not n_groups:
        empty_f, empty_i = np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64)
        names = ("median", "max", "min", "sum_s", "sum_rem", "qlo", "qhi", "qn")
        return {f"{prefix}_{n}": empty_f if n == "median" else empty_i for n in names}
    values = np.asarray(values, dtype=np.int64)
    low = int(values.min())
    span = int(values.max()) - low + 1
    if n_groups * span < 2**62:
        ordered = group.astype(np.int64) * span
        ordered += values
        ordered -= low
        ordered.sort()
        ordered -= np.repeat(np.arange(n_groups, dtype=np.int64) * span, count)
        ordered += low
    else:
        ordered = values[np.lexsort((values, group))]
    ends = np.cumsum(count)
    first = ends - count
    a = ordered[first + (count - 1) // 2].astype(np.float64)
    b = ordered[first + count // 2].astype(np.float64)
    h = (count.astype(np.float64) - 1.0) * P90
    whole, rem = np.divmod(ordered, _US)
    return {
        f"{prefix}_median": (b - a) * 0.5 + a,
        f"{prefix}_max": ordered[ends - 1],
        f"{prefix}_min": ordered[first],
        f"{prefix}_sum_s": np.add.reduceat(whole, first),
        f"{prefix}_sum_rem": np.add.reduceat(rem, first),
        f"{prefix}_qlo": ordered[first + np.floor(h).astype(np.int64)],
        f"{prefix}_qhi": ordered[first + np.ceil(h).astype(np.int64)],
        f"{prefix}_qn": count,
    }


def coded_flow_stats(events: FlowEvents) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`flow_stats` of events in memory: the same nodes and edges, exactly, computed on the
    arrays (the events are in the log's order, so a case's next event is the next row). Cases per
    activity and per path are counted on the distinct sequences, weighted by their cases."""
    k = events.n_activities
    act, case = events.activity, events.case
    node_cols = [ACT_ID, "events", "cases", "starts", "ends"]
    edge_cols = ["source_id", "target_id", "count", "cases"]
    if not events.n_events:
        nodes = pd.DataFrame({c: np.zeros(0, dtype=np.int64) for c in node_cols})
        raw = group_durations(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, np.int64), "wait")
        edges = pd.DataFrame({**{c: np.zeros(0, dtype=np.int64) for c in edge_cols}, **raw})
        return nodes, _finish(edges, "wait", "count")
    follows = case[1:] == case[:-1]
    events_per = np.bincount(act, minlength=k)
    present = np.flatnonzero(events_per)
    starts = np.bincount(act[np.flatnonzero(np.r_[True, ~follows])], minlength=k)
    ends = np.bincount(act[np.flatnonzero(np.r_[~follows, True])], minlength=k)
    # the sequences: which one each code belongs to, and which codes follow one another in one
    seq = np.repeat(np.arange(len(events.cases), dtype=np.int64), np.diff(events.offsets))
    cases = distinct_counts(events.codes, seq, k, events.cases)
    nodes = pd.DataFrame(
        {
            ACT_ID: present.astype(np.int64),
            "events": events_per[present].astype(np.int64),
            "cases": cases[present],
            "starts": starts[present].astype(np.int64),
            "ends": ends[present].astype(np.int64),
        }
    )
    at = np.flatnonzero(follows)
    del follows
    nxt = events.start_clock if events.start_clock is not None else events.clock
    wait = nxt[at + 1] - events.clock[at]
    np.maximum(wait, 0, out=wait)
    pair, codes = _dense(act[at].astype(np.int64) * k + act[at + 1], k * k)
    del at
    count = np.bincount(pair, minlength=len(codes))
    inner = np.flatnonzero(seq[1:] == seq[:-1])
    seq_pair = np.searchsorted(codes, events.codes[inner].astype(np.int64) * k + events.codes[inner + 1])
    edges = pd.DataFrame(
        {
            "source_id": codes // k,
            "target_id": codes % k,
            "count": count.astype(np.int64),
            "cases": distinct_counts(seq_pair, seq[inner], len(codes), events.cases),
            **group_durations(pair, wait, count, "wait"),
        }
    )
    return nodes, _finish(edges, "wait", "count")


def coded_service_stats(events: FlowEvents) -> pd.DataFrame:
    """:func:`service_stats` of events in memory (with start timestamps), exactly."""
    if events.started is None or events.start_clock is None:
        raise EngineError("coded_service_stats: the events have no start timestamps (callers check first)")
    keep = np.flatnonzero(events.started)
    service = events.clock[keep] - events.start_clock[keep]
    act, codes = _dense(events.activity[keep].astype(np.int64), events.n_activities)
    count = np.bincount(act, minlength=len(codes))
    out = pd.DataFrame(
        {
            ACT_ID: codes.astype(np.int64),
            "service_count": count.astype(np.int64),
            **group_durations(act, service, count, "service"),
        }
    )
    return _finish(out, "service", "service_count")


def coded_throughput_stats(variants: CodedVariants, throughput: np.ndarray) -> pd.DataFrame:
    """:func:`throughput_stats` of the log's variants (``key`` = variant id), ``throughput`` in µs
    per case by code, exactly; ``example_id`` is each variant's first case."""
    out = pd.DataFrame(
        {
            "key": np.arange(variants.n_variants, dtype=np.int64),
            "count": variants.count.astype(np.int64),
            "example_id": variants.first_case.astype(np.int64),
            **group_durations(variants.of_case, throughput, variants.count, "throughput"),
        }
    )
    return _finish(out, "throughput", "count")


# --- sequences and variants ---------------------------------------------------------------
def sequence_keys(native: Any, backend: str) -> Any:
    """Native frame (``case_id``, ``key``): each case's activity codes in (ts, source_row) order,
    joined with :data:`SEP` — the one per-engine dispatch (no list aggregation in narwhals)."""
    _check_backend(backend)
    if backend == "polars":
        pl = _require("polars", backend)
        return native.group_by(CASE_ID).agg(pl.col(ACT_ID).sort_by(ORDER).cast(pl.String).str.join(SEP).alias("key"))
    if backend == "pandas":
        t = native.sort_values([CASE_ID, TS, SOURCE_ROW], kind="stable")
        acts = t[ACT_ID].to_numpy()
        cases = t[CASE_ID].to_numpy()
        if not len(acts):
            return pd.DataFrame({CASE_ID: pd.Series([], dtype="int64"), "key": pd.Series([], dtype="str")})
        # string concatenation per case in C (np.add.reduceat), no Python loop per case
        labels = np.array([f"{i}{SEP}" for i in range(int(acts.max()) + 1)], dtype=object)
        starts = np.flatnonzero(np.r_[True, cases[1:] != cases[:-1]])
        joined = np.add.reduceat(labels[acts], starts)
        return pd.DataFrame({CASE_ID: cases[starts], "key": pd.Series(joined, dtype="str").str[:-1]})
    if backend == "duckdb":
        return native.query(
            "ev",
            f"select {CASE_ID}, string_agg(cast({ACT_ID} as varchar), chr(31) order by {TS}, {SOURCE_ROW}) as key "
            f"from ev group by {CASE_ID}",
        )
    from pyspark.sql import functions as F  # noqa: N812  # pragma: no cover - pyspark is optional

    seq = F.sort_array(F.collect_list(F.struct(F.col(TS), F.col(SOURCE_ROW), F.col(ACT_ID).cast("string").alias("a"))))
    key = F.concat_ws(SEP, F.transform(seq, lambda x: x["a"])).alias("key")  # pragma: no cover
    return native.groupBy(CASE_ID).agg(key)  # pragma: no cover


def variant_stats(native: Any, backend: str, *, has_start: bool) -> pd.DataFrame:
    """Per variant key: ``count``, throughput median/mean/p90/max/min/total (s), ``example_id``.

    Throughput runs from the case's first start (or first timestamp) to its last timestamp.
    ``example_id`` is the smallest case code with that variant. The keys are
    :func:`sequence_keys`; :func:`throughput_stats` is the same on cases already keyed.
    """
    frame = _lazy(native)
    first = START_CLOCK if has_start else CLOCK
    per_case = frame.group_by(CASE_ID).agg(nw.col(first).min().alias("_t0"), nw.col(CLOCK).max().alias("_t1"))
    keys = _lazy(sequence_keys(native, backend))
    cases = per_case.join(keys, on=CASE_ID, how="inner").select(
        nw.col(CASE_ID), nw.col("key"), (nw.col("_t1") - nw.col("_t0")).alias("_thr")
    )
    return throughput_stats(cases)


def throughput_stats(cases: Any) -> pd.DataFrame:
    """:func:`variant_stats` of a frame with one row per case: ``case_id``, ``key``, ``_thr`` (µs)."""
    frame = _with_sum_parts(_lazy(cases), "_thr")
    counts = [nw.len().alias("count"), nw.col(CASE_ID).min().alias("example_id")]
    agg = _grouped_durations(frame, ["key"], "_thr", "throughput", counts)
    out = _finish(_ints(_collect(agg), ["count", "example_id"]), "throughput", "count")
    return out.sort_values("key", kind="stable").reset_index(drop=True)


def decode_keys(keys: Any, names: np.ndarray) -> list[tuple[str, ...]]:
    """Sequence keys of activity codes → tuples of activity names (one dict lookup per code)."""
    lookup = {str(i): str(n) for i, n in enumerate(names)}
    get = lookup.__getitem__
    return [tuple(map(get, k.split(SEP))) for k in keys]


def _ints(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    for c in cols:
        df[c] = df[c].astype("int64")
    for c in ("source_id", "target_id", ACT_ID, CASE_ID):
        if c in df.columns:
            df[c] = df[c].astype("int64")
    return df


def case_sequences(log: EventSource, *, backend: str = "polars") -> pd.DataFrame:
    """One row per case (sorted by case id): ``case:concept:name``, ``variant_id``.

    ``variant_id`` indexes ``out.attrs["keys"]`` (activity names joined with :data:`SEP`); ids
    are assigned in order of first appearance by sorted case id, so they are deterministic. On
    polars (the default) they come from the log's :class:`CodedVariants`; the other engines run
    :func:`sequence_keys` (the narwhals reference, equal row for row).
    """
    if backend != "polars":
        return _case_sequences_native(log, backend)
    coded, cv = log._coded, log._coded_variants
    out = pd.DataFrame({CASE: pd.Series(coded.case_names, dtype="str"), "variant_id": cv.of_case.astype("int64")})
    out.attrs["keys"] = [SEP.join(t) for t in cv.tuples(coded.activity_names)]
    return out


def _case_sequences_native(log: EventSource, backend: str) -> pd.DataFrame:
    """:func:`case_sequences` through :func:`sequence_keys` on ``backend``."""
    enc = encode_events(log)
    native = to_native(enc.frame[[CASE_ID, ACT_ID, TS, SOURCE_ROW]], backend)
    seq = _collect(_lazy(sequence_keys(native, backend))).sort_values(CASE_ID, kind="stable").reset_index(drop=True)
    codes, uniques = pd.factorize(seq["key"], sort=False)
    out = pd.DataFrame(
        {CASE: pd.Series(enc.case_names[seq[CASE_ID].to_numpy()], dtype="str"), "variant_id": codes.astype("int64")}
    )
    out.attrs["keys"] = [SEP.join(t) for t in decode_keys(uniques, enc.activity_names)]
    return out


def variants(log: EventSource, *, backend: str = "polars") -> pd.DataFrame:
    """Variant table: ``variant`` (tuple), ``count``, ``share``, ``length``, ``example_case``.

    Sorted by count (descending), then by the variant itself, so the order is deterministic.
    On polars it is read from the log's :class:`CodedVariants`; the other engines group the
    :func:`case_sequences` they compute.
    """
    if backend == "polars":
        coded, cv = log._coded, log._coded_variants
        tuples = cv.tuples(coded.activity_names)
        count = cv.count
        example = coded.case_names[cv.first_case]
        order = cv.order(coded.activity_names)
        n = max(coded.n_cases, 1)
    else:
        seq = case_sequences(log, backend=backend)
        keys: list[str] = seq.attrs["keys"]
        g = seq.groupby("variant_id", sort=True)
        count = g.size().to_numpy()
        example = g[CASE].first().to_numpy()
        tuples = [tuple(keys[i].split(SEP)) for i in range(len(count))]
        order = None
        n = max(len(seq), 1)
    out = pd.DataFrame(
        {
            "variant": pd.Series(tuples, dtype="object"),
            "count": count.astype("int64"),
            "share": count / n,
            "length": np.fromiter(map(len, tuples), dtype="int64", count=len(tuples)),
            "example_case": example.astype(object),
        }
    )
    if order is None:
        return out.sort_values(["count", "variant"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return out.take(order).reset_index(drop=True)
