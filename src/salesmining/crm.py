"""CRM readers: Salesforce, HubSpot, Pipedrive and generic field-history exports → :class:`~salesmining.EventLog`.

The public home of the readers (also importable from :mod:`salesmining`); the code lives in
:mod:`salesmining.ingest.crm`.
"""

from __future__ import annotations

from salesmining.ingest.crm import read_field_history, read_hubspot, read_pipedrive, read_salesforce

__all__ = ["read_field_history", "read_hubspot", "read_pipedrive", "read_salesforce"]
