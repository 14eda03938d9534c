"""Reading CRM inputs: a DataFrame, a delimited file, JSON (SOQL/API results) or records → a :class:`Table`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.ingest.files import decode_bytes, read_bytes, read_table_file, source_name
from salesmining.log.quality import IngestWarning

__all__ = ["Input", "Source", "Table", "is_json_input", "load_json", "load_table"]


#: What the readers accept for a table: a path, bytes, an open file or a DataFrame.
Source = str | os.PathLike[str] | bytes | IO[str] | IO[bytes] | pd.DataFrame


#: A table or parsed JSON (a dict such as a SOQL result with ``records``, or a list of records).
Input = Source | Mapping[str, Any] | list[Any]


@dataclass
class Table:
    """One tabular input: the frame (never modified) and how it was read."""

    df: pd.DataFrame
    source: str
    encoding: str | None = None
    warnings: list[IngestWarning] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _unwrap_records(data: Any) -> Any:
    if isinstance(data, Mapping):
        for key in ("records", "results", "data", "value"):
            if isinstance(data.get(key), list):
                return data[key]
        return [data]
    return data


def load_table(obj: Any, *, label: str, encoding: str | None) -> Table:
    """A DataFrame, a delimited text file, a JSON file/object (``records``/``results``/``data``
    lists are unwrapped, Salesforce ``attributes`` dropped) or a list of dicts, as a :class:`Table`.

    DataFrames are used as they are (never modified) under the name ``label``.
    """
    if isinstance(obj, pd.DataFrame):
        return Table(obj, label)
    if isinstance(obj, (list, Mapping)):
        return Table(_records_frame(_unwrap_records(obj), label), label)
    if is_json_input(obj):
        data, source, used, warns = load_json(obj, label=label, encoding=encoding)
        return Table(_records_frame(_unwrap_records(data), source), source, used, warns, [f"read {source} as JSON"])
    df, source, used, warns, notes = read_table_file(obj, encoding=encoding)
    return Table(df, source, used, warns, notes)


def is_json_input(obj: Any) -> bool:
    """Whether an input is JSON: parsed objects, bytes starting with ``{``/``[``, or a ``.json`` path/file."""
    if isinstance(obj, (Mapping, list)):
        return True
    if isinstance(obj, bytes):
        return obj.lstrip()[:1] in (b"{", b"[")
    if isinstance(obj, (str, os.PathLike)):
        return Path(obj).suffix.lower() == ".json"
    name = getattr(obj, "name", None)
    return isinstance(name, str) and name.lower().endswith(".json")


def _records_frame(records: Any, source: str) -> pd.DataFrame:
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise LogSchemaError(f"{source}: expected a list of records (JSON objects)", source=source)
    df = pd.json_normalize([{k: v for k, v in r.items() if k != "attributes"} for r in records], sep=".")
    return df.drop(
        columns=[c for c in df.columns if str(c).endswith(".attributes.type") or str(c).endswith(".attributes.url")]
    )


def load_json(obj: Any, *, label: str, encoding: str | None) -> tuple[Any, str, str | None, list[IngestWarning]]:
    """Parsed JSON from a path, bytes, text buffer, or an already parsed dict/list.

    Returns (data, source name, encoding used, warnings).
    """
    if isinstance(obj, (Mapping, list)):
        return obj, label, None, []
    source = source_name(obj) if not isinstance(obj, bytes) else label
    raw = read_bytes(obj)
    txt, used, warn = decode_bytes(raw, encoding=encoding, source=source)
    try:
        data = json.loads(txt)
    except json.JSONDecodeError as exc:
        raise LogSchemaError(f"{source} is not valid JSON: {exc}", source=source) from exc
    return data, source, used, [warn] if warn else []
