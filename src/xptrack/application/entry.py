"""Which script this process runs, when the command line ran one (``xptrack run script.py``).

The environment probe describes the git repository of the user's code: the script given
to ``xptrack run``, else ``__main__``'s file, else the working directory (a notebook).
Only the first needs telling, as ``__main__`` is then xptrack's own command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_script: Path | None = None


@contextmanager
def running_script(path: Path) -> Iterator[None]:
    """Experiments opened inside the block belong to the script at ``path``."""
    global _script
    previous, _script = _script, path.resolve()
    try:
        yield
    finally:
        _script = previous


def entry_script() -> Path | None:
    """The script ``xptrack run`` is running, if any."""
    return _script
