"""Tables handed out by results: always a copy, so changing it never changes the result."""

from __future__ import annotations

import pandas as pd

__all__ = ["handout"]


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
