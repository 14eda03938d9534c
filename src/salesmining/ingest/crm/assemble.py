"""Rules shared by every CRM adapter.

Each adapter turns its inputs into :class:`Part` objects — a frame of candidate events in the
standard layout (see :func:`make_events`) plus the account of the input's rows — and hands
them to :func:`assemble`, which applies the rules common to all CRMs:

* pipeline selection (``pipeline=``) and ``"<stage> (<pipeline>)"`` activity names when a log
  spans several pipelines;
* the one event order used everywhere: case, timestamp, input (the main history first),
  the adapter's own tie-breaker (e.g. Salesforce ``Id``, Pipedrive change id), input row.
  ``source_row`` is the position in that order, so ties keep it downstream; ``source_object``
  and ``input_row`` point back to the input row;
* the first stage event of a case is ``event_type="created"`` unless the history starts late
  (left-censored) or shows an earlier stage;
* case table: ``outcome``, ``first_stage``, ``last_stage``, ``left_censored``, ``reopened``,
  ``reopen_count``, ``outcome_flips`` and the adapter's case attributes;
* warnings for reopened cases, left-censored cases, bulk updates and system users;
* one :class:`~salesmining.IngestReport` per input, combined, where every input row is an
  event, a case-table row used by the log, or a rejection with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.core.schema import ACTIVITY, CASE, OUTCOME, RESOURCE, SOURCE_ROW, START, TIMESTAMP
from salesmining.ingest.crm.events import EVENT_ATTRIBUTES, UNKNOWN_STATE, Part
from salesmining.ingest.crm.stages import STAGE_TABLE_COLUMNS
from salesmining.ingest.frames import log_shape_warnings
from salesmining.ingest.options import BulkRule
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import IngestReport, IngestWarning

__all__ = ["assemble"]


#: Working columns of candidate events, dropped before the log is built.
_HIDDEN = ("_order", "_state", "_pipeline_id", "_input")


_CLOSED = ("won", "lost")


_DEFAULT_BULK = BulkRule()


def assemble(
    parts: Sequence[Part],
    *,
    source_system: str,
    name: str | None,
    facts: pd.DataFrame | None = None,
    pipeline: str | None = None,
    system_users: Iterable[str] = (),
    bulk: BulkRule = _DEFAULT_BULK,
    meta: Mapping[str, Any] | None = None,
    stages: pd.DataFrame | None = None,
    warnings: Iterable[IngestWarning] = (),
    notes: Iterable[str] = (),
) -> EventLog:
    """Apply the shared rules to the parts of one CRM read and build the :class:`EventLog`.

    Parameters
    ----------
    parts:
        The inputs, main history first (its order breaks timestamp ties between inputs).
    facts:
        What the adapter knows about cases beyond their events: ``case:concept:name`` plus any
        of ``outcome`` (won/lost/open; overrides the last stage/status state), ``created_at``
        (UTC) with ``created_date_only``, ``first_stage`` (when the export shows an earlier
        stage than the first event), ``left_censored`` (bool hint) and case attributes.
    pipeline:
        Keep only this pipeline (id or label).
    system_users:
        Resource ids/names of integration users (their events get ``resource_type="system"``).
    bulk:
        A burst is one user's events with gaps of at most ``bulk.window`` seconds; a burst that
        touches ``bulk.min_cases`` cases or more is a bulk update.
    stages:
        The stage definition (:data:`STAGE_TABLE_COLUMNS`), when the adapter has one; it becomes
        ``meta["stages"]`` (with the activity name each stage has in the log) and
        ``meta["stage_classes"]`` (activity → won/lost/open).
    """
    frames = []
    for i, p in enumerate(parts):
        if len(p.events):
            frames.append(p.events.assign(_input=i))
    if not frames:
        reasons = pd.concat([p.account.rejections() for p in parts])["reason"].value_counts()
        said = ", ".join(f"{r}: {n:,}" for r, n in reasons.items()) or "no rows"
        raise LogSchemaError(
            f"no events: every row of {' + '.join(p.account.source for p in parts)} was rejected ({said}); "
            "check the column mapping, the stage field and the pipeline definition"
        )
    ev = pd.concat(frames, ignore_index=True)
    extra_notes = list(notes)
    ev, dropped_by_pipeline, note = _select_pipeline(ev, pipeline)
    extra_notes += [note] if note else []

    ev = ev.sort_values([CASE, TIMESTAMP, "_input", "_order", "input_row"], kind="stable").reset_index(drop=True)
    ev[SOURCE_ROW] = np.arange(len(ev), dtype="int64")
    is_stage = ev["stage_label"].notna().to_numpy()
    named, note = _pipeline_activity_names(ev, is_stage)
    multi = named is not None
    if named is not None:
        ev[ACTIVITY] = named
        extra_notes.append(note)
    stage_meta = _stage_meta(ev, is_stage, stages, multi, pipeline)

    cases, reopen = _case_table(ev, is_stage, facts)
    first = _first_stage_mask(ev, is_stage)
    censored = ev[CASE].map(cases.set_index(CASE)["left_censored"]).fillna(False).astype(bool).to_numpy()
    created = first & ~censored & ev["from_value"].isna().to_numpy()
    ev.loc[created, "event_type"] = "created"

    sysset = {str(u) for u in system_users}
    if sysset:
        is_sys = ev[RESOURCE].isin(sysset).to_numpy()
        has_res = ev[RESOURCE].notna().to_numpy()
        ev.loc[is_sys, "resource_type"] = "system"
        ev.loc[has_res & ~is_sys & ev["resource_type"].isna().to_numpy(), "resource_type"] = "human"

    all_warnings = list(warnings)
    bulk_flag, bulk_warnings = _bulk_updates(ev, parts, bulk.min_cases, bulk.window)
    ev["bulk_update"] = bulk_flag
    all_warnings += bulk_warnings
    all_warnings += _system_warning(ev, parts)
    all_warnings += _case_warnings(ev, cases, parts, reopen)
    shape = ev[[CASE, TIMESTAMP, SOURCE_ROW]].assign(**{SOURCE_ROW: ev["input_row"]})
    all_warnings += log_shape_warnings(shape, parts[0].account.source)

    report = _reports(parts, ev, dropped_by_pipeline).with_warnings(all_warnings)
    if extra_notes:
        report = IngestReport(
            source=report.source,
            rows_read=report.rows_read,
            rows_kept=report.rows_kept,
            _rejections=report.rejections,
            warnings=report.warnings,
            encoding=report.encoding,
            notes=(*report.notes, *extra_notes),
        )
    out_cols = [c for c in ev.columns if c not in _HIDDEN and not c.startswith("_")]
    front = [c for c in (CASE, ACTIVITY, TIMESTAMP, START, RESOURCE, SOURCE_ROW) if c in out_cols]
    events = ev[front + list(EVENT_ATTRIBUTES) + [c for c in out_cols if c not in front and c not in EVENT_ATTRIBUTES]]
    full_meta: dict[str, Any] = {"source_system": source_system, "loops_unobservable": False, "history_absent": False}
    full_meta.update(stage_meta)
    full_meta.update(meta or {})
    return EventLog(events, cases, quality=report, name=name, meta=full_meta)


def _first_stage_mask(ev: pd.DataFrame, is_stage: np.ndarray) -> np.ndarray:
    st = ev.loc[is_stage, CASE]
    first = np.zeros(len(ev), dtype=bool)
    first[st.index[~st.duplicated(keep="first").to_numpy()].to_numpy()] = True
    return first


def _select_pipeline(ev: pd.DataFrame, pipeline: str | None) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Keep the chosen pipeline's stage events and the other events of cases that have some.

    Returns (kept events, dropped events, a note for the report or None); ``ev`` is not changed."""
    empty = ev.iloc[0:0]
    if pipeline is None:
        return ev, empty, None
    want = str(pipeline).strip()
    pid = ev["_pipeline_id"].astype("str")
    plabel = ev["pipeline"].astype("str")
    in_pipe = ((pid == want) | (plabel.str.lower() == want.lower())).fillna(False).to_numpy()
    if not in_pipe.any():
        known = sorted({f"{a} ({b})" if a != b else str(a) for a, b in zip(plabel, pid, strict=True) if pd.notna(a)})
        raise LogSchemaError(f"no stage events in pipeline {pipeline!r}; pipelines present: {known}", value=pipeline)
    is_stage = ev["stage_label"].notna().to_numpy()
    cases_in = set(ev.loc[in_pipe & is_stage, CASE])
    keep = np.where(is_stage, in_pipe, ev[CASE].isin(cases_in).to_numpy())
    n_cases = ev.loc[~keep, CASE].nunique()
    note = (
        f"pipeline={pipeline!r}: kept {int(keep.sum()):,} events; {int((~keep).sum()):,} events "
        f"of other pipelines dropped ({n_cases:,} cases touched)"
    )
    return ev[keep].reset_index(drop=True), ev[~keep], note


def _stage_meta(
    ev: pd.DataFrame, is_stage: np.ndarray, stages: pd.DataFrame | None, multi: bool, pipeline: str | None
) -> dict[str, Any]:
    """``stages`` (one record per stage: pipeline, stage_id, stage, activity, order, outcome) and
    ``stage_classes`` (activity → outcome) for the log's meta."""
    seen = ev.loc[is_stage, ["pipeline", "_pipeline_id", "stage_id", "stage_label", "_state", ACTIVITY]]
    seen = seen.groupby(["stage_label", "pipeline"], dropna=False, sort=False).first().reset_index()
    derived = pd.DataFrame(
        {
            "pipeline_id": seen["_pipeline_id"],
            "pipeline_label": seen["pipeline"],
            "stage_id": seen["stage_id"],
            "stage_label": seen["stage_label"],
            "order": np.nan,
            "cls": seen["_state"].where(seen["_state"] != UNKNOWN_STATE),
        }
    )
    table = derived if stages is None else pd.concat([stages[list(STAGE_TABLE_COLUMNS)], derived], ignore_index=True)
    if pipeline is not None:
        want = str(pipeline).strip().lower()
        ok = (table["pipeline_id"].astype("str").str.lower() == want) | (
            table["pipeline_label"].astype("str").str.lower() == want
        )
        table = table[ok.fillna(False).to_numpy(dtype=bool)]
    pipe = table["pipeline_label"].fillna(table["pipeline_id"])
    act = table["stage_label"]
    if multi:
        act = act.where(pipe.isna(), act + " (" + pipe + ")")
    table = table.assign(activity=act, pipe=pipe).dropna(subset=["activity"]).drop_duplicates("activity", keep="first")
    table = table.sort_values(["pipe", "order"], kind="stable", na_position="last")
    records = [
        {
            "pipeline": None if pd.isna(r.pipe) else str(r.pipe),
            "stage_id": None if pd.isna(r.stage_id) else str(r.stage_id),
            "stage": str(r.stage_label),
            "activity": str(r.activity),
            "order": None if pd.isna(r.order) else int(r.order),
            "outcome": None if pd.isna(r.cls) else str(r.cls),
        }
        for r in table.itertuples(index=False)
    ]
    return {"stages": records, "stage_classes": {r["activity"]: r["outcome"] for r in records if r["outcome"]}}


def _pipeline_activity_names(ev: pd.DataFrame, is_stage: np.ndarray) -> tuple[pd.Series | None, str]:
    """When stage events span several pipelines: the activity column with stage activities named
    ``"<stage> (<pipeline>)"`` and a note saying so; else ``(None, "")``. ``ev`` is not changed."""
    pipes = ev.loc[is_stage, "pipeline"].dropna().unique()
    if len(pipes) <= 1:
        return None, ""
    m = is_stage & ev["pipeline"].notna().to_numpy()
    named = ev[ACTIVITY].copy()
    named[m] = ev.loc[m, "stage_label"] + " (" + ev.loc[m, "pipeline"] + ")"
    note = (
        f"stages of {len(pipes)} pipelines ({', '.join(sorted(map(str, pipes)))}): stage activities are named "
        "'<stage> (<pipeline>)'; pass pipeline=... to analyse one pipeline"
    )
    return named, note


def _case_table(ev: pd.DataFrame, is_stage: np.ndarray, facts: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
    """The case table, and per event whether it reopens a closed case; ``ev`` is not changed."""
    ids = pd.Index(pd.unique(ev[CASE]), name=CASE).sort_values()
    out = pd.DataFrame(index=ids)
    f = facts.drop_duplicates(CASE, keep="last").set_index(CASE) if facts is not None else pd.DataFrame(index=ids)
    f = f.reindex(ids)

    st = ev.loc[ev["_state"].notna(), [CASE, "_state"]]
    last_state = st.groupby(CASE, sort=False)["_state"].last()
    last_state = last_state.where(last_state != UNKNOWN_STATE)
    outcome = f[OUTCOME] if OUTCOME in f.columns else pd.Series(pd.NA, index=ids, dtype="str")
    out[OUTCOME] = outcome.astype("str").where(outcome.notna(), last_state.reindex(ids)).astype("str")

    stages = ev.loc[is_stage, [CASE, "stage_label", TIMESTAMP]]
    g = stages.groupby(CASE, sort=False)
    first_label = g["stage_label"].first().reindex(ids)
    first_ts = g[TIMESTAMP].first().reindex(ids)
    given_first = f["first_stage"] if "first_stage" in f.columns else pd.Series(pd.NA, index=ids, dtype="str")
    out["first_stage"] = given_first.astype("str").where(given_first.notna(), first_label).astype("str")
    out["last_stage"] = g["stage_label"].last().reindex(ids).astype("str")

    hint = f["left_censored"] if "left_censored" in f.columns else pd.Series(False, index=ids)
    censored = hint.astype("boolean").fillna(False).to_numpy(dtype=bool)
    if "created_at" in f.columns:
        created = pd.to_datetime(f["created_at"], utc=True)
        date_only = (
            f["created_date_only"].astype("boolean").fillna(False).to_numpy(dtype=bool)
            if "created_date_only" in f.columns
            else np.zeros(len(ids), dtype=bool)
        )
        late_exact = (first_ts - created) > pd.Timedelta(seconds=60)
        late_day = first_ts.dt.floor("D") > created.dt.floor("D")
        late = np.where(
            date_only, late_day.fillna(False).to_numpy(dtype=bool), late_exact.fillna(False).to_numpy(dtype=bool)
        )
        censored |= late & first_ts.notna().to_numpy()
    out["left_censored"] = censored

    prev = st.groupby(CASE, sort=False)["_state"].shift()
    closed_before = prev.isin(_CLOSED).to_numpy()
    reopen = closed_before & (st["_state"] == "open").to_numpy()
    flip = closed_before & st["_state"].isin(_CLOSED).to_numpy() & (st["_state"] != prev).fillna(False).to_numpy()
    counts = pd.Series(reopen, index=st.index).groupby(st[CASE]).sum()
    flips = pd.Series(flip, index=st.index).groupby(st[CASE]).sum()
    out["reopen_count"] = counts.reindex(ids).fillna(0).astype("int64")
    out["reopened"] = out["reopen_count"] > 0
    out["outcome_flips"] = flips.reindex(ids).fillna(0).astype("int64")
    reopen_ev = np.zeros(len(ev), dtype=bool)
    reopen_ev[ev.index.get_indexer(st.index[reopen])] = True

    for col in f.columns:
        if col in (OUTCOME, "first_stage", "left_censored", "created_date_only") or col in out.columns:
            continue
        out[col] = f[col]
    if "pipeline" not in out.columns and ev.loc[is_stage, "pipeline"].notna().any():
        out["pipeline"] = ev.loc[is_stage].groupby(CASE, sort=False)["pipeline"].last().reindex(ids)
    return out.reset_index(), reopen_ev


def _examples(ev: pd.DataFrame, mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(r) for r in ev.loc[mask, "input_row"].to_numpy()[:10])


def _source_of(ev: pd.DataFrame, mask: np.ndarray, parts: Sequence[Part]) -> str:
    idx = np.flatnonzero(mask)
    return parts[int(ev["_input"].iloc[idx[0]])].account.source if len(idx) else parts[0].account.source


def _bulk_updates(
    ev: pd.DataFrame, parts: Sequence[Part], min_cases: int, window: float
) -> tuple[np.ndarray, list[IngestWarning]]:
    """Flag bursts where one user changes ``min_cases`` or more cases with gaps of at most ``window`` s.

    Returns the new ``bulk_update`` flags (the export's own, or a burst's) and the warning; ``ev``
    is not changed."""
    preset = ev["bulk_update"].to_numpy(dtype=bool).copy()
    flag = preset.copy()
    r = ev.loc[ev[RESOURCE].notna(), [RESOURCE, TIMESTAMP, CASE]]
    bursts: list[tuple[int, str, pd.Timestamp]] = []
    if len(r) and min_cases > 0:
        r = r.sort_values([RESOURCE, TIMESTAMP], kind="stable")
        gap = r[TIMESTAMP].diff().dt.total_seconds()
        new = (r[RESOURCE] != r[RESOURCE].shift()).to_numpy() | (gap > window).fillna(True).to_numpy()
        burst = pd.Series(np.cumsum(new), index=r.index)
        ncases = r.groupby(burst)[CASE].transform("nunique")
        flagged = (ncases >= min_cases).to_numpy()
        flag[ev.index.get_indexer(r.index[flagged])] = True
        if flagged.any():
            big = r[flagged].assign(_b=burst[flagged], _n=ncases[flagged])
            top = big.groupby("_b").agg(n=("_n", "first"), who=(RESOURCE, "first"), at=(TIMESTAMP, "first"))
            bursts = [(int(n), str(w), a) for n, w, a in top.sort_values("n", ascending=False).itertuples(index=False)]
    if not flag.any():
        return flag, []
    parts_msg = []
    if bursts:
        n, who, at = bursts[0]
        parts_msg.append(
            f"{len(bursts)} burst(s) where one user changed ≥{min_cases} cases with gaps ≤{window:g} s "
            f"(largest: {who!r}, {n} cases from {at:%Y-%m-%d %H:%M:%S} UTC)"
        )
    if preset.any():
        parts_msg.append(f"{int(preset.sum()):,} events the export marks as bulk updates")
    return flag, [
        IngestWarning(
            "bulk_update",
            f"{int(flag.sum()):,} events look like bulk updates: {'; '.join(parts_msg)}; typical of data migrations "
            "and pre-forecast-call clean-ups — their timestamps say when someone edited, not when the deal moved "
            "(column bulk_update marks them)",
            int(flag.sum()),
            _examples(ev, flag),
            _source_of(ev, flag, parts),
        )
    ]


def _system_warning(ev: pd.DataFrame, parts: Sequence[Part]) -> list[IngestWarning]:
    m = (ev["resource_type"] == "system").fillna(False).to_numpy(dtype=bool)
    if not m.any():
        return []
    who = ev.loc[m, RESOURCE].dropna().value_counts()
    top = f" (most: {who.index[0]!r}, {int(who.iloc[0]):,})" if len(who) else ""
    return [
        IngestWarning(
            "system_user",
            f"{int(m.sum()):,} events were made by system or integration users{top}; column resource_type marks them",
            int(m.sum()),
            _examples(ev, m),
            _source_of(ev, m, parts),
        )
    ]


def _case_warnings(
    ev: pd.DataFrame, cases: pd.DataFrame, parts: Sequence[Part], reopen_ev: np.ndarray
) -> list[IngestWarning]:
    out = []
    n_re = int(cases["reopened"].sum())
    if n_re:
        out.append(
            IngestWarning(
                "reopened_cases",
                f"{n_re:,} cases were closed (won/lost) and later reopened "
                f"({int(cases['reopen_count'].sum()):,} reopenings); they are kept, with reopened/reopen_count "
                "in the case table",
                n_re,
                _examples(ev, reopen_ev),
                _source_of(ev, reopen_ev, parts),
            )
        )
    lc = cases["left_censored"].to_numpy(dtype=bool)
    if lc.any():
        ids = set(cases.loc[lc, CASE])
        m = _first_stage_mask(ev, ev["stage_label"].notna().to_numpy()) & ev[CASE].isin(ids).to_numpy()
        out.append(
            IngestWarning(
                "left_censored",
                f"{int(lc.sum()):,} cases' history starts after the case began (created earlier, history rows missing, "
                "or an earlier stage is shown); stages before first_stage are unobserved, not skipped",
                int(lc.sum()),
                _examples(ev, m),
                _source_of(ev, m, parts),
            )
        )
    return out


def _reports(parts: Sequence[Part], ev: pd.DataFrame, dropped: pd.DataFrame) -> IngestReport:
    reports = []
    for i, p in enumerate(parts):
        acc = p.account
        used = np.zeros(acc.n, dtype=bool)
        rows = ev.loc[ev["_input"] == i, "input_row"].to_numpy()
        used[rows] = True
        if p.credit_key is not None:
            key = p.credit_key.reset_index(drop=True)
            present = set(ev[p.credit_col].dropna()) if p.credit_col in ev.columns else set()
            used |= key.isin(present).to_numpy() & key.notna().to_numpy()
        if len(dropped):
            drop_rows = np.zeros(acc.n, dtype=bool)
            drop_rows[dropped.loc[dropped["_input"] == i, "input_row"].to_numpy()] = True
            if p.credit_key is not None and p.credit_col in dropped.columns:
                drop_rows |= p.credit_key.reset_index(drop=True).isin(set(dropped[p.credit_col].dropna())).to_numpy()
            acc.reject("other_pipeline", "pipeline", drop_rows & ~used, ["(other pipeline)"] * acc.n)
        if p.credit_key is not None:
            acc.reject("unmatched_reference", p.credit_col, ~used, p.credit_key.reset_index(drop=True))
        stray = (~used & ~acc.rejected) | (used & acc.rejected)
        if stray.any():  # pragma: no cover - an adapter bug, never user data
            raise AssertionError(f"{acc.source}: rows {np.flatnonzero(stray)[:5]} are not accounted exactly once")
        reports.append(
            IngestReport(
                source=acc.source,
                rows_read=acc.n,
                rows_kept=int(used.sum()) if acc.n else 0,
                _rejections=acc.rejections(),
                warnings=tuple(p.warnings),
                encoding=p.encoding,
                notes=tuple(p.notes),
            )
        )
    return IngestReport.combine(reports)
