"""Stage events from ``OpportunityHistory`` (and ``StageName`` rows of the field history);
field-change events from snapshots."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from salesmining.core.schema import CASE
from salesmining.ingest.crm.columns import text
from salesmining.ingest.crm.events import UNKNOWN_STATE, Part, make_events
from salesmining.ingest.crm.salesforce.field_history import FieldHistory
from salesmining.ingest.crm.salesforce.history import SNAPSHOT_FIELDS, STAGE_DRIVEN, History
from salesmining.log.quality import IngestWarning

__all__ = ["TIE_SECONDS", "stage_events"]


TIE_SECONDS = 60


def stage_events(
    h: History,
    fh: FieldHistory | None,
    classes: Mapping[str, str],
    field_changes: bool,
    warnings: list[IngestWarning],
) -> tuple[Part, Part]:
    """Stage events from the snapshot rows (and unmatched FieldHistory StageName rows)."""
    keep = h.acc.keep
    snap = pd.DataFrame(
        {
            "case": h.case,
            "stage": h.stage,
            "ts": h.tp.values,
            "order": h.order,
            "row": np.arange(len(h.case)),
            "src": 0,
            "from_col": h.from_stage,
            "resource": h.resource,
        }
    )[keep]
    stream = [snap]
    if fh is not None:
        f = fh.frame[fh.acc.keep & fh.frame["is_stage"].to_numpy()]
        dup = _matches_history(f, snap)
        fh.acc.reject("duplicate_event", "NewValue", fh.frame.index.isin(f.index[dup]), fh.frame["new"])
        f = f[~dup]
        fh.acc.reject(
            "missing_activity", "NewValue", (fh.frame["is_stage"] & fh.frame["new"].isna()).to_numpy(), fh.frame["new"]
        )
        f = f[f["new"].notna()]
        stream.append(
            pd.DataFrame(
                {
                    "case": f["case"],
                    "stage": f["new"],
                    "ts": f["ts"],
                    "order": f["order"],
                    "row": f["row"],
                    "src": 1,
                    "from_col": f["old"],
                    "resource": f["resource"],
                }
            )
        )
    s = pd.concat(stream, ignore_index=True).sort_values(["case", "ts", "src", "order", "row"], kind="stable")
    first = (s["case"] != s["case"].shift()).to_numpy()
    prev = s["stage"].shift().where(~first)
    change = first | (s["stage"] != prev).to_numpy()
    has_from = s["from_col"].notna().to_numpy()
    gap = ~first & has_from & (s["from_col"] != prev).fillna(False).to_numpy()
    if gap.any():
        warnings.append(
            IngestWarning(
                "history_gaps",
                f"{int(gap.sum()):,} history rows name a previous stage (FromOpportunityStageName/OldValue) "
                "other than the row before them: history rows are missing in between",
                int(gap.sum()),
                tuple(int(r) for r in s.loc[gap, "row"].to_numpy()[:10]),
                h.acc.source,
            )
        )
    lead = s[first & has_from]
    h.first_from = pd.DataFrame({CASE: lead["case"], "first_stage": lead["from_col"], "left_censored": True})
    from_value = np.where(first, s["from_col"].to_numpy(dtype=object), prev.to_numpy(dtype=object))
    st = s.assign(from_value=from_value)[change]

    hist_stage = st[st["src"] == 0]
    hist_events = [_stage_frame(hist_stage, classes, "OpportunityHistory", order_mult=8)]
    changed_rows = set(hist_stage["row"])
    field_rows: set[int] = set()
    if field_changes:
        fe = _snapshot_field_events(h, snap, changed_rows)
        hist_events.append(fe)
        field_rows = set(fe["input_row"])
    not_change = keep.copy()
    not_change[list(changed_rows | field_rows)] = False
    stage_col = str(h.cols["StageName"])
    h.acc.reject("not_a_stage_change", stage_col, not_change, h.stage)
    hist_part = Part.from_table(h.table, "OpportunityHistory", pd.concat(hist_events, ignore_index=True), h.acc)

    if fh is None:
        return hist_part, hist_part
    fh_stage = st[st["src"] == 1]
    fh.acc.reject(
        "not_a_stage_change",
        "NewValue",
        fh.frame.index.isin(s.loc[(s["src"] == 1).to_numpy() & ~change, "row"]),
        fh.frame["new"],
    )
    other = fh.frame[fh.acc.keep & ~fh.frame["is_stage"].to_numpy()]
    fh_events = [
        _stage_frame(fh_stage, classes, "OpportunityFieldHistory", order_mult=1),
        make_events(
            len(other),
            case=other["case"],
            activity=other["field"] + " changed",
            ts=other["ts"],
            input_row=other["row"],
            source_object="OpportunityFieldHistory",
            event_type="field_change",
            order=other["order"],
            resource=other["resource"],
            field=other["field"],
            from_value=other["old"],
            to_value=other["new"],
        ),
    ]
    return hist_part, Part.from_table(
        fh.table, "OpportunityFieldHistory", pd.concat(fh_events, ignore_index=True), fh.acc
    )


def _matches_history(f: pd.DataFrame, snap: pd.DataFrame) -> np.ndarray:
    """FieldHistory StageName rows that OpportunityHistory already has (same case and stage within 60 s)."""
    if not len(f) or not len(snap):
        return np.zeros(len(f), dtype=bool)
    left = pd.DataFrame({"k": f["case"] + "\x1f" + f["new"], "ts": f["ts"], "i": np.arange(len(f))}).dropna()
    right = pd.DataFrame({"k": snap["case"] + "\x1f" + snap["stage"], "ts2": snap["ts"]}).dropna()
    left = left.sort_values("ts", kind="stable")
    right = right.sort_values("ts2", kind="stable")
    m = pd.merge_asof(
        left,
        right,
        left_on="ts",
        right_on="ts2",
        by="k",
        direction="nearest",
        tolerance=pd.Timedelta(seconds=TIE_SECONDS),
    )
    out = np.zeros(len(f), dtype=bool)
    out[m.loc[m["ts2"].notna(), "i"].to_numpy(dtype="int64")] = True
    return out


def _stage_frame(st: pd.DataFrame, classes: Mapping[str, str], source_object: str, *, order_mult: int) -> pd.DataFrame:
    return make_events(
        len(st),
        case=st["case"],
        activity=st["stage"],
        ts=st["ts"],
        input_row=st["row"],
        source_object=source_object,
        event_type="stage_change",
        order=st["order"] * order_mult,
        resource=st["resource"],
        stage_id=st["stage"],
        stage_label=st["stage"],
        from_value=st["from_value"],
        to_value=st["stage"],
        state=st["stage"].map(dict(classes)).astype("str").fillna(UNKNOWN_STATE),
    )


def _snapshot_field_events(h: History, snap: pd.DataFrame, changed_rows: set[int]) -> pd.DataFrame:
    """Amount/CloseDate/Probability/ForecastCategory changes between consecutive history rows of a case."""
    df = h.table.df.reset_index(drop=True)
    s = snap.sort_values(["case", "ts", "order", "row"], kind="stable")
    first = (s["case"] != s["case"].shift()).to_numpy()
    is_stage_row = s["row"].isin(changed_rows).to_numpy()
    frames = []
    for k, fname in enumerate(SNAPSHOT_FIELDS, start=1):
        col = h.cols.get(fname)
        if col is None:
            continue
        vals = text(df, col).iloc[s["row"].to_numpy()].reset_index(drop=True)
        prev = vals.shift()
        changed = ~first & (vals.fillna("\x00") != prev.fillna("\x00")).to_numpy()
        if fname in STAGE_DRIVEN:
            changed &= ~is_stage_row
        sel = s[changed]
        frames.append(
            make_events(
                len(sel),
                case=sel["case"],
                activity=f"{fname} changed",
                ts=sel["ts"],
                input_row=sel["row"],
                source_object="OpportunityHistory",
                event_type="field_change",
                order=sel["order"] * 8 + k,
                resource=sel["resource"],
                field=fname,
                from_value=prev[changed],
                to_value=vals[changed],
            )
        )
    if not frames:
        return make_events(
            0, case=None, activity=None, ts=None, input_row=[], source_object="OpportunityHistory", event_type=None
        )
    return pd.concat(frames, ignore_index=True)
