"""Approval processes: ``ProcessInstance`` and ``ProcessInstanceStep`` → ``approval_step`` events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.errors import ArgumentTypeError
from salesmining.ingest.crm.accounting import RowAccount, check_core
from salesmining.ingest.crm.columns import norm_name, resolve_columns, text
from salesmining.ingest.crm.events import Part, make_events
from salesmining.ingest.crm.inputs import Table, load_table
from salesmining.ingest.crm.salesforce.keys import map_cases, no_events, rank
from salesmining.ingest.crm.times import parse_time, time_warnings

__all__ = ["approval_parts"]


_STEP = {
    "ProcessInstanceId": ("ProcessInstanceId", "Process Instance ID"),
    "TargetObjectId": ("TargetObjectId", "ProcessInstance.TargetObjectId", "Target Object ID"),
    "StepStatus": ("StepStatus", "Step Status"),
    "ActorId": ("ActorId", "Actor ID", "Actor"),
    "OriginalActorId": ("OriginalActorId", "Original Actor ID"),
    "CreatedDate": ("CreatedDate", "Created Date"),
    "Id": ("Id",),
    "StepName": ("StepName", "Step Name", "ProcessNodeName", "StepNode.Name", "ProcessNode.Name"),
    "ProcessName": ("ProcessInstance.ProcessDefinition.Name", "ProcessDefinition.Name", "ProcessName", "Process Name"),
}


_INSTANCE = {
    "Id": ("Id", "ProcessInstanceId", "Process Instance ID"),
    "TargetObjectId": ("TargetObjectId", "Target Object ID"),
    "Status": ("Status",),
    "CreatedDate": ("CreatedDate", "Created Date"),
    "CompletedDate": ("CompletedDate", "Completed Date"),
    "SubmittedById": ("SubmittedById", "Submitted By ID"),
    "LastActorId": ("LastActorId", "Last Actor ID"),
    "ProcessName": ("ProcessDefinition.Name", "ProcessName", "Process Name"),
}


def _approval_inputs(approvals: Any) -> tuple[Any, Any]:
    """(ProcessInstance or None, steps) from a pair, a mapping or one pre-joined table."""
    if isinstance(approvals, tuple) or (
        isinstance(approvals, list) and len(approvals) == 2 and not all(isinstance(a, Mapping) for a in approvals)
    ):
        if len(approvals) != 2:
            raise ArgumentTypeError(
                f"approvals= takes (ProcessInstance, ProcessInstanceStep) or one pre-joined table, "
                f"not a sequence of {len(approvals)}"
            )
        return approvals[0], approvals[1]
    if isinstance(approvals, Mapping):
        keys = {norm_name(k): k for k in approvals}
        if "processinstancestep" in keys:
            inst = approvals[keys["processinstance"]] if "processinstance" in keys else None
            return inst, approvals[keys["processinstancestep"]]
    return None, approvals


def approval_parts(
    approvals: Any, cases_by_key: Mapping[str, str], encoding: str | None, timezone: str | None, dayfirst: bool | None
) -> list[Part]:
    inst_obj, step_obj = _approval_inputs(approvals)
    steps = load_table(step_obj, label="ProcessInstanceStep", encoding=encoding)
    sdf = steps.df.reset_index(drop=True)
    scols = resolve_columns(
        sdf, _STEP, required=("StepStatus", "CreatedDate"), source=steps.source, what="ProcessInstanceStep export"
    )
    inst: Table | None = None
    icols: dict[str, str | None] = {}
    if inst_obj is not None:
        inst = load_table(inst_obj, label="ProcessInstance", encoding=encoding)
        icols = resolve_columns(
            inst.df, _INSTANCE, required=("Id", "TargetObjectId"), source=inst.source, what="ProcessInstance export"
        )
        if scols["ProcessInstanceId"] is None:
            resolve_columns(
                sdf,
                _STEP,
                required=("ProcessInstanceId",),
                source=steps.source,
                what="ProcessInstanceStep export (joined to ProcessInstance)",
            )
    elif scols["TargetObjectId"] is None:
        resolve_columns(
            sdf,
            _STEP,
            required=("TargetObjectId",),
            source=steps.source,
            what="pre-joined approval table (or pass (ProcessInstance, ProcessInstanceStep))",
        )

    s_pi = text(sdf, scols["ProcessInstanceId"])
    inst_case = pd.Series(dtype="str")
    inst_name = pd.Series(dtype="str")
    if inst is not None:
        idf = inst.df.reset_index(drop=True)
        ids = text(idf, icols["Id"])
        lookup = pd.DataFrame(
            {"pi": ids, "target": text(idf, icols["TargetObjectId"]), "pname": text(idf, icols["ProcessName"])}
        ).dropna(subset=["pi"])
        lookup = lookup.drop_duplicates("pi", keep="last").set_index("pi")
        inst_case = s_pi.map(lookup["target"]).astype("str")
        inst_name = s_pi.map(lookup["pname"]).astype("str")
    raw_target = text(sdf, scols["TargetObjectId"]).fillna(inst_case) if scols["TargetObjectId"] else inst_case
    raw_target = raw_target.reindex(range(len(sdf))).astype("str")
    ts_col = str(scols["CreatedDate"])
    tp = parse_time(sdf, ts_col, source=steps.source, timezone=timezone, dayfirst=dayfirst)
    status = text(sdf, scols["StepStatus"], activity=True)
    acc = RowAccount(len(sdf), steps.source)
    case_col = str(scols["TargetObjectId"] or scols["ProcessInstanceId"])
    ref = raw_target.fillna(s_pi) if inst is not None else raw_target
    check_core(
        acc, sdf, case=ref, case_col=case_col, tp=tp, ts_col=ts_col, activity=status, activity_col=scols["StepStatus"]
    )
    case = map_cases(raw_target, cases_by_key)
    acc.reject("unmatched_reference", case_col, case.isna().to_numpy(), ref)
    keep = acc.keep
    pname = (
        text(sdf, scols["ProcessName"]).fillna(inst_name.reindex(range(len(sdf))).astype("str"))
        if scols["ProcessName"]
        else inst_name.reindex(range(len(sdf))).astype("str")
    )
    label = status.where(status != "Started", "Submitted")
    act = "Approval " + label
    act = act.where(pname.isna(), act + " (" + pname + ")")
    sel = np.flatnonzero(keep)
    step_events = make_events(
        len(sel),
        case=case.iloc[sel],
        activity=act.iloc[sel],
        ts=tp.values.iloc[sel],
        input_row=sel,
        source_object="ProcessInstanceStep",
        event_type="approval_step",
        order=rank(text(sdf, scols["Id"]))[sel] if scols["Id"] else sel,
        resource=text(sdf, scols["ActorId"]).iloc[sel],
        field="StepStatus",
        to_value=status.iloc[sel],
        extra={
            "approval_instance": s_pi.iloc[sel],
            "approval_step": text(sdf, scols["StepName"]).iloc[sel],
            "original_actor": text(sdf, scols["OriginalActorId"]).iloc[sel],
        },
    )
    steps.warnings += time_warnings(tp, keep, steps.source, ts_col)
    parts = [Part.from_table(steps, "ProcessInstanceStep", step_events, acc)]
    if inst is not None:
        parts.append(_instances(inst, icols, set(s_pi[keep].dropna()), cases_by_key, timezone, dayfirst))
    return parts


def _instances(
    inst: Table,
    cols: dict[str, str | None],
    with_steps: set[str],
    cases_by_key: Mapping[str, str],
    timezone: str | None,
    dayfirst: bool | None,
) -> Part:
    """ProcessInstance rows: used by their steps; instances without steps (before Summer '14) give
    ``Approval Submitted`` at CreatedDate and ``Approval <Status>`` at CompletedDate."""
    df = inst.df.reset_index(drop=True)
    ids = text(df, cols["Id"])
    raw_target = text(df, cols["TargetObjectId"])
    acc = RowAccount(len(df), inst.source)
    has_steps = ids.isin(with_steps).to_numpy()
    ts_col = cols["CreatedDate"]
    if ts_col is None:
        acc.reject("missing_timestamp", "CreatedDate", ~has_steps, ids)
        part = Part.from_table(inst, "ProcessInstance", no_events("ProcessInstance"), acc)
        part.credit_key, part.credit_col = ids, "approval_instance"
        return part
    tp = parse_time(df, ts_col, source=inst.source, timezone=timezone, dayfirst=dayfirst)
    # instances with steps are accounted by their steps (credit below); the others by their own checks
    acc.scope = ~has_steps
    check_core(acc, df, case=raw_target, case_col=str(cols["TargetObjectId"]), tp=tp, ts_col=ts_col)
    case = map_cases(raw_target, cases_by_key)
    acc.reject("unmatched_reference", str(cols["TargetObjectId"]), case.isna().to_numpy(), raw_target)
    acc.scope = np.ones(len(df), dtype=bool)
    sel = np.flatnonzero(~has_steps & acc.keep)
    status = text(df, cols["Status"], activity=True)
    pname = text(df, cols["ProcessName"])
    suffix = (" (" + pname + ")").fillna("")
    sub = make_events(
        len(sel),
        case=case.iloc[sel],
        activity=("Approval Submitted" + suffix).iloc[sel],
        ts=tp.values.iloc[sel],
        input_row=sel,
        source_object="ProcessInstance",
        event_type="approval_step",
        order=sel * 2,
        resource=text(df, cols["SubmittedById"]).iloc[sel],
        field="Status",
        to_value="Started",
        extra={"approval_instance": ids.iloc[sel]},
    )
    frames = [sub]
    if cols["CompletedDate"]:
        done = parse_time(df, cols["CompletedDate"], source=inst.source, timezone=timezone, dayfirst=dayfirst)
        fin = sel[
            (
                done.values.iloc[sel].notna()
                & status.iloc[sel].notna()
                & ~status.iloc[sel].isin(["Pending", "Started"])
            ).to_numpy()
        ]
        frames.append(
            make_events(
                len(fin),
                case=case.iloc[fin],
                activity=("Approval " + status + suffix).iloc[fin],
                ts=done.values.iloc[fin],
                input_row=fin,
                source_object="ProcessInstance",
                event_type="approval_step",
                order=fin * 2 + 1,
                resource=text(df, cols["LastActorId"]).iloc[fin],
                field="Status",
                to_value=status.iloc[fin],
                extra={"approval_instance": ids.iloc[fin]},
            )
        )
    inst.warnings += time_warnings(tp, acc.keep & ~has_steps, inst.source, ts_col)
    part = Part.from_table(inst, "ProcessInstance", pd.concat(frames, ignore_index=True), acc)
    part.credit_key = ids.where(pd.Series(has_steps))
    part.credit_col = "approval_instance"
    return part
