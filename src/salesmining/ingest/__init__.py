"""Ingest: raw exports → :class:`~salesmining.EventLog`, with every input row accounted for.

* ``options`` — ``ColumnMap`` (which column is what), ``ReadOptions`` (how to read), ``BulkRule``;
  option values are checked there, once;
* ``files`` — bytes from paths and buffers, text encodings, the CSV separator;
* ``timestamps`` — the timestamp zoo → tz-aware UTC; ``values`` — clean text, amounts, outcome words;
* ``frames`` — the ingest core shared by the tabular readers (``build_log``);
* ``tabular`` — ``read_csv`` and ``from_dataframe``; ``xes`` — ``read_xes`` / ``write_xes``;
* ``crm/`` — the Salesforce, HubSpot, Pipedrive and field-history readers and their shared rules.
"""
