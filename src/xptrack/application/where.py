"""The ``where`` language of the history: a pandas query over its columns, checked first.

``xptrack history --where`` and the dashboard's trials table take the same text, say
``lr < 0.1 and Success`` (backquote names with spaces: `` `Process Time` > 1``). A query is
refused before pandas sees it when it reaches for Python internals (``__``) or the
caller's variables (``@``): a condition on columns needs neither.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from xptrack.domain.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

_REFUSED = re.compile(r"__|@")


def apply_where(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """The rows ``where`` (a pandas query, as ``xptrack history --where``) selects."""
    if _REFUSED.search(where):
        raise InvalidArgument(
            f"where {where!r} uses '__' or '@', which a query of the trials does not need; "
            "write conditions on columns, say: lr < 0.1 and Success"
        )
    try:
        selected = frame.query(where, engine="python")
    except Exception as error:
        columns = ", ".join(str(c) for c in frame.columns)
        raise InvalidArgument(
            f"where {where!r} cannot be evaluated ({type(error).__name__}: {error}); "
            f"it is a pandas query over the columns {columns} (backquote names with spaces)"
        ) from None
    if not hasattr(selected, "index") or len(selected.columns) != len(frame.columns):
        raise InvalidArgument(f"where {where!r} must be a condition, say: lr < 0.1 and Success")
    return selected
