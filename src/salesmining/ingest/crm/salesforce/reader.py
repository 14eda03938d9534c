"""Salesforce: OpportunityHistory (+ Opportunity, OpportunityFieldHistory, approvals, Task, Event) → EventLog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.schema import CASE
from salesmining.ingest.crm.assemble import assemble
from salesmining.ingest.crm.events import Part
from salesmining.ingest.crm.inputs import Input, Source
from salesmining.ingest.crm.salesforce.activities import event_part, task_part
from salesmining.ingest.crm.salesforce.approvals import approval_parts
from salesmining.ingest.crm.salesforce.field_history import FieldHistory
from salesmining.ingest.crm.salesforce.history import History
from salesmining.ingest.crm.salesforce.keys import case_keys
from salesmining.ingest.crm.salesforce.opportunities import Opportunities, stage_classes
from salesmining.ingest.crm.salesforce.stage_events import stage_events
from salesmining.ingest.options import BulkRule, ReadOptions
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import IngestWarning

__all__ = ["read_salesforce"]


def read_salesforce(
    history: Input,
    *,
    opportunities: Input | None = None,
    field_history: Input | None = None,
    approvals: Any = None,
    tasks: Input | None = None,
    events: Input | None = None,
    stage_map: Mapping[str, str] | Source | None = None,
    field_changes: bool = False,
    system_users: Iterable[str] = (),
    encoding: str | None = None,
    timezone: str | None = None,
    dayfirst: bool | None = None,
    bulk_min_cases: int = 10,
    bulk_window: float = 60.0,
    name: str | None = None,
) -> EventLog:
    """Read a Salesforce ``OpportunityHistory`` export (plus optional related exports) into an event log.

    Every ``OpportunityHistory`` row is a snapshot of Stage, Amount, Probability, Close Date
    and Forecast Category, written when any of them changes. Rows are sorted by
    (``OpportunityId``, ``CreatedDate``, ``Id``); a stage event is emitted when ``StageName``
    differs from the opportunity's previous row (the first row is the entry into the first
    stage); other rows are rejected as ``not_a_stage_change``, or become ``field_change``
    events with ``field_changes=True``.

    Parameters
    ----------
    history:
        The ``OpportunityHistory`` export (Data Export / Data Loader / report CSV, a SOQL JSON
        result or a DataFrame). Needs ``OpportunityId``, ``StageName`` and ``CreatedDate``;
        ``Id``, ``CreatedById``, ``Amount``, ``CloseDate``, ``Probability``,
        ``ForecastCategory``, ``FromOpportunityStageName`` are used when present.
    opportunities:
        The ``Opportunity`` export: ``IsClosed``/``IsWon`` give each case's outcome and teach
        which stages are won/lost/open; ``Amount``, ``OwnerId``, ``Name``, ``CreatedDate``... go
        to the case table.
    field_history:
        ``OpportunityFieldHistory`` (``Field``, ``OldValue``, ``NewValue``): each row becomes a
        ``field_change`` event; ``StageName`` rows already in ``history`` are rejected as
        ``duplicate_event``, others join the stage history.
    approvals:
        ``(ProcessInstance, ProcessInstanceStep)`` as a pair or a mapping with those keys, or one
        pre-joined step table with ``TargetObjectId``. Each step becomes an ``approval_step``
        event ``"Approval <StepStatus>"`` (``Started`` is named ``Submitted``), with
        ``" (<process name>)"`` when the process name is exported; resource = ``ActorId``.
    tasks, events:
        ``Task`` and ``Event`` exports; rows whose ``WhatId`` is an opportunity of the log become
        ``activity`` events. A Task's time is ``CompletedDateTime``, else its due date
        ``ActivityDate`` (midnight UTC, never shifted), else ``CreatedDate``.
    stage_map:
        Stage → ``"won"``/``"lost"``/``"open"`` (stages a dict does not list, and that
        ``opportunities`` do not classify, are open), or an ``OpportunityStage`` export (``ApiName``,
        ``IsClosed``, ``IsWon``, ``SortOrder``). Overrides what ``opportunities`` teach; without
        either, ``ForecastCategory``/``Probability`` of the history decide (Closed/100 = won,
        Omitted/0 = lost).
    field_changes:
        Turn Amount/CloseDate/Probability/ForecastCategory changes of ``history`` rows into
        ``field_change`` events.
    system_users:
        User ids of integration users (``resource_type="system"``).
    encoding, timezone, dayfirst:
        Text encoding of the files; zone of timestamps without one (default UTC, with a
        warning); day/month order of ``02/03/24``-style dates (inferred from ``history`` when the
        data decides it, then used for every input).
    bulk_min_cases, bulk_window:
        One user changing at least this many cases with gaps of at most this many seconds is
        flagged as a bulk update.
    name:
        Name of the log (default: the history file name).

    Returns
    -------
    EventLog
        Stage events named by ``StageName``; ``log.quality`` accounts for every row of every input.

    Examples
    --------
    >>> import pandas as pd, salesmining as sm
    >>> h = pd.DataFrame({"Id": ["h1", "h2", "h3", "h4"], "OpportunityId": ["o1", "o1", "o1", "o1"],
    ...     "StageName": ["Prospecting", "Prospecting", "Negociación", "Cerrada ganada"],
    ...     "Amount": ["100", "120", "120", "120"],
    ...     "CreatedDate": ["2024-01-02T09:00:00.000+0000", "2024-01-03T09:00:00.000+0000",
    ...                     "2024-01-05T09:00:00.000+0000", "2024-01-09T09:00:00.000+0000"]})
    >>> log = sm.read_salesforce(h, stage_map={"Cerrada ganada": "won"})
    >>> log.to_frame()["concept:name"].tolist()
    ['Prospecting', 'Negociación', 'Cerrada ganada']
    >>> log.cases[["outcome", "first_stage"]].to_dict("records")
    [{'outcome': 'won', 'first_stage': 'Prospecting'}]
    >>> log.quality.rejections[["row", "reason"]].to_dict("records")
    [{'row': 1, 'reason': 'not_a_stage_change'}]
    """
    ReadOptions(encoding=encoding, timezone=timezone, dayfirst=dayfirst, name=name)
    bulk = BulkRule(bulk_min_cases, bulk_window)  # the option values are checked here, once
    notes: list[str] = []
    warnings: list[IngestWarning] = []
    h = History.read(history, encoding=encoding, timezone=timezone, dayfirst=dayfirst)
    day = h.dayfirst
    cases_by_key = case_keys(h.case[h.acc.keep])

    opp = (
        Opportunities.read(opportunities, cases_by_key, encoding, timezone, day) if opportunities is not None else None
    )
    classes, order, class_notes = stage_classes(stage_map, opp, h, encoding)
    notes += class_notes

    fh = (
        FieldHistory.read(field_history, cases_by_key, h, encoding, timezone, day)
        if field_history is not None
        else None
    )
    parts: list[Part] = []
    stage_parts = stage_events(h, fh, classes, field_changes, warnings)
    parts.append(stage_parts[0])
    if fh is not None:
        parts.append(stage_parts[1])
    if approvals is not None:
        parts += approval_parts(approvals, cases_by_key, encoding, timezone, day)
    if tasks is not None:
        parts.append(task_part(tasks, cases_by_key, encoding, timezone, day))
    if events is not None:
        parts.append(event_part(events, cases_by_key, encoding, timezone, day))

    facts = pd.DataFrame({CASE: pd.Series(pd.unique(h.case[h.acc.keep].dropna()), dtype="str")})
    if fh is not None and fh.created is not None:
        facts = facts.merge(fh.created, on=CASE, how="left")
    if h.first_from is not None:
        facts = facts.merge(h.first_from, on=CASE, how="left")
    if opp is not None:
        parts.append(opp.part)
        facts = facts.drop(
            columns=[c for c in ("created_at", "created_date_only") if c in opp.facts.columns and c in facts.columns]
        ).merge(opp.facts, on=CASE, how="left")
    if h.deleted is not None and "is_deleted" not in facts.columns:
        facts = facts.merge(h.deleted, on=CASE, how="left")
    if not classes:
        notes.append("no stage outcome classes (pass opportunities= or stage_map=): outcomes and reopenings unknown")
    seen = sorted(set(h.stage[h.acc.keep].dropna()) | set(classes) | set(order))
    stage_table = pd.DataFrame(
        {
            "pipeline_id": pd.Series(pd.NA, index=range(len(seen)), dtype="str"),
            "pipeline_label": pd.Series(pd.NA, index=range(len(seen)), dtype="str"),
            "stage_id": pd.Series(seen, dtype="str"),
            "stage_label": pd.Series(seen, dtype="str"),
            "order": pd.Series([order.get(x, np.nan) for x in seen], dtype="float64"),
            "cls": pd.Series([classes.get(x) for x in seen], dtype="str"),
        }
    )
    return assemble(
        parts,
        source_system="salesforce",
        name=name or h.table.source,
        facts=facts,
        system_users=system_users,
        bulk=bulk,
        stages=stage_table,
        warnings=warnings,
        notes=notes,
    )
