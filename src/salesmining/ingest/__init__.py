"""Ingest: raw exports → :class:`~salesmining.EventLog`, every input row kept or rejected with a reason.

CSV files and data frames, XES, timestamp parsing, and the CRM readers (``crm``: Salesforce,
HubSpot, Pipedrive, generic field history).
"""
