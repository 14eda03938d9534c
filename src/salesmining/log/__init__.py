"""The event log: :class:`~salesmining.EventLog` (immutable, sorted, every row traced to its
source) and its :class:`~salesmining.IngestReport` (rows read, kept, rejected with reasons;
warnings), plus the data-quality page (``report``).
"""
