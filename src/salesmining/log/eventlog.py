"""The canonical, immutable event log."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core import formatting as _fmt
from salesmining.core import html as _display
from salesmining.core.errors import LogSchemaError, OptionError
from salesmining.core.frames import handout
from salesmining.core.plain import plain
from salesmining.core.schema import (
    ACTIVITY,
    CASE,
    LIFECYCLE,
    OUTCOME,
    OUTCOMES,
    RESOURCE,
    SOURCE_ROW,
    START,
    TIMESTAMP,
    UTC_DTYPE,
)
from salesmining.engine import aggregations as _engine
from salesmining.log.quality import IngestReport, empty_rejections

__all__ = ["EventLog"]


class EventLog:
    """An immutable event log: one row per event, plus a case table.

    Events use the pm4py/XES column names — ``case:concept:name``, ``concept:name``,
    ``time:timestamp`` (tz-aware UTC) and, when present, ``start_timestamp``,
    ``org:resource``, ``lifecycle:transition`` — plus ``source_row`` (the 0-based row of the
    input the event came from; CRM readers, which merge several inputs, number events in their
    reading order and keep the original row in ``input_row`` with ``source_object``) and any
    further event attributes. Events are ordered by
    case, timestamp, then source row, so ties keep the order of the export.

    The case table (:attr:`cases`) has one row per case: ``case:concept:name``, ``outcome``
    (``"won"``, ``"lost"``, ``"open"`` or missing when unknown) and case attributes such as
    ``amount``, ``owner``, ``segment``.

    Build one with :func:`salesmining.read_csv`, :func:`salesmining.from_dataframe`,
    :func:`salesmining.read_xes` or a CRM reader; the constructor is for adapters that already
    hold canonical frames.

    Examples
    --------
    >>> import pandas as pd, salesmining as sm
    >>> df = pd.DataFrame({"deal": ["A", "A", "B"], "stage": ["Lead", "Won", "Lead"],
    ...                    "at": ["2024-01-01 09:00Z", "2024-01-03 10:00Z", "2024-01-02 08:00Z"]})
    >>> log = sm.from_dataframe(df, case="deal", activity="stage", timestamp="at")
    >>> log
    <EventLog: 2 cases, 3 events, 2 activities, 2024-01-01 → 2024-01-03>
    >>> log.variants()[["variant", "count"]].to_dict("records")
    [{'variant': ('Lead',), 'count': 1}, {'variant': ('Lead', 'Won'), 'count': 1}]
    """

    __slots__ = ("__dict__", "_cases", "_events", "_history", "_meta", "_name", "_quality")
    _events: pd.DataFrame
    _cases: pd.DataFrame
    _quality: IngestReport
    _name: str | None
    _meta: dict[str, Any]
    _history: tuple[str, ...]

    def __init__(
        self,
        events: pd.DataFrame,
        cases: pd.DataFrame | None = None,
        *,
        quality: IngestReport | None = None,
        name: str | None = None,
        meta: Mapping[str, Any] | None = None,
        history: Sequence[str] = (),
    ) -> None:
        ev = _validate_events(events)
        case_ids = np.asarray(pd.unique(ev[CASE]), dtype=object)
        object.__setattr__(self, "_events", ev)
        object.__setattr__(self, "_cases", _align_cases(cases, case_ids))
        if quality is None:
            quality = IngestReport(
                source="DataFrame", rows_read=len(ev), rows_kept=len(ev), _rejections=empty_rejections()
            )
        object.__setattr__(self, "_quality", quality)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_meta", dict(meta or {}))
        object.__setattr__(self, "_history", tuple(history))

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("EventLog is immutable; methods return a new log")

    def __reduce__(self) -> tuple[Any, ...]:
        # pickling goes through the constructor (the frames are already canonical, so this is cheap)
        return (_restore, (self._events, self._cases, self._quality, self._name, self._meta, self._history))

    # --- basic facts -------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """A label for the log (file name by default)."""
        return self._name

    @property
    def n_cases(self) -> int:
        """Number of cases."""
        return len(self._cases)

    @property
    def n_events(self) -> int:
        """Number of events."""
        return len(self._events)

    @functools.cached_property
    def activities(self) -> tuple[str, ...]:
        """Activity names, most frequent first (ties by name)."""
        counts = self._events[ACTIVITY].value_counts()
        order = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
        return tuple(str(a) for a, _ in order)

    @property
    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """(first, last) timestamp in UTC, ``None`` for an empty log."""
        if not len(self._events):
            return None
        ts = self._events[TIMESTAMP]
        first = ts.min()
        if START in self._events.columns and self._events[START].notna().any():
            first = min(first, self._events[START].min())
        return first, ts.max()

    @property
    def cases(self) -> pd.DataFrame:
        """The case table: ``case:concept:name``, ``outcome`` and case attributes (a copy)."""
        return handout(self._cases)

    @property
    def quality(self) -> IngestReport:
        """How the log was read: rows read, kept, rejected (with reasons), warnings."""
        return self._quality

    @property
    def meta(self) -> Mapping[str, Any]:
        """Dataset-level facts set by readers (e.g. ``loops_unobservable``)."""
        return dict(self._meta)

    @property
    def history(self) -> tuple[str, ...]:
        """The filters applied since ingest, in order."""
        return self._history

    @property
    def has_start_timestamps(self) -> bool:
        """Whether events carry a start timestamp (service times can be measured)."""
        return START in self._events.columns and bool(self._events[START].notna().any())

    @property
    def has_resources(self) -> bool:
        """Whether events carry a resource (owner / approver)."""
        return RESOURCE in self._events.columns and bool(self._events[RESOURCE].notna().any())

    # --- frames ------------------------------------------------------------------------
    def to_frame(self, *, with_cases: bool = False) -> pd.DataFrame:
        """The events as a new DataFrame; ``with_cases=True`` joins case attributes as ``case:<name>``."""
        ev = handout(self._events)
        if not with_cases:
            return ev
        extra = self._cases.rename(columns={c: f"case:{c}" for c in self._cases.columns if c != CASE})
        return ev.merge(extra, on=CASE, how="left", validate="many_to_one")

    def to_pm4py(self) -> pd.DataFrame:
        """A DataFrame pm4py accepts as is (XES names, sorted, case attributes as ``case:*``)."""
        df = self.to_frame(with_cases=True)
        if LIFECYCLE not in df.columns:
            df[LIFECYCLE] = "complete"
        return df

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable facts: sizes, activities, time range, outcomes, filters,
        dataset facts and the ingest report (:meth:`IngestReport.to_dict`)."""
        tr = self.time_range
        outcomes = self._cases[OUTCOME].fillna("unknown").value_counts()
        return {
            "name": self._name,
            "cases": self.n_cases,
            "events": self.n_events,
            "activities": list(self.activities),
            "time_range": [tr[0].isoformat(), tr[1].isoformat()] if tr else None,
            "outcomes": {str(k): int(v) for k, v in outcomes.items()},
            "history": list(self._history),
            "meta": plain(self._meta),
            "quality": self._quality.to_dict(),
        }

    def quality_html(self, *, title: str | None = None) -> str:
        """The data-quality page (self-contained HTML): what the log holds and how every input
        row was accounted for (the ``salesmining quality`` command writes it)."""
        from salesmining.log.report import quality_report_html

        return quality_report_html(self, title=title)

    def write_quality_html(self, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
        """Write :meth:`quality_html` to a file (UTF-8)."""
        from salesmining.present.report import write_text

        return write_text(Path(path), self.quality_html(title=title))

    def variants(self) -> pd.DataFrame:
        """Variants, most frequent first: ``variant`` (tuple), ``count``, ``share``, ``example_case``."""
        return _engine.variants(self)

    @functools.cached_property
    def _coded(self) -> _engine.CodedEvents:
        """The events as integer codes (case, activity, resource), int64 µs timestamps, in the log's
        order: computed once, shared by every analysis (read-only arrays)."""
        return _engine.coded_events(self._events, self.__dict__.pop("_case_codes", None))

    @functools.cached_property
    def _coded_variants(self) -> _engine.CodedVariants:
        """The variants on activity codes (each case's variant, each variant's code sequence):
        computed once, shared by ``variants()``, discover, conform and the stage-model inference."""
        return _engine.coded_variants(self._coded)

    @functools.cached_property
    def _sequences(self) -> pd.DataFrame:
        """One row per case: ``case:concept:name``, ``variant_id``; ``attrs["keys"]``: each variant's
        activity names joined with ``\\x1f`` (from :attr:`_coded_variants`)."""
        return _engine.case_sequences(self)

    # --- derived logs ------------------------------------------------------------------
    def _derive(self, events: pd.DataFrame, cases: pd.DataFrame | None, step: str) -> EventLog:
        return EventLog(
            events,
            self._cases if cases is None else cases,
            quality=self._quality,
            name=self._name,
            meta=self._meta,
            history=(*self._history, step),
        )

    def filter(
        self,
        *,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        mode: str = "started",
        activities: Iterable[str] | None = None,
        exclude_activities: Iterable[str] | None = None,
        cases: Iterable[str] | None = None,
        outcome: str | Iterable[str] | None = None,
        where: Mapping[str, object | Callable[[pd.Series], pd.Series]] | None = None,
    ) -> EventLog:
        """A new log restricted by time, activity, case, outcome or case attribute.

        Parameters
        ----------
        start, end:
            Time window (strings are read as UTC unless they carry a zone). ``mode`` says
            which cases a window keeps: ``"started"`` (case starts inside, the default),
            ``"completed"`` (case ends inside), ``"contained"`` (entirely inside),
            ``"intersecting"`` (any overlap), or ``"trim"`` (keep only the events inside).
        activities, exclude_activities:
            Keep only / drop these activities (events, not cases).
        cases:
            Keep these case ids.
        outcome:
            Keep cases with this outcome (``"won"``, ``"lost"``, ``"open"``) or any of several.
        where:
            Case-attribute conditions: ``{"segment": "Enterprise"}``, ``{"segment": ["SMB", "Mid-Market"]}``
            or ``{"amount": lambda s: s > 10_000}``.
        """
        ev = self._events
        cs = self._cases
        steps: list[str] = []
        if start is not None or end is not None:
            lo = _as_utc(start) if start is not None else None
            hi = _as_utc(end) if end is not None else None
            if mode == "trim":
                m = np.ones(len(ev), dtype=bool)
                if lo is not None:
                    m &= (ev[TIMESTAMP] >= lo).to_numpy()
                if hi is not None:
                    m &= (ev[TIMESTAMP] < hi).to_numpy()
                ev = ev[m]
            else:
                g = ev.groupby(CASE, sort=False)[TIMESTAMP]
                first, last = g.min(), g.max()
                ok = pd.Series(True, index=first.index)
                if mode == "started":
                    ok &= _between(first, lo, hi)
                elif mode == "completed":
                    ok &= _between(last, lo, hi)
                elif mode == "contained":
                    ok &= _between(first, lo, hi) & _between(last, lo, hi)
                elif mode == "intersecting":
                    if lo is not None:
                        ok &= last >= lo
                    if hi is not None:
                        ok &= first < hi
                else:
                    raise OptionError(f"mode must be started, completed, contained, intersecting or trim, not {mode!r}")
                ev = ev[ev[CASE].isin(ok.index[ok])]
            steps.append(f"time {start or '…'} → {end or '…'} ({mode})")
        if activities is not None:
            keep = set(activities)
            ev = ev[ev[ACTIVITY].isin(keep)]
            steps.append(f"activities in {sorted(keep)}")
        if exclude_activities is not None:
            drop = set(exclude_activities)
            ev = ev[~ev[ACTIVITY].isin(drop)]
            steps.append(f"activities not in {sorted(drop)}")
        if cases is not None:
            keep_c = {str(c) for c in cases}
            ev = ev[ev[CASE].isin(keep_c)]
            steps.append(f"{len(keep_c)} listed cases")
        if outcome is not None:
            wanted = {outcome} if isinstance(outcome, str) else set(outcome)
            bad = wanted - set(OUTCOMES)
            if bad:
                raise OptionError(f"outcome must be among {OUTCOMES}, not {sorted(bad)}")
            ids = cs.loc[cs[OUTCOME].isin(wanted), CASE]
            ev = ev[ev[CASE].isin(ids)]
            steps.append(f"outcome in {sorted(wanted)}")
        for col, cond in (where or {}).items():
            if col not in cs.columns:
                raise LogSchemaError(
                    f"no case attribute {col!r}; the case table has {sorted(c for c in cs.columns if c != CASE)}",
                    column=col,
                )
            if callable(cond):
                mask = pd.Series(cond(cs[col]), index=cs.index).fillna(False).astype(bool)
            elif isinstance(cond, (list, tuple, set, frozenset)):
                mask = cs[col].isin(list(cond))
            else:
                mask = cs[col] == cond
            ev = ev[ev[CASE].isin(cs.loc[mask, CASE])]
            steps.append(f"{col} condition")
        return self._derive(ev, None, "; ".join(steps) or "no-op filter")

    def with_outcomes(self, *, won: Iterable[str] = (), lost: Iterable[str] = ()) -> EventLog:
        """A new log whose case ``outcome`` comes from the *last* won/lost activity in each case.

        A case whose last terminal activity is in ``won`` is won, in ``lost`` lost; cases with
        no terminal activity are ``"open"``. Cases that reach a terminal activity and later have
        other activities are still judged by the last terminal one (see ``reopened`` in
        :meth:`salesmining.conform` for reopen detection).
        """
        won_s, lost_s = set(won), set(lost)
        if won_s & lost_s:
            raise OptionError(f"activities both won and lost: {sorted(won_s & lost_s)}")
        ev = self._events
        term = ev[ev[ACTIVITY].isin(won_s | lost_s)]
        last = term.groupby(CASE, sort=False)[ACTIVITY].last()
        cs = self._cases.copy()
        res = cs[CASE].map(last)
        cs[OUTCOME] = np.where(res.isin(won_s), "won", np.where(res.isin(lost_s), "lost", "open"))
        cs[OUTCOME] = cs[OUTCOME].astype("str")
        return self._derive(ev, cs, f"outcomes from won={sorted(won_s)}, lost={sorted(lost_s)}")

    def split(self, at: str | pd.Timestamp, *, mode: str = "started") -> tuple[EventLog, EventLog]:
        """Two logs: cases before and from ``at`` (by case start, or as ``mode`` in :meth:`filter`)."""
        return self.filter(end=at, mode=mode), self.filter(start=at, mode=mode)

    # --- display -----------------------------------------------------------------------
    def __repr__(self) -> str:
        label = f" {self._name!r}" if self._name else ""
        tr = self.time_range
        span = f", {tr[0]:%Y-%m-%d} → {tr[1]:%Y-%m-%d}" if tr else ""
        return (
            f"<EventLog{label}: {self.n_cases:,} cases, {self.n_events:,} events, "
            f"{len(self.activities):,} activities{span}>"
        )

    def _repr_html_(self) -> str:
        return _event_log_html(self)

    def __len__(self) -> int:
        return self.n_events

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventLog):
            return NotImplemented
        return self._events.equals(other._events) and self._cases.equals(other._cases)

    __hash__ = None  # type: ignore[assignment]


def _restore(
    events: pd.DataFrame,
    cases: pd.DataFrame,
    quality: IngestReport,
    name: str | None,
    meta: Mapping[str, Any],
    history: Sequence[str],
) -> EventLog:
    return EventLog(events, cases, quality=quality, name=name, meta=meta, history=history)


def _as_utc(value: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _between(s: pd.Series, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.Series:
    ok = pd.Series(True, index=s.index)
    if lo is not None:
        ok &= s >= lo
    if hi is not None:
        ok &= s < hi
    return ok


def _hand_over_case_codes(log: EventLog, codes: np.ndarray, names: pd.Index, source_rows: np.ndarray) -> None:
    """Give a reader's factorisation of ``log``'s case ids (codes of its events, in the order of
    their ``source_rows``; the sorted distinct ids) to :attr:`EventLog._coded`, which then does not
    factorise them again — when the log kept the events in that order."""
    if np.array_equal(log._events[SOURCE_ROW].to_numpy(), source_rows):
        object.__setattr__(log, "_case_codes", (codes, names))


def _reader_log(events: pd.DataFrame, cases: pd.DataFrame, *, quality: IngestReport, name: str | None) -> EventLog:
    """``EventLog(events, cases, quality=quality, name=name)`` for a reader's frames: events sorted
    by (case, timestamp, source row) with case ids numbered in sorted order, and a case table
    listing those ids once each, in that order. When the ids strictly increase (as strings
    compare: then the events are in the log's order and the case table aligned), the log is made
    without checking the order again or aligning the table; otherwise by the constructor."""
    if not len(events) or not _strictly_increasing(cases[CASE]):
        return EventLog(events, cases, quality=quality, name=name)
    log: EventLog = EventLog.__new__(EventLog)
    object.__setattr__(log, "_events", _validate_events(events, ordered=True))
    object.__setattr__(log, "_cases", _align_cases(cases, None))
    object.__setattr__(log, "_quality", quality)
    object.__setattr__(log, "_name", name)
    object.__setattr__(log, "_meta", {})
    object.__setattr__(log, "_history", ())
    return log


def _strictly_increasing(ids: pd.Series) -> bool:
    """Whether text ``ids`` (no missing) strictly increase from one to the next, as strings
    compare (by code point) — as :func:`_in_order` compares them."""
    import polars as pl
    import pyarrow as pa

    if ids.isna().any():
        return False
    if len(ids) < 2:
        return True
    t = pl.Series(pl.from_arrow(pa.array(ids.astype("str").array, type=pa.large_string())))
    return bool((t.head(len(t) - 1) < t.tail(len(t) - 1)).all())


def _validate_events(events: pd.DataFrame, *, ordered: bool = False) -> pd.DataFrame:
    """The canonical events frame; ``ordered``: the caller knows the events are in the log's
    order (by case, timestamp, source row) already."""
    missing = [c for c in (CASE, ACTIVITY, TIMESTAMP) if c not in events.columns]
    if missing:
        raise LogSchemaError(
            f"events lack the canonical columns {missing}; build logs with salesmining.read_csv or "
            "salesmining.from_dataframe, which map your column names"
        )
    ev = events.copy(deep=False)
    if SOURCE_ROW not in ev.columns:
        ev[SOURCE_ROW] = np.arange(len(ev), dtype="int64")
    for col in (CASE, ACTIVITY):
        if ev[col].isna().any():
            raise LogSchemaError(f"column {col!r} has empty values", column=col)
        ev[col] = ev[col].astype("str")
    for col in (TIMESTAMP, START):
        if col not in ev.columns:
            continue
        if not isinstance(ev[col].dtype, pd.DatetimeTZDtype):
            raise LogSchemaError(f"column {col!r} must be tz-aware datetimes, not {ev[col].dtype}", column=col)
        ev[col] = ev[col].dt.tz_convert("UTC").astype(UTC_DTYPE)
    if ev[TIMESTAMP].isna().any():
        raise LogSchemaError(f"column {TIMESTAMP!r} has empty values", column=TIMESTAMP)
    for col in (RESOURCE, LIFECYCLE):
        if col in ev.columns and not _is_str(ev[col]):  # the str dtype holds missing values as NaN already
            ev[col] = ev[col].astype("str").where(ev[col].notna(), None)
    ev[SOURCE_ROW] = ev[SOURCE_ROW].astype("int64")
    import polars as pl

    # the stable sort by (case, timestamp, source row), on integer keys: case codes in sorted order
    stamp = ev[TIMESTAMP].to_numpy(dtype="datetime64[us]").view("int64")
    if not ordered and not _in_order(
        ev[CASE], stamp, ev[SOURCE_ROW].to_numpy()
    ):  # readers hand events over in order already
        codes, _ = pd.factorize(ev[CASE], sort=True)
        keys = pl.DataFrame({"c": codes, "t": stamp, "r": ev[SOURCE_ROW].to_numpy()})
        ev = ev.take(keys.select(pl.arg_sort_by(["c", "t", "r"], maintain_order=True)).to_series().to_numpy())
    ev = ev.reset_index(drop=True)
    front = [c for c in (CASE, ACTIVITY, TIMESTAMP, START, RESOURCE, LIFECYCLE, SOURCE_ROW) if c in ev.columns]
    return ev[front + [c for c in ev.columns if c not in front]]


def _is_str(s: pd.Series) -> bool:
    """Whether ``s`` has the ``str`` dtype (missing values as NaN), which ``astype("str")`` gives."""
    return s.dtype == pd.StringDtype(na_value=np.nan)


def _in_order(case: pd.Series, stamp: np.ndarray, row: np.ndarray) -> bool:
    """Whether (case id, timestamp, row) never decreases from one event to the next (then the
    stable sort by them changes nothing); case ids compare as strings do, by code point."""
    import polars as pl
    import pyarrow as pa

    if len(case) < 2:
        return True
    keys = pl.DataFrame({"c": pl.from_arrow(pa.array(case.array, type=pa.large_string())), "t": stamp, "r": row})
    now, after = keys.head(len(keys) - 1), keys.tail(len(keys) - 1)  # slices: no copies
    c, t, r = now["c"], now["t"], now["r"]
    c1, t1, r1 = after["c"], after["t"], after["r"]
    step = (c < c1) | ((c == c1) & ((t < t1) | ((t == t1) & (r <= r1))))
    return bool(step.all())


def _align_cases(cases: pd.DataFrame | None, case_ids: np.ndarray | None) -> pd.DataFrame:
    """The case table in sorted case order (``case_ids``: the events' distinct ids; ``None`` when
    ``cases`` lists them in sorted order once each already)."""
    if case_ids is None:
        assert cases is not None
        out = cases.copy(deep=False)
        out[CASE] = out[CASE].astype("str")
        out = out.reset_index(drop=True)
        return _canonical_outcomes(out)
    ids = pd.Series(sorted(case_ids), dtype="str", name=CASE)  # in event order the ids come sorted already
    if cases is None:
        out = pd.DataFrame({CASE: ids})
    else:
        if CASE not in cases.columns:
            raise LogSchemaError(f"the case table needs a {CASE!r} column")
        cs = cases.copy(deep=False)
        cs[CASE] = cs[CASE].astype("str")
        if cs[CASE].duplicated().any():
            dup = cs.loc[cs[CASE].duplicated(), CASE].iloc[0]
            raise LogSchemaError(f"the case table lists case {dup!r} twice", column=CASE, value=dup)
        aligned = len(cs) == len(ids) and bool((cs[CASE].reset_index(drop=True) == ids).all())
        # a reader's case table lists the ids in this order already: the merge would change nothing
        out = cs.reset_index(drop=True) if aligned else pd.DataFrame({CASE: ids}).merge(cs, on=CASE, how="left")
    return _canonical_outcomes(out)


def _canonical_outcomes(out: pd.DataFrame) -> pd.DataFrame:
    """The aligned case table with its ``outcome`` column checked (won/lost/open, or missing) and first."""
    if OUTCOME not in out.columns:
        out[OUTCOME] = pd.Series(pd.NA, index=out.index, dtype="str")
    else:
        norm = out[OUTCOME].astype("str").str.strip().str.lower()
        bad = norm.notna() & ~norm.isin(OUTCOMES)
        if bad.any():
            raise LogSchemaError(
                f"outcome values must be won, lost or open; found {sorted(norm[bad].unique())[:5]}",
                column=OUTCOME,
            )
        out[OUTCOME] = norm
    front = [CASE, OUTCOME]
    return out[front + [c for c in out.columns if c not in front]].reset_index(drop=True)


def _event_log_html(log: EventLog) -> str:
    tr = log.time_range
    facts: list[tuple[str, object]] = [
        ("cases", _fmt.count(log.n_cases)),
        ("events", _fmt.count(log.n_events)),
        ("activities", _fmt.count(len(log.activities))),
        ("from", f"{tr[0]:%Y-%m-%d %H:%M}" if tr else _fmt.MISSING),
        ("to", f"{tr[1]:%Y-%m-%d %H:%M}" if tr else _fmt.MISSING),
    ]
    q = log.quality
    facts.append(("rows rejected", f"{_fmt.count(q.rows_rejected)} of {_fmt.count(q.rows_read)}"))
    outcomes = log.cases["outcome"].value_counts(dropna=False)
    oc = ", ".join(f"{k if isinstance(k, str) else 'unknown'}: {_fmt.count(v)}" for k, v in outcomes.items())
    acts = _display.table(
        ["activity", "events"],
        [(a, _fmt.count(c)) for a, c in log._events["concept:name"].value_counts().items()],
        max_rows=8,
    )
    extra = f"<div style='margin:6px 0;color:#57606a'>outcomes — {_display.esc(oc)}</div>"
    warns = ""
    if q.warnings:
        warns = (
            "<div style='margin-top:6px'>"
            + "".join(
                f"<div>⚠ {_display.esc(w.code)}: {_display.esc(w.message)} ({_fmt.count(w.count)})</div>"
                for w in q.warnings[:5]
            )
            + "</div>"
        )
    hist = f"<div style='color:#57606a'>filters: {_display.esc(' | '.join(log.history))}</div>" if log.history else ""
    return _display.card(f"EventLog {log.name or ''}".strip(), facts, extra, acts, warns, hist)
