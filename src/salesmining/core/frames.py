"""Tables handed out by results: always a copy, so changing it never changes the result."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["handout", "isin"]


def _copy_on_write() -> bool:
    if int(pd.__version__.split(".")[0]) >= 3:
        return True  # always on since pandas 3 (and the option is deprecated)
    return pd.get_option("mode.copy_on_write") is True


_COW = _copy_on_write()


def handout(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for a caller: cheap under copy-on-write (pandas ≥ 3), deep otherwise.

    >>> import pandas as pd
    >>> kept = pd.DataFrame({"cases": [1, 2]})
    >>> out = handout(kept)
    >>> out.loc[:, "cases"] = 999
    >>> kept["cases"].tolist()
    [1, 2]
    """
    return frame.copy(deep=not _COW)


def isin(values: pd.Series, test: Iterable[Any]) -> pd.Series:
    """``values.isin(test)``, tested once per distinct value through an object hash table.

    pandas' ``isin`` on Arrow strings compares element by element in Python; a column of case ids
    has few distinct values per row, so this factorises it (vectorised) and looks up the distinct
    values only. Same result, same index.
    """
    import numpy as np

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    wanted = list(test) if not isinstance(test, (pd.Series, pd.Index, np.ndarray)) else test
    hit = pd.Index(np.asarray(uniques, dtype=object), dtype=object).isin(np.asarray(wanted, dtype=object))
    out = np.zeros(len(values), dtype=bool)
    known = codes >= 0
    out[known] = hit[codes[known]]
    if not known.all():  # missing values: as pandas does, NA is in ``test`` when ``test`` holds one
        out[~known] = bool(pd.Series(wanted, dtype=object).isna().any())
    return pd.Series(out, index=values.index, name=values.name)
