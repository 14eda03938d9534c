"""CRM adapters: Salesforce, HubSpot, Pipedrive and generic field history → :class:`~salesmining.EventLog`.

Each reader takes the raw exports a consultant receives (paths, JSON or DataFrames) and returns
an event log whose stage events use the stage label as activity, whose case table has
``outcome`` in won/lost/open, and whose ``quality`` report accounts for every input row.
The same functions are available from the top-level ``salesmining`` namespace.

Shared by every reader: ``inputs`` (tables and JSON), ``columns`` (aliases, clean values),
``times``, ``accounting`` (row account, core checks), ``events`` (candidate events, ``Part``),
``stages`` (outcome classes, stage tables) and ``assemble`` (the rules common to all CRMs).
"""

from __future__ import annotations

from salesmining.ingest.crm.field_history import read_field_history
from salesmining.ingest.crm.hubspot import read_hubspot
from salesmining.ingest.crm.pipedrive import read_pipedrive
from salesmining.ingest.crm.salesforce import read_salesforce

__all__ = ["read_field_history", "read_hubspot", "read_pipedrive", "read_salesforce"]
