"""The dataframe engines: heavy per-event aggregations written once against narwhals.

Runs on polars by default, and on pandas, DuckDB and PySpark; reads event logs through a small
protocol (``aggregations.EventSource``), so it sits below the log layer.
"""
