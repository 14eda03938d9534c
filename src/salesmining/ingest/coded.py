"""Text columns as integer codes into their distinct values, as Parquet stores most of them.

A :class:`CodedText` is a column of ``n`` rows: ``codes`` (one per row, ``-1`` = missing) into
``values`` (Arrow ``large_string``; missing values allowed there too). Cleaning and the other
element-wise text operations of the readers run once per entry of ``values``; the rows are
only written out at the end, in the order wanted, by one take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

__all__ = ["CodedText", "coded_from_dictionary"]

# A dictionary column is read through its codes when its dictionaries hold at most this share of its rows.
_MAX_DISTINCT_SHARE = 1 / 16


@dataclass(frozen=True, eq=False)
class CodedText:
    """Text of ``len(codes)`` rows: row ``i`` holds ``values[codes[i]]`` (missing when ``codes[i] < 0``)."""

    codes: np.ndarray
    values: pa.Array

    def __len__(self) -> int:
        return len(self.codes)

    def missing(self) -> np.ndarray:
        """Whether each row is missing (a negative code, or a code of a missing value)."""
        import pyarrow.compute as pc

        out = self.codes < 0
        if self.values.null_count:
            null = np.append(pc.is_null(self.values).to_numpy(zero_copy_only=False), True)
            out |= null[self.codes]
        return out

    def _indices(self, rows: np.ndarray | None) -> pa.Array:
        import pyarrow as pa

        idx = self.codes if rows is None else self.codes[rows]
        return pa.array(idx, mask=idx < 0) if (idx < 0).any() else pa.array(idx)

    def arrow(self, rows: np.ndarray | None = None) -> pa.Array:
        """The text of ``rows`` (every row when ``None``), in that order, as an Arrow ``large_string`` array."""
        import pyarrow as pa

        # decoding a dictionary array writes the strings out faster than ``values.take``
        return pa.DictionaryArray.from_arrays(self._indices(rows), self.values).cast(pa.large_string())

    def series(self, rows: np.ndarray | None = None) -> pd.Series:
        """:meth:`arrow` as pandas' default text dtype (``str``, NaN for missing), positional index."""
        return pd.Series(self.arrow(rows), dtype="str")

    def polars(self) -> pl.Series:
        """Every row's text as a polars ``String`` series (null = missing)."""
        import polars as pl

        table = pl.Series(self.values).cast(pl.String).append(pl.Series([None], dtype=pl.String))
        return table.gather(np.where(self.codes < 0, len(self.values), self.codes))

    def map_values(self, fn: Callable[[pl.Series], pl.Series]) -> CodedText:
        """The element-wise text operation ``fn`` (polars ``String`` → polars ``String``, nulls
        for missing) applied to the values: the same as applying it to every row."""
        import polars as pl

        done = fn(pl.Series(self.values).cast(pl.String))
        return CodedText(self.codes, done.to_arrow(compat_level=pl.CompatLevel.oldest()))


def coded_from_dictionary(column: pa.ChunkedArray) -> CodedText | None:
    """A dictionary-encoded Arrow text column as :class:`CodedText`, with each distinct value once
    in ``values`` (the chunks' dictionaries merged); ``None`` when it is not dictionary-encoded
    text or its dictionaries are too long to be worth it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = column.type
    if not pa.types.is_dictionary(typ) or not (
        pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type)
    ):
        return None
    chunks = [c for c in column.chunks if len(c)]
    if not chunks:
        return None
    total = sum(len(c.dictionary) for c in chunks)
    if total > _MAX_DISTINCT_SHARE * len(column) or any(c.dictionary.null_count for c in chunks):
        return None
    # one dictionary for every chunk (each distinct value once), then the chunks' indices as one array
    unified = pa.chunked_array(chunks, type=typ).unify_dictionaries()
    indices = pa.chunked_array([c.indices for c in unified.chunks]).combine_chunks().cast(pa.int32())
    values = unified.chunks[0].dictionary.cast(pa.large_string())
    if len(pc.unique(values)) != len(values):  # a value written twice in a dictionary: not one code per value
        return None
    codes = _codes(indices)
    return CodedText(codes, values)


def _codes(indices: pa.Array) -> np.ndarray:
    """Arrow ``int32`` indices as a numpy array, ``-1`` where missing (read from the buffers)."""
    n, off = len(indices), indices.offset
    codes = np.frombuffer(indices.buffers()[1], dtype=np.int32)[off : off + n].copy()
    if indices.null_count:
        bits = np.frombuffer(indices.buffers()[0], dtype=np.uint8)
        valid = np.unpackbits(bits, bitorder="little")[off : off + n].view(bool)
        codes[~valid] = -1
    return codes
