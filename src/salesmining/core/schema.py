"""Canonical column names (pm4py/XES) used everywhere after ingest."""

from __future__ import annotations

from typing import Final

CASE = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"
START = "start_timestamp"
RESOURCE = "org:resource"
LIFECYCLE = "lifecycle:transition"
SOURCE_ROW = "source_row"
#: Optional event column: the decision of an approval step ("approved", "rejected" or another lower-case word).
APPROVAL_RESULT = "approval_result"

#: Standard case-table columns (besides the key ``CASE``).
OUTCOME = "outcome"
AMOUNT = "amount"
OWNER = "owner"
OUTCOMES = ("won", "lost", "open")

UTC_DTYPE: Final = "datetime64[us, UTC]"
